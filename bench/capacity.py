"""Benchmark: what an idle lab guest costs the host, and how many this host takes.

Starts the hotadd-disk lab (one guest) for trainees cap1, cap2, ... (--guests
N, or until kvmlab refuses for lack of memory), lets them idle, then reports
per guest, as medians:

* the QEMU process's resident memory: all of it (VmRSS), and its private part
  (RssAnon: what this guest alone costs; the file pages, QEMU's binary and the
  guest's kernel and initramfs, are shared by every guest);
* what the guest itself uses (MemTotal - MemAvailable, asked through its agent),
  and the private RSS beyond it;
* how far the host's MemAvailable dropped per guest: all of them started and
  idle, against before the first (a drop taken right after each start would
  count what is passing: the boot the saved state was made from, its writeback);

and the host's capacity: how many such idle guests fit in what the host has
available now (less the reserve kvmlab keeps), from the measured drop per
guest. Everything is finished at the end. The last line is JSON.

    .venv/bin/python bench/capacity.py [--guests N]   (N=0: until kvmlab refuses)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path
from typing import Any

from kvmlab.capacity import HOST_RESERVE_MIB, available_memory_mib
from kvmlab.errors import HostCannot
from kvmlab.labs import registry
from kvmlab.session import LabSession
from kvmlab.trainee import Trainee

IDLE_SECONDS = 15  # free page reporting hands freed blocks back a few seconds after boot


def qemu_memory_mib(name: str) -> dict[str, float]:
    """VmRSS and RssAnon of the QEMU process running guest ``name``."""
    pid = Path(f"/run/libvirt/qemu/{name}.pid").read_text().strip()
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "RssAnon"):
            fields[key] = int(value.split()[0]) / 1024
    return fields


def guest_used_mib(session: LabSession, name: str) -> float:
    guest = session.host.domain(name).guest
    info = guest.meminfo_kib() if guest is not None else {}
    return (info.get("MemTotal", 0) - info.get("MemAvailable", 0)) / 1024


def measure(guests: int) -> dict[str, Any]:
    lab = registry.get("hotadd-disk")
    sessions: list[LabSession] = []
    refused = ""
    started = time.monotonic()
    before_all = available_memory_mib()
    try:
        n = 0
        while guests == 0 or n < guests:
            n += 1
            session = LabSession(lab, Trainee(f"cap{n}"))
            session.finish()
            try:
                session.start()
            except HostCannot as err:
                refused = err.message
                break
            sessions.append(session)
            print(f"  guest {n} ready after {time.monotonic() - started:.1f} s")
        elapsed = time.monotonic() - started
        time.sleep(IDLE_SECONDS)
        drop = (before_all - available_memory_mib()) / len(sessions) if sessions else 0.0
        names = [s.params.domain for s in sessions]  # type: ignore[attr-defined]
        memory = [qemu_memory_mib(name) for name in names]
        used = [guest_used_mib(s, name) for s, name in zip(sessions, names, strict=True)]
        ram = [s.host.domain(name).live.current_memory_kib / 1024 for s, name in zip(sessions, names, strict=True)]  # type: ignore[union-attr, operator]
    finally:
        for session in sessions:
            session.finish()
    if not sessions:
        raise SystemExit(f"no guest started: {refused}")
    rss = statistics.median(m["VmRSS"] for m in memory)
    private = statistics.median(m["RssAnon"] for m in memory)
    in_guest = statistics.median(used)
    reserve = int(os.environ.get("KVMLAB_MEMORY_RESERVE_MIB", HOST_RESERVE_MIB))
    capacity = int((available_memory_mib() - reserve) // drop) if drop > 0 else 0
    print()
    print(f"guests started:                 {len(sessions)}" + (f"  (then refused: {refused})" if refused else ""))
    print(f"time to start them all:         {elapsed:.1f} s  ({elapsed / len(sessions):.1f} s per guest)")
    print(f"configured guest RAM:           {statistics.median(ram):.0f} MiB")
    print(f"QEMU resident memory, all:      {rss:.0f} MiB ({rss / statistics.median(ram):.2f}x the guest's RAM)")
    print(f"QEMU resident memory, private:  {private:.0f} MiB (target <= 100 MiB)")
    print(f"used inside the guest:          {in_guest:.0f} MiB; private RSS beyond it {private - in_guest:.0f} MiB")
    print(f"host MemAvailable drop per guest: {drop:.0f} MiB")
    print(f"idle guests this host takes:    {capacity} (target >= 150)")
    return {
        "idle_rss_mib": round(private, 1),
        "idle_vmrss_mib": round(rss, 1),
        "guest_used_mib": round(in_guest, 1),
        "drop_per_guest_mib": round(drop, 1),
        "capacity_guests": capacity,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--guests", type=int, default=6, help="guests to start (0: until kvmlab refuses)")
    args = parser.parse_args()
    print(json.dumps(measure(args.guests)))


if __name__ == "__main__":
    main()
