from __future__ import annotations

import json
import stat
import threading
import time

import pytest

from kvmlab import paths
from kvmlab.errors import Busy
from kvmlab.ownership import Owned, Ownership
from kvmlab.trainee import Trainee


def test_record_round_trips_and_is_private() -> None:
    owners = Ownership(Trainee("alice"))
    with owners.locked():
        obj = owners.add(Owned("domain", "alice-vm", "lab1", uri="test:///x"))
        owners.confirm(obj, "uuid-1")
        owners.lab_started("lab1", "test:///x")
    again = Ownership(Trainee("alice")).load()
    assert again.find("domain", "alice-vm", "test:///x") == Owned(
        "domain", "alice-vm", "lab1", "created", "uuid-1", "test:///x"
    )
    assert "lab1" in again.labs
    assert stat.S_IMODE(owners.path.stat().st_mode) == 0o600
    assert json.loads(owners.path.read_text())["version"] == 1


def test_changes_need_the_lock() -> None:
    owners = Ownership(Trainee("alice"))
    with pytest.raises(AssertionError):
        owners.add(Owned("file", "/x", "lab1"))


def test_second_command_for_same_trainee_is_refused_with_the_holders_pid() -> None:
    first = Ownership(Trainee("bob"))
    with first.locked():
        with pytest.raises(Busy, match=r"pid \d+") as err, Ownership(Trainee("bob")).locked(wait=0.3):
            pass
        assert "wait for it" in err.value.hint


def test_second_command_waits_for_the_first_to_finish() -> None:
    first = Ownership(Trainee("carol"))
    order: list[str] = []
    holding = threading.Event()

    def hold() -> None:
        with first.locked():
            order.append("first-in")
            holding.set()
            time.sleep(0.5)
            order.append("first-out")

    t = threading.Thread(target=hold)
    t.start()
    assert holding.wait(10)
    with Ownership(Trainee("carol")).locked(wait=10):
        order.append("second-in")
    t.join()
    assert order == ["first-in", "first-out", "second-in"]


def test_other_trainees_are_not_blocked() -> None:
    with Ownership(Trainee("dave")).locked(), Ownership(Trainee("erin")).locked(wait=0.1):
        pass


def test_owner_files_live_in_the_data_dir() -> None:
    assert Ownership(Trainee("alice")).path.parent == paths.owners_dir()


def test_removal_order_puts_domains_first_and_deep_paths_before_their_dirs() -> None:
    owners = Ownership(Trainee("alice"))
    with owners.locked():
        for obj in (
            Owned("dir", "/d/lab", "l"),
            Owned("file", "/d/lab/x.qcow2", "l"),
            Owned("domain", "vm", "l"),
            Owned("network", "net", "l"),
        ):
            owners.add(obj)
    kinds = [(o.kind, o.name) for o in owners.record.removal_order("l")]
    assert kinds == [("domain", "vm"), ("network", "net"), ("file", "/d/lab/x.qcow2"), ("dir", "/d/lab")]


def test_owning_nothing_leaves_no_record_file() -> None:
    owners = Ownership(Trainee("frank"))
    with owners.locked():
        obj = owners.add(Owned("file", "/x", "l"))
        assert owners.path.exists()
        owners.drop(obj)
    assert not owners.path.exists()
