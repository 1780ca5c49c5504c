"""Reading a source QEMU's migration trace (kvmlab.resources.migration) and the order finish removes things in.

``tests/data/qemu-migration-trace.log`` was written by QEMU 7.2 itself
(``-D FILE -trace 'qmp_*migrate*' -trace migrate_set_state``) during the
live-migration lab's reference solution: pre-copy at a capped bandwidth,
then post-copy.
"""

from __future__ import annotations

from pathlib import Path

from kvmlab.ownership import Owned, Ownership
from kvmlab.resources.migration import DEFAULT_PARAMETERS, DomainLogTrace, MigrationTrace, last_run, parse
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


# What libvirt logged for a run of a domain whose QEMU traced its migrations (tracing switched on over HMP), as
# written on libvirt 9.0 / QEMU 7.2: a `virsh suspend`/`resume`, then `virsh migrate` without --live.
LIBVIRT_LOG = """\
2026-12-03 09:30:00.100+0000: starting up libvirt version: 9.0.0, qemu version: 7.2.0
-name guest=vm-mig \\
-uuid 11111111-2222-3333-4444-555555555555 \\
2026-12-03 09:30:01.000+0000: shutting down, reason=destroyed
2026-12-03 09:39:46.000+0000: starting up libvirt version: 9.0.0, qemu version: 7.2.0
-name guest=vm-mig \\
-uuid 11111111-2222-3333-4444-555555555555 \\
-msg timestamp=on
2026-12-03 09:39:47.576+0000: Domain id=715 is tainted: custom-monitor
29626@1796290787.600036:qmp_enter_stop {}
29626@1796290787.600114:vm_state_notify running 0 reason 4 (paused)
29626@1796290787.614100:qmp_enter_cont {}
29626@1796290787.614171:vm_state_notify running 1 reason 9 (running)
29626@1796290791.678937:qmp_enter_stop {}
29626@1796290791.679008:vm_state_notify running 0 reason 4 (paused)
2026-12-03 09:39:51.686+0000: initiating migration
29626@1796290791.690327:qmp_enter_migrate {"resume": false, "uri": "fd:migrate", "detach": true}
29626@1796290791.690381:migrate_set_state new state setup
29737@1796290791.692768:migrate_set_state new state active
29737@1796290792.107162:migrate_set_state new state completed
2026-12-03 09:39:52.187+0000: shutting down, reason=migrated
"""


def test_a_guest_stopped_before_migrate_was_not_migrated_live(tmp_path: Path) -> None:
    log = tmp_path / "vm-mig.log"
    log.write_text(LIBVIRT_LOG)
    attempt = DomainLogTrace(log, "11111111-2222-3333-4444-555555555555").last()
    assert attempt is not None and attempt.completed
    assert attempt.running_at_start is False and not attempt.live
    assert DomainLogTrace(log, "99999999-2222-3333-4444-555555555555").last() is None


def test_a_live_migration_stops_the_guest_only_at_the_switch_over() -> None:
    text = "\n".join(
        [
            "vm_state_notify running 1 reason 9 (running)",
            'qmp_enter_migrate {"uri": "tcp:127.0.0.1:4444"}',
            "migrate_set_state new state setup",
            "qmp_exit_migrate {} 1",
            "migrate_set_state new state active",
            "vm_state_notify running 0 reason 13 (finish-migrate)",
            "migrate_set_state new state completed",
        ]
    )
    (attempt,) = parse(text)
    assert attempt.running_at_start is True and attempt.live
    (untraced,) = parse('qmp_enter_migrate {"uri": "tcp:127.0.0.1:4444"}\nqmp_exit_migrate {} 1\n')
    assert untraced.running_at_start is None and untraced.live  # running since tracing began


def test_only_the_last_run_of_the_uuid_counts() -> None:
    run = last_run(LIBVIRT_LOG, "11111111-2222-3333-4444-555555555555")
    assert run.startswith("2026-12-03 09:39:46.000+0000: starting up") and "reason=destroyed" not in run
