"""Checks of the storage-internals lab (beyond the seed; nearest: question 15).

Images are read as the trainee reads them: ``qemu-img info`` and ``qemu-img
map`` for what QEMU sees, ``stat`` (st_blocks: ``du``, ``ls -s``) and
SEEK_DATA/SEEK_HOLE for what the host really stores. The resized disk is
checked in the image, in libvirt's live XML and in the guest kernel.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import libvirt

from kvmlab.grading import Check, check
from kvmlab.host import Host
from kvmlab.labs.storage_internals import MIB, StorageParams
from kvmlab.resources.agent import AgentUnavailable, poll
from kvmlab.resources.image import Image
from kvmlab.resources.imagefs import ImageUnreadable
from kvmlab.resources.trainee_files import same_file

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


def checks(host: Host, p: StorageParams) -> Iterator[Check]:
    yield from _thin(host, p)
    for mode in p.prealloc_modes:
        yield _preallocated(host.image(p.prealloc_image(mode)), p, mode)
    yield from _data_disk(host, p)


# -- 1. one qcow2, one cluster ----------------------------------------------


def _thin(host: Host, p: StorageParams) -> Iterator[Check]:
    image = host.image(p.thin)
    info = image.info()
    fmt = info.format if info else None
    size = info.virtual_size if info else None
    yield check(
        "thin-image",
        f"{Path(p.thin).name} is a qcow2 of {p.thin_size_gib} GiB (grown offline from {p.thin_create_gib} GiB)",
        fmt == "qcow2" and size == p.thin_size,
        expected=f"qcow2, {_size(p.thin_size)}",
        actual="missing" if info is None else f"{fmt}, {_size(size)}",
        hint=f"qemu-img create -f qcow2 -o cluster_size={p.cluster_kib}K {p.thin} {p.thin_create_gib}G, then "
        f"qemu-img resize {p.thin} {p.thin_size_gib}G (an absolute size; +{p.thin_size_gib}G would add that much)",
    )
    cluster = info.cluster_size if info else None
    yield check(
        "thin-cluster-size",
        f"its clusters are {p.cluster_kib} KiB",
        cluster == p.cluster_size,
        expected=_size(p.cluster_size),
        actual=_size(cluster) if info else "missing",
        hint=f"the cluster size is fixed at creation: qemu-img create -f qcow2 -o cluster_size={p.cluster_kib}K "
        "(64 KiB when not given); qemu-img convert -o cluster_size=... makes a new image with another",
    )
    data = [e for e in image.map() if e.get("data")]
    unit = cluster if isinstance(cluster, int) and cluster > 0 else p.cluster_size
    start = p.write_offset - p.write_offset % unit
    yield check(
        "thin-one-cluster",
        f"one 4 KiB write at offset {p.write_offset} allocated exactly one whole cluster, the one holding it",
        [(e.get("start"), e.get("length")) for e in data] == [(start, unit)],
        expected=f"one data extent: start {start}, length {unit} (offset {p.write_offset} rounded down to a cluster)",
        actual=", ".join(f"start {e.get('start')}, length {e.get('length')}" for e in data) or "no data at all",
        hint=f'qemu-io -f qcow2 -c "write -P {p.write_pattern} {p.write_offset} 4k" {p.thin} on a fresh image; '
        f"qemu-img map --output=json {p.thin} lists the data extents",
    )


# -- 2. preallocation --------------------------------------------------------


def _preallocated(image: Image, p: StorageParams, mode: str) -> Check:
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
    what = {
        "off": "only the header and tables stored, no cluster placed",
        "metadata": "every cluster placed in the file (qemu-img map shows offsets), next to nothing stored",
        "falloc": "the whole size reserved on the host (du), never written (holes to SEEK_DATA)",
        "full": "the whole size written on the host",
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
        f"preallocation={mode}: {what[mode]}",
        ok,
        expected=f"qcow2, {_size(full)}; {what[mode]}",
        actual="missing"
        if info is None
        else f"{fmt}, {_size(size)}; file length {_size(length)}, stored (du) {_size(allocated)}, "
        f"written (SEEK_DATA) {_size(data_bytes)}, clusters placed: {'all' if placed else 'not all'}",
        hint=f"qemu-img create -f qcow2 -o preallocation={mode} {image.path} {p.prealloc_size_mib}M on a new file; "
        "compare with ls -ls, du -h, du -h --apparent-size and qemu-img map",
    )


# -- 3 and 4. discard, then an online resize -----------------------------------


def _data_disk(host: Host, p: StorageParams) -> Iterator[Check]:
    vm = host.domain(p.domain)
    live, config = vm.live, vm.config
    live_disk = live.disk(p.data_target) if live else None
    config_disk = config.disk(p.data_target) if config else None

    def describe(disk: Any) -> str:
        if disk is None:
            return "not attached"
        return f"{Path(disk.source or 'none').name} ({disk.format}), discard={disk.discard or 'default (ignore)'}"

    right = [
        d is not None and same_file(d.source, p.data) and d.format == "qcow2" and d.discard == "unmap"
        for d in (live_disk, config_disk)
    ]
    yield check(
        "disk-discard",
        f"{p.data_target} is {Path(p.data).name} with discard='unmap', live and persistent",
        all(right),
        expected=f"<driver name='qemu' type='qcow2' discard='unmap'/>, source {p.data}, in both",
        actual=f"live: {describe(live_disk) if live else f'not running ({vm.state})'}; "
        f"persistent: {describe(config_disk)}",
        hint=f"virsh attach-device {p.domain} {p.data_xml} --live --config with discard='unmap' in <driver>: "
        "without it QEMU ignores the guest's discards (virsh attach-disk has no option for it)",
    )

    data = host.image(p.data)
    allocated = data.allocated
    limit = p.deleted_mib * MIB // 2
    yield check(
        "discard-reclaimed",
        f"fstrim in the guest gave the deleted file's {p.deleted_mib} MiB back to the host",
        allocated is not None and allocated < limit,
        expected=f"{Path(p.data).name} stores less than {_size(limit)} on the host (du)",
        actual="missing" if allocated is None else f"stores {_size(allocated)}",
        hint=f"in the guest: mount /dev/vdb {p.guest_mount} && fstrim -v {p.guest_mount}; the discards reach the "
        "image only with discard='unmap' (then du on the host drops)",
    )

    info = data.info()
    size = info.virtual_size if info else None
    live_size = _live_capacity(vm.handle, p.data_target) if live_disk is not None else None
    yield check(
        "disk-resized",
        f"{Path(p.data).name} was grown to {p.data_resized_mib} MiB, and the running QEMU uses that size",
        size == p.data_resized and live_size == p.data_resized,
        expected=_size(p.data_resized),
        actual=f"image {_size(size)}; running guest's disk {_size(live_size)}",
        hint=f"virsh blockresize {p.domain} {p.data_target} {p.data_resized_mib}M: the unit matters, a bare number "
        f"is KiB (blockresize ... {p.data_resized_mib} shrinks the disk to {p.data_resized_mib} KiB); "
        "qemu-img resize is refused on an image in use",
    )

    guest = vm.guest
    seen: dict[str, int] = {}
    problem = ""
    if guest is None:
        problem = f"guest not running ({vm.state})"
    else:
        try:
            # The guest learns a new capacity from a virtio config interrupt: a moment after blockresize.
            seen = poll(
                lambda: {n: s for n, s in guest.block_devices().items() if n != "vda" and not n[-1].isdigit()},
                lambda found: p.data_resized in found.values(),
                seconds=5 if live_size == p.data_resized else 0,
            )
        except AgentUnavailable as err:
            problem = err.message
    yield check(
        "guest-sees-size",
        f"the guest kernel sees its data disk at {p.data_resized_mib} MiB, without a reboot",
        list(seen.values()) == [p.data_resized],
        expected=f"one disk besides vda, {_size(p.data_resized)}",
        actual=problem or ", ".join(f"{n}: {_size(s)}" for n, s in seen.items()) or "no disk besides vda",
        hint="virtio-blk tells the guest about a new capacity at once (dmesg: 'detected capacity change'); "
        "then grow the partition and the filesystem in the guest (growpart, resize2fs)",
    )

    yield _data_intact(data, p)


def _live_capacity(dom: libvirt.virDomain | None, target: str) -> int | None:
    """``virsh domblkinfo``: the capacity the running QEMU gives the disk."""
    if dom is None or not dom.isActive():
        return None
    try:
        return int(dom.blockInfo(target, 0)[0])
    except libvirt.libvirtError:  # detached or stopped meanwhile: no live size
        return None


def _data_intact(data: Image, p: StorageParams) -> Check:
    consistent, said, text, problem = False, "", None, ""
    try:
        with data.files() as fs:
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
        "and give blockresize a unit",
    )
