"""Checks of the break-fix lab (troubleshooting).

Every fault has two checks in common, ``guest-running`` and ``data-intact``,
and checks of its own that ask for the cause to be fixed, not worked around.
The ids depend only on the fault, so a class's results line up per fault.

The fault is the puzzle. While the guest does not run, the rows about its
cause say only that it is not fixed yet: their titles and details would
name the fault, and the trainee is to find it from the evidence (the state
and its reason, virsh start's error, libvirt's log of the guest's QEMU).
Once the guest runs, they say in full whether the fix was a fix or a
workaround.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

from kvmlab.grading import Check, Checks, check, step, wait_until
from kvmlab.host import DiskXML, Domain, DomainXML, Host
from kvmlab.labs.break_fix import BreakFixParams

AGENT_WAIT = 15.0  # a guest started a moment ago is still booting
SEALED_TITLE = "the cause, fixed where it is, not worked around (said in full once the guest runs)"
SEALED_ACTUAL = "the guest does not run yet: name the cause from its state, virsh start's error and its log"
SEALED_TITLE_ZH = "根因已在原处修复，而不是被绕过去（虚拟机运行起来后才会详细说明）"


def _sealed(row: Check, running: bool) -> Check:
    """The row as it is once the guest runs; before, without the words that would name the fault."""
    if running:
        return row
    row.title, row.expected, row.hint = SEALED_TITLE, "the cause found and fixed", ""
    row.title_zh, row.hint_zh = SEALED_TITLE_ZH, ""  # the Chinese would name the fault just as well
    row.actual = "fixed" if row.passed else SEALED_ACTUAL
    return row


@step(
    1,
    "Name the cause and fix it where it is",
    hints=(
        "A guest that will not run has one cause, and the evidence names it: the state and its reason, the error "
        "a start prints (libvirt checks the emulator, pools, bridges and backing chains before QEMU runs) and "
        "libvirt's log of the guest's QEMU (what QEMU itself could not open). Fix the object the error names, in "
        "place: a workaround makes the guest run and leaves the cause, or loses its data.",
        "virsh domstate DOMAIN --reason; virsh start DOMAIN (read the error); tail LOG; then the tool of the object "
        "named: qemu-img info --backing-chain, ls -l, virsh domblkerror, virsh pool-list --all, ip -br link show "
        "type bridge, virsh domcapabilities; edit a definition with dumpxml / edit / define",
    ),
    zh="找出根因，并在原处修复",
    hints_zh=(
        "虚拟机起不来，原因只有一个，证据会指出它：状态及其原因、启动时打印的报错（libvirt 在运行 QEMU 之前会检查"
        "模拟器、存储池、网桥和后端文件链），以及 libvirt 为这台虚拟机的 QEMU 记录的日志（QEMU 自己打不开什么）。"
        "报错指出哪个对象，就在原处修哪个对象：变通方法能让虚拟机跑起来，但根因还在，或者数据丢了。",
        "virsh domstate DOMAIN --reason；virsh start DOMAIN（读报错）；tail LOG；然后用报错所指对象对应的工具："
        "qemu-img info --backing-chain、ls -l、virsh domblkerror、virsh pool-list --all、"
        "ip -br link show type bridge、virsh domcapabilities；修改定义用 dumpxml / edit / define",
    ),
)
def cause(host: Host, p: BreakFixParams) -> Checks:
    vm = host.domain(p.domain)
    running = vm.state == "running"
    yield _sealed(_data_intact(host, vm, p), running)
    for row in FAULT_CHECKS[p.fault](host, vm, p):
        yield _sealed(row, running)


@step(
    2,
    "Bring the guest back",
    hints=(
        "A guest that failed to start is shut off: once the cause is gone it starts like any other. A guest "
        "paused on an I/O error is still running its QEMU: it is resumed, not restarted, and retries the write "
        "that failed.",
        "virsh start DOMAIN (shut off) or virsh resume DOMAIN (paused); then wait for it to boot and its agent to "
        "answer",
    ),
    zh="让虚拟机恢复运行",
    hints_zh=(
        "启动失败的虚拟机处于关闭状态：根因消除后，像平常一样启动它即可。因 I/O 错误而暂停的虚拟机，它的 QEMU "
        "还在运行：要恢复（resume）它，而不是重启，它会重试那次失败的写入。",
        "virsh start DOMAIN（关闭状态）或 virsh resume DOMAIN（暂停状态）；然后等它启动完成、guest agent 有响应",
    ),
)
def back(host: Host, p: BreakFixParams) -> Checks:
    vm = host.domain(p.domain)
    state = vm.state_with_reason if vm.exists else "not defined"
    running = vm.state == "running"
    guest = vm.guest
    answers = running and guest is not None and wait_until(guest.ping, bool, seconds=AGENT_WAIT)
    hint = (
        "a guest paused on an I/O error waits for the cause to go: libvirt names the failing disk and the error; "
        "once it is fixed the guest is resumed, not restarted"
        if vm.state == "paused"
        else f"a guest that will not start says why: the error of the start itself, and libvirt's log of its QEMU "
        f"({p.log})"
    )
    hint_zh = (
        "因 I/O 错误而暂停的虚拟机在等根因消除：libvirt 会指出出错的磁盘和错误；修好之后恢复（resume）它，而不是重启"
        if vm.state == "paused"
        else f"起不来的虚拟机会说明原因：看启动命令本身的报错，以及 libvirt 为它的 QEMU 记录的日志（{p.log}）"
    )
    yield check(
        "guest-running",
        f"{p.domain} runs again (running, not paused, and its agent answers)",
        answers,
        expected="running, agent answers",
        actual=state if not running else ("running, agent answers" if answers else "running, agent silent"),
        hint=hint,
        zh=f"{p.domain} 重新运行起来（处于运行状态而非暂停，且 guest agent 有响应）",
        hint_zh=hint_zh,
    )


def _data_intact(host: Host, vm: Domain, p: BreakFixParams) -> Check:
    config = vm.config
    vda = config.disk("vda") if config else None
    source = vda.source if vda else None
    if source != p.image:
        ok, said = False, f"vda is {source or 'missing'}"
    else:
        ok, said = host.disk_marks(p.image).read_back(p.mark)
    return check(
        "data-intact",
        f"the guest still boots from {Path(p.image).name}, with the data it had before the fault",
        ok,
        expected=f"vda -> {p.image}, its data readable through the backing chain",
        actual=said,
        hint="fix the disk the guest has, do not replace it: a fresh disk (or a new overlay) boots, "
        "but a server's data would be gone",
        zh=f"虚拟机仍从 {Path(p.image).name} 启动，并且保留着故障前的数据",
        hint_zh="修好虚拟机现有的磁盘，不要替换它：换一块新磁盘（或新建一个 overlay）也能启动，但服务器上的数据就没了",
    )


# -- per fault -----------------------------------------------------------------------


def _backing(host: Host, vm: Domain, p: BreakFixParams) -> Iterator[Check]:
    info = host.image(p.image).info()
    backing = info.backing_file if info else None
    yield check(
        "backing-file",
        f"the overlay still names its backing file {p.base} (not rebased elsewhere)",
        backing == p.base,
        expected=p.base,
        actual=backing or ("no backing file" if info else "overlay unreadable"),
        hint="an overlay stores its backing file's path: rebasing it onto wherever the base went hides the move "
        "until the next tidy-up",
        zh=f"overlay 仍以 {p.base} 作为后端文件（没有被 rebase 到别处）",
        hint_zh="overlay 里存的是后端文件的路径：基础镜像挪到哪里就 rebase 到哪里，只是把这次挪动掩盖了起来，"
        "等下次清理时还会出问题",
    )
    kind = host.file(p.base).kind
    yield check(
        "base-in-place",
        f"{p.base} is the base image itself, a regular file",
        kind == "file",
        expected="regular file",
        actual=kind,
        hint="the base belongs where the overlay points: a symlink into an archive directory breaks again when "
        "that directory is cleaned, and a new empty base loses the data",
        zh=f"{p.base} 就是基础镜像本身，是一个普通文件",
        hint_zh="基础镜像应该放在 overlay 指向的位置：指向归档目录的符号链接，等那个目录被清理时又会断掉；"
        "新建一个空的基础镜像则会丢数据",
    )


def _permissions(host: Host, vm: Domain, p: BreakFixParams) -> Iterator[Check]:
    mode = host.file(p.image).mode
    ok = mode is not None and mode & 0o600 == 0o600 and not mode & 0o002
    yield check(
        "image-permissions",
        f"{Path(p.image).name} is readable and writable by its owner, and not by everybody",
        ok,
        expected="owner rw (0600 or 0644), not world-writable",
        actual="missing" if mode is None else f"{mode:04o}",
        hint="QEMU runs as its own user: libvirt's dynamic_ownership chowns the image to it at start, but never "
        "changes the mode; a world-writable disk is open to every local user",
        zh=f"{Path(p.image).name} 对属主可读可写，但不是所有人都能写",
        hint_zh="QEMU 以它自己的用户身份运行：libvirt 的 dynamic_ownership 会在启动时把镜像的属主改成这个用户，"
        "但从不修改权限位；所有人可写的磁盘，本机每个用户都能动",
    )


def _pool(host: Host, vm: Domain, p: BreakFixParams) -> Iterator[Check]:
    pool = host.pool(p.pool)
    config = pool.config
    target = config.target_path if config else None
    is_dir = host.file(p.pool_dir).kind == "directory"
    yield check(
        "pool-dir",
        f"pool {p.pool} still points at {p.pool_dir}, and that directory exists",
        target == p.pool_dir and is_dir,
        expected=f"{p.pool_dir} (a directory)",
        actual=f"{target or 'no pool'} ({'a directory' if is_dir else 'missing'})",
        hint="a dir pool is a directory plus libvirt's definition of it: the definition still knows where the "
        "directory belongs, and libvirt can build it again from there",
        zh=f"存储池 {p.pool} 仍指向 {p.pool_dir}，并且这个目录存在",
        hint_zh="dir 类型的存储池就是一个目录，加上 libvirt 对它的定义：定义里仍记着目录该在哪里，"
        "libvirt 可以据此把它重新建出来",
    )
    yield check(
        "pool-active",
        f"pool {p.pool} is active",
        pool.is_active,
        expected="active",
        actual="active" if pool.is_active else ("inactive" if pool.exists else "not defined"),
        hint="a pool whose directory is back is still inactive until it is started; inactive pools are listed "
        "only when all are asked for",
        zh=f"存储池 {p.pool} 处于活动状态",
        hint_zh="目录回来了，存储池在启动之前仍是非活动的；要列出全部存储池，才看得到非活动的那些",
    )
    disk = _disk(vm.config, "vdb")
    in_pool = disk is not None and (disk.source_pool, disk.source_volume) == (p.pool, p.volume)
    volume = pool.volume(p.volume) if pool.is_active else None
    yield check(
        "scratch-volume",
        f"vdb is still volume {p.volume} of pool {p.pool}, and the volume exists",
        in_pool and volume is not None,
        expected=f"vdb -> {p.pool}/{p.volume}, present",
        actual=(f"vdb -> {disk.source_pool}/{disk.source_volume}" if disk else "no vdb")
        + (", present" if volume is not None else ", no such volume"),
        hint="the volume went with the directory: it is made again in the running pool, under the same name; "
        "removing the disk from the guest hides the fault",
        zh=f"vdb 仍是存储池 {p.pool} 中的卷 {p.volume}，并且这个卷存在",
        hint_zh="卷随目录一起没了：在运行中的存储池里用同一个名字重新创建它；把磁盘从虚拟机上拿掉只是掩盖了故障",
    )


def _emulator(host: Host, vm: Domain, p: BreakFixParams) -> Iterator[Check]:
    config = vm.config
    emulator = config.emulator if config else None
    known = host.emulators()
    ok = emulator is not None and emulator in known and host.file(emulator).executable
    yield check(
        "emulator",
        "the definition names an emulator libvirt knows on this host",
        ok,
        expected=" or ".join(sorted(known)) or "an emulator from virsh capabilities",
        actual=emulator or "none",
        hint="libvirt's domain capabilities name the emulator it would use; the definition must name a real QEMU "
        "(a script standing in for the removed binary is not QEMU), changed in the definition itself",
        zh="定义中指定的模拟器，是 libvirt 在这台宿主机上认识的",
        hint_zh="libvirt 的 domain capabilities 里写着它会用的模拟器；定义里必须指定一个真正的 QEMU"
        "（顶替被删掉的二进制文件的脚本不是 QEMU），而且要在定义本身里改",
    )


def _bridge(host: Host, vm: Domain, p: BreakFixParams) -> Iterator[Check]:
    config = vm.config  # read once: each read asks libvirt again, and the guest may stop in between
    nic = config.interface(p.mac) if config else None
    yield check(
        "nic-bridge",
        f"the NIC {p.mac} is on bridge {p.bridge} in the persistent definition",
        nic is not None and nic.type == "bridge" and nic.source_bridge == p.bridge,
        expected=f"{p.mac} -> bridge {p.bridge}",
        actual=f"{p.mac} -> {nic.type} {nic.source_bridge or nic.source_network or ''}".strip()
        if nic
        else f"no NIC {p.mac}",
        hint="the NIC belongs on the bridge that exists (the host's bridges are listed by ip), with its own MAC: "
        "the guest's network configuration and DHCP reservations know it; a bridge made up to match the old "
        "name connects the guest to nothing",
        zh=f"持久化配置中，网卡 {p.mac} 接在网桥 {p.bridge} 上",
        hint_zh="网卡应该接到实际存在的网桥上（宿主机的网桥用 ip 就能列出来），并保留它自己的 MAC："
        "虚拟机的网络配置和 DHCP 预留都认这个 MAC；照旧名字凭空建一个网桥，虚拟机接上去也哪儿都通不了",
    )
    running = vm.live
    live = running.interface(p.mac) if running else None
    tap = live.target_dev if live else None
    bridge = host.bridge(p.bridge)
    yield check(
        "nic-live",
        f"the running guest's NIC {p.mac} is plugged into {p.bridge}",
        live is not None and tap is not None and bridge.has_port(tap),
        expected=f"its tap is a port of {p.bridge}",
        actual=f"tap {tap}; ports of {p.bridge}: {', '.join(bridge.ports) or 'none'}"
        if live
        else "guest not running"
        if vm.live is None
        else f"no NIC {p.mac} in the running guest",
        hint="the running guest gets the definition's NIC when it starts; `bridge link` lists a bridge's ports",
        zh=f"运行中虚拟机的网卡 {p.mac} 接入了 {p.bridge}",
        hint_zh="运行中的虚拟机是在启动时拿到定义里的网卡的；`bridge link` 可以列出网桥的端口",
    )


def _io_error(host: Host, vm: Domain, p: BreakFixParams) -> Iterator[Check]:
    info = host.image(p.data_disk).info()
    free = host.file(p.datastore).free_bytes or 0
    need = (info.virtual_size - (info.actual_size or 0) + 1024**2) if info else None
    yield check(
        "disk-space",
        f"{p.datastore} has room for the data disk to grow to its full {p.data_mib} MiB",
        need is not None and free >= need,
        expected=f">= {need // 1024**2} MiB free" if need is not None else "the data disk present",
        actual=f"{free / 1024**2:.1f} MiB free" if info else f"{p.data_disk} is missing",
        hint="the filesystem under a thin disk filled up: what does not belong there goes (or the filesystem "
        "grows). A thin qcow2 pauses its guest again as soon as it needs a cluster that does not fit",
        zh=f"{p.datastore} 有足够的空间，让数据盘长到完整的 {p.data_mib} MiB",
        hint_zh="精简置备磁盘所在的文件系统满了：把不该放在那里的东西清走（或者给文件系统扩容）。"
        "精简置备的 qcow2 一旦需要一个放不下的 cluster，就会再次让虚拟机暂停",
    )
    disk = _disk(vm.config, "vdb")
    on_datastore = disk is not None and disk.source == p.data_disk
    policy = disk.error_policy if disk else None
    yield check(
        "error-policy",
        "the data disk still stops the guest on a write error (error_policy stop)",
        on_datastore and policy in (None, "stop", "enospc"),
        expected="stop (or enospc, the default)",
        actual=(policy or "default (enospc)") if on_datastore else "no such data disk",
        hint="report hands the error to the guest (filesystems go read-only, databases corrupt); ignore tells the "
        "guest the write succeeded and the data is lost. Pausing is what keeps the data safe while you make room",
        zh="数据盘遇到写错误时，仍然让虚拟机暂停（error_policy stop）",
        hint_zh="report 会把错误交给客户机（文件系统变成只读、数据库损坏）；ignore 会告诉客户机写入成功了，数据却丢了。"
        "正是暂停，让你在腾空间的时候数据安然无恙",
    )
    live = _disk(vm.live, "vdb")
    running = vm.live is not None
    yield check(
        "data-disk",
        f"vdb is still {p.data_disk}, in the definition and in the running guest",
        on_datastore and (not running or (live is not None and live.source == p.data_disk)),
        expected=f"vdb -> {p.data_disk}",
        actual=f"vdb -> {disk.source}" if disk else "no vdb in the definition",
        hint="the guest's data lives on that disk: make room under it, do not detach it",
        zh=f"vdb 仍是 {p.data_disk}，在定义中和运行中的虚拟机里都是",
        hint_zh="虚拟机的数据就在这块盘上：给它腾出空间，不要把它卸下来",
    )


def _disk(xml: DomainXML | None, target: str) -> DiskXML | None:
    return xml.disk(target) if xml else None


FAULT_CHECKS: dict[str, Callable[[Host, Domain, BreakFixParams], Iterator[Check]]] = {
    "backing": _backing,
    "permissions": _permissions,
    "pool": _pool,
    "emulator": _emulator,
    "bridge": _bridge,
    "io-error": _io_error,
}
