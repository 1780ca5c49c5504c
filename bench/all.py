"""`make bench`: every benchmark in one run, then one JSON line with every figure (to track run to run).

Each script also runs alone (see its docstring). Figures are ratios against a
baseline measured in the same run: bare QEMU for lab start, a rebuild for
lab reset, the pre-refactor tree for the time to the first check.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

import capacity
import class_grade
import lab_start
import startup


def main() -> int:
    figures: dict[str, object] = {}
    for name, run in (
        ("lab start, reset and check", lambda: lab_start.measure(runs=3)),
        ("idle guests and capacity", lambda: capacity.measure(guests=6)),
        ("time to the first check", startup.measure_all),
        ("grading a class of 30", class_grade.measure),
    ):
        print(f"\n== {name}", flush=True)
        figures.update(run())
    print()
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
