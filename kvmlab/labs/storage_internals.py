"""Lab: inside a disk image: qcow2 clusters, sparse files, preallocation, discard, resizing (nearest: question 15).

What the trainee does, all with the real tools:

1. a qcow2 with the cluster size asked (``-o cluster_size``), one 4 KiB
   write with ``qemu-io`` (one whole cluster gets allocated: ``qemu-img
   map``, ``qemu-img check``), grown offline with ``qemu-img resize``;
   ``qemu-img measure`` says what a conversion would need;
2. four qcow2 images of one size, one per preallocation mode (off,
   metadata, falloc, full), compared with ``ls -ls``, ``du``, ``du
   --apparent-size``, ``stat`` and ``qemu-img map``;
3. a data disk (handed over by start: ext4 with a large file deleted long
   ago, so the host still stores it) attached with ``discard='unmap'``, then
   ``fstrim`` in the guest gives the space back to the host;
4. that disk grown while the guest runs, with ``virsh blockresize``
   (``qemu-img resize`` is refused: QEMU holds the image's write lock), and
   the guest kernel sees the new size at once.

Sizes, cluster size and offset differ per trainee (kit.variant).
"""

from __future__ import annotations

import os
import tempfile
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from kvmlab.labs.base import Lab, Params, lab
from kvmlab.procs import run, which
from kvmlab.resources.agent import ExecResult, GuestAgent
from kvmlab.toolkit import Toolkit

KIB, MIB, GIB = 1024, 1024**2, 1024**3
PREALLOCATION_MODES = ("off", "metadata", "falloc", "full")
# Never QEMU's default (64 KiB): a forgotten -o cluster_size must show.
CLUSTER_SIZES = (256 * KIB, 128 * KIB, 32 * KIB, 2 * MIB, 512 * KIB)
WRITE_OFFSETS = (300 * MIB + 12 * KIB, 123 * MIB + 4 * KIB, 700 * MIB + 36 * KIB, 517 * MIB + 20 * KIB)
DATA_SIZE_MIB = 128  # the data disk as start hands it over
DELETED_MIB = 48  # the deleted file still stored in it
GUEST_DATA_MOUNT = "/mnt/data"
KEEP_FILE, KEEP_TEXT = "/keep.txt", "data that must survive the resize"  # in the data disk's filesystem


@dataclass(frozen=True)
class StorageParams(Params):
    domain: str
    console_log: str
    thin: str  # the qcow2 to create, write one cluster in, and grow offline
    thin_create_gib: int  # created with this virtual size...
    thin_size_gib: int  # ...then grown to this one with qemu-img resize
    cluster_size: int  # bytes
    write_offset: int  # where the 4 KiB write goes (bytes, not cluster-aligned)
    write_pattern: str  # the byte qemu-io writes (-P)
    prealloc_size_mib: int
    prealloc_modes: tuple[str, ...]
    data: str  # the data disk start makes (ext4 with a deleted 48 MiB file)
    data_xml: str  # the <disk> the trainee writes to attach it with discard='unmap'
    data_target: str
    data_size_mib: int
    data_resized_mib: int  # what virsh blockresize grows it to, live
    deleted_mib: int
    keep_file: str  # a file in the data disk's filesystem: a shrink (blockresize 320 = 320 KiB!) destroys it
    keep_text: str
    guest_mount: str
    uri: str

    @property
    def cluster_kib(self) -> int:
        return self.cluster_size // KIB

    @property
    def thin_size(self) -> int:
        return self.thin_size_gib * GIB

    @property
    def prealloc_size(self) -> int:
        return self.prealloc_size_mib * MIB

    @property
    def data_resized(self) -> int:
        return self.data_resized_mib * MIB

    def prealloc_image(self, mode: str) -> str:
        return str(Path(self.thin).parent / f"prealloc-{mode}.qcow2")


