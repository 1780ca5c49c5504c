"""Reading a source QEMU's migration trace (kvmlab.resources.migration) and the order finish removes things in.

``tests/data/qemu-migration-trace.log`` was written by QEMU 7.2 itself
(``-D FILE -trace 'qmp_*migrate*' -trace migrate_set_state``) during the
live-migration lab's reference solution: pre-copy at a capped bandwidth,
then post-copy.
"""

from __future__ import annotations

from pathlib import Path

from kvmlab.ownership import Owned, Ownership
from kvmlab.resources.migration import DEFAULT_PARAMETERS, MigrationTrace, parse
from kvmlab.trainee import Trainee
from tests.helpers import DATA

RECORDED = DATA / "qemu-migration-trace.log"


def test_recorded_trace_gives_the_parameters_in_force_when_migrate_started() -> None:
    attempt = MigrationTrace(RECORDED).last()
    assert attempt is not None
    assert attempt.uri == "tcp:127.0.0.1:4444"
    assert attempt.value("downtime-limit") == 800 and attempt.was_set("downtime-limit")
    assert attempt.value("max-bandwidth") == 10 * 1024 * 1024
    assert attempt.capabilities == {"auto-converge": True, "postcopy-ram": True}


def test_recorded_trace_follows_the_states_through_post_copy() -> None:
    attempt = MigrationTrace(RECORDED).last()
    assert attempt is not None
    assert attempt.states == ["setup", "active", "postcopy-active", "completed"]
    assert attempt.completed and attempt.final_state == "completed"
    assert attempt.stats is not None and attempt.stats["ram"]["postcopy-requests"] > 0


def test_parameters_never_set_are_qemus_defaults() -> None:
    text = 'qmp_enter_migrate {"uri": "tcp:127.0.0.1:4444"}\nqmp_exit_migrate {} 1\n'
    (attempt,) = parse(text)
    assert attempt.value("downtime-limit") == DEFAULT_PARAMETERS["downtime-limit"] == 300
    assert not attempt.was_set("downtime-limit")
    assert attempt.capabilities == {}


def test_refused_commands_and_later_changes_do_not_count() -> None:
    text = "\n".join(
        [
            'qmp_enter_migrate_set_parameters {"downtime-limit": -1}',
            'qmp_exit_migrate_set_parameters {"class": "GenericError", "desc": "bad"} 0',
            'qmp_enter_migrate {"uri": "tcp:nowhere:1"}',
            "migrate_set_state new state setup",
            'qmp_exit_migrate {"class": "GenericError", "desc": "refused"} 0',
            'qmp_enter_migrate {"uri": "tcp:127.0.0.1:4444"}',
            "migrate_set_state new state setup",
            "qmp_exit_migrate {} 1",
            'qmp_enter_migrate_set_parameters {"downtime-limit": 500}',  # too late for that migration
            "qmp_exit_migrate_set_parameters {} 1",
            "migrate_set_state new state completed",
        ]
    )
    (attempt,) = parse(text)
    assert attempt.uri == "tcp:127.0.0.1:4444"
    assert attempt.value("downtime-limit") == 300
    assert attempt.states == ["setup", "completed"]


def test_timestamped_lines_are_read_too() -> None:
    text = '4242@1700000000.000001:qmp_enter_migrate {"uri": "tcp:127.0.0.1:4444"}\n'
    text += "4242@1700000000.1:qmp_exit_migrate {} 1\n"
    assert [a.uri for a in parse(text)] == ["tcp:127.0.0.1:4444"]


def test_missing_trace_means_no_migration(tmp_path: Path) -> None:
    trace = MigrationTrace(tmp_path / "absent.log")
    assert not trace.exists and trace.attempts() == [] and trace.last() is None


def test_second_daemon_goes_first_and_the_namespace_after_its_veth(tmp_path: Path) -> None:
    owners = Ownership(Trainee("alice"), root=tmp_path)
    with owners.locked():
        for kind, name in [
            ("dir", "/d"),
            ("netns", "alice-migtarget"),
            ("file", "/d/f"),
            ("process", "/d/q.pid"),
            ("veth", "kabcdmigveth"),
            ("domain", "alice-vm"),
            ("libvirtd", "/d/target-libvirtd"),
        ]:
            owners.add(Owned(kind=kind, name=name, lab="l"))
    order = [o.kind for o in owners.record.removal_order("l")]
    assert order == ["libvirtd", "process", "domain", "veth", "netns", "file", "dir"]
