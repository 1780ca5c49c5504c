"""Checks of the linux-template lab (seed question 19).

The sealed state is read out of the base image without booting it (qemu-img
convert + debugfs), the chain with ``qemu-img info --backing-chain``, the
order of the work from the files' own times (the base's last write against
each overlay's birth), the clones from their persistent definitions, the
boot from the clone's console: the identity it printed against the identity
on its own disk.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from kvmlab.grading import Checks, ImageUnreadable, check, step, wait_until
from kvmlab.host import Host, ImageInfo
from kvmlab.labs.linux_template import TemplateParams

LOGS = ("/var/log/messages",)
HISTORIES = ("/root/.bash_history",)
# What machine-id(5) calls a first boot: no file, or the word "uninitialized" in it. An empty file
# gets an id at boot too, but that boot is not a first boot (ConditionFirstBoot= units do not run).
FIRST_BOOT_MACHINE_IDS = (None, "uninitialized")
BOOT_WAIT = 20.0  # a clone started seconds ago may still be booting (TCG on a busy host)


def _clock(t: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(t)) + f".{int(t % 1 * 1000):03d}"


@step(
    1,
    "Seal the golden image",
    hints=(
        "Everything that must differ between machines is removed from the image before it is copied: the "
        "machine-id, the SSH host keys, the hostname, logs and shell history. Each clone makes its own at "
        "its first boot. The guest is shut off, so the image is edited offline.",
        "virt-sysprep -a IMAGE, plus the customize options that set the hostname and put the machine-id "
        "back into its first-boot state (libguestfs 1.48 writes a fresh id into an emptied one)",
    ),
    zh="封装黄金镜像",
    hints_zh=(
        "复制镜像之前，先把每台机器必须各不相同的东西都从镜像里删掉：machine-id、SSH 主机密钥、主机名、"
        "日志和 shell 历史。"
        "每个克隆在首次启动时生成自己的一份。虚拟机已经关机，所以是离线修改镜像。",
        "virt-sysprep -a IMAGE，再加上设置主机名的定制选项，以及把 machine-id 恢复成首次启动状态的定制选项"
        "（libguestfs 1.48 会往清空的文件里写入一个新的 id）",
    ),
)
def sealed(host: Host, p: TemplateParams) -> Checks:
    machine_id: str | None = None
    keys: list[str] | None = None
    hostname: str | None = None
    logs: list[str] = []
    history: list[str] = []
    problem = ""
    try:
        with host.image(p.base).files() as fs:
            machine_id = fs.read("/etc/machine-id")
            keys = [n for n in fs.listdir("/etc/ssh") or [] if n.startswith("ssh_host_")]
            hostname = (fs.read("/etc/hostname") or "").strip()
            logs = _with_content(fs.read, LOGS)
            history = _with_content(fs.read, HISTORIES)
    except ImageUnreadable as err:
        problem = err.message

    mid = machine_id.strip() if machine_id is not None else None
    yield check(
        "sealed-machine-id",
        "/etc/machine-id in the base says 'first boot' (missing, or 'uninitialized')",
        not problem and mid in FIRST_BOOT_MACHINE_IDS,
        expected="missing, or uninitialized",
        actual=problem or ("missing" if mid is None else (mid or "present and empty")),
        hint="clones sharing one machine-id share a DHCP client id and a journal id. machine-id(5): a missing "
        "file or one that says 'uninitialized' makes the next boot a first boot, which writes a new id; an "
        "empty file gets an id too, but that boot is not a first boot (ConditionFirstBoot= units do not run). "
        "virt-sysprep empties the file, and libguestfs 1.48's customize step then writes a fresh id into it",
        zh="后端镜像中的 /etc/machine-id 表示“首次启动”（文件不存在，或内容为 uninitialized）",
        hint_zh="共用同一个 machine-id 的克隆，DHCP 客户端标识和 journal 标识也相同。按 machine-id(5)："
        "文件不存在或内容为 "
        "uninitialized 时，下一次启动就是首次启动，会写入新的 id；空文件也会在启动时得到一个 id，但那次启动不算首次启动"
        "（ConditionFirstBoot= 的 unit 不会运行）。virt-sysprep 会清空这个文件，而 libguestfs 1.48 的定制步骤随后又往里"
        "写入一个新的 id",
    )
    yield check(
        "sealed-ssh-keys",
        "the base has no SSH host keys (each clone generates its own)",
        not problem and keys == [],
        expected="no /etc/ssh/ssh_host_*",
        actual=problem or ", ".join(keys or []) or "none",
        hint="clones sharing one host key can impersonate each other: virt-sysprep has an operation that removes them",
        zh="后端镜像里没有 SSH 主机密钥（每个克隆自己生成）",
        hint_zh="共用同一套主机密钥的克隆可以互相冒充：virt-sysprep 有一个专门删除它们的操作",
    )
    yield check(
        "sealed-hostname",
        f"the base's hostname is reset ({' or '.join(p.sealed_hostnames)})",
        not problem and hostname in p.sealed_hostnames,
        expected=p.hostname,
        actual=problem or hostname or "empty",
        hint="the template's own name must not reach the clones: the sealing tools can set a neutral one "
        "(a customize option) in the same run",
        zh=f"后端镜像的主机名已重置（{' 或 '.join(p.sealed_hostnames)}）",
        hint_zh="模板自己的主机名不能带到克隆里：封装工具可以在同一次运行中设置一个中性的主机名（用一个定制选项）",
    )
    yield check(
        "sealed-logs",
        "the base's logs are empty",
        not problem and not logs,
        expected=f"{', '.join(LOGS)} empty or removed",
        actual=problem or ", ".join(logs) or "empty",
        hint="a clone must not start with the template's history: virt-sysprep has an operation for log files",
        zh="后端镜像里的日志是空的",
        hint_zh="克隆不能带着模板的历史开始运行：virt-sysprep 有处理日志文件的操作",
    )
    yield check(
        "sealed-history",
        "root's shell history is gone from the base",
        not problem and not history,
        expected=f"{', '.join(HISTORIES)} empty or removed",
        actual=problem or ", ".join(history) or "empty",
        hint="shell histories carry passwords typed by mistake: virt-sysprep has an operation for them",
        zh="后端镜像里已经没有 root 的 shell 历史",
        hint_zh="shell 历史里可能有误输入的密码：virt-sysprep 有处理它们的操作",
    )


def _with_content(read: Callable[[str], str | None], paths: tuple[str, ...]) -> list[str]:
    """The paths that still have content."""
    left = []
    for path in paths:
        text = read(path)
        if text:
            left.append(f"{path} ({len(text.splitlines())} lines)")
    return left


@step(
    2,
    "Make the sealed image a read-only base",
    hints=(
        "Every overlay records only its differences from the base, so nothing may write the base once clones "
        "exist. File permissions make that mistake fail loudly: QEMU runs as an unprivileged user.",
        "chmod MODE IMAGE, with a mode that gives nobody write permission",
    ),
    zh="把封装好的镜像设为只读的后端镜像",
    hints_zh=(
        "每个覆盖层只记录相对于后端镜像的差异，所以一旦有了克隆，就不能再写后端镜像。文件权限能让这种失误当场报错："
        "QEMU 以非特权用户运行。",
        "chmod MODE IMAGE，MODE 要让任何人都没有写权限",
    ),
)
def read_only(host: Host, p: TemplateParams) -> Checks:
    mode = host.file(p.base).mode
    yield check(
        "base-read-only",
        "the base image is read-only (no write permission for anyone)",
        mode is not None and mode & 0o222 == 0,
        expected="0444",
        actual="missing" if mode is None else f"{mode:04o}",
        hint="writing the base (booting the template, a sealing tool run on it again) silently corrupts every "
        "clone built on it: take away every write permission",
        zh="后端镜像是只读的（任何人都没有写权限）",
        hint_zh="写入后端镜像（启动模板、对它再跑一次封装工具）会悄无声息地损坏建立在它上面的每个克隆：去掉所有写权限",
    )


@step(
    3,
    "Give each clone a qcow2 overlay on the base",
    hints=(
        "A linked clone is an empty qcow2 overlay whose backing file is the base: reads of blocks it does not "
        "have go to the base, writes stay in the overlay. It is made in milliseconds, and only once the base "
        "is final.",
        "qemu-img create -f qcow2 -b BASE -F BASE_FORMAT CLONE_DISK, once per clone",
    ),
    zh="在后端镜像上为每个克隆创建 qcow2 覆盖层",
    hints_zh=(
        "链接克隆是一个空的 qcow2 覆盖层，它的后端文件就是后端镜像：读取它没有的块时去读后端，写入留在覆盖层里。"
        "它几毫秒就能建好，但只能在后端镜像定型之后再建。",
        "qemu-img create -f qcow2 -b BASE -F BASE_FORMAT CLONE_DISK，每个克隆执行一次",
    ),
)
def overlays(host: Host, p: TemplateParams) -> Checks:
    base = host.file(p.base)
    described, right = [], True
    for _name, disk in p.clones:
        ok, said = _backing(host, p, host.image(disk).chain())
        right = right and ok
        described.append(f"{Path(disk).name}: {said}")
    yield check(
        "clones-backed",
        "each clone's disk is a qcow2 overlay on the base image",
        right,
        expected=f"qcow2 -> {p.base} (qcow2)",
        actual="; ".join(described),
        hint="a linked clone is a qcow2 file whose backing file is the base, with the backing format given "
        "(QEMU no longer guesses it); a full copy (cp, qemu-img convert) costs the whole image per clone",
        zh="每个克隆的磁盘都是建立在后端镜像上的 qcow2 覆盖层",
        hint_zh="链接克隆是一个以后端镜像为后端文件的 qcow2 文件，并且要给出后端文件的格式（QEMU 不再猜测）；"
        "完整复制（cp、qemu-img convert）则每个克隆都要占一整份镜像的空间",
    )

    # The base's last write against each overlay's birth: a base written after an overlay was made
    # (sealed late, booted, customized) has changed under it, and the overlay's view is corrupt.
    base_times = base.times()
    rows, in_order = [], base_times is not None
    for _name, disk in p.clones:
        born = host.file(disk).times()
        if base_times is None or born is None:
            rows.append(f"{Path(disk).name}: missing")
            in_order = False
            continue
        # Where the filesystem records no birth time, the overlay's last inode change is the best bound left.
        made = born.born if born.born is not None else born.changed
        later = base_times.modified - made
        in_order = in_order and later < 0
        when = "made" if born.born is not None else "last changed (no birth time on this filesystem)"
        rows.append(
            f"{Path(disk).name} {when} {_clock(made)}"
            + (f", the base written {later:.1f} s after it" if later >= 0 else "")
        )
    yield check(
        "base-final-before-overlays",
        "the base was last written before any overlay was made on it (sealed first, then cloned)",
        in_order,
        expected=f"{Path(p.base).name} last written before every overlay's creation",
        actual=("base missing" if base_times is None else f"base last written {_clock(base_times.modified)}; ")
        + "; ".join(rows),
        hint="an overlay records differences from the base as it was when the overlay was made: a base "
        "written afterwards (sealed late, booted, edited) changes under every clone. Seal, lock, then clone; "
        "overlays made on a base that has changed must be made again",
        zh="后端镜像的最后一次写入早于在它上面创建的任何覆盖层（先封装，再克隆）",
        hint_zh="覆盖层记录的是相对于创建它那一刻的后端镜像的差异：之后再写后端（封装晚了、启动过、改过）"
        "就等于在每个克隆"
        "底下改了数据。先封装、加锁，再克隆；后端已经变过的话，建在它上面的覆盖层就得重新创建",
    )


def _backing(host: Host, p: TemplateParams, chain: list[ImageInfo]) -> tuple[bool, str]:
    """A clone disk is right when it is qcow2, backed by the base (qcow2), and the base stands alone."""
    if not chain:
        return False, "missing"
    top = chain[0]
    backing = top.backing_file
    if not backing:
        return False, f"{top.format}, no backing file (a full copy)"
    said = f"{top.format} -> {backing} ({top.backing_format or '?'})"
    right = (
        top.format == "qcow2"
        and host.file(p.base).is_named_by(backing)
        and top.backing_format == "qcow2"
        and len(chain) == 2
    )
    return right, said + ("" if len(chain) <= 2 else f", then {len(chain) - 2} more")


@step(
    4,
    "Define the clones: their own name, UUID and MAC",
    hints=(
        "A clone's definition is the template's with everything that identifies a machine to libvirt and to "
        "the network changed: the name, the UUID, every MAC address; its disk is its own overlay, kept as it "
        "is (not copied again). Two clones must not write one console log either.",
        "virt-clone --original TEMPLATE --name CLONE --file CLONE_DISK, plus the option that keeps that disk as it "
        "is; then virt-xml CLONE --edit --serial log.file=...",
    ),
    zh="定义克隆：各自的名称、UUID 和 MAC",
    hints_zh=(
        "克隆的定义就是模板的定义，只是把所有在 libvirt 和网络中标识一台机器的东西都换掉：名称、UUID、每个 MAC 地址；"
        "它的磁盘是它自己的覆盖层，原样使用（不再复制一遍）。两个克隆也不能写同一个控制台日志。",
        "virt-clone --original TEMPLATE --name CLONE --file CLONE_DISK，再加上让这块磁盘保持原样的选项；"
        "然后 virt-xml CLONE --edit --serial log.file=...",
    ),
)
def clones(host: Host, p: TemplateParams) -> Checks:
    template = host.domain(p.template)
    configs = [(name, disk, host.domain(name).config, host.domain(name).uuid) for name, disk in p.clones]
    rows, right = [], True
    for name, disk, config, uuid in configs:
        vda = config.disk("vda") if config is not None else None
        ok = vda is not None and host.file(disk).is_named_by(vda.source) and vda.format == "qcow2"
        right = right and ok
        if config is None:
            rows.append(f"{name}: not defined")
        else:
            where = f"{Path(vda.source or 'none').name} ({vda.format or 'format not given'})" if vda else "none"
            rows.append(f"{name}: uuid {uuid}, vda -> {where}")
    uuids = [uuid for _, _, _, uuid in configs if uuid] + ([template.uuid] if template.uuid else [])
    missing = [name for name, _, config, _ in configs if config is None]
    yield check(
        "clones-defined",
        "both clones are defined, each with its own UUID and its own overlay as vda, opened as qcow2",
        not missing and right and len(set(uuids)) == len(uuids),
        expected=", ".join(f"{name}: vda -> {Path(disk).name} (qcow2)" for name, disk in p.clones),
        actual="; ".join(rows),
        hint="each clone needs a definition of its own (new name and UUID) whose vda is its own overlay, with the "
        "driver type qcow2: opened as raw, the guest sees qcow2 metadata instead of a filesystem",
        zh="两个克隆都已定义，各有自己的 UUID，vda 是各自的覆盖层，并以 qcow2 格式打开",
        hint_zh="每个克隆都需要自己的定义（新的名称和 UUID），其中 vda 是它自己的覆盖层，驱动类型为 qcow2："
        "如果按 raw 打开，"
        "客户机看到的是 qcow2 元数据，而不是文件系统",
    )

    macs: dict[str, list[str]] = {}
    for name, config in [(p.template, template.config)] + [(name, config) for name, _, config, _ in configs]:
        for nic in config.interfaces() if config is not None else []:
            macs.setdefault((nic.mac or "").lower(), []).append(name)
    shared = {mac: names for mac, names in macs.items() if len(names) > 1}
    clone_macs = [mac for mac, names in macs.items() if any(n != p.template for n in names)]
    yield check(
        "clones-distinct-mac",
        "every clone has a MAC of its own (not the template's, not another clone's)",
        not missing and bool(clone_macs) and not shared,
        expected="all MACs different",
        actual=", ".join(f"{mac} used by {' and '.join(names)}" for mac, names in shared.items())
        or ", ".join(f"{'/'.join(names)}: {mac}" for mac, names in macs.items())
        or "no NICs",
        hint="two NICs with one MAC on a LAN fight over it (ARP flapping, lost DHCP leases); libvirt does not "
        "notice a duplicate: leave the MAC out of a copied definition and libvirt (or virt-clone) picks a new one",
        zh="每个克隆都有自己的 MAC（与模板不同，与另一个克隆也不同）",
        hint_zh="局域网里两块网卡用同一个 MAC 会互相争抢（ARP 表项来回跳变、DHCP 租约丢失）；libvirt 不会发现重复："
        "复制来的定义里去掉 MAC，libvirt（或 virt-clone）就会另选一个新的",
    )


@step(
    5,
    "Boot a clone",
    hints=(
        "A clone boots from its own overlay, reading everything it never wrote from the sealed base. The tiny "
        "guest prints the hostname and machine-id it found on its disk; a guest that could not read its disk "
        "prints the initramfs's defaults instead.",
        "virsh start CLONE, then wait for its readiness line (virsh console CLONE, or its console log)",
    ),
    zh="启动一个克隆",
    hints_zh=(
        "克隆从自己的覆盖层启动，凡是它自己没写过的内容，都从封装好的后端镜像读取。这台小虚拟机会打印它在磁盘上找到的"
        "主机名和 machine-id；读不了磁盘的虚拟机打印的则是 initramfs 的默认值。",
        "virsh start CLONE，然后等它输出就绪行（virsh console CLONE，或者看它的控制台日志）",
    ),
)
def boots(host: Host, p: TemplateParams) -> Checks:
    vm = host.domain(p.clone1)
    console = vm.console
    ready = wait_until(lambda: console.identity, bool, seconds=BOOT_WAIT if vm.is_running else 0)
    # What the guest's init reads from the disk it booted from (kvmlab/guest/init.sh): /etc/hostname
    # and /etc/machine-id, "none" for an empty or missing one.
    on_disk: dict[str, str] = {}
    problem = ""
    try:
        with host.image(p.clone1_disk).files() as fs:
            on_disk = {
                "hostname": (fs.read("/etc/hostname") or "").strip() or "kvmlab",
                "machine-id": (fs.read("/etc/machine-id") or "").strip() or "none",
            }
    except ImageUnreadable as err:
        problem = err.message
    shown = {key: ready.get(key) for key in ("hostname", "machine-id")}
    if not vm.is_running:
        actual = f"not running ({vm.state})"
    elif not ready:
        actual = "running, no readiness line yet" + ("" if console.log else " (its serial console has no log file)")
    else:
        actual = f"hostname={shown['hostname']} machine-id={shown['machine-id']}" + (
            "" if console.booted_from_own_disk else " (the initramfs's defaults: it could not read its disk)"
        )
    expected = problem or " ".join(f"{k}={v}" for k, v in on_disk.items())
    yield check(
        "clone-boots",
        f"{p.clone1} runs and booted from its overlay (it shows the identity written on that disk)",
        vm.is_running and console.booted_from_own_disk and not problem and shown == on_disk,
        expected=f"{Path(p.clone1_disk).name} says {expected}",
        actual=actual,
        hint="a clone that could not open its disk still boots, from the initramfs alone: it then shows "
        "hostname=kvmlab machine-id=none. Start the clone, give it a moment, and read its console",
        zh=f"{p.clone1} 正在运行，并且是从自己的覆盖层启动的（它显示的身份与该磁盘上写的一致）",
        hint_zh="打不开磁盘的克隆照样能启动，只是全靠 initramfs：这时它显示 hostname=kvmlab machine-id=none。"
        "启动克隆，稍等片刻，再看它的控制台",
    )
