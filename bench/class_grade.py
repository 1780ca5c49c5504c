"""Benchmark: grading a class of 30 on one host (host-side checks).

Starts and solves the windows-template lab (define-only: its checks are all
host-side, libvirt XML and qemu-img) for 30 trainees, then times, in one
process:
  * the baseline: reading each trainee's domain XML with libvirt-python and
    their disk with qemu-img info, i.e. the raw cost of looking at the host;
  * `kvmlab class grade`: all the lab's checks for all 30, signed into the
    gradebook (a scratch one, with a scratch key).
It prints both and their ratio. Target: the class grade in <= 5 s.

    .venv/bin/python bench/class_grade.py [--trainees N]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path

import libvirt

from kvmlab import paths
from kvmlab.classroom import roster, runner
from kvmlab.classroom.gradebook import Gradebook

LAB = "windows-template"


def measure(trainees: int = 30) -> dict[str, float]:
    args = argparse.Namespace(trainees=trainees)
    with tempfile.TemporaryDirectory(prefix="kvmlab-bench-") as tmp:
        os.environ["KVMLAB_INSTRUCTOR_KEY"] = str(Path(tmp) / "key")
        names = [f"bench{n:02d}" for n in range(1, args.trainees + 1)]
        path = Path(tmp) / "roster.toml"
        path.write_text('class = "bench"\n' + "".join(f'[[trainee]]\nname = "{n}"\n' for n in names))
        seed_file = paths.data_dir() / "class" / "seed"
        had_seed = seed_file.exists()
        run = runner.ClassRunner(roster.load(path), progress=lambda _m: None, parallel=2)
        try:
            t0 = time.monotonic()
            run.start(LAB)
            run.solve(LAB)
            print(f"set-up: {args.trainees} trainees started and solved in {time.monotonic() - t0:.1f} s")
            sessions = [run._session(LAB, m) for m in run.roster.members]
            params = [s.params for s in sessions]

            conn = libvirt.open("qemu:///system")
            t0 = time.monotonic()
            for p in params:
                conn.lookupByName(p.domain).XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)  # type: ignore[attr-defined]
                subprocess.run(
                    ["qemu-img", "info", "-U", "--output=json", p.disk],  # type: ignore[attr-defined]
                    capture_output=True,
                    check=True,
                )
            baseline = time.monotonic() - t0
            conn.close()

            serial = runner.ClassRunner(roster.load(path), progress=lambda _m: None)
            book = Gradebook(Path(tmp) / "book.sqlite")
            t0 = time.monotonic()
            outcomes = serial.grade(LAB, book)
            graded = time.monotonic() - t0
        finally:
            run.finish(LAB)
            if not had_seed:
                seed_file.unlink(missing_ok=True)
    passed = sum(1 for o in outcomes if o.report and o.report.passed)
    print(f"baseline: read {args.trainees} domain XMLs + qemu-img info   {baseline:6.2f} s")
    print(
        f"kvmlab class grade {LAB} ({args.trainees} trainees)  {graded:6.2f} s   "
        f"ratio {graded / baseline:.1f}x   (target <= 5 s); {passed}/{len(outcomes)} pass"
    )
    return {"class_grade_s": round(graded, 2), "class_grade_ratio": round(graded / baseline, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trainees", type=int, default=30)
    print(json.dumps(measure(parser.parse_args().trainees)))


if __name__ == "__main__":
    main()
