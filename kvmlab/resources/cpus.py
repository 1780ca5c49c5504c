"""Host CPUs and thread affinity as the kernel reports them.

libvirt's XML says which CPUs a vCPU was *asked* to run on; the kernel's
``Cpus_allowed_list`` of that thread says where it may really run. Graders of
pinning compare the two, and check both against the CPUs this host has.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

SYS_CPU_ONLINE = Path("/sys/devices/system/cpu/online")
PROC = Path("/proc")

_PART = re.compile(r"\^?\d+(-\d+)?")


def parse_cpuset(text: str) -> set[int]:
    """libvirt/kernel CPU lists: ``0-3,^2,5`` -> {0, 1, 3, 5}. Raises ValueError on anything else."""
    included: set[int] = set()
    excluded: set[int] = set()
    for raw in text.split(","):
        part = raw.strip()
        if not _PART.fullmatch(part):
            raise ValueError(f"not a CPU list: {text!r}")
        target = excluded if part.startswith("^") else included
        first, _, last = part.lstrip("^").partition("-")
        low, high = int(first), int(last or first)
        if high < low:
            raise ValueError(f"not a CPU list: {text!r} ({part} runs backwards)")
        target.update(range(low, high + 1))
    return included - excluded


def format_cpuset(cpus: Iterable[int]) -> str:
    """{0, 1, 2, 5} -> ``0-2,5`` (the kernel's own spelling)."""
    runs: list[list[int]] = []
    for cpu in sorted(set(cpus)):
        if runs and cpu == runs[-1][1] + 1:
            runs[-1][1] = cpu
        else:
            runs.append([cpu, cpu])
    return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in runs)


def online_cpus(path: Path = SYS_CPU_ONLINE) -> list[int]:
    """The host CPUs the kernel runs on now (``/sys/devices/system/cpu/online``)."""
    return sorted(parse_cpuset(path.read_text().strip()))


def _status(tid: int) -> dict[str, str]:
    try:
        text = (PROC / str(tid) / "status").read_text()
    except OSError:
        return {}
    return {key: value.strip() for key, _, value in (line.partition(":") for line in text.splitlines())}


def thread_affinity(tid: int) -> set[int] | None:
    """CPUs the thread (or process) ``tid`` may run on; None when it does not exist."""
    allowed = _status(tid).get("Cpus_allowed_list")
    return parse_cpuset(allowed) if allowed else None


def thread_group(tid: int) -> int | None:
    """The process a thread belongs to (its thread group id); None when it does not exist."""
    tgid = _status(tid).get("Tgid", "")
    return int(tgid) if tgid.isdigit() else None


class HostCpus:
    """This host's CPUs and where threads may run, as graders see them (``host.cpus``)."""

    def __init__(self, online_path: Path = SYS_CPU_ONLINE) -> None:
        self.online_path = online_path

    @property
    def online(self) -> set[int]:
        return set(online_cpus(self.online_path))

    @staticmethod
    def parse(text: str | None) -> set[int] | None:
        """A CPU list from XML or the kernel (``0-3,^2``); None when it is missing or not a CPU list."""
        if not text:
            return None
        try:
            return parse_cpuset(text)
        except ValueError:
            return None

    @staticmethod
    def format(cpus: Iterable[int]) -> str:
        return format_cpuset(cpus)

    @staticmethod
    def affinity(tid: int) -> set[int] | None:
        """Where the kernel lets thread ``tid`` run (``Cpus_allowed_list``); None when it does not exist."""
        return thread_affinity(tid)

    @staticmethod
    def process_of(tid: int) -> int | None:
        """The process (thread group) thread ``tid`` belongs to."""
        return thread_group(tid)
