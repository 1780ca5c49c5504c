"""The CLI as a user meets it: exit codes and messages, never a traceback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kvmlab.labs import registry
from tests.helpers import kvmlab, private_test_host


def _no_traceback(proc: object) -> None:
    assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout  # type: ignore[attr-defined]


def test_lab_list_json_has_the_documented_keys() -> None:
    proc = kvmlab("lab", "list", "--json")
    assert proc.returncode == 0, proc.stderr
    labs = json.loads(proc.stdout)
    assert {lab["id"] for lab in labs} == set(registry.lab_ids())
    for lab in labs:
        assert set(lab) >= {"id", "title", "topic", "seed_questions", "notebook", "requires"}
        assert all(1 <= n <= 21 for n in lab["seed_questions"])


def test_unknown_lab_suggests_the_close_one() -> None:
    proc = kvmlab("lab", "start", "hotadd-dsk")
    assert proc.returncode == 2
    assert "there is no lab called 'hotadd-dsk'" in proc.stderr
    assert "did you mean hotadd-disk" in proc.stderr
    _no_traceback(proc)


@pytest.mark.parametrize("name", ["../etc", "a;b", "Alice", "x" * 200, "", "tab\tx", "аlice"])
def test_hostile_trainee_names_exit_2_and_create_nothing(name: str, kvmlab_home: Path) -> None:
    proc = kvmlab("lab", "start", "hotadd-disk", "--trainee", name)
    assert proc.returncode == 2, proc.stderr
    assert "trainee name" in proc.stderr and "what to do:" in proc.stderr
    _no_traceback(proc)
    assert not kvmlab_home.exists() or not any(kvmlab_home.rglob("*"))


def test_unreachable_libvirtd_says_how_to_start_it(kvmlab_home: Path) -> None:
    env = {"KVMLAB_URI": "qemu:///system?socket=/nonexistent/libvirt-sock"}
    for args in (("lab", "start", "hotadd-disk"), ("lab", "check", "hotadd-disk")):
        proc = kvmlab(*args, env=env)
        assert proc.returncode == 3, (args, proc.stderr)
        assert "cannot connect to libvirt" in proc.stderr and "libvirtd -d" in proc.stderr
        _no_traceback(proc)
    doctor = kvmlab("doctor", "--json", env=env)
    assert doctor.returncode == 1
    report = json.loads(doctor.stdout)
    assert report["libvirt"]["ok"] is False and "cannot connect" in report["libvirt"]["error"]
    assert not (kvmlab_home / "owners").exists() or not any((kvmlab_home / "owners").glob("*.json"))


def test_missing_guest_says_how_to_build_it_and_creates_nothing(kvmlab_home: Path) -> None:
    proc = kvmlab("lab", "start", "hotadd-disk", "--trainee", "zed", env={"KVMLAB_URI": private_test_host()})
    assert proc.returncode == 4, proc.stderr
    assert "guest is not built" in proc.stderr and "kvmlab guest build" in proc.stderr
    _no_traceback(proc)
    assert not (kvmlab_home / "labs").exists()
    assert not list((kvmlab_home / "owners").glob("*.json")) if (kvmlab_home / "owners").exists() else True


def test_check_exit_code_and_json_shape_on_an_unstarted_lab() -> None:
    proc = kvmlab("lab", "check", "hotadd-disk", "--trainee", "zed", "--json", env={"KVMLAB_URI": private_test_host()})
    assert proc.returncode == 1
    data = json.loads(proc.stdout)
    assert data["lab"] == "hotadd-disk" and data["trainee"] == "zed" and data["passed"] is False
    assert data["checks"][0]["id"] == "lab-started"


def test_status_of_a_trainee_who_owns_nothing() -> None:
    proc = kvmlab("lab", "status", "--trainee", "zed", "--json", env={"KVMLAB_URI": private_test_host()})
    assert proc.returncode == 0
    assert json.loads(proc.stdout) == {"trainee": "zed", "labs": {}, "progress": {}, "objects": []}


def test_lab_list_in_a_notebook_shows_whole_notebook_paths(kvmlab_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A notebook's !kvmlab runs on a pseudo-terminal that says 80 columns; the output area is wider.
    # (xdist's workers carry COLUMNS, which a user's explicit width would be: gone, as in a kernel.)
    monkeypatch.delenv("COLUMNS", raising=False)
    proc = kvmlab("lab", "list", env={"JPY_PARENT_PID": "1"})
    assert proc.returncode == 0, proc.stderr
    assert "labs/15-hotadd-disk.ipynb" in proc.stdout
