"""Checks of the P2V/V2V and SPICE lab (seed question 14).

The images are read with ``qemu-img info`` (format, virtual size, backing
file, the VMDK's sub-format); the imported guest from its persistent and
live definitions; the boot from its console's readiness line, set against
the identity written on the source disk (the initramfs alone prints
``hostname=kvmlab machine-id=none``); SPICE from the XML and from the
kernel's socket table.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

from kvmlab.grading import Check, Checks, ImageUnreadable, check, step, wait_until
from kvmlab.host import DomainXML, Host
from kvmlab.labs.p2v_v2v import V2vParams

BOOT_WAIT = 20.0  # a guest started seconds ago may still be booting (TCG on a busy host)


def _loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False  # a host name or garbage: not provably loopback


def _mib(n: int | None) -> str:
    return "none" if n is None else f"{n / 1024**2:g} MiB"


@step(
    1,
    "Export the source disk as VMware would: a streamOptimized VMDK",
    hints=(
        "What vSphere or an OVA hands over is a VMDK; inside an OVA it is the streamOptimized sub-format "
        "(compressed, written in one pass). The virtual size never changes in a format conversion.",
        "qemu-img convert -f INPUT_FORMAT -O vmdk -o subformat=SUBFORMAT SOURCE VMDK",
    ),
    zh="像 VMware 那样导出源磁盘：streamOptimized 格式的 VMDK",
    hints_zh=(
        "vSphere 或 OVA 交给你的是 VMDK；OVA 里装的是 streamOptimized 子格式（经过压缩，一次顺序写完）。"
        "格式转换永远不会改变虚拟大小。",
        "qemu-img convert -f INPUT_FORMAT -O vmdk -o subformat=SUBFORMAT SOURCE VMDK",
    ),
)
def export(host: Host, p: V2vParams) -> Checks:
    source = host.image(p.source_disk).info()
    source_size = source.virtual_size if source else None
    vmdk = host.image(p.vmdk).info()
    subformat = host.vmdk(p.vmdk).create_type if vmdk else None
    yield check(
        "vmdk-export",
        f"the VMware export {Path(p.vmdk).name} is a {p.vmdk_subformat} VMDK of the source disk's size",
        vmdk is not None
        and vmdk.format == "vmdk"
        and subformat == p.vmdk_subformat
        and vmdk.virtual_size == source_size,
        expected=f"vmdk ({p.vmdk_subformat}), {_mib(source_size)}",
        actual=f"{vmdk.format}{f' ({subformat})' if subformat else ''}, {_mib(vmdk.virtual_size)}"
        if vmdk
        else "missing",
        hint="qemu-img writes VMDKs in several sub-formats and picks monolithicSparse unless told: an OVA "
        "carries the streamOptimized one (qemu-img info shows the create type)",
        zh=f"VMware 导出文件 {Path(p.vmdk).name} 是 {p.vmdk_subformat} 格式的 VMDK，大小与源磁盘相同",
        hint_zh="qemu-img 能写出好几种 VMDK 子格式，不指定时默认用 monolithicSparse；OVA 里装的是 "
        "streamOptimized（qemu-img info 会显示 create type）",
    )


@step(
    2,
    "Convert the VMDK to a standalone qcow2",
    hints=(
        "A conversion rewrites the whole disk in another container format: same virtual size, same data, no "
        "link back to the file it came from. Name both formats: never let qemu-img guess a disk someone gave you.",
        "qemu-img convert -f INPUT_FORMAT -O OUTPUT_FORMAT VMDK CONVERTED",
    ),
    zh="把 VMDK 转换成独立的 qcow2",
    hints_zh=(
        "转换会把整块磁盘改写成另一种容器格式：虚拟大小不变、数据不变，也不再依赖原来的文件。"
        "两种格式都要写明：别人给你的磁盘，永远不要让 qemu-img 去猜格式。",
        "qemu-img convert -f INPUT_FORMAT -O OUTPUT_FORMAT VMDK CONVERTED",
    ),
)
def convert(host: Host, p: V2vParams) -> Checks:
    source = host.image(p.source_disk).info()
    source_size = source.virtual_size if source else None
    converted = host.image(p.converted).info()
    yield check(
        "converted-format",
        f"{Path(p.converted).name} is qcow2",
        converted is not None and converted.format == "qcow2",
        expected="qcow2",
        actual=converted.format if converted else "missing",
        hint="the file name does not make a format: the output format is an option of the conversion "
        "(qemu-img info says what the bytes are)",
        zh=f"{Path(p.converted).name} 是 qcow2 格式",
        hint_zh="文件名决定不了格式：输出格式是转换命令的一个选项（qemu-img info 会告诉你这些字节实际是什么格式）",
    )
    size = converted.virtual_size if converted else None
    yield check(
        "converted-size",
        "its virtual size equals the source disk's",
        size is not None and size == source_size,
        expected=_mib(source_size),
        actual=_mib(size),
        hint="convert, do not create: qemu-img convert keeps the virtual size; never resize a disk you import",
        zh="它的虚拟大小与源磁盘相同",
        hint_zh="要转换，不要新建：qemu-img convert 会保持虚拟大小；导入的磁盘永远不要改大小",
    )
    backing = converted.backing_file if converted else None
    yield check(
        "converted-standalone",
        "it is a full conversion, not an overlay on the VMDK",
        converted is not None and backing is None,
        expected="no backing file",
        actual=("missing" if converted is None else f"backing file {backing}" if backing else "no backing file"),
        hint="an overlay (qemu-img create -b) still reads the VMDK for every block it never wrote: a conversion "
        "copies the data",
        zh="这是一次完整转换，而不是叠在 VMDK 上的覆盖层（overlay）",
        hint_zh="覆盖层（qemu-img create -b）里凡是没写过的块，都还要去读 VMDK：转换才会把数据真正复制过来",
    )


@step(
    3,
    "Import it as a new guest, SPICE on loopback, and boot it",
    hints=(
        "An import writes a definition around an existing disk and boots it, skipping the installation. libvirt "
        "is told the disk's format (it never guesses); the SPICE console must be reachable from this host only, "
        "with the paravirtual display card SPICE is made for.",
        "virt-install --import --name DOMAIN --disk path=CONVERTED,format=FORMAT,bus=virtio --graphics "
        "spice,listen=ADDRESS --video MODEL ... (the lab's kernel, serial log and agent options as in the notebook)",
    ),
    zh="导入为新虚拟机，SPICE 只监听回环地址，然后启动",
    hints_zh=(
        "导入就是围绕现有磁盘写一份定义并启动，跳过安装过程。要告诉 libvirt 磁盘的格式（它从不猜测）；"
        "SPICE 控制台只能从本宿主机访问，并配上专为 SPICE 设计的半虚拟化显卡。",
        "virt-install --import --name DOMAIN --disk path=CONVERTED,format=FORMAT,bus=virtio --graphics "
        "spice,listen=ADDRESS --video MODEL ...（实验所需的内核、串口日志和 agent 选项见 notebook）",
    ),
)
def imported(host: Host, p: V2vParams) -> Checks:
    vm = host.domain(p.domain)
    config = vm.config
    disk = config.disk("vda") if config else None
    yield check(
        "imported-disk",
        f"{p.domain} is defined with the converted qcow2 as its virtio disk vda",
        disk is not None and disk.source == p.converted and disk.format == "qcow2" and disk.bus == "virtio",
        expected=f"vda (virtio) -> {p.converted}, driver type qcow2",
        actual=f"vda ({disk.bus}) -> {disk.source}, driver type {disk.format}"
        if disk
        else ("no vda" if config else "not defined"),
        hint="libvirt opens a disk in the format its definition names (the driver type), whatever the file holds: "
        "a qcow2 opened as raw shows the guest qcow2 metadata instead of a filesystem",
        zh=f"{p.domain} 已定义，以转换后的 qcow2 作为它的 virtio 磁盘 vda",
        hint_zh="libvirt 按定义里写的格式（driver type）打开磁盘，不管文件里实际是什么：把 qcow2 当 raw 打开，"
        "客户机看到的是 qcow2 元数据，而不是文件系统",
    )
    yield _booted(host, p)
    yield from _spice(host, p)


def _booted(host: Host, p: V2vParams) -> Check:
    vm = host.domain(p.domain)
    live = vm.live
    live_disk = live.disk("vda") if live else None
    console = vm.console
    shown = wait_until(lambda: console.identity, bool, seconds=BOOT_WAIT if vm.is_running else 0)
    # The guest's init prints the hostname and machine-id of the disk it mounted (kvmlab/guest/init.sh):
    # the source disk's identity on the console proves the guest booted from its converted copy.
    source_id, problem = None, ""
    try:
        with host.image(p.source_disk).files() as fs:
            source_id = (fs.read("/etc/machine-id") or "").strip() or None
    except ImageUnreadable as err:
        problem = err.message
    expected = {"hostname": p.source_hostname, "machine-id": source_id}
    from_converted = live_disk is not None and live_disk.source == p.converted
    booted = (
        from_converted
        and console.booted_from_own_disk
        and not problem
        and all(shown.get(k) == v for k, v in expected.items())
    )
    if live is None:
        actual = f"not running ({vm.state})"
    else:
        where = Path(live_disk.source or "?").name if live_disk else "no vda"
        if not shown:
            said = "no readiness line yet" + ("" if console.log else " (its serial console has no log file)")
        else:
            said = f"hostname={shown.get('hostname')} machine-id={shown.get('machine-id')}" + (
                "" if console.booted_from_own_disk else " (the initramfs's defaults: it could not read its disk)"
            )
        actual = f"running from {where}; {said}"
    return check(
        "imported-booted",
        f"{p.domain} runs and booted from the converted disk (it shows the source disk's identity)",
        booted,
        expected=problem
        or f"running from {Path(p.converted).name}; hostname={p.source_hostname} machine-id={source_id}",
        actual=actual,
        hint="the guest prints the hostname and machine-id it read from its vda on its serial console; a guest "
        "that could not read its disk still boots, from the initramfs alone (hostname=kvmlab machine-id=none)",
        zh=f"{p.domain} 正在运行，并且是从转换后的磁盘启动的（显示出源磁盘的身份信息）",
        hint_zh="客户机会在串口控制台上打印它从 vda 读到的主机名和 machine-id；读不了自己磁盘的客户机也能启动，"
        "但只是靠 initramfs（hostname=kvmlab machine-id=none）",
    )


def _spice_listens(xml: DomainXML | None) -> list[str] | None:
    """Every address the SPICE display is told to listen on (attribute and <listen> elements); None: no SPICE."""
    spice = next((g for g in xml.graphics() if g.type == "spice"), None) if xml else None
    if spice is None:
        return None
    found = [el.get("address", "") for el in spice.node.findall("listen") if el.get("type") == "address"]
    if spice.listen:
        found.append(spice.listen)
    return sorted(set(found))


def _describe_spice(xml: DomainXML | None) -> str:
    if xml is None:
        return "no definition"
    listens = _spice_listens(xml)
    others = ", ".join(g.type or "?" for g in xml.graphics() if g.type != "spice")
    if listens is None:
        return f"no SPICE graphics{f' (has {others})' if others else ''}"
    return f"spice listen {', '.join(listens) or 'not set (QEMU default: every address)'}"


def _spice(host: Host, p: V2vParams) -> Checks:
    vm = host.domain(p.domain)
    config, live = vm.config, vm.live
    addresses = _spice_listens(config)
    yield check(
        "spice-config",
        "the persistent definition has SPICE graphics listening on 127.0.0.1 only",
        bool(addresses) and all(_loopback(a) for a in addresses or []),
        expected=f"spice listen {p.listen}",
        actual=_describe_spice(config),
        hint="a SPICE console is the guest's screen and keyboard, with no password by default: on every address "
        "(0.0.0.0) anybody who reaches the host's port has it. Give it the loopback address",
        zh="持久化配置里有 SPICE 图形设备，并且只监听 127.0.0.1",
        hint_zh="SPICE 控制台就是客户机的屏幕和键盘，默认没有密码：监听所有地址（0.0.0.0）时，"
        "任何能连到宿主机这个端口的人都能拿到它。请让它监听回环地址",
    )
    live_spice = next((g for g in live.graphics() if g.type == "spice"), None) if live else None
    port = live_spice.port if live_spice else None
    sockets = host.tcp_port(port).listeners if port and port > 0 else []
    yield check(
        "spice-socket",
        "the running guest's SPICE port really listens on loopback only",
        bool(sockets) and all(_loopback(a) for a in sockets),
        expected=f"{p.listen}:PORT (virsh domdisplay {p.domain})",
        actual=(
            f"not running ({vm.state})"
            if live is None
            else "no SPICE port in the live XML"
            if not port or port <= 0
            else f"port {port} listens on {', '.join(sockets) or 'nothing'}"
        ),
        hint="the kernel's socket table (ss -ltn) is the truth: a definition changed after the start takes effect "
        "only at the next start",
        zh="运行中虚拟机的 SPICE 端口确实只监听回环地址",
        hint_zh="以内核的套接字表（ss -ltn）为准：启动之后才修改的定义，要到下次启动才生效",
    )
    video = config.video_model if config else None
    yield check(
        "video-qxl",
        "its video card is QXL (SPICE's paravirtual display)",
        video == "qxl",
        expected="qxl",
        actual=video or ("no video device" if config else "not defined"),
        hint="SPICE is built around a paravirtual display card (virtio-gpu works with SPICE too, but QXL is what "
        "the seed and most guides use)",
        zh="它的显卡是 QXL（SPICE 的半虚拟化显卡）",
        hint_zh="SPICE 是围绕一种半虚拟化显卡设计的（virtio-gpu 也能配合 SPICE 使用，但原题和大多数指南用的是 QXL）",
    )
