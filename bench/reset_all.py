"""Benchmark: `lab reset` of every lab, against the lab's first start, in one run.

For each lab: start it (the first start boots its guests and saves their
ready states), then time `lab reset` (finish, then a start that restores
them). A lab rewinds when its reset takes about a second; `lab list --json`
says which labs declare so (`reset: rewind`), and this prints both, so a
declaration the figures do not bear out shows. The last line is JSON.

    .venv/bin/python bench/reset_all.py [LAB ...]
"""

from __future__ import annotations

import json
import sys
import time

from kvmlab.labs import registry
from kvmlab.session import LabSession
from kvmlab.trainee import Trainee

REWIND_SECONDS = 1.5  # issue 13's target for a one-guest lab under TCG


def measure(lab_ids: list[str]) -> dict[str, dict[str, float | str]]:
    figures: dict[str, dict[str, float | str]] = {}
    for lab in (registry.get(i) for i in lab_ids):
        session = LabSession(lab, Trainee("benchrs"))
        session.finish()
        try:
            started = time.monotonic()
            session.start()
            first = time.monotonic() - started
            started = time.monotonic()
            session.reset()
            reset = time.monotonic() - started
        finally:
            session.finish()
        declared = "rewind" if lab.rewind else "rebuild"
        flag = "" if (reset <= REWIND_SECONDS) == lab.rewind else "   <- declaration and figure disagree"
        print(f"{lab.id:<18} first start {first:6.1f} s   reset {reset:5.1f} s   declared {declared}{flag}", flush=True)
        figures[lab.id] = {"start_s": round(first, 1), "reset_s": round(reset, 1), "declared": declared}
    return figures


def main() -> None:
    ids = sys.argv[1:] or [lab.id for lab in registry.all_labs()]
    print(json.dumps(measure(ids)))


if __name__ == "__main__":
    main()
