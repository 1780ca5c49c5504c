"""Lab: snapshots, live backup and backing chains (beyond the seed; nearest: question 19).

Start boots a guest whose disk is a thin clone of a template, as in the
linux-template lab: ``vda`` is a qcow2 overlay on a raw base. The base is
this lab's own copy of kvmlab's golden image, never the golden image itself:
``virsh blockcommit`` without ``--shallow``/``--base`` commits into the
*bottom* of the chain, and that must only ever hurt the trainee's own file.

The trainee then does, in this order (the order matters, see below):

1. a live backup: an external, disk-only, quiesced snapshot puts a new
   overlay on top and freezes ``vda``; the chain is recorded; data is
   written in the guest (it lands in the overlay); the frozen image is
   copied; ``virsh blockcommit --active --pivot --shallow`` merges the
   overlay back, and the overlay and its snapshot metadata are removed;
2. ``virsh blockpull`` copies the base's data into ``vda``, which then no
   longer needs the base;
3. internal snapshots (RAM and disk, inside ``vda``'s qcow2): ``clean``,
   ``v1``, a revert to ``clean`` and ``v2``: a tree with two branches.

Internal snapshots keep reading the clusters they never copied through the
backing file: pulling or rebasing after taking them corrupts every one of
them. Flatten first, then snapshot.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from kvmlab.guestxml import lab_guest_xml
from kvmlab.labs.base import Lab, Params, lab
from kvmlab.procs import run
from kvmlab.resources.agent import ExecResult, GuestAgent
from kvmlab.toolkit import Toolkit

GUEST_ROOT = "/mnt/root"  # where the tiny guest mounts its vda (an ext4 filesystem, whole disk)
# What the trainee writes after the backup snapshot: per trainee, so a copied answer shows.
MARKERS = ("written-after-the-snapshot", "lands-in-the-overlay", "survives-the-commit", "merged-back-down")


@dataclass(frozen=True)
class SnapshotParams(Params):
    domain: str
    disk: str  # vda: a qcow2 overlay on the base at start, standalone once pulled
    base: str  # the template: raw, this lab's own copy
    console_log: str
    backup_snapshot: str  # the external, disk-only snapshot
    overlay: str  # the overlay it creates (--diskspec vda,snapshot=external,file=...)
    chain_before: str  # qemu-img info --backing-chain --output=json of the overlay, while it is in use
    backup: str  # the standalone copy of the frozen vda
    marker_in_guest: str  # the file written after the backup snapshot, as the guest sees it
    marker_in_image: str  # the same file, inside vda's filesystem
    marker_text: str
    snapshots: tuple[str, ...]  # the internal snapshots: clean, v1, v2
    version_in_guest: str  # written before v1 ("v1") and before v2 ("v2")
    version_in_image: str
    uri: str


@lab("snapshots", "Snapshots: internal and external, live backup, blockcommit and blockpull", seed=(19,))
class Snapshots(Lab):
    def params(self, kit: Toolkit) -> SnapshotParams:
        domain = kit.name("vm-snap")
        return SnapshotParams(
            domain=domain,
            disk=str(kit.path(f"{domain}.qcow2")),
            base=str(kit.path("template.raw")),
            console_log=str(kit.path(f"{domain}.console.log")),
            backup_snapshot="backup",
            overlay=str(kit.path(f"{domain}.backup.qcow2")),
            chain_before=str(kit.path("chain-before.json")),
            backup=str(kit.path("backup.qcow2")),
            marker_in_guest=f"{GUEST_ROOT}/after-backup.txt",
            marker_in_image="/after-backup.txt",
            marker_text=kit.variant("marker", MARKERS),
            snapshots=("clean", "v1", "v2"),
            version_in_guest=f"{GUEST_ROOT}/version.txt",
            version_in_image="/version.txt",
            uri=kit.uri,
        )

    def start(self, kit: Toolkit) -> None:
        p = self.params(kit)
        spec = kit.guest_spec("vm-snap")
        kit.make_dir()
        kit.make_copy(Path(p.base), kit.guest_files.disk, "raw")
        kit.make_overlay(spec.disk, Path(p.base), "raw")
        kit.owners.confirm(kit.claim("file", str(spec.console_log)))
        for path in (p.overlay, p.chain_before, p.backup):
            kit.expect("file", path)
        # Where libvirt puts the overlay when --diskspec names no file: DISK-without-suffix.SNAPSHOT
        kit.expect("file", str(Path(p.disk).with_suffix(f".{p.backup_snapshot}")))
        dom = kit.define_domain(lab_guest_xml(spec, kit.guest_files))
        if not dom.isActive():
            kit.boot(dom, spec.console_log)
        GuestAgent(dom).wait(30)  # --quiesce and the guest-side steps need the agent, ~1 s after the boot

    def solve(self, kit: Toolkit) -> None:
        p = self.params(kit)
        live_backup(kit, p)
        kit.virsh("blockpull", p.domain, "vda", "--wait")
        internal_tree(kit, p)


def guest_write(kit: Toolkit, domain: str, path: str, text: str) -> ExecResult:
    """Write a line to a file in the guest and flush it to its disk, through the guest agent."""
    dom = kit.connection.conn.lookupByName(domain)
    agent = GuestAgent(dom)
    agent.wait(30)
    return agent.run(["/bin/sh", "-c", 'echo "$1" > "$2" && sync', "sh", text, path])


def live_backup(
    kit: Toolkit,
    p: SnapshotParams,
    backup_after_merge: bool = False,
    clean_up: bool = True,
    quiesce: bool = True,
    shallow: bool = True,
) -> None:
    """External snapshot, write, copy the frozen image, commit the overlay back; the flags make known-wrong runs."""
    GuestAgent(kit.connection.conn.lookupByName(p.domain)).wait(30)  # --quiesce asks the agent to freeze
    kit.virsh(
        "snapshot-create-as", p.domain, p.backup_snapshot, "--disk-only", "--atomic",
        *(["--quiesce"] if quiesce else []),
        "--diskspec", f"vda,snapshot=external,file={p.overlay}",
    )  # fmt: skip
    chain = run(["qemu-img", "info", "-U", "--backing-chain", "--output=json", p.overlay]).stdout
    Path(p.chain_before).write_text(chain)
    guest_write(kit, p.domain, p.marker_in_guest, p.marker_text)
    if not backup_after_merge:
        run(["qemu-img", "convert", "-O", "qcow2", p.disk, p.backup])
    kit.virsh("blockcommit", p.domain, "vda", "--active", "--pivot", *(["--shallow"] if shallow else []))
    if backup_after_merge:
        run(["qemu-img", "convert", "-U", "-O", "qcow2", p.disk, p.backup])
    if clean_up:
        kit.virsh("snapshot-delete", p.domain, p.backup_snapshot, "--metadata")
        Path(p.overlay).unlink()


def internal_tree(kit: Toolkit, p: SnapshotParams, revert: bool = True) -> None:
    """clean -> v1, back to clean, -> v2: two branches from one snapshot."""
    clean, v1, v2 = p.snapshots
    kit.virsh("snapshot-create-as", p.domain, clean)
    guest_write(kit, p.domain, p.version_in_guest, v1)
    kit.virsh("snapshot-create-as", p.domain, v1)
    if revert:
        kit.virsh("snapshot-revert", p.domain, clean)
    guest_write(kit, p.domain, p.version_in_guest, v2)
    kit.virsh("snapshot-create-as", p.domain, v2)
