"""Whether the host has the memory for one more guest: refuse rather than let it run out."""

from __future__ import annotations

import os
from pathlib import Path

from kvmlab.errors import HostCannot

# What a tiny guest costs beyond its RAM (QEMU itself, the TCG translation cache),
# measured with bench/capacity.py; and what the host keeps for itself by default.
GUEST_OVERHEAD_MIB = 192
HOST_RESERVE_MIB = 512


def available_memory_mib(meminfo: Path = Path("/proc/meminfo")) -> int:
    for line in meminfo.read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) // 1024
    return 0


def ensure_memory_for(name: str, memory_mib: int) -> None:
    """Refuse to start a guest the host has no memory for, rather than let the host run out."""
    reserve = int(os.environ.get("KVMLAB_MEMORY_RESERVE_MIB", HOST_RESERVE_MIB))
    needed = memory_mib + GUEST_OVERHEAD_MIB
    available = available_memory_mib()
    if available - reserve < needed:
        raise HostCannot(
            f"not enough memory to start guest {name}: it needs about {needed} MiB, the host has "
            f"{available} MiB available and keeps {reserve} MiB for itself",
            "finish labs you no longer need (kvmlab lab status shows them) or stop other guests",
        )
