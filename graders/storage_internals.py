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
    zh="用你的簇大小创建一个 qcow2",
    hints_zh=(
        "qcow2 以簇为单位分配空间，除非创建镜像时另行指定，簇大小默认是 64 KiB；"
        "簇大小在镜像的整个生命周期里固定不变（只有转换成新镜像才能改）。",
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
        zh=f"{Path(p.thin).name} 的簇大小是 {p.cluster_kib} KiB",
        hint_zh="簇大小在创建镜像时选定（qemu-img create 的一个 -o 选项），不指定时为 64 KiB；qemu-img info 可以看到它",
    )


@step(
    2,
    "Write one 4 KiB block into it",
    hints=(
        "qemu-io drives QEMU's block layer on an image nobody uses: a write of 4 KiB allocates the whole cluster that "
        "holds it, wherever in the cluster it falls.",
        'qemu-io -f qcow2 -c "write -P PATTERN OFFSET 4k" IMAGE; qemu-img map --output=json IMAGE shows the result',
    ),
    zh="往里面写入一个 4 KiB 的块",
    hints_zh=(
        "qemu-io 可以在没人使用的镜像上直接驱动 QEMU 的块层：写入 4 KiB，会分配包含它的整个簇，"
        "不管它落在簇里的哪个位置。",
        'qemu-io -f qcow2 -c "write -P PATTERN OFFSET 4k" IMAGE；qemu-img map --output=json IMAGE 可以查看结果',
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
        zh=f"在偏移 {p.write_offset} 处写入 4 KiB，恰好分配了一整个簇，也就是包含这个偏移的那个簇",
        hint_zh="在新建的镜像上，只在你的偏移处写一次 4 KiB，别的什么都不写：qemu-img map "
        "会列出存有数据的虚拟机地址范围",
    )


@step(
    3,
    "Grow it offline",
    hints=(
        "With no guest using the image, qemu-img changes its virtual size: an absolute size, or +N to add N. "
        "Growing adds nothing to the file; shrinking throws away what lies beyond the new end.",
        "qemu-img resize IMAGE NEW_SIZE",
    ),
    zh="离线扩容",
    hints_zh=(
        "没有虚拟机使用这个镜像时，qemu-img 可以修改它的虚拟大小：可以给绝对大小，也可以用 +N 增加 N。"
        "扩大不会往文件里加任何东西；缩小会丢掉新末尾之后的数据。",
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
        zh=f"{Path(p.thin).name} 是一个 {p.thin_size_gib} GiB 的 qcow2（从 {p.thin_create_gib} GiB 离线扩容而来）",
        hint_zh=f"要求的虚拟大小总共是 {p.thin_size_gib} GiB：绝对大小直接写这个数，相对大小（+N）"
        "是在镜像现有大小的基础上再加 N",
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
    zh="每种预分配模式各创建一个镜像",
    hints_zh=(
        "qcow2 的预分配模式决定了创建镜像时在宿主机上放下什么：只有文件头和各种表（off）；每个簇都已分配位置，"
        "但什么都没存（metadata）；整个大小都预留了，但从未写入（falloc）；或者整个大小都写满（full）。",
        "qemu-img create -f qcow2 -o preallocation=MODE IMAGE SIZE，每种模式执行一次；用 ls -ls、du、du "
        "--apparent-size 和 qemu-img map 对比",
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
_WHAT_ZH = {
    "off": "只存了文件头和各种表，没有为任何簇分配位置",
    "metadata": "每个簇都在文件里分配好了位置（qemu-img map 能看到偏移），但几乎什么都没存",
    "falloc": "宿主机上预留了整个大小（du），但从未写入（对 SEEK_DATA 来说是空洞）",
    "full": "宿主机上整个大小都已写入",
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
        zh=f"preallocation={mode}：{_WHAT_ZH[mode]}",
        hint_zh=f"每种模式都要在创建镜像时选定（每个 {p.prealloc_size_mib} MiB，各自是一个新文件）：du "
        "显示实际存储了多少，du --apparent-size 显示文件长度，qemu-img map 显示簇是否已分配位置",
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
    zh="挂上数据盘，让虚拟机的 discard 请求能到达镜像",
    hints_zh=(
        "只有虚拟磁盘把虚拟机的 discard（TRIM）请求传下去，它们才能到达镜像：这由驱动的 discard 设置决定，而 "
        "virsh attach-disk 设置不了它。把磁盘挂到运行中的虚拟机上，同时写进持久化配置。",
        "把 <disk> XML（<driver name='qemu' type='qcow2' discard='unmap'/>、source、target）写进一个文件，"
        "然后执行 virsh attach-device DOMAIN FILE，在线并持久化",
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
        zh=f"{p.data_target} 是 {Path(p.data).name}，带 discard='unmap'，运行时配置和持久化配置中都是如此",
        hint_zh="磁盘的 <driver> 里没有 discard='unmap' 时，QEMU 会忽略虚拟机的 discard 请求（默认行为）；"
        "运行中的虚拟机和持久化配置是两份独立的副本：两边都要有这块磁盘",
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
    zh="在虚拟机里对数据盘做 trim",
    hints_zh=(
        "客户机的文件系统只是在自己的位图里释放块；只有虚拟机发出 discard，下面的磁盘才会知道。fstrim "
        "会对已挂载文件系统的全部空闲空间发出 discard；随后 qcow2 释放这些簇，宿主机上的文件就变小了。",
        "在虚拟机里：mount /dev/vdb MOUNTPOINT && fstrim -v MOUNTPOINT（虚拟机把新磁盘命名为 vdb）",
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
        zh=f"虚拟机里的 fstrim 把已删除文件占用的 {p.deleted_mib} MiB 还给了宿主机",
        hint_zh="虚拟机里删除的文件，其数据块在宿主机上会一直占着空间，直到虚拟机对它们发出 discard；而且 "
        "discard 只有经过一块会传递它的磁盘才能到达镜像（之后宿主机上 du 的结果就会下降）",
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
    zh="给运行中虚拟机的数据盘扩容",
    hints_zh=(
        "正在使用的镜像归 QEMU 管（锁在它手里）：要通过 QEMU 扩容，virtio-blk 会立刻把新大小告诉客户机内核，"
        "不用重启。不带单位的大小按 KiB 计算：只写一个数字，可能会在文件系统底下把磁盘缩小。",
        "virsh blockresize DOMAIN TARGET SIZE，大小要带单位",
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
        zh=f"{Path(p.data).name} 已扩容到 {p.data_resized_mib} MiB，运行中的 QEMU 也在使用这个大小",
        hint_zh="由运行中的 QEMU 修改它持有的镜像的大小（并通知虚拟机）；单位很重要：裸数字按 KiB 计，所以只写 "
        f"{p.data_resized_mib} 会把磁盘缩小到 {p.data_resized_mib} KiB。对正在使用的镜像，qemu-img 会被拒绝",
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
        zh=f"客户机内核看到数据盘的大小是 {p.data_resized_mib} MiB，而且没有重启",
        hint_zh="virtio-blk 会立刻把新容量告诉运行中的虚拟机（dmesg：'detected capacity change'）："
        "在线扩容不需要关机、不需要离线用 qemu-img，也不需要重启。之后由虚拟机自己扩展分区和文件系统（growpart、"
        "resize2fs）",
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
        zh=f"数据盘的文件系统经过 trim 和扩容后完好无损（{p.keep_file} 还在）",
        hint_zh="在文件系统底下缩小磁盘，新末尾之后的数据就全丢了：绝不要缩小正在使用的磁盘，大小一定要带单位",
    )
