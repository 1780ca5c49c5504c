"""A class on one real host: four trainees at once, a practical exam with a deadline."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from kvmlab import paths
from kvmlab.classroom import roster, runner
from kvmlab.classroom.gradebook import Gradebook

LAB = "hotadd-disk"


@pytest.fixture
def class_host(system: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A roster of four; the gradebook and key in a scratch place; the class seed removed afterwards."""
    monkeypatch.setenv("KVMLAB_INSTRUCTOR_KEY", str(tmp_path / "instructor.key"))
    path = tmp_path / "roster.toml"
    path.write_text(
        'class = "itest"\nseed = "itest-seed"\n'
        + "".join(f'[[trainee]]\nname = "{n}"\n' for n in ("cla", "clb", "clc", "cld"))
    )
    seed_file = paths.data_dir() / "class" / "seed"
    existed = seed_file.exists()
    yield path
    run = runner.ClassRunner(roster.load(path), progress=lambda _m: None)
    run.finish(LAB)
    if not existed:
        seed_file.unlink(missing_ok=True)


def test_four_trainees_run_the_same_lab_at_once_without_clashes(class_host: Path, tmp_path: Path) -> None:
    run = runner.ClassRunner(roster.load(class_host), progress=lambda _m: None, parallel=4)
    assert all(o.ok for o in run.start(LAB)), [o.detail for o in run.start(LAB)]
    sessions = [run._session(LAB, m) for m in run.roster.members]
    domains = [s.params.domain for s in sessions]  # type: ignore[attr-defined]
    assert len(set(domains)) == 4
    assert all(o.ok for o in run.solve(LAB))
    book = Gradebook(tmp_path / "book.sqlite")
    outcomes = run.grade(LAB, book)
    assert [o.report.passed if o.report else None for o in outcomes] == [True] * 4, [o.detail for o in outcomes]
    # The instructor's `class solve` made these states: the grade says so and gives them no points.
    assert all(o.report and o.report.made_by_solve and o.report.score == 0 for o in outcomes)
    assert len(book.latest("itest", LAB)) == 4
    assert all(o.ok for o in run.finish(LAB))
    for s in sessions:
        assert s.owners.load().objects == []


def test_exam_grades_at_the_deadline_and_marks_later_work_late(class_host: Path, tmp_path: Path) -> None:
    two = tmp_path / "two.toml"
    two.write_text('class = "itest"\nseed = "itest-seed"\n[[trainee]]\nname = "cla"\n[[trainee]]\nname = "clb"\n')
    run = runner.ClassRunner(roster.load(two), progress=lambda _m: None, parallel=2)
    book = Gradebook(tmp_path / "book.sqlite")
    results = runner.exam(run, [LAB], minutes=0.02, gradebook=book)
    assert all(o.ok and o.report is not None and not o.report.passed for o in results[LAB])
    on_time = book.attempts("itest", LAB)
    assert len(on_time) == 2 and not any(a.payload["late"] for a in on_time)
    assert on_time[0].payload["deadline"]
    run.solve(LAB)
    run.grade(LAB, book)
    late = book.latest("itest", LAB)
    assert all(a.payload["late"] and a.result["passed"] for a in late)
    run.finish(LAB)
