"""Network namespaces and veth pairs as host facts (what `ip netns` and `ip -d link` show).

A lab that needs a second "host" on this machine gives it a network
namespace of its own, joined to the host by one veth pair on a private /24:
the namespace has no default route and nothing forwards, so whatever runs in
it reaches this host's end of the pair and nothing else.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from kvmlab.procs import run
from kvmlab.resources.bridge import SYS_NET

NETNS_DIR = Path("/run/netns")  # where `ip netns add` keeps the namespace's bind mount


def _json(argv: list[str]) -> list[dict[str, Any]]:
    proc = run(argv, check=False)
    if proc.returncode != 0 or not proc.stdout.strip():
        return []
    data: list[dict[str, Any]] = json.loads(proc.stdout)
    return data


def _addresses(entries: list[dict[str, Any]]) -> dict[str, list[str]]:
    return {
        e["ifname"]: [f"{a['local']}/{a['prefixlen']}" for a in e.get("addr_info", []) if a.get("family") == "inet"]
        for e in entries
    }


class NetNamespace:
    def __init__(self, name: str) -> None:
        self.name = name

    @property
    def path(self) -> Path:
        return NETNS_DIR / self.name

    @property
    def exists(self) -> bool:
        return os.path.lexists(self.path)

    def pids(self) -> list[int]:
        """Processes running in the namespace (`ip netns pids`)."""
        if not self.exists:
            return []
        out = run(["ip", "netns", "pids", self.name], check=False).stdout
        return [int(word) for word in out.split() if word.isdigit()]

    def addresses(self) -> dict[str, list[str]]:
        """IPv4 addresses inside the namespace, by interface (`ip -n NS addr`)."""
        return _addresses(_json(["ip", "-n", self.name, "-j", "-4", "addr", "show"])) if self.exists else {}

    def routes(self) -> list[str]:
        """Destinations the namespace routes to (`ip -n NS route`): "default" would mean a way out."""
        return [r.get("dst", "?") for r in _json(["ip", "-n", self.name, "-j", "-4", "route", "show"])]


class Veth:
    """One end of a veth pair in this (the host's) network namespace."""

    def __init__(self, name: str) -> None:
        self.name = name

    @property
    def exists(self) -> bool:
        return (SYS_NET / self.name).exists()

    @property
    def is_veth(self) -> bool:
        links = _json(["ip", "-j", "-d", "link", "show", "dev", self.name]) if self.exists else []
        return bool(links) and links[0].get("linkinfo", {}).get("info_kind") == "veth"

    def addresses(self) -> list[str]:
        return _addresses(_json(["ip", "-j", "-4", "addr", "show", "dev", self.name])).get(self.name, [])
