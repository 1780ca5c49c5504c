"""Lifecycle events a trainee's callback recorded, held against libvirt's log of the runs (libvirt-api lab)."""

from __future__ import annotations

import os
from pathlib import Path

from kvmlab.resources.lifecycle import EventsFile
from kvmlab.resources.runlog import Run

STARTED_AT = 1_700_000_000.0


def _setup(tmp_path: Path, lines: str) -> tuple[EventsFile, Path]:
    events = tmp_path / "events.txt"
    events.write_text(lines)
    started = tmp_path / "vm-api.xml"  # the lab's own file, written at start
    started.write_text("<domain/>")
    os.utime(started, (STARTED_AT, STARTED_AT))
    return EventsFile(events), started


def _run(start: float, stop: float | None, reason: str | None) -> Run:
    return Run(STARTED_AT + start, None if stop is None else STARTED_AT + stop, reason, "u")


def test_a_recorded_destroy_that_libvirt_logged_is_believed(tmp_path: Path) -> None:
    events, started = _setup(
        tmp_path, "vm-api DEFINED 0\nvm-api STARTED 0\nvm-api STOPPED 1\nvm-api STARTED 0\nvm STARTED 0\n"
    )
    found = events.compared("vm-api", [_run(10, 20, "destroyed"), _run(21, None, None)], started)
    assert found.seen == ("DEFINED", "STARTED", "STOPPED", "STARTED")
    assert found.saw("STARTED", "STOPPED") and found.believable


def test_a_stop_typed_by_hand_is_not(tmp_path: Path) -> None:
    events, started = _setup(tmp_path, "vm-api STARTED 0\nvm-api STOPPED 1\n")
    found = events.compared("vm-api", [_run(10, None, None)], started)
    assert not found.believable and found.unlogged == ("STOPPED 1",)


def test_a_stop_with_another_reason_than_logged_is_not(tmp_path: Path) -> None:
    events, started = _setup(tmp_path, "vm-api STARTED 0\nvm-api STOPPED 0\nvm-api STOPPED x\n")
    found = events.compared("vm-api", [_run(10, 20, "destroyed")], started)
    assert found.unlogged == ("STOPPED 0", "STOPPED x") and found.logged == ("destroyed",)


def test_stops_before_the_lab_started_belong_to_an_earlier_session(tmp_path: Path) -> None:
    events, started = _setup(tmp_path, "vm-api STARTED 0\nvm-api STOPPED 1\n")
    found = events.compared("vm-api", [_run(-100, -50, "destroyed"), _run(10, None, None)], started)
    assert not found.believable and found.logged == ()


def test_no_file_or_no_log_is_a_reason(tmp_path: Path) -> None:
    events, started = _setup(tmp_path, "vm-api STOPPED 1\n")
    assert "cannot be read" in events.compared("vm-api", None, started).why
    assert "no events file" in EventsFile(tmp_path / "none.txt").compared("vm-api", [], started).why
    assert "cannot be read" in events.compared("vm-api", [], tmp_path / "no-start-file").why
