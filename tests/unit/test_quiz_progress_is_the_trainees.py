"""A failed lab check feeds the *trainee's* review schedule, never the account that ran the command."""

from __future__ import annotations

from pathlib import Path

import pytest

from kvmlab.classroom import roster, runner
from kvmlab.classroom.gradebook import Gradebook
from kvmlab.cli import main
from kvmlab.quiz.store import Store, default_path
from tests.helpers import private_test_host

LAB = "windows-template"  # runs on libvirt's test driver: it defines a guest, never boots one


@pytest.fixture
def on_test_driver(kvmlab_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("KVMLAB_URI", private_test_host())
    return kvmlab_home


def test_lab_check_for_another_trainee_feeds_that_trainees_schedule(on_test_driver: Path) -> None:
    assert main(["lab", "start", LAB, "--trainee", "alice"]) == 0
    assert main(["lab", "check", LAB, "--trainee", "alice"]) == 1
    assert LAB in Store.of_trainee("alice").failed_labs()
    assert not default_path().exists(), "the failure went into the schedule of the user who ran the command"
    main(["lab", "finish", LAB, "--trainee", "alice"])


def test_the_default_trainee_keeps_the_users_own_file(on_test_driver: Path) -> None:
    assert Store.of_trainee("default").path == default_path()


def test_grading_a_class_feeds_nobodys_schedule(on_test_driver: Path, tmp_path: Path) -> None:
    path = tmp_path / "roster.toml"
    path.write_text(f'class = "q1"\n[[trainee]]\nname = "ann"\nuri = "{private_test_host()}"\n')
    run = runner.ClassRunner(roster.load(path), progress=lambda _m: None)
    run.start(LAB)
    outcomes = run.grade(LAB, Gradebook(tmp_path / "book.sqlite"))
    assert outcomes[0].report is not None and not outcomes[0].report.passed
    assert not (on_test_driver / "quiz").exists()
    run.finish(LAB)
