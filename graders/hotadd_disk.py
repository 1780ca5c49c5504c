"""Checks of the hotadd-disk lab (seed question 15)."""

from __future__ import annotations

from kvmlab.grading import Checks, check, hot_plugged, same_in_both, step, wait_until
from kvmlab.host import Host
from kvmlab.labs.hotadd_disk import DiskParams


def _gib(n: int | None) -> str:
    return "none" if n is None else f"{n / 1024**3:g} GiB"


@step(
    1,
    "Create the disk image",
    hints=(
        "A disk image is a file whose format (qcow2 or raw) and virtual size are fixed when it is made; "
        "the virtual size is what the guest sees, not what the file takes on the host.",
        "qemu-img create -f FORMAT PATH SIZE (SIZE with a unit, e.g. 2G)",
    ),
    zh="创建磁盘镜像",
    hints_zh=(
        "磁盘镜像是一个文件，它的格式（qcow2 或 raw）和虚拟大小在创建时就确定了；"
        "虚拟大小是客户机看到的大小，不是文件在宿主机上占用的空间。",
        "qemu-img create -f FORMAT PATH SIZE（SIZE 要带单位，例如 2G）",
    ),
)
def image(host: Host, p: DiskParams) -> Checks:
    info = host.image(p.image).info()
    yield check(
        "image-exists",
        f"the image {p.image} exists",
        info is not None,
        expected=p.image,
        actual="present" if info else "missing",
        hint="the lab looks for the image at the path in p.image: qemu-img makes disk images",
        zh=f"镜像 {p.image} 存在",
        hint_zh="实验会到 p.image 给出的路径查找镜像：磁盘镜像用 qemu-img 创建",
    )
    yield check(
        "image-format",
        f"the image is {p.format}",
        info is not None and info.format == p.format,
        expected=p.format,
        actual=info.format if info else "none",
        hint="an image's format is chosen when it is made; qemu-img info shows what an image really is",
        zh=f"镜像格式为 {p.format}",
        hint_zh="镜像的格式在创建时选定；qemu-img info 会显示镜像实际是什么格式",
    )
    yield check(
        "image-size",
        f"its virtual size is {p.size_gib} GiB",
        info is not None and info.virtual_size == p.size_bytes,
        expected=_gib(p.size_bytes),
        actual=_gib(info.virtual_size if info else None),
        hint="the size given at creation is the virtual size the guest will see (qemu-img info shows it); "
        "an attached image is resized only while detached",
        zh=f"它的虚拟大小为 {p.size_gib} GiB",
        hint_zh="创建时给的大小就是客户机将看到的虚拟大小（qemu-img info 可以查看）；"
        "已经添加到虚拟机上的镜像，要先卸下来才能调整大小",
    )


