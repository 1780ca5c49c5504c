"""FSRS progress store, the trainer and the exam, driven as a learner would."""

from __future__ import annotations

import json
import sqlite3
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

from kvmlab.quiz import bank
from kvmlab.quiz.check import Verdict
from kvmlab.quiz.store import Store
from tests.helpers import DATA, kvmlab

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def test_store_round_trip_schedules_with_fsrs(tmp_path: Path) -> None:
    store = Store(tmp_path / "u.sqlite")
    good = store.record("q1", Verdict(True, 1.0), "ans", now=NOW)
    bad = store.record("q2", Verdict(False, 0.0), "ans", now=NOW)
    assert bad.due < good.due  # a wrong answer comes back sooner
    again = Store(tmp_path / "u.sqlite").card("q1")
    assert again is not None and again.due == good.due and again.stability == good.stability
    assert store.due(["q1", "q2", "q3"], now=NOW) == ["q3"]  # unseen is due, seen ones are not yet
    assert store.due(["q1", "q2", "q3"], now=NOW + timedelta(days=30)) == ["q2", "q1", "q3"]
    assert stat.S_IMODE((tmp_path / "u.sqlite").stat().st_mode) == 0o600


def test_a_wrong_answer_is_never_rated_good(tmp_path: Path) -> None:
    store = Store(tmp_path / "u.sqlite")
    store.record("q", Verdict(False, 0.0), "x", rating="easy", now=NOW)
    rating = sqlite3.connect(tmp_path / "u.sqlite").execute("SELECT rating FROM reviews").fetchone()[0]
    assert rating == "again"


def test_failed_lab_check_brings_its_questions_back(tmp_path: Path) -> None:
    store = Store(tmp_path / "u.sqlite")
    store.record("q1", Verdict(True, 1.0), "x", now=NOW)
    labs = {"q1": "hotadd-disk"}
    assert store.due(["q1"], labs, now=NOW + timedelta(minutes=1)) == []
    store.lab_failed("other-lab", now=NOW + timedelta(minutes=2))
    assert store.due(["q1"], labs, now=NOW + timedelta(minutes=3)) == []
    store.lab_failed("hotadd-disk", now=NOW + timedelta(minutes=2))
    assert store.due(["q1"], labs, now=NOW + timedelta(minutes=3)) == ["q1"]
    store.record("q1", Verdict(True, 1.0), "x", now=NOW + timedelta(minutes=4))  # reviewed again: settled
    assert store.due(["q1"], labs, now=NOW + timedelta(minutes=5)) == []


def test_answer_cli_json_and_progress(kvmlab_home: Path) -> None:
    args = ("quiz", "--bank", str(DATA / "bank-good"), "answer", "demo-001", "--json", "--text")
    wrong = kvmlab(*args, "virsh setvcpus centos 4 --live")
    assert wrong.returncode == 1
    data = json.loads(wrong.stdout)
    assert set(data) == {"correct", "score", "feedback", "missed"} and data["missed"] == ["--config"]
    right = kvmlab(*args, "virsh setvcpus --domain centos --count 4 --config --live")
    assert right.returncode == 0 and json.loads(right.stdout)["correct"] is True
    stats = json.loads(kvmlab("quiz", "--bank", str(DATA / "bank-good"), "stats", "--json").stdout)
    assert stats["review"]["reviews"] == 2 and stats["review"]["correct"] == 1
    assert stats["seed_coverage"]["17"] == ["demo-001"] and stats["languages"] == {"zh": 3, "en": 3}


def test_interactive_quiz_driven_through_stdin(kvmlab_home: Path) -> None:
    import subprocess
    import sys

    answers = "virsh setvcpus centos 4 --live --config\n\nmodified guest\nhard\n"
    proc = subprocess.run(
        [sys.executable, "-m", "kvmlab", "quiz", "--bank", str(DATA / "bank-good"), "--count", "2"],
        input=answers,
        capture_output=True,
        text=True,
        env={**__import__("os").environ},
    )
    assert proc.returncode == 0, proc.stderr
    assert "right (score 100%)" in proc.stdout and "partly right" in proc.stdout
    assert "1/2 right" in proc.stdout


def test_exam_run_through_cli_reports_by_topic_and_saves_json(kvmlab_home: Path, tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    out = tmp_path / "exam.json"
    cmd = [
        sys.executable,
        "-m",
        "kvmlab",
        "exam",
        "--bank",
        str(DATA / "bank-good"),
        "--minutes",
        "5",
        "--count",
        "3",
        "--rng-seed",
        "7",
        "--out",
        str(out),
    ]
    b = bank.load(DATA / "bank-good")
    import random

    order = [q.id for q in random.Random(7).sample(b.questions, 3)]
    right = {"demo-001": "virsh setvcpus centos 4 --config --live", "demo-002": "no idea", "demo-003": "a,c"}
    proc = subprocess.run(
        cmd, input="".join(right[q] + "\n" for q in order), capture_output=True, text=True, env=dict(os.environ)
    )
    assert proc.returncode == 0, proc.stderr
    # No verdict is shown before the last answer.
    first_verdict = proc.stdout.find("result:")
    assert first_verdict > proc.stdout.rfind("your answer>")
    data = json.loads(out.read_text())
    assert data["questions"] == 3 and data["correct"] == 2
    assert data["by_topic"]["demo"]["correct"] == 2
    assert {i["id"]: i["correct"] for i in data["items"]} == {"demo-001": True, "demo-002": False, "demo-003": True}


def test_exam_deadline_marks_the_rest_unanswered(tmp_path: Path) -> None:
    from kvmlab.quiz.trainer import exam
    from kvmlab.render import console

    b = bank.load(DATA / "bank-good")
    # deadline at 60 s; q1 asked at 0 and answered at 30; q2 asked at 30, answered at 90 (late); q3 never asked
    ticks = iter([0.0, 0.0, 30.0, 30.0, 90.0, 90.0])
    answers = iter(["a,c", "x", "y"])
    result = exam(
        b,
        Store(tmp_path / "s.sqlite"),
        console(),
        lambda _p: next(answers),
        minutes=1,
        count=3,
        rng_seed=1,
        clock=lambda: next(ticks),
    )
    assert [(i.answer is not None, i.late) for i in result.items] == [(True, False), (True, True), (False, False)]
    feedback = [i.verdict.feedback[0] for i in result.items[1:] if i.verdict]
    assert feedback == ["late: answered after the deadline", "not answered"]
