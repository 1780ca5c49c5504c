"""Per-trainee variants: each trainee's own sizes, MACs and subnets.

Values come from a hash of the class seed, the trainee, the lab and a key,
so they are stable (the notebook, the grader and the instructor all compute
the same ones) and differ between trainees, who therefore cannot copy each
other's answers. The default trainee outside a class gets each lab's
canonical values (the seed's names and subnets).

Subnets are different: two trainees' isolated networks on one host must not
overlap, which hashing alone cannot promise. They are allocated from a pool,
first come first served, in a locked file on the host, skipping every subnet
a host route or a libvirt network already uses, and released when the lab
finishes.
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import os
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

from kvmlab import paths
from kvmlab.errors import HostCannot
from kvmlab.sharedstate import locked_json

T = TypeVar("T")

# 192.168.160.0/24 - 192.168.250.0/24: clear of the seed's 122/133/144/155 and of
# libvirt's default network; 192.0.2.0/24 and 203.0.113.0/24 are never used.
SUBNET_POOL = tuple(f"192.168.{n}.0/24" for n in range(160, 251))


def class_seed() -> str | None:
    """The class's variant seed: KVMLAB_CLASS_SEED, or the file `kvmlab class start` wrote."""
    env = os.environ.get("KVMLAB_CLASS_SEED")
    if env:
        return env
    path = paths.data_dir() / "class" / "seed"
    try:
        return path.read_text().strip() or None
    except OSError:
        return None


def _digest(*parts: str) -> bytes:
    return hashlib.sha256("|".join(parts).encode()).digest()


def choose(trainee: str, lab: str, key: str, choices: Sequence[T], canonical: bool) -> T:
    """A stable per-trainee choice; ``choices[0]`` when ``canonical`` (the default trainee, no class)."""
    if canonical:
        return choices[0]
    seed = class_seed() or "kvmlab"
    return choices[int.from_bytes(_digest(seed, trainee, lab, key)[:8], "big") % len(choices)]


def mac(trainee: str, lab: str, key: str) -> str:
    """A locally administered MAC in QEMU's 52:54:00 range, stable per trainee and lab."""
    tail = _digest(class_seed() or "kvmlab", trainee, lab, key)[:3]
    return "52:54:00:" + ":".join(f"{b:02x}" for b in tail)


# -- subnets -----------------------------------------------------------------


def _registry_path() -> Path:
    return paths.host_dir() / "subnets.json"


def _locked_registry() -> contextlib.AbstractContextManager[dict[str, Any]]:
    return locked_json(_registry_path())


def _in_use_on_host() -> list[ipaddress.IPv4Network]:
    """Subnets the host already routes (its links, active libvirt networks)."""
    out = subprocess.run(["ip", "-4", "route", "show"], capture_output=True, text=True).stdout
    nets = []
    for line in out.splitlines():
        word = line.split()[0] if line.split() else "default"
        if word == "default":
            continue  # the default route overlaps everything and uses nothing
        with contextlib.suppress(ValueError):
            nets.append(ipaddress.IPv4Network(word, strict=False))
    return nets


def subnet(owner: str, reserved: Sequence[str] = ()) -> str:
    """The subnet allocated to ``owner`` ("trainee/lab/key"), allocating one if needed."""
    with _locked_registry() as data:
        for net, who in data.items():
            if who == owner:
                return net
        busy = _in_use_on_host()
        for candidate in SUBNET_POOL:
            if candidate in data or candidate in reserved:
                continue
            cand = ipaddress.ip_network(candidate)
            if any(cand.overlaps(b) for b in busy):
                continue
            data[candidate] = owner
            return candidate
    raise HostCannot("every lab subnet on this host is taken", "finish labs that are no longer needed")


def release(prefix: str) -> None:
    """Free the subnets of owners starting with ``prefix`` ("trainee/lab/")."""
    with _locked_registry() as data:
        for net in [n for n, who in data.items() if who.startswith(prefix)]:
            del data[net]
