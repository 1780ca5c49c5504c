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
) -> Callable[[Toolkit], None]:
    def apply(s: Toolkit) -> None:
        p = _params(s)
        live_backup(s, p, backup_after_merge=backup_after_merge, clean_up=clean_up)
        if snapshots_first:
            internal_tree(s, p, revert=revert)
        if pull:
            s.virsh("blockpull", p.domain, "vda", "--wait")
        if not snapshots_first:
            internal_tree(s, p, revert=revert)

    return apply


WRONG = [
    # The copy made after the commit is no backup of the snapshot: it already holds what came later.
    Wrong("backup-copied-after-the-merge", _solve(backup_after_merge=True), frozenset({"backup-point-in-time"})),
    # Pivoted, but the overlay file and the snapshot's metadata are left behind.
    Wrong("overlay-left-behind", _solve(clean_up=False), frozenset({"overlay-removed"})),
    # Still a thin clone of the template.
    Wrong("not-pulled", _solve(pull=False), frozenset({"flattened"})),
    # v2 taken on top of v1: a line, not a tree.
    Wrong("no-revert-before-v2", _solve(revert=False), frozenset({"snapshot-tree"})),
    # Internal snapshots first, then blockpull: every snapshot still read the template for what it never copied.
    Wrong("pulled-after-internal-snapshots", _solve(snapshots_first=True), frozenset({"snapshot-contents"})),
]
