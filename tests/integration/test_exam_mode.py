"""During a class exam the host refuses `lab solve`, hints and solutions to trainees; the instructor still can.

The refusal is the host's, not the notebook's: these tests run the real CLI as
an ordinary user (nobody), the way a JupyterHub trainee runs it, against the
exam file `kvmlab class exam` writes where every user's kvmlab looks. Hints
and solves that do happen are recorded and shown in the grade.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from kvmlab import exams
from kvmlab.labs import registry
from kvmlab.session import LabSession
from kvmlab.trainee import Trainee
from tests.helpers import DATA, REPO, binder_venv, kvmlab

NOBODY = 65534
LAB = "hotadd-disk"
KEY = b"the instructor's key"


@pytest.fixture
def exam_for() -> Iterator[object]:
    """Start an exam of LAB for the given names (in the real, host-wide exams directory); removed afterwards."""
    made: list[Path] = []

    def start(*trainees: str) -> None:
        name = f"itest-{os.getpid()}-{len(made)}"
        made.append(exams.start(name, [LAB], list(trainees), datetime.now(UTC) + timedelta(minutes=10), KEY))

    env = os.environ.pop("KVMLAB_EXAMS_DIR", None)  # the directory a trainee's kvmlab reads: not an override
    yield start
    for path in made:
        path.unlink(missing_ok=True)
    if env is not None:
        os.environ["KVMLAB_EXAMS_DIR"] = env


@pytest.fixture
def nobody_home() -> Iterator[Path]:
    """A home the user can reach (pytest's own temporary directories are root's only)."""
    home = Path(f"/var/tmp/kvmlab-exam-{os.getpid()}")
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(mode=0o755)
    os.chown(home, NOBODY, NOBODY)
    yield home
    shutil.rmtree(home, ignore_errors=True)


@pytest.fixture
def as_nobody(nobody_home: Path) -> object:
    python = binder_venv() / "bin" / "python"  # an interpreter an ordinary user can run
    home = nobody_home

    def run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(python), "-m", "kvmlab", *args],
            cwd=home,
            env={
                "HOME": str(home),
                "PATH": os.environ["PATH"],
                "KVMLAB_HOME": str(home / "kvmlab"),
                "KVMLAB_URI": f"test://{DATA / 'host.xml'}",  # the refusal comes before any libvirt call
                "PYTHONPATH": str(REPO),
                **env,
            },
            user=NOBODY,
            group=NOBODY,
            extra_groups=[],
            capture_output=True,
            text=True,
            timeout=120,
        )

    return run


def _refused(proc: subprocess.CompletedProcess[str]) -> None:
    assert proc.returncode == 8, proc.stdout + proc.stderr
    assert "not available during the exam" in proc.stderr and "Traceback" not in proc.stderr


def test_a_trainee_sitting_an_exam_gets_no_solve_no_hint_no_solution(exam_for, as_nobody) -> None:  # type: ignore[no-untyped-def]
    exam_for("alice")
    _refused(as_nobody("lab", "solve", LAB, "--trainee", "alice"))
    _refused(as_nobody("lab", "hint", LAB, "--step", "1", "--trainee", "alice"))
    _refused(as_nobody("lab", "hint", LAB, "--step", "2", "--solution", "--trainee", "alice"))
    other = as_nobody("lab", "hint", LAB, "--step", "1", "--trainee", "zed")
    assert other.returncode == 0 and other.stdout.startswith("hint 1: "), other.stderr


def test_the_login_counts_as_well_as_the_trainee_name(exam_for, as_nobody) -> None:  # type: ignore[no-untyped-def]
    exam_for("nobody")
    _refused(as_nobody("lab", "hint", LAB, "--step", "1", "--trainee", "zed"))


def test_whoever_holds_the_instructor_key_may(exam_for, as_nobody, nobody_home: Path) -> None:  # type: ignore[no-untyped-def]
    exam_for("alice")
    key = nobody_home / "instructor.key"
    key.write_bytes(KEY + b"\n")
    os.chown(key, NOBODY, NOBODY)
    key.chmod(0o600)
    proc = as_nobody("lab", "hint", LAB, "--step", "1", "--trainee", "alice", KVMLAB_INSTRUCTOR_KEY=str(key))
    assert proc.returncode == 0, proc.stderr
    wrong = nobody_home / "other.key"
    wrong.write_bytes(b"a key of my own\n")
    os.chown(wrong, NOBODY, NOBODY)
    _refused(as_nobody("lab", "hint", LAB, "--step", "1", "--trainee", "alice", KVMLAB_INSTRUCTOR_KEY=str(wrong)))


def test_the_instructor_solves_during_the_exam_and_the_grade_says_so(system: object, exam_for) -> None:  # type: ignore[no-untyped-def]
    session = LabSession(registry.get(LAB), Trainee("exa"))
    session.finish()
    session.start()
    exam_for("exa")
    try:
        assert kvmlab("lab", "hint", LAB, "--step", "1", "--trainee", "exa").returncode == 0
        solve = kvmlab("lab", "solve", LAB, "--trainee", "exa")
        assert solve.returncode == 0, solve.stderr
        graded = json.loads(kvmlab("lab", "check", LAB, "--trainee", "exa", "--json").stdout)
        assert graded["passed"] and graded["made_by_solve"] and graded["score"] == 0
        assert all(c["made_by"] == "solve" for c in graded["checks"] if c["step"])
        assert graded["hints_used"] == {"1": 1}
        session.reset()  # a new run of the lab: the trainee's own work again, the hint still counted
        again = session.check()
        assert not again.made_by_solve and again.hints_used == {1: 1}
    finally:
        session.finish()
