"""The host's huge pages, read-only: kvmlab never changes vm.nr_hugepages on a shared host."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

SYS_HUGEPAGES = Path("/sys/kernel/mm/hugepages")
PROC_MEMINFO = Path("/proc/meminfo")


@dataclass(frozen=True)
class HugePagePool:
    size_kib: int  # 2048 (2 MiB) or 1048576 (1 GiB) on x86_64
    total: int  # nr_hugepages: reserved by the admin
    free: int


def _int(path: Path) -> int:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return 0


def pools(root: Path = SYS_HUGEPAGES) -> list[HugePagePool]:
    """One pool per page size the CPU and kernel support, with what is reserved now."""
    found = []
    for pool in sorted(root.glob("hugepages-*kB")) if root.is_dir() else []:
        match = re.fullmatch(r"hugepages-(\d+)kB", pool.name)
        if match:
            found.append(HugePagePool(int(match.group(1)), _int(pool / "nr_hugepages"), _int(pool / "free_hugepages")))
    return sorted(found, key=lambda p: p.size_kib)


def default_size_kib(meminfo: Path = PROC_MEMINFO) -> int | None:
    """``Hugepagesize`` in /proc/meminfo: what <hugepages/> without a <page size> gets."""
    try:
        text = meminfo.read_text()
    except OSError:
        return None
    match = re.search(r"^Hugepagesize:\s+(\d+) kB", text, re.MULTILINE)
    return int(match.group(1)) if match else None


class HugePages:
    """The host's huge page pools and default size, as graders see them (``host.hugepages``)."""

    def __init__(self, root: Path = SYS_HUGEPAGES, meminfo: Path = PROC_MEMINFO) -> None:
        self.root = root
        self.meminfo = meminfo

    def pools(self) -> list[HugePagePool]:
        return pools(self.root)

    @property
    def sizes_kib(self) -> list[int]:
        """The page sizes the CPU and kernel support (2048 and 1048576 on most x86_64 hosts)."""
        return [pool.size_kib for pool in self.pools()]

    @property
    def reserved(self) -> int:
        """Huge pages reserved now, all sizes (0: a guest backed by them cannot start)."""
        return sum(pool.total for pool in self.pools())

    @property
    def default_size_kib(self) -> int | None:
        return default_size_kib(self.meminfo)
