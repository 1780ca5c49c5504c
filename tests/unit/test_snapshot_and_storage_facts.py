"""The host facts the snapshots and storage-internals graders stand on.

Recorded ``virsh snapshot-dumpxml`` output, internal snapshots read out of a
real qcow2, and what the host really stores for real images (qemu-img,
fallocate, SEEK_DATA) — no guest needed.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from graders.storage_internals import _preallocated
from kvmlab.connection import Connection
from kvmlab.host import Host
from kvmlab.labs.storage_internals import MIB, PREALLOCATION_MODES, StorageParams
from kvmlab.resources.ext4state import Ext4Image
from kvmlab.resources.image import Image
from kvmlab.resources.imagefs import ImageUnreadable, image_files
from kvmlab.xmlviews import DomainSnapshotXML
from tests.helpers import DATA

# -- snapshot metadata ---------------------------------------------------------


def test_internal_snapshot_of_a_running_guest_keeps_ram_and_disk_inside_the_image() -> None:
    snap = DomainSnapshotXML.from_xml((DATA / "snapshot-internal.xml").read_text())
    assert (snap.name, snap.state, snap.parent, snap.memory) == ("v1", "running", "clean", "internal")
    vda = snap.disk("vda")
    assert vda is not None and vda.snapshot == "internal" and vda.source_file is None


def test_external_disk_only_snapshot_names_its_overlay_and_has_no_ram() -> None:
    snap = DomainSnapshotXML.from_xml((DATA / "snapshot-external.xml").read_text())
    assert (snap.name, snap.state, snap.parent, snap.memory) == ("backup", "disk-snapshot", None, "no")
    vda = snap.disk("vda")
    assert vda is not None and vda.snapshot == "external"
    assert vda.source_file is not None and vda.source_file.endswith(".backup.qcow2")
    assert snap.disk("vdb") is None


# -- reading an internal snapshot out of an image --------------------------------


@pytest.fixture
def snapshotted(tmp_path: Path) -> Path:
    """A qcow2 whose internal snapshot v1 holds /version.txt, and whose current state holds no filesystem."""
    root = tmp_path / "root"
    root.mkdir()
    (root / "version.txt").write_text("v1\n")
    raw, qcow2 = tmp_path / "fs.raw", tmp_path / "disk.qcow2"
    mkfs = shutil.which("mkfs.ext4") or "/sbin/mkfs.ext4"
    subprocess.run([mkfs, "-q", "-F", "-d", str(root), str(raw), "8M"], check=True)
    subprocess.run(["qemu-img", "convert", "-O", "qcow2", str(raw), str(qcow2)], check=True)
    subprocess.run(["qemu-img", "snapshot", "-c", "v1", str(qcow2)], check=True)
    # After the snapshot, the first 2 MiB (superblock, group descriptors) are overwritten: the current state breaks.
    subprocess.run(["qemu-io", "-f", "qcow2", "-c", "write -P 0 0 2M", str(qcow2)], check=True, capture_output=True)
    return qcow2


def test_imagefs_reads_an_internal_snapshot_instead_of_the_current_state(snapshotted: Path) -> None:
    with image_files(snapshotted, snapshot="v1") as fs:
        assert fs.read("/version.txt") == "v1\n"
        consistent, _said = fs.fsck()
        assert consistent
    with pytest.raises(ImageUnreadable), image_files(snapshotted) as fs:
        fs.read("/version.txt")


def test_imagefs_says_so_when_the_snapshot_does_not_exist(snapshotted: Path) -> None:
    with pytest.raises(ImageUnreadable, match="snapshot"), image_files(snapshotted, snapshot="nope"):
        pass


def test_imagefs_refuses_snapshot_names_that_would_add_options(snapshotted: Path) -> None:
    with pytest.raises(ValueError), image_files(snapshotted, snapshot="v1,file.filename=/etc/shadow"):
        pass


def test_image_info_lists_internal_snapshots(snapshotted: Path) -> None:
    info = Image(snapshotted).info()
    assert info is not None
    assert list(info.snapshots) == ["v1"]


# -- what the host stores ----------------------------------------------------------


def test_fallocated_blocks_are_stored_but_are_holes_to_seek_data(tmp_path: Path) -> None:
    reserved, written = tmp_path / "reserved", tmp_path / "written"
    with reserved.open("wb") as f:
        try:
            os.posix_fallocate(f.fileno(), 0, 4 * MIB)
        except OSError as err:
            pytest.skip(f"this filesystem has no fallocate: {err}")
    written.write_bytes(b"\1" * 4 * MIB)
    with (tmp_path / "sparse").open("wb") as f:
        f.truncate(4 * MIB)  # a hole: length without blocks
    r, w, s = Image(reserved), Image(written), Image(tmp_path / "sparse")
    assert r.allocated is not None and r.allocated >= 4 * MIB and r.data_bytes == 0
    assert w.allocated is not None and w.allocated >= 4 * MIB and w.data_bytes == 4 * MIB
    assert s.allocated == 0 and s.data_bytes == 0 and s.apparent_size == 4 * MIB
    assert Image(tmp_path / "missing").data_bytes is None


def _params(tmp_path: Path) -> StorageParams:
    """Only what the preallocation checks read; the rest is never looked at."""
    fields: dict[str, object] = {f.name: None for f in dataclasses.fields(StorageParams)}
    fields.update(thin=str(tmp_path / "thin.qcow2"), prealloc_size_mib=8, prealloc_modes=PREALLOCATION_MODES)
    return StorageParams(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize("made_with", PREALLOCATION_MODES)
def test_each_preallocation_mode_is_told_apart_from_the_three_others(
    tmp_path: Path, made_with: str, test_host: Connection
) -> None:
    p = _params(tmp_path)
    made = p.prealloc_image(made_with)
    subprocess.run(
        ["qemu-img", "create", "-q", "-f", "qcow2", "-o", f"preallocation={made_with}", made, "8M"], check=True
    )
    for mode in PREALLOCATION_MODES:  # every check looks at the one image
        if mode != made_with:
            Path(p.prealloc_image(mode)).symlink_to(made)
    verdicts = {mode: _preallocated(Host(test_host), p, mode).passed for mode in PREALLOCATION_MODES}
    assert verdicts == {mode: mode == made_with for mode in PREALLOCATION_MODES}


# -- was the filesystem left frozen (quiesced)? ----------------------------------------


def test_an_ext4_left_mounted_needs_recovery_and_a_frozen_or_unmounted_one_does_not(tmp_path: Path) -> None:
    mkfs = shutil.which("mkfs.ext4") or "/sbin/mkfs.ext4"
    debugfs = shutil.which("debugfs") or "/sbin/debugfs"
    raw = tmp_path / "fs.raw"
    subprocess.run([mkfs, "-q", "-F", str(raw), "8M"], check=True)
    qcow2 = tmp_path / "disk.qcow2"
    subprocess.run(["qemu-img", "convert", "-O", "qcow2", str(raw), str(qcow2)], check=True)
    assert Ext4Image(qcow2).needs_recovery is False  # never mounted: as after fsfreeze
    # What a mounted ext4 has on disk (the kernel sets it at mount, clears it at unmount or freeze).
    subprocess.run([debugfs, "-w", "-R", "feature needs_recovery", str(raw)], check=True, capture_output=True)
    assert Ext4Image(raw).needs_recovery is True
    blank = tmp_path / "blank.raw"
    blank.write_bytes(b"\0" * MIB)
    assert Ext4Image(blank).needs_recovery is None and Ext4Image(tmp_path / "missing").needs_recovery is None
