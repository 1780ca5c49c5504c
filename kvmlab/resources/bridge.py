"""Linux bridges as host facts, read from sysfs (what `bridge link` shows)."""

from __future__ import annotations

import json
from pathlib import Path

from kvmlab.procs import run

SYS_NET = Path("/sys/class/net")
IFF_UP = 0x1  # <linux/if.h>: the administrative "up" flag


def is_tap(ifname: str) -> bool:
    """A tun/tap device (what libvirt plugs a guest NIC into), as opposed to a host uplink."""
    return (SYS_NET / ifname / "tun_flags").exists()


class Bridge:
    def __init__(self, name: str) -> None:
        self.name = name

    @property
    def exists(self) -> bool:
        return (SYS_NET / self.name / "bridge").is_dir()

    @property
    def ports(self) -> list[str]:
        """Interfaces enslaved to the bridge (the tap devices of guest NICs)."""
        brif = SYS_NET / self.name / "brif"
        return sorted(p.name for p in brif.iterdir()) if brif.is_dir() else []

    def has_port(self, ifname: str) -> bool:
        return ifname in self.ports

    @property
    def is_up(self) -> bool:
        """Administratively up (`ip link set BR up`); a bridge that is down forwards nothing."""
        try:
            return bool(int((SYS_NET / self.name / "flags").read_text(), 16) & IFF_UP)
        except (FileNotFoundError, ValueError):
            return False

    def addresses(self) -> list[str]:
        """IP addresses on the bridge itself (ADDR/PREFIX), link-local ones left out.

        sysfs has no addresses, so this asks iproute2; the kernel gives every
        interface that is up an fe80:: address, which routes nothing.
        """
        if not self.exists:
            return []
        out = run(["ip", "-j", "address", "show", "dev", self.name]).stdout
        return [
            f"{a['local']}/{a['prefixlen']}"
            for link in json.loads(out or "[]")
            for a in link.get("addr_info", [])
            if a.get("scope") != "link"
        ]