@lab(
    "storage-internals",
    "Inside disk images: qcow2 clusters, sparse files, preallocation, discard, resizing",
    seed=(15,),
)
class StorageInternals(Lab):
    def params(self, kit: Toolkit) -> StorageParams:
        domain = kit.name("vm-store")
        return StorageParams(
            domain=domain,
            console_log=str(kit.path(f"{domain}.console.log")),
            thin=str(kit.path("thin.qcow2")),
            thin_create_gib=1,
            thin_size_gib=kit.variant("thin-size", (3, 2, 4)),
            cluster_size=kit.variant("cluster-size", CLUSTER_SIZES),
            write_offset=kit.variant("write-offset", WRITE_OFFSETS),
            write_pattern="0x5a",
            prealloc_size_mib=kit.variant("prealloc-size", (64, 96, 80)),
            prealloc_modes=PREALLOCATION_MODES,
            data=str(kit.path("data.qcow2")),
            data_xml=str(kit.path("data-disk.xml")),
            data_target="vdb",
            data_size_mib=DATA_SIZE_MIB,
            data_resized_mib=kit.variant("data-resized", (256, 192, 320)),
            deleted_mib=DELETED_MIB,
            keep_file=KEEP_FILE,
            keep_text=KEEP_TEXT,
            guest_mount=GUEST_DATA_MOUNT,
            uri=kit.uri,
        )

    def start(self, kit: Toolkit) -> None:
        p = self.params(kit)
        vm = kit.lab_guest(kit.guest_spec("vm-store"))
        if vm.handle is not None:
            GuestAgent(vm.handle).wait(30)  # fstrim runs in the guest, through the agent
        if not Path(p.data).exists():
            with tempfile.TemporaryDirectory(prefix="kvmlab-data-") as tmp:
                kit.make_copy(Path(p.data), used_filesystem(Path(tmp), p.data_size_mib, p.deleted_mib), "qcow2")
        for path in (p.thin, p.data_xml, *(p.prealloc_image(m) for m in p.prealloc_modes)):
            kit.expect("file", path)

    def solve(self, kit: Toolkit) -> None:
        p = self.params(kit)
        make_thin(p)
        for mode in p.prealloc_modes:
            run(["qemu-img", "create", "-q", "-f", "qcow2", "-o", f"preallocation={mode}", p.prealloc_image(mode),
                 f"{p.prealloc_size_mib}M"])  # fmt: skip
        attach_data(kit, p)
        trim(kit, p)
        kit.virsh("blockresize", p.domain, p.data_target, f"{p.data_resized_mib}M")


def used_filesystem(workdir: Path, size_mib: int, deleted_mib: int) -> Path:
    """A raw ext4 image in which a file of ``deleted_mib`` was written, then deleted: its blocks still hold data.

    What a long-lived thin disk looks like: the guest freed the space, the
    host still stores it, because nothing told the host.
    """
    content = workdir / "content"
    content.mkdir()
    (content / KEEP_FILE.lstrip("/")).write_text(KEEP_TEXT + "\n")
    with (content / "old.log").open("wb") as f:
        for _ in range(deleted_mib):
            f.write(os.urandom(MIB))
    raw = workdir / "data.raw"
    run([which("mkfs.ext4", "e2fsprogs"), "-q", "-F", "-L", "data", "-d", str(content), str(raw), f"{size_mib}M"])
    # debugfs rm frees the blocks in the bitmap and leaves their contents, as the kernel does.
    run([which("debugfs", "e2fsprogs"), "-w", "-R", "rm /old.log", str(raw)])
    return raw


def make_thin(p: StorageParams, cluster_size: int | None = None) -> None:
    """Create, write one 4 KiB block with qemu-io, grow offline. ``cluster_size`` exists for a known-wrong run."""
    options = [] if cluster_size == 0 else ["-o", f"cluster_size={cluster_size or p.cluster_size}"]
    run(["qemu-img", "create", "-q", "-f", "qcow2", *options, p.thin, f"{p.thin_create_gib}G"])
    run(["qemu-io", "-f", "qcow2", "-c", f"write -P {p.write_pattern} {p.write_offset} 4k", p.thin])
    run(["qemu-img", "resize", "-q", p.thin, f"{p.thin_size_gib}G"])


def data_disk_xml(p: StorageParams, discard: str | None = "unmap") -> str:
    disk = ET.Element("disk", type="file", device="disk")
    driver = {"name": "qemu", "type": "qcow2"}
    if discard:
        driver["discard"] = discard
    ET.SubElement(disk, "driver", driver)
    ET.SubElement(disk, "source", file=p.data)
    ET.SubElement(disk, "target", dev=p.data_target, bus="virtio")
    ET.indent(disk)
    return ET.tostring(disk, encoding="unicode")


def attach_data(kit: Toolkit, p: StorageParams, discard: str | None = "unmap") -> None:
    Path(p.data_xml).write_text(data_disk_xml(p, discard) + "\n")
    kit.virsh("attach-device", p.domain, p.data_xml, "--live", "--config")


def guest_sh(kit: Toolkit, domain: str, script: str, *args: str) -> ExecResult:
    """Run a shell script in the guest through its agent (``$1``... are ``args``: never pasted into the script)."""
    agent = GuestAgent(kit.connection.conn.lookupByName(domain))
    agent.wait(30)
    return agent.run(["/bin/sh", "-c", script, "sh", *args], timeout=60)


# The hot-plugged disk is the guest's second virtio disk: the guest kernel names it vdb.
TRIM_SCRIPT = (
    "for i in $(seq 100); do [ -b /dev/vdb ] && break; sleep 0.1; done; "
    'mkdir -p "$1" && mount -t ext4 /dev/vdb "$1" && fstrim -v "$1"'
)


def trim(kit: Toolkit, p: StorageParams) -> ExecResult:
    """Mount the data disk in the guest and fstrim it: the guest tells QEMU which blocks are free."""
    return guest_sh(kit, p.domain, TRIM_SCRIPT, p.guest_mount)
