"""Time to the first check, and what a command imports: this tree against the baseline, in one run.

The baseline is kvmlab as it was before the architecture step (issue 14,
commit 24355af), checked out into a temporary git worktree and imported
through PYTHONPATH by the same interpreter, so both trees run on the same
machine, Python and libraries, one after the other.

For each tree it reports:
* ``import kvmlab.cli`` as ``python -X importtime`` measures it;
* the wall time of ``kvmlab lab check hotadd-disk --json`` (a lab whose
  checks run on libvirt's test driver: the time is kvmlab's, not a guest's),
  the median of several runs;
* which kvmlab modules that command loaded (the import picture), and how
  many lab modules among them;
* the lines of Python in kvmlab/ and graders/.

The last line is one JSON object with every figure.
"""

from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BASELINE = "24355af"
DATA = REPO / "tests" / "data" / "host.xml"
RUNS = 7
PICTURE = """
import sys, runpy
sys.argv = ["kvmlab", "lab", "check", "hotadd-disk", "--json"]
try:
    runpy.run_module("kvmlab", run_name="__main__")
except SystemExit:
    pass
mods = sorted(m for m in sys.modules if m.split(".")[0] in ("kvmlab", "graders"))
print("\\n".join(mods), file=sys.stderr)
"""


def _env(tree: Path, home: Path) -> dict[str, str]:
    # Compiled modules are cached as users have them (a shell may say PYTHONDONTWRITEBYTECODE).
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    return {
        **env,
        "PYTHONPATH": str(tree),
        "KVMLAB_HOME": str(home),
        "KVMLAB_URI": f"test://{DATA}",
        "KVMLAB_TRAINEE": "bench",
    }


def import_ms(tree: Path, home: Path) -> float:
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import kvmlab.cli"],
        capture_output=True,
        text=True,
        env=_env(tree, home),
        cwd=home,
        check=True,
    )
    line = next(ln for ln in proc.stderr.splitlines() if ln.rstrip().endswith("| kvmlab.cli"))
    return int(line.split("|")[1]) / 1000


def check_ms(tree: Path, home: Path) -> float:
    times = []
    for _ in range(RUNS + 1):  # the first run compiles and caches the modules: not counted
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "kvmlab", "lab", "check", "hotadd-disk", "--json"],
            capture_output=True,
            env=_env(tree, home),
            cwd=home,  # not the repository: the current directory comes first on sys.path
        )
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times[1:])


def picture(tree: Path, home: Path) -> list[str]:
    proc = subprocess.run(
        [sys.executable, "-c", PICTURE], capture_output=True, text=True, env=_env(tree, home), cwd=home
    )
    return [ln for ln in proc.stderr.splitlines() if re.match(r"^(kvmlab|graders)(\.|$)", ln)]


def lines(tree: Path) -> int:
    return sum(len(p.read_text().splitlines()) for d in ("kvmlab", "graders") for p in (tree / d).rglob("*.py"))


def measure(name: str, tree: Path, home: Path) -> dict[str, float | int]:
    mods = picture(tree, home)  # also compiles and caches every module the command loads
    labs = [m for m in mods if m.startswith("kvmlab.labs.") and m not in ("kvmlab.labs.base", "kvmlab.labs.registry")]
    figures = {
        "import_ms": round(import_ms(tree, home), 1),
        "check_ms": round(check_ms(tree, home), 1),
        "modules": len(mods),
        "lab_modules": len(labs),
        "lines": lines(tree),
    }
    print(
        f"{name:<9} import kvmlab.cli {figures['import_ms']:7.1f} ms   lab check to the result "
        f"{figures['check_ms']:7.1f} ms   {figures['modules']} modules loaded ({figures['lab_modules']} lab modules)"
        f"   {figures['lines']} lines"
    )
    return figures


def measure_all() -> dict[str, float | int | str]:
    with tempfile.TemporaryDirectory(prefix="kvmlab-bench-") as tmp:
        base_tree, home = Path(tmp) / "baseline", Path(tmp) / "home"
        home.mkdir()
        subprocess.run(
            ["git", "-C", str(REPO), "worktree", "add", "--detach", "-q", str(base_tree), BASELINE], check=True
        )
        try:
            before = measure(f"{BASELINE}", base_tree, home)
            after = measure("this tree", REPO, home)
        finally:
            subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(base_tree)], check=False)
    ratio = after["check_ms"] / before["check_ms"]
    print(f"time to the first check: {ratio:.2f}x the baseline (target <= 0.5x)")
    return {
        "import_ms": after["import_ms"],
        "baseline_import_ms": before["import_ms"],
        "first_check_ms": after["check_ms"],
        "baseline_first_check_ms": before["check_ms"],
        "first_check_ratio": round(ratio, 2),
        "lab_modules_loaded": after["lab_modules"],
        "baseline_lab_modules_loaded": before["lab_modules"],
    }


def main() -> int:
    print(json.dumps({"baseline": BASELINE, **measure_all()}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
