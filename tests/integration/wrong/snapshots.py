from __future__ import annotations

from collections.abc import Callable

from kvmlab.labs.snapshots import SnapshotParams, internal_tree, live_backup
from kvmlab.toolkit import Toolkit
from tests.integration.wrong import Wrong

LAB = "snapshots"


def _params(s: Toolkit) -> SnapshotParams:
    p = s.params
    assert isinstance(p, SnapshotParams)
    return p


def _solve(
    backup_after_merge: bool = False,
    clean_up: bool = True,
    pull: bool = True,
    revert: bool = True,
    snapshots_first: bool = False,
    quiesce: bool = True,
) -> Callable[[Toolkit], None]:
    def apply(s: Toolkit) -> None:
        p = _params(s)
        live_backup(s, p, backup_after_merge=backup_after_merge, clean_up=clean_up, quiesce=quiesce)
        if snapshots_first:
            internal_tree(s, p, revert=revert)
        if pull:
            s.virsh("blockpull", p.domain, "vda", "--wait")
        if not snapshots_first:
            internal_tree(s, p, revert=revert)

    return apply


def _commit_to_default_base(s: Toolkit) -> None:
    live_backup(s, _params(s), shallow=False)


WRONG = [
    # The copy made after the commit is no backup of the snapshot: it already holds what came later.
    # (And it is no frozen image either: the guest has the filesystem mounted, its journal to replay.)
    Wrong(
        "backup-copied-after-the-merge",
        _solve(backup_after_merge=True),
        frozenset({"backup-point-in-time", "backup-quiesced"}),
    ),
    # The snapshot taken without --quiesce: the frozen image is only crash-consistent.
    Wrong("snapshot-not-quiesced", _solve(quiesce=False), frozenset({"backup-quiesced"})),
    # Pivoted, but the overlay file and the snapshot's metadata are left behind.
    Wrong("overlay-left-behind", _solve(clean_up=False), frozenset({"overlay-removed"})),
    # Still a thin clone of the template.
    Wrong("not-pulled", _solve(pull=False), frozenset({"flattened"})),
    # v2 taken on top of v1: a line, not a tree.
    Wrong("no-revert-before-v2", _solve(revert=False), frozenset({"snapshot-tree"})),
    # Internal snapshots first, then blockpull: every snapshot still read the template for what it never copied.
    Wrong("pulled-after-internal-snapshots", _solve(snapshots_first=True), frozenset({"snapshot-contents"})),
    # blockcommit without --shallow (or --base): the overlay goes into the raw template at the bottom, and the
    # guest pivots onto the template. The trainee stops there: nothing after it can work on a raw disk.
    Wrong(
        "blockcommit-into-the-template",
        _commit_to_default_base,
        frozenset({"merged", "flattened", "snapshots-internal", "snapshot-tree", "snapshot-contents"}),
    ),
]
