"""Checks of the storage-internals lab (beyond the seed; nearest: question 15).

Images are read as the trainee reads them: ``qemu-img info`` and ``qemu-img
map`` for what QEMU sees, ``stat`` (st_blocks: ``du``, ``ls -s``) and
SEEK_DATA/SEEK_HOLE for what the host really stores. The resized disk is
checked in the image, in the running QEMU (``domblkinfo``) and in the guest
kernel; that it happened without a restart, from QEMU's hot-plug mark on the
data disk (a restart after attaching it makes it a disk QEMU started with).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from kvmlab.grading import AgentUnavailable, Check, Checks, ImageUnreadable, check, step, wait_until
from kvmlab.host import DiskXML, Host
from kvmlab.labs.storage_internals import StorageParams

MIB = 1024**2
SMALL = 1 * MIB  # what a small qcow2 with nothing preallocated takes for its header and first tables, at most


def _size(n: int | None) -> str:
    if n is None:
        return "none"
    for unit, factor in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if n % factor == 0 and n >= factor:
            return f"{n // factor} {unit}"
        if n >= 10 * factor:
            return f"{n / factor:.1f} {unit}"
    return f"{n} bytes"


# -- 1-3. one qcow2, one cluster, grown offline ------------------------------------------


@step(
    1,
    "Create a qcow2 with your cluster size",
    hints=(
        "A qcow2 allocates its space in clusters, 64 KiB unless told otherwise when the image is made; the cluster "
        "size is fixed for the image's life (only a conversion into a new image changes it).",
        "qemu-img create -f qcow2 -o cluster_size=SIZE IMAGE VIRTUAL_SIZE",
    ),
)
def thin_created(host: Host, p: StorageParams) -> Checks:
    info = host.image(p.thin).info()
    cluster = info.cluster_size if info else None
    yield check(
        "thin-cluster-size",
        f"{Path(p.thin).name}'s clusters are {p.cluster_kib} KiB",
        cluster == p.cluster_size,
        expected=_size(p.cluster_size),
        actual=_size(cluster) if info else "missing",
        hint="the cluster size is chosen when the image is created (an -o option of qemu-img create), 64 KiB when "
        "not given; qemu-img info shows it",
    )


@step(
    2,
    "Write one 4 KiB block into it",
    hints=(
        "qemu-io drives QEMU's block layer on an image nobody uses: a write of 4 KiB allocates the whole cluster that "
        "holds it, wherever in the cluster it falls.",
        'qemu-io -f qcow2 -c "write -P PATTERN OFFSET 4k" IMAGE; qemu-img map --output=json IMAGE shows the result',
    ),
)
def one_write(host: Host, p: StorageParams) -> Checks:
    image = host.image(p.thin)
    info = image.info()
    cluster = info.cluster_size if info else None
    data = [e for e in image.map() if e.get("data")]
    unit = cluster if isinstance(cluster, int) and cluster > 0 else p.cluster_size
    start = p.write_offset - p.write_offset % unit
    yield check(
        "thin-one-cluster",
        f"one 4 KiB write at offset {p.write_offset} allocated exactly one whole cluster, the one holding it",
        [(e.get("start"), e.get("length")) for e in data] == [(start, unit)],
        expected=f"one data extent: start {start}, length {unit} (offset {p.write_offset} rounded down to a cluster)",
        actual=", ".join(f"start {e.get('start')}, length {e.get('length')}" for e in data) or "no data at all",
        hint="one write of 4 KiB at your offset into the fresh image, and nothing else: qemu-img map lists the guest "
        "ranges that hold data",
    )


@step(
    3,
    "Grow it offline",
    hints=(
        "With no guest using the image, qemu-img changes its virtual size: an absolute size, or +N to add N. "
        "Growing adds nothing to the file; shrinking throws away what lies beyond the new end.",
        "qemu-img resize IMAGE NEW_SIZE",
    ),
)
def grown(host: Host, p: StorageParams) -> Checks:
    info = host.image(p.thin).info()
    fmt = info.format if info else None
    size = info.virtual_size if info else None
    yield check(
        "thin-image",
        f"{Path(p.thin).name} is a qcow2 of {p.thin_size_gib} GiB (grown offline from {p.thin_create_gib} GiB)",
        fmt == "qcow2" and size == p.thin_size,
        expected=f"qcow2, {_size(p.thin_size)}",
        actual="missing" if info is None else f"{fmt}, {_size(size)}",
        hint=f"the virtual size asked is {p.thin_size_gib} GiB in all: an absolute size says so, a relative one "
        "(+N) adds N to what the image has",
    )


# -- 4. preallocation --------------------------------------------------------------------


@step(
    4,
    "Make one image per preallocation mode",
    hints=(
        "qcow2's preallocation decides what creating the image puts on the host: nothing but the header and tables "
        "(off), every cluster placed but nothing stored (metadata), the whole size reserved but never written "
        "(falloc), or the whole size written (full).",
        "qemu-img create -f qcow2 -o preallocation=MODE IMAGE SIZE, once per mode; compare with ls -ls, du, "
        "du --apparent-size and qemu-img map",
    ),
)
def preallocation(host: Host, p: StorageParams) -> Checks:
    for mode in p.prealloc_modes:
        yield _preallocated(host, p, mode)


_WHAT = {
    "off": "only the header and tables stored, no cluster placed",
    "metadata": "every cluster placed in the file (qemu-img map shows offsets), next to nothing stored",
    "falloc": "the whole size reserved on the host (du), never written (holes to SEEK_DATA)",
    "full": "the whole size written on the host",
}


def _preallocated(host: Host, p: StorageParams, mode: str) -> Check:
    image = host.image(p.prealloc_image(mode))
    info = image.info()
    fmt = info.format if info else None
    size = info.virtual_size if info else None
    allocated, data_bytes, length = image.allocated, image.data_bytes, image.apparent_size
    extents = image.map()
    placed = bool(extents) and all("offset" in e for e in extents)  # every guest range has its host clusters
    full = p.prealloc_size
    small = SMALL + full // 4096  # header, L1, refcounts, and L2 tables (8 bytes per cluster, 64 KiB ones at most)
    signature: dict[str, Callable[[int, int, int], bool]] = {
        # allocated, data_bytes, file length
        "off": lambda a, d, n: a < small and not any("offset" in e for e in extents),
        "metadata": lambda a, d, n: a < small and placed and n >= full,
        "falloc": lambda a, d, n: a >= full and d < small and placed,
        "full": lambda a, d, n: a >= full and d >= full and placed,
    }
    ok = (
        fmt == "qcow2"
        and size == full
        and allocated is not None
        and data_bytes is not None
        and length is not None
        and signature[mode](allocated, data_bytes, length)
    )
    return check(
        f"prealloc-{mode}",
        f"preallocation={mode}: {_WHAT[mode]}",
        ok,
        expected=f"qcow2, {_size(full)}; {_WHAT[mode]}",
        actual="missing"
        if info is None
        else f"{fmt}, {_size(size)}; file length {_size(length)}, stored (du) {_size(allocated)}, "
        f"written (SEEK_DATA) {_size(data_bytes)}, clusters placed: {'all' if placed else 'not all'}",
        hint=f"each mode is chosen when its image is created ({p.prealloc_size_mib} MiB, a new file each): "
        "du says what is stored, du --apparent-size the file's length, qemu-img map whether clusters are placed",
    )


# -- 5 and 6. discard ------------------------------------------------------------------------


@step(
    5,
    "Attach the data disk so the guest's discards reach the image",
    hints=(
        "A guest's discard (TRIM) requests reach the image only when the virtual disk passes them on: the "
        "driver's discard setting, which virsh attach-disk cannot set. Attach it to the running guest and keep it "
        "in the definition.",
        "write the <disk> XML (<driver name='qemu' type='qcow2' discard='unmap'/>, source, target) to a file, then "
        "virsh attach-device DOMAIN FILE, live and persistent",
    ),
)
def attach(host: Host, p: StorageParams) -> Checks:
    vm = host.domain(p.domain)
    live, config = vm.live, vm.config
    live_disk = live.disk(p.data_target) if live else None
    config_disk = config.disk(p.data_target) if config else None
    right = [
        d is not None and host.file(p.data).is_named_by(d.source) and d.format == "qcow2" and d.discard == "unmap"
        for d in (live_disk, config_disk)
    ]
    yield check(
        "disk-discard",
        f"{p.data_target} is {Path(p.data).name} with discard='unmap', live and persistent",
        all(right),
        expected=f"<driver name='qemu' type='qcow2' discard='unmap'/>, source {p.data}, in both",
        actual=f"live: {_describe(live_disk) if live else f'not running ({vm.state})'}; "
        f"persistent: {_describe(config_disk)}",
        hint="without discard='unmap' in the disk's <driver>, QEMU ignores the guest's discards (the default); the "
        "running guest and the persistent definition are separate copies: both need the disk",
    )


def _describe(disk: DiskXML | None) -> str:
    if disk is None:
        return "not attached"
    return f"{Path(disk.source or 'none').name} ({disk.format}), discard={disk.discard or 'default (ignore)'}"


@step(
    6,
    "Trim the data disk from inside the guest",
    hints=(
        "The guest's filesystem frees blocks in its own bitmap; the disk under it is told only when the guest sends "
        "discards. fstrim sends them for all the free space of a mounted filesystem; then qcow2 frees the clusters "
        "and the host's file shrinks.",
        "in the guest: mount /dev/vdb MOUNTPOINT && fstrim -v MOUNTPOINT (the guest names the new disk vdb)",
    ),
)
def trim(host: Host, p: StorageParams) -> Checks:
    allocated = host.image(p.data).allocated
    limit = p.deleted_mib * MIB // 2
    yield check(
        "discard-reclaimed",
        f"fstrim in the guest gave the deleted file's {p.deleted_mib} MiB back to the host",
        allocated is not None and allocated < limit,
        expected=f"{Path(p.data).name} stores less than {_size(limit)} on the host (du)",
        actual="missing" if allocated is None else f"stores {_size(allocated)}",
        hint="the blocks of a file deleted in the guest stay stored on the host until the guest discards them, and "
        "the discards reach the image only through a disk that passes them on (then du on the host drops)",
    )


# -- 7. an online resize -----------------------------------------------------------------------


@step(
    7,
    "Grow the running guest's data disk",
    hints=(
        "An image in use belongs to QEMU (it holds its lock): grow it through QEMU, and virtio-blk tells the guest "
        "kernel the new size at once, no reboot. Sizes without a unit are KiB: a bare number may shrink the disk "
        "under its filesystem.",
        "virsh blockresize DOMAIN TARGET SIZE, the size with its unit",
    ),
)
def resize(host: Host, p: StorageParams) -> Checks:
    vm = host.domain(p.domain)
    info = host.image(p.data).info()
    size = info.virtual_size if info else None
    live_size = vm.block_capacity(p.data_target)
    yield check(
        "disk-resized",
        f"{Path(p.data).name} was grown to {p.data_resized_mib} MiB, and the running QEMU uses that size",
        size == p.data_resized and live_size == p.data_resized,
        expected=_size(p.data_resized),
        actual=f"image {_size(size)}; running guest's disk {_size(live_size)}",
        hint=f"the running QEMU resizes the image it holds (and tells the guest); the unit matters: a bare number is "
        f"KiB, so {p.data_resized_mib} alone shrinks the disk to {p.data_resized_mib} KiB. qemu-img is refused on "
        "an image in use",
    )
    yield _guest_sees(host, p, live_size)
    yield _data_intact(host, p)


def _guest_sees(host: Host, p: StorageParams, live_size: int | None) -> Check:
    vm = host.domain(p.domain)
    guest = vm.guest
    seen: dict[str, int] = {}
    problem = ""
    if guest is None:
        problem = f"guest not running ({vm.state})"
    else:
        try:
            # The guest learns a new capacity from a virtio config interrupt: a moment after blockresize.
            seen = wait_until(
                lambda: {n: s for n, s in guest.block_devices().items() if n != "vda" and not n[-1].isdigit()},
                lambda found: p.data_resized in found.values(),
                seconds=5 if live_size == p.data_resized else 0,
            )
        except AgentUnavailable as err:
            problem = err.message
    # Without a reboot: QEMU marks a disk plugged in at run time. One there since QEMU started was cold-plugged:
    # the guest was restarted after the disk was attached (for an offline resize, say).
    live = vm.live
    disk = live.disk(p.data_target) if live else None
    plugged = vm.hotplugged(disk.alias) if disk is not None and disk.alias else None
    restarted = plugged is False
    return check(
        "guest-sees-size",
        f"the guest kernel sees its data disk at {p.data_resized_mib} MiB, without a reboot",
        list(seen.values()) == [p.data_resized] and not restarted,
        expected=f"one disk besides vda, {_size(p.data_resized)}; the same QEMU since the disk was hot-plugged",
        actual=(problem or ", ".join(f"{n}: {_size(s)}" for n, s in seen.items()) or "no disk besides vda")
        + ("; the guest was restarted since the disk was attached (QEMU started with it)" if restarted else ""),
        hint="virtio-blk tells a running guest about a new capacity at once (dmesg: 'detected capacity change'): an "
        "online resize needs no shutdown, no offline qemu-img and no restart. Then the guest grows its partition "
        "and filesystem (growpart, resize2fs)",
    )


def _data_intact(host: Host, p: StorageParams) -> Check:
    consistent, said, text, problem = False, "", None, ""
    try:
        with host.image(p.data).files() as fs:
            consistent, said = fs.fsck()
            text = fs.read(p.keep_file)
    except ImageUnreadable as err:
        problem = err.message
    lines = said.strip().splitlines()
    fsck = "clean" if consistent else f"found errors: {lines[-1] if lines else '?'}"
    kept = f"{p.keep_file}: {text.strip()!r}" if text is not None else f"no {p.keep_file}"
    return check(
        "data-intact",
        f"the data disk's filesystem came through trim and resize intact ({p.keep_file} still there)",
        not problem and consistent and text is not None and text.strip() == p.keep_text,
        expected=f"e2fsck clean, {p.keep_file}: {p.keep_text!r}",
        actual=problem or f"e2fsck {fsck}, {kept}",
        hint="a disk shrunk under its filesystem loses whatever lay beyond the new end: never shrink a disk in use, "
        "and give sizes a unit",
    )
