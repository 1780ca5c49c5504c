"""The suite's two workers keep a group on one worker: the guarantee its trainees rely on.

A lab's contract and its known-wrong solutions share a trainee; if xdist spread
them over both workers, each would finish the other's lab mid-test. pytest 9
broke xdist's groups without an error, so this is checked on the real pair.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_loadgroup_keeps_a_group_on_one_worker(tmp_path: Path) -> None:
    (tmp_path / "test_grouped.py").write_text(
        "import pytest\n\n"
        "@pytest.mark.xdist_group('one-trainee')\n"
        "@pytest.mark.parametrize('i', range(6))\n"
        "def test_step(i):\n    pass\n"
    )
    (tmp_path / "conftest.py").write_text("")
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-n", "2", "--dist", "loadgroup", "-v", "-rN"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    workers = {line.split()[0] for line in proc.stdout.splitlines() if " PASSED " in line}
    assert len(workers) == 1, f"a group ran on {workers}:\n{proc.stdout}"