@step(
    2,
    "Attach it to the running guest, live and persistent",
    hints=(
        "Attaching a disk can change the running guest, the persistent definition (a separate copy, read at the "
        "next boot), or both; and libvirt never guesses an image's format: it must be told.",
        "virsh attach-disk DOMAIN IMAGE TARGET --driver qemu --subdriver FORMAT --targetbus virtio, plus the option "
        "that changes the running guest and the one that writes the definition",
    ),
    zh="把它添加到运行中的虚拟机上，运行时和持久化配置都要改",
    hints_zh=(
        "添加磁盘可以只改运行中的虚拟机，也可以只改持久化配置（另一份独立的副本，下次启动时读取），或者两者都改；"
        "而且 libvirt 从不猜测镜像格式：必须明确告诉它。",
        "virsh attach-disk DOMAIN IMAGE TARGET --driver qemu --subdriver FORMAT --targetbus virtio，"
        "再加上修改运行中虚拟机的选项和写入持久化配置的选项",
    ),
)
def attach(host: Host, p: DiskParams) -> Checks:
    vm = host.domain(p.domain)
    live, config = vm.live, vm.config
    live_disk = live.disk(p.target) if live else None
    config_disk = config.disk(p.target) if config else None
    live_targets = ", ".join(d.target or "?" for d in live.disks()) if live else "guest not running"
    yield check(
        "disk-live",
        f"{p.target} is attached to the running guest",
        live_disk is not None and live_disk.source == p.image,
        expected=f"{p.target} -> {p.image}",
        actual=f"{p.target} -> {live_disk.source}" if live_disk else f"disks: {live_targets}",
        hint="the running guest (libvirt's live XML, virsh domblklist) does not have the disk: "
        "a change meant for it has to say so",
        zh=f"{p.target} 已添加到运行中的虚拟机上",
        hint_zh="运行中的虚拟机（libvirt 的运行时 XML，virsh domblklist）里没有这块磁盘：要改运行中的虚拟机，"
        "命令里就得明确说明",
    )
    config_targets = ", ".join(d.target or "?" for d in config.disks()) if config else "no persistent definition"
    yield check(
        "disk-config",
        f"{p.target} is in the persistent definition (survives a restart)",
        config_disk is not None and config_disk.source == p.image,
        expected=f"{p.target} -> {p.image}",
        actual=f"{p.target} -> {config_disk.source}" if config_disk else f"disks: {config_targets}",
        hint="a change made only to the running guest is gone after the next boot: the persistent definition "
        "(virsh dumpxml --inactive) is a separate copy",
        zh=f"{p.target} 已写入持久化配置（重启后仍在）",
        hint_zh="只改了运行中虚拟机的修改，下次启动后就没了：持久化配置（virsh dumpxml --inactive）是另一份独立的副本",
    )
    # Both views: a disk attached live with the right format but written to the definition
    # without it would be read as raw bytes after the next boot.
    yield same_in_both(
        "disk-driver",
        f"libvirt opens it as {p.format}, in the running guest and in the definition",
        vm.both(lambda xml: xml.disk(p.target)),
        lambda disk: disk.format,
        p.format,
        hint="libvirt does not probe formats (it would be a security hole): without being told, it shows the "
        "guest a qcow2 file as raw bytes; each view of the guest records the format it was given",
        zh=f"libvirt 以 {p.format} 格式打开它，运行中的虚拟机和持久化配置里都是如此",
        hint_zh="libvirt 不探测格式（那会是安全漏洞）：不告诉它，它就把 qcow2 文件当作 raw 字节交给客户机；"
        "虚拟机的每份视图都只记录它被告知的格式",
    )
    plugged = vm.hotplugged(live_disk.alias) if live_disk is not None and live_disk.alias else None
    yield hot_plugged("disk-hotplugged", p.target, plugged, device_zh=f"磁盘 {p.target}")

    def new_disks() -> dict[str, int]:
        seen = guest.block_devices() if guest is not None else {}
        return {name: size for name, size in seen.items() if name != "vda" and not name[-1].isdigit()}

    guest = vm.guest
    # A disk in the live XML reaches the guest kernel a moment later (PCI
    # hot-plug). Wait until the guest has caught up with every live disk, not
    # for the right answer: a wrong size must not make the check slow.
    count = len(live.disks()) - 1 if live else 0
    extra = wait_until(new_disks, lambda found: len(found) >= count, seconds=10 if count else 0)
    yield check(
        "guest-sees-disk",
        f"the guest sees a new {p.size_gib} GiB disk",
        p.size_bytes in extra.values(),
        expected=f"a {_gib(p.size_bytes)} virtio disk besides vda",
        actual=", ".join(f"{n} ({_gib(s)})" for n, s in extra.items()) or "no new disk",
        hint="the guest kernel names disks in the order it finds them, whatever libvirt calls them: "
        "ask it what it sees (/proc/partitions)",
        zh=f"客户机能看到一块新的 {p.size_gib} GiB 磁盘",
        hint_zh="客户机内核按发现磁盘的顺序给它们命名，不管 libvirt 叫它什么：去问客户机看到了什么（/proc/partitions）",
    )
