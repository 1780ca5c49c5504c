"""Benchmark: lab start, lab reset and lab check, against bare QEMU, in one run.

On the host's accelerator, for the hotadd-disk lab (one guest), it measures
as medians of --runs:

* bare ``qemu-system-x86_64`` booting the lab guest to its readiness line:
  the baseline (``start_ratio`` and ``saved_start_ratio`` are against it);
* ``lab start`` booting the guest (the ready-state cache off): ``start_ratio``;
* ``lab start`` restoring the guest from its saved ready state: ``saved_start_ratio``
  (goal <= 0.5x bare QEMU);
* ``lab reset`` (finish, then a start that restores) against a rebuild (finish,
  then a start that boots): ``rewind_ratio`` (goal <= 0.25x; the reset itself
  goal <= 1.5 s);
* ``lab check`` of the solved lab: ``check_ms``.

The last line is one JSON object with every figure.

    .venv/bin/python bench/lab_start.py [--runs N]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Callable
from typing import Any

from kvmlab import accel
from kvmlab.guest.boot import boot_bare
from kvmlab.guest.build import guest_files
from kvmlab.labs import registry
from kvmlab.session import LabSession
from kvmlab.trainee import Trainee

LAB = "hotadd-disk"
CACHE = "KVMLAB_READY_CACHE_MIB"


def bare_boot(accel_name: str) -> float:
    result = boot_bare(guest_files().require(), accel_name, timeout=120)
    if not result.ready:
        raise SystemExit(f"bare QEMU did not boot the guest: {result.exit_note}")
    return result.seconds


def timed(action: Callable[[], object]) -> float:
    started = time.monotonic()
    action()
    return time.monotonic() - started


def with_cache(on: bool) -> None:
    if on:
        os.environ.pop(CACHE, None)
    else:
        os.environ[CACHE] = "0"


def measure(runs: int) -> dict[str, Any]:
    verdict = accel.decide()
    print(f"accelerator: {verdict.accel} ({'cached verdict' if verdict.cached else 'decided now'})")
    session = LabSession(registry.get(LAB), Trainee("bench"))
    bare, cold, saved, resets, rebuilds = [], [], [], [], []
    try:
        session.finish()
        with_cache(True)
        session.start()  # the first start boots and saves the ready state
        # Interleaved, so that drift in the host's load hits every kind alike.
        for i in range(runs):
            bare.append(bare_boot(verdict.accel))
            with_cache(False)
            session.finish()
            cold.append(timed(session.start))
            rebuilds.append(timed(session.reset))
            with_cache(True)
            session.finish()
            saved.append(timed(session.start))
            resets.append(timed(session.reset))
            print(
                f"  run {i + 1}: bare qemu {bare[-1]:.2f} s, start (boot) {cold[-1]:.2f} s, start (saved) "
                f"{saved[-1]:.2f} s, reset (rewind) {resets[-1]:.2f} s, reset (rebuild) {rebuilds[-1]:.2f} s"
            )
        session.solve()
        checks = [timed(session.check) for _ in range(10)]
    finally:
        with_cache(True)
        session.finish()
    b, c, s = statistics.median(bare), statistics.median(cold), statistics.median(saved)
    r, rb = statistics.median(resets), statistics.median(rebuilds)
    check = statistics.median(checks)
    print()
    print(f"bare qemu boot to readiness (baseline)   {b:6.2f} s")
    print(f"lab start, guest booted                  {c:6.2f} s   {c / b:.2f}x")
    print(f"lab start, guest restored (saved state)  {s:6.2f} s   {s / b:.2f}x  (goal <= 0.5x)")
    print(f"lab reset, rewound                       {r:6.2f} s   {r / rb:.2f}x a rebuild ({rb:.2f} s; goal <= 0.25x)")
    print(f"lab check of the solved lab              {check * 1000:6.0f} ms")
    return {
        "bare_boot_s": round(b, 2),
        "start_ratio": round(c / b, 2),
        "saved_start_ratio": round(s / b, 2),
        "reset_s": round(r, 2),
        "rewind_ratio": round(r / rb, 2),
        "check_ms": round(check * 1000),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3, help="measurements of each kind (median reported)")
    print(json.dumps(measure(parser.parse_args().runs)))


if __name__ == "__main__":
    main()
