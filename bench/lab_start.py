"""Benchmark: how much does kvmlab add on top of booting the guest with bare QEMU?

In one process, on the same accelerator, it measures
  * bare ``qemu-system-x86_64`` booting the lab guest's kernel + initramfs
    (same disk and agent channel) to the readiness line: the baseline;
  * ``lab start hotadd-disk`` (overlay, define, start, wait for the guest)
    until the guest is ready;
  * ``lab check`` latency on the solved lab, split into host-side checks
    (qemu-img, libvirt XML) and guest-side checks (asked through the agent).
It prints the figures and their ratios. Targets: start <= 1.10x bare QEMU,
host-side checks <= 150 ms.

    .venv/bin/python bench/lab_start.py [--runs N]
"""

from __future__ import annotations

import argparse
import statistics
import time

from kvmlab import accel
from kvmlab.guest.boot import boot_bare
from kvmlab.guest.build import guest_files
from kvmlab.labs import registry
from kvmlab.session import LabSession
from kvmlab.trainee import Trainee

LAB = "hotadd-disk"
TRAINEE = Trainee("bench")


def bare_boot(accel_name: str) -> float:
    result = boot_bare(guest_files().require(), accel_name, timeout=120)
    if not result.ready:
        raise SystemExit(f"bare QEMU did not boot the guest: {result.exit_note}")
    return result.seconds


def lab_start(session: LabSession) -> float:
    session.finish()
    started = time.monotonic()
    session.start()
    return time.monotonic() - started


def check_latency(session: LabSession, rounds: int) -> tuple[float, float, float]:
    """Median seconds of: the whole check, its host-side rows, its guest-side rows."""
    whole, host_side, guest_side = [], [], []
    for _ in range(rounds):
        started = time.monotonic()
        rows = iter(session.lab.checks(session.host, session.params))
        host_t = guest_t = 0.0
        mark = time.monotonic()
        for row in rows:
            now = time.monotonic()
            if row.id.startswith("guest-"):
                guest_t += now - mark
            else:
                host_t += now - mark
            mark = now
        whole.append(time.monotonic() - started)
        host_side.append(host_t)
        guest_side.append(guest_t)
    return statistics.median(whole), statistics.median(host_side), statistics.median(guest_side)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3, help="boots of each kind (median reported)")
    args = parser.parse_args()

    verdict = accel.decide()
    print(f"accelerator: {verdict.accel} ({'cached verdict' if verdict.cached else 'decided now'})")
    session = LabSession(registry.get(LAB), TRAINEE)
    bare, kvmlab = [], []
    try:
        # Interleave the two so that drift in host load hits both alike.
        for i in range(args.runs):
            bare.append(bare_boot(verdict.accel))
            kvmlab.append(lab_start(session))
            print(f"  run {i + 1}: bare qemu {bare[-1]:.2f} s, kvmlab lab start {kvmlab[-1]:.2f} s")
        # Grade the solved lab: every check then does its real work (qemu-img
        # reads the image, the agent lists the guest's disks).
        session.solve()
        whole, host_side, guest_side = check_latency(session, rounds=10)
    finally:
        session.finish()

    b, k = statistics.median(bare), statistics.median(kvmlab)
    print()
    print(f"bare qemu boot to readiness (baseline)  {b:6.2f} s")
    print(f"kvmlab lab start {LAB} until ready  {k:6.2f} s   ratio {k / b:.2f}x  (target <= 1.10x)")
    print(f"lab check, whole                         {whole * 1000:6.0f} ms")
    print(f"lab check, host-side checks              {host_side * 1000:6.0f} ms  (target <= 150 ms)")
    print(f"lab check, guest-side checks (agent)     {guest_side * 1000:6.0f} ms")


if __name__ == "__main__":
    main()
