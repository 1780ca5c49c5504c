from __future__ import annotations

from kvmlab.labs.live_migration import MigrationParams, migrate_by_hand, migrate_with_virsh, restart_on_target
from kvmlab.procs import run
from kvmlab.toolkit import Toolkit
from tests.integration.wrong import Wrong

LAB = "live-migration"


def _params(s: Toolkit) -> MigrationParams:
    p = s.params
    assert isinstance(p, MigrationParams)
    return p


def _restarted_on_target(s: Toolkit) -> None:
    """Quit the source and boot the same disk on the target: the guest restarts, its counter is gone."""
    restart_on_target(_params(s))
    migrate_with_virsh(s, _params(s))


def _source_left_running(s: Toolkit) -> None:
    """The migration completes, but the paused source (postmigrate) is never quit."""
    migrate_by_hand(_params(s), quit_source=False)
    migrate_with_virsh(s, _params(s))


def _downtime_not_set(s: Toolkit) -> None:
    migrate_by_hand(_params(s), downtime=False)
    migrate_with_virsh(s, _params(s))


def _transient_and_source_kept(s: Toolkit) -> None:
    """virsh migrate --live alone: the target only runs it, the source keeps its definition."""
    migrate_by_hand(_params(s))
    migrate_with_virsh(s, _params(s), flags=())


def _stopped_before_migrate(s: Toolkit) -> None:
    """QMP stop, then migrate: the migration completes and the counter goes on, but the guest stood still."""
    migrate_by_hand(_params(s), stop_first=True)
    migrate_with_virsh(s, _params(s))


def _not_live(s: Toolkit) -> None:
    """virsh migrate without --live: libvirt pauses the guest, copies its RAM, resumes it on the target."""
    migrate_by_hand(_params(s))
    migrate_with_virsh(s, _params(s), live=False)


def _cold_move(s: Toolkit) -> None:
    """Destroy on the source, define and start on the target: the guest boots again."""
    p = _params(s)
    migrate_by_hand(p)
    xml = s.virsh("dumpxml", "--inactive", p.domain)
    s.virsh("destroy", p.domain)
    s.virsh("undefine", p.domain)
    path = s.path("cold-move.xml")
    obj = s.claim("file", str(path))
    path.write_text(xml)
    s.owners.confirm(obj)
    run(["virsh", "-q", "-c", p.target_uri, "define", str(path)])
    run(["virsh", "-q", "-c", p.target_uri, "start", p.domain])


WRONG = [
    Wrong(
        "qemu-restarted-on-target",
        _restarted_on_target,
        frozenset(
            {
                "qemu-target-incoming",
                "qemu-live",
                "qemu-same-boot",
                "qemu-counter",
                "qemu-migrated",
                "qemu-downtime-limit",
                "qemu-max-bandwidth",
                "qemu-auto-converge",
                "qemu-postcopy",
            }
        ),
    ),
    Wrong("qemu-source-left-running", _source_left_running, frozenset({"qemu-source-gone"})),
    Wrong("qemu-downtime-limit-not-set", _downtime_not_set, frozenset({"qemu-downtime-limit"})),
    Wrong(
        "libvirt-transient-source-kept",
        _transient_and_source_kept,
        frozenset({"libvirt-target-persistent", "libvirt-source-undefined"}),
    ),
    Wrong(
        "libvirt-cold-move",
        _cold_move,
        frozenset({"libvirt-migrated", "libvirt-live", "libvirt-same-boot", "libvirt-counter"}),
    ),
    Wrong("qemu-stopped-before-migrate", _stopped_before_migrate, frozenset({"qemu-live"})),
    Wrong("libvirt-migrate-without-live", _not_live, frozenset({"libvirt-live"})),
]
