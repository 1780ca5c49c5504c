"""Benchmark: how many trainee guests does this host take, and what does each cost?

Starts the hot-add-disk lab for trainees cap1, cap2, ... until kvmlab refuses
(its memory check: guest RAM + overhead + the host's reserve) or --max is
reached, then reports how many started, the time to start them all, and per
guest: its configured RAM, the resident memory of its QEMU process, and how
much the host's available memory dropped. Everything is finished at the end.

    .venv/bin/python bench/capacity.py [--max N]   (N=0: until the host says no)
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from kvmlab.errors import HostCannot
from kvmlab.labs import registry
from kvmlab.session import LabSession, available_memory_mib
from kvmlab.trainee import Trainee


def qemu_rss_mib(name: str) -> float:
    """Resident memory of the QEMU process running guest ``name``."""
    pid = Path(f"/run/libvirt/qemu/{name}.pid").read_text().strip()
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--max", type=int, default=6, help="stop after N guests (0: until kvmlab refuses)")
    args = parser.parse_args()
    lab = registry.get("hotadd-disk")
    sessions: list[LabSession] = []
    drops: list[float] = []
    refused = ""
    started = time.monotonic()
    try:
        n = 0
        while args.max == 0 or n < args.max:
            n += 1
            session = LabSession(lab, Trainee(f"cap{n}"))
            before = available_memory_mib()
            try:
                session.start()
            except HostCannot as err:
                refused = err.message
                break
            sessions.append(session)
            drops.append(before - available_memory_mib())
            print(f"  guest {n} ready after {time.monotonic() - started:.1f} s")
        elapsed = time.monotonic() - started
        names = [s.params.domain for s in sessions]  # type: ignore[attr-defined]
        rss = [qemu_rss_mib(name) for name in names]
        ram = [s.host.domain(name).live.current_memory_kib / 1024 for s, name in zip(sessions, names, strict=True)]  # type: ignore[union-attr, operator]
    finally:
        for session in sessions:
            session.finish()
    print()
    print(f"guests started:                 {len(sessions)}" + (f"  (then refused: {refused})" if refused else ""))
    print(f"time to start them all:         {elapsed:.1f} s  ({elapsed / max(1, len(sessions)):.1f} s per guest)")
    if sessions:
        print(f"configured guest RAM:           {statistics.median(ram):.0f} MiB")
        print(
            f"QEMU resident memory (median):  {statistics.median(rss):.0f} MiB "
            f"({statistics.median(rss) / statistics.median(ram):.2f}x the guest's RAM)"
        )
        print(f"host MemAvailable drop per guest (median): {statistics.median(drops):.0f} MiB")


if __name__ == "__main__":
    main()
