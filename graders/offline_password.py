"""Checks of the offline-password lab (seed question 13).

What can be proven from the host, and how:
- the guest is shut off now (libvirt);
- how it last stopped (libvirt's log: ``reason=shutdown``, ``destroyed``, ``saved``);
- the password: /etc/shadow read out of the image without booting it
  (qemu-img convert + debugfs) and checked with crypt(3);
- *when* /etc/shadow was rewritten: its inode change time, set by the
  kernel that wrote it (the libguestfs appliance, or the guest), compared
  with the guest's runs in libvirt's log. ctime cannot be set with touch(1);
  a clock moved on purpose could fool it, nothing short of that can;
- the qcow2 metadata is consistent (``qemu-img check``).
"""

from __future__ import annotations

import time

from kvmlab.grading import Check, Checks, ImageUnreadable, check, step
from kvmlab.host import Host
from kvmlab.labs.offline_password import PasswordParams

# Guest and appliance clocks come from the host's RTC, within a second or so.
CLOCK_SLACK = 2.0


def _hms(t: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(t))


def _span(started: float, stopped: float | None) -> str:
    return f"{_hms(started)}-{_hms(stopped) if stopped is not None else 'now'}"


def _verdict_line(said: str) -> str:
    """qemu-img check's verdict ("No errors were found", "2 errors were found", "leaked clusters")."""
    lines = said.splitlines()
    return next(
        (line for line in lines if "error" in line.lower() or "leak" in line.lower()), lines[-1] if lines else ""
    )


@step(
    1,
    "Shut the guest down cleanly",
    hints=(
        "A disk may be edited offline only when nothing else writes it: the guest's own kernel caches its "
        "filesystem. A clean shutdown lets the guest flush everything and power itself off; a power cut leaves an "
        "unreplayed journal, and a saved guest comes back later with its old view of the disk.",
        "virsh shutdown DOMAIN, then wait until virsh domstate DOMAIN says shut off (--reason says how)",
    ),
    zh="正常关闭虚拟机",
    hints_zh=(
        "只有在没有别的程序写磁盘时，才能离线编辑它：客户机自己的内核缓存着它的文件系统。"
        "正常关机能让客户机把所有数据刷回磁盘，然后自己断电；强制断电会留下未重放的日志；而被保存（save）"
        "的虚拟机稍后恢复时，还带着它对磁盘的旧认知。",
        "virsh shutdown DOMAIN，然后等到 virsh domstate DOMAIN 显示 shut off（加 --reason 可以看出是怎么停的）",
    ),
)
def shut_down(host: Host, p: PasswordParams) -> Checks:
    vm = host.domain(p.domain)
    yield check(
        "guest-shut-off",
        f"the guest {p.domain} is shut off",
        vm.state == "shut off",
        expected="shut off",
        actual=vm.state,
        hint="libguestfs must never write a disk that a running guest is using: the guest has to be off (and "
        "asking it to shut down returns at once: it is off only when libvirt says so)",
        zh=f"虚拟机 {p.domain} 已关机",
        hint_zh="libguestfs 绝不能写运行中虚拟机正在使用的磁盘：虚拟机必须关机（而且发出关机请求的命令会立即返回："
        "只有 libvirt 显示它已关机，它才是真的关了）",
    )
    runs = vm.runs()
    last = runs[-1] if runs else None
    yield check(
        "shutdown-clean",
        "it was shut down from inside (an ACPI shutdown), not pulled from the power nor saved",
        last is not None and last.reason == "shutdown",
        expected="last stop: reason=shutdown",
        actual="no record in libvirt's log"
        if last is None
        else ("still running" if last.stopped is None else f"last stop: reason={last.reason}"),
        hint="a power cut (destroy) leaves the guest's filesystem with an unreplayed journal; a saved guest "
        "(managedsave) resumes later with its memory's view of the disk, and an edit made meanwhile corrupts it. "
        "A shutdown presses the ACPI power button: the guest syncs and powers itself off",
        zh="它是从内部关机的（ACPI 关机），既不是被拔了电源，也不是被保存了",
        hint_zh="强制断电（destroy）会让客户机的文件系统留下未重放的日志；被保存的虚拟机（managedsave）稍后恢复时，"
        "带着内存中对磁盘的旧认知，期间对磁盘做的修改会把它写坏。shutdown 相当于按下 ACPI 电源按钮："
        "客户机同步数据后自己断电",
    )


@step(
    2,
    "Set the new root password in the image, offline",
    hints=(
        "With the guest off, libguestfs opens its disk image in a small appliance VM and edits /etc/shadow there: "
        "virt-customize sets a password in one command (virt-edit and guestfish edit the file by hand). It writes "
        "only to the guest's own overlay.",
        "virt-customize -a DISK (or -d DOMAIN) --root-password password:NEW_PASSWORD",
    ),
    zh="离线在镜像中设置新的 root 密码",
    hints_zh=(
        "虚拟机关机后，libguestfs 在一台小型辅助虚拟机中打开它的磁盘镜像，并在里面编辑 /etc/shadow："
        "virt-customize 一条命令就能设置密码（virt-edit 和 guestfish 则是手工编辑这个文件）。"
        "它只写入这台虚拟机自己的覆盖层。",
        "virt-customize -a DISK（或 -d DOMAIN）--root-password password:NEW_PASSWORD",
    ),
)
def password(host: Host, p: PasswordParams) -> Checks:
    shadow_text: str | None = None
    changed: float | None = None
    accepted = old_accepted = False
    scheme = ""
    unreadable = ""
    try:
        shadow = host.shadow(p.disk).read()
        shadow_text, changed = shadow.text, shadow.changed
        entry = shadow.entry(p.user)
        scheme = entry.scheme if entry else ""
        accepted = shadow.accepts(p.user, p.password)
        old_accepted = shadow.accepts(p.user, p.old_password)
    except ImageUnreadable as err:
        unreadable = err.message

    if unreadable:
        actual = unreadable
    elif shadow_text is None:
        actual = "the image has no /etc/shadow"
    elif not scheme:
        actual = f"/etc/shadow has no {p.user} entry"
    elif accepted:
        actual = f"{p.user}'s hash ({scheme}) matches {p.password}"
    elif old_accepted:
        actual = f"still the old password ({p.old_password})"
    else:
        actual = f"{p.user}'s hash ({scheme}) matches neither {p.password} nor the old password"
    yield check(
        "password-set",
        f"/etc/shadow in the image accepts {p.user}'s new password {p.password}",
        accepted,
        expected=f"{p.user}:{p.password}",
        actual=actual,
        hint="the password lives as a hash in /etc/shadow inside the disk image: a libguestfs tool can set it "
        "(it hashes it as the guest's OS does), or you replace the hash field with one made by openssl passwd -6",
        zh=f"镜像中的 /etc/shadow 接受 {p.user} 的新密码 {p.password}",
        hint_zh="密码以哈希的形式保存在磁盘镜像内的 /etc/shadow 中：可以用 libguestfs "
        "工具来设置（它会按客户机操作系统的方式生成哈希），也可以把哈希字段替换成用 openssl passwd -6 "
        "生成的哈希",
    )

    yield _edited_offline(host, p, changed, unreadable)

    clean, said = host.image(p.disk).check()
    yield check(
        "image-clean",
        "qemu-img check finds no errors in the image",
        clean,
        expected="No errors were found on the image.",
        actual=_verdict_line(said),
        hint="qemu-img check lists the damage; two writers on one qcow2 (a running guest and an offline tool), or a "
        "writer killed mid-way, corrupt its metadata: restore from backup",
        zh="qemu-img check 没有在镜像中发现错误",
        hint_zh="qemu-img check 会列出损坏的情况；两个写入者同时写一个 qcow2（运行中的虚拟机和离线工具），"
        "或者写入者在中途被杀掉，都会损坏它的元数据：请从备份恢复",
    )


def _edited_offline(host: Host, p: PasswordParams, changed: float | None, unreadable: str) -> Check:
    title = "/etc/shadow was rewritten while the guest was shut off"
    title_zh = "/etc/shadow 是在虚拟机关机期间被改写的"
    expected = "changed after the lab started, outside every run of the guest"
    hint = (
        "shut the guest down first, then edit its disk: changing it from inside the running guest, or "
        "behind the back of a running QEMU, is not the offline change this lab asks for"
    )
    hint_zh = (
        "先关闭虚拟机，再编辑它的磁盘：在运行中的虚拟机内部修改，或者背着正在运行的 QEMU 修改，"
        "都不是本实验要求的离线修改"
    )
    if unreadable or changed is None:
        return check(
            "edited-offline",
            title,
            False,
            expected=expected,
            actual=unreadable or "no /etc/shadow",
            hint=hint,
            zh=title_zh,
            hint_zh=hint_zh,
        )
    runs = host.domain(p.domain).runs()
    if not runs:
        return check(
            "edited-offline",
            title,
            False,
            expected=expected,
            actual="libvirt's log of this guest has no record of its runs",
            hint="the grader reads libvirt's log of the guest (/var/log/libvirt/qemu/DOMAIN.log): was it removed?",
            zh=title_zh,
            hint_zh="评分程序读取的是 libvirt 为这台虚拟机记录的日志（/var/log/libvirt/qemu/DOMAIN.log）："
            "它被删掉了吗？",
        )
    now = time.time()
    if changed < runs[0].started - CLOCK_SLACK:
        actual = (
            f"unchanged since the lab started (last change {time.strftime('%Y-%m-%d %H:%M', time.localtime(changed))})"
        )
        unchanged = "nothing has rewritten /etc/shadow yet: with the guest shut off, edit it in the disk image"
        unchanged_zh = "还没有任何东西改写过 /etc/shadow：请在虚拟机关机的状态下，编辑磁盘镜像中的这个文件"
        return check(
            "edited-offline",
            title,
            False,
            expected=expected,
            actual=actual,
            hint=unchanged,
            zh=title_zh,
            hint_zh=unchanged_zh,
        )
    during = next((r for r in runs if r.covers(changed, now, CLOCK_SLACK)), None)
    if during is not None:
        actual = f"changed at {_hms(changed)}, while the guest was running ({_span(during.started, during.stopped)})"
        return check(
            "edited-offline", title, False, expected=expected, actual=actual, hint=hint, zh=title_zh, hint_zh=hint_zh
        )
    before = [r.stopped for r in runs if r.stopped is not None and r.stopped <= changed]
    stopped = f", {changed - before[-1]:.0f} s after the guest stopped" if before else ""
    return check(
        "edited-offline", title, True, expected=expected, actual=f"changed at {_hms(changed)}{stopped}", zh=title_zh
    )
