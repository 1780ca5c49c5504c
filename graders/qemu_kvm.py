"""Checks of the QEMU-and-KVM lab (seed question 5)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kvmlab.grading import Checks, QmpUnavailable, check, step, wait_until
from kvmlab.host import Host
from kvmlab.labs.qemu_kvm import QemuParams

AGENT_WAIT = 5.0


def _mib(n: int | None) -> str:
    return "none" if n is None else f"{n / 1024**2:g} MiB"


def _kvm(answer: Any) -> str:
    if not isinstance(answer, dict):
        return "no answer"
    return f"enabled={str(answer.get('enabled')).lower()}, present={str(answer.get('present')).lower()}"


@step(
    1,
    "Make a raw image, then a qcow2 copy of it",
    hints=(
        "qemu-img makes and converts disk images without a guest. raw is the disk byte for byte; qcow2 adds a "
        "mapping layer (thin, snapshots, backing files). The virtual size is what a guest would see, and a size "
        "without a unit is in bytes.",
        "qemu-img create -f FORMAT PATH SIZE; qemu-img convert -f IN_FORMAT -O OUT_FORMAT SRC DST",
    ),
    zh="创建一个 raw 镜像，再生成它的 qcow2 副本",
    hints_zh=(
        "qemu-img 不需要虚拟机就能创建和转换磁盘镜像。raw 是逐字节的磁盘内容；qcow2 "
        "多了一层映射（精简置备、快照、后端文件）。虚拟大小是虚拟机看到的大小；不带单位的大小按字节算。",
        "qemu-img create -f FORMAT PATH SIZE；qemu-img convert -f IN_FORMAT -O OUT_FORMAT SRC DST",
    ),
)
def images(host: Host, p: QemuParams) -> Checks:
    raw, qcow2 = host.image(p.raw_image).info(), host.image(p.qcow2_image).info()
    yield check(
        "raw-image",
        f"{Path(p.raw_image).name} is a raw image",
        raw is not None and raw.format == "raw",
        expected="raw",
        actual=raw.format if raw else "missing",
        hint="an image's format is fixed when it is made: raw is the plain one; qemu-img info shows what a file is",
        zh=f"{Path(p.raw_image).name} 是 raw 镜像",
        hint_zh="镜像的格式在创建时就定下了：raw 是最朴素的那种；qemu-img info 能看出一个文件是什么格式",
    )
    yield check(
        "qcow2-image",
        f"{Path(p.qcow2_image).name} is a qcow2 image",
        qcow2 is not None and qcow2.format == "qcow2",
        expected="qcow2",
        actual=qcow2.format if qcow2 else "missing",
        hint="qemu-img convert writes raw unless it is told the output format, whatever the file is called",
        zh=f"{Path(p.qcow2_image).name} 是 qcow2 镜像",
        hint_zh="qemu-img convert 不指定输出格式就会写成 raw，不管文件名叫什么",
    )
    sizes = {
        Path(path).name: info.virtual_size if info else None
        for path, info in ((p.raw_image, raw), (p.qcow2_image, qcow2))
    }
    yield check(
        "image-size",
        f"both images have a virtual size of {p.size_mib} MiB",
        all(size == p.size_bytes for size in sizes.values()),
        expected=f"{_mib(p.size_bytes)} each",
        actual=", ".join(f"{name} {_mib(size)}" for name, size in sizes.items()),
        hint="qemu-img info shows the virtual size; convert keeps it, create sets it, and a bare number is bytes",
        zh=f"两个镜像的虚拟大小都是 {p.size_mib} MiB",
        hint_zh="qemu-img info 能看到虚拟大小；convert 保持它不变，create 设定它，只写一个数字表示的是字节",
    )


@step(
    2,
    "Run the guest with QEMU by hand, with a QMP socket",
    hints=(
        "QEMU alone runs a guest: one process whose options choose the accelerator (kvm or tcg: the one that works "
        "here is p.accel), the machine, the memory and the kernel to boot. QMP is its JSON control socket; a pid "
        "file written by QEMU names the process so it can be stopped later.",
        "qemu-system-x86_64 -accel ACCEL -machine pc -m MIB -nodefaults -no-user-config -display none -no-reboot "
        "-kernel KERNEL -initrd INITRD -append CMDLINE -serial file:LOG -qmp unix:SOCKET,server=on,wait=off "
        "-pidfile FILE -daemonize",
    ),
    zh="手动用 QEMU 运行虚拟机，并带一个 QMP 套接字",
    hints_zh=(
        "光靠 QEMU 就能运行虚拟机：一个进程，它的选项决定加速器（kvm 或 tcg：在这里能用的是 p.accel）、"
        "机器类型、内存和要引导的内核。QMP 是它的 JSON 控制套接字；QEMU 写下的 pid 文件记着这个进程，"
        "以后才能准确地停掉它。",
        "qemu-system-x86_64 -accel ACCEL -machine pc -m MIB -nodefaults -no-user-config -display none "
        "-no-reboot -kernel KERNEL -initrd INITRD -append CMDLINE -serial file:LOG -qmp "
        "unix:SOCKET,server=on,wait=off -pidfile FILE -daemonize",
    ),
)
def qemu_by_hand(host: Host, p: QemuParams) -> Checks:
    want_kvm = p.accel == "kvm"
    version, peer, answer, why = "", None, None, ""
    try:
        with host.qmp(p.qmp_socket).session() as s:
            v = s.greeting.get("QMP", {}).get("version", {}).get("qemu", {})
            version = f"QEMU {v.get('major')}.{v.get('minor')}.{v.get('micro')}"
            peer = s.peer_pid
            answer = s.execute("query-kvm")
    except QmpUnavailable as err:
        why = err.message
    yield check(
        "qmp-answers",
        f"a QEMU answers QMP on {p.qmp_socket}",
        bool(version),
        expected="a QMP greeting",
        actual=f"{version} answers" if version else why,
        hint="QEMU opens a QMP socket only when its command line asks for one, as a server that does not wait "
        "for a client; QMP serves one client at a time: close your own connection first",
        zh=f"{p.qmp_socket} 上有 QEMU 应答 QMP",
        hint_zh="只有命令行要求时 QEMU 才会打开 QMP 套接字，而且要作为不等待客户端的服务端；QMP "
        "同一时间只服务一个客户端：先关掉你自己的连接",
    )
    proc = host.process(p.pid_file)
    yield check(
        "qmp-pidfile",
        f"the QEMU answering there is the one in {Path(p.pid_file).name} (so finish can stop it)",
        peer is not None and proc.is_running and peer == proc.pid,
        expected="the same PID",
        actual=f"socket served by pid {peer}, pid file names {proc.pid}" if peer else "no QEMU answers",
        hint="QEMU writes its own pid file when told where: that is how exactly this process is stopped later",
        zh=f"在那里应答的 QEMU 就是 {Path(p.pid_file).name} 里记的那个（这样 finish 才能停掉它）",
        hint_zh="告诉 QEMU 写到哪里，它就会自己写 pid 文件：以后正是靠它准确地停掉这个进程",
    )
    yield check(
        "qmp-query-kvm",
        f"query-kvm says KVM is {'enabled' if want_kvm else 'not enabled'}, as the accelerator here is {p.accel}",
        isinstance(answer, dict) and answer.get("enabled") is want_kvm,
        expected=f"enabled={str(want_kvm).lower()}",
        actual=_kvm(answer),
        hint="'present' only says /dev/kvm could be opened; 'enabled' says this QEMU runs the guest with KVM. "
        "The accelerator is chosen on QEMU's command line: p.accel is the one that works here",
        zh=f"query-kvm 显示 KVM {'已启用' if want_kvm else '未启用'}，与本机的加速器 {p.accel} 相符",
        hint_zh="'present' 只说明能打开 /dev/kvm；'enabled' 才说明这个 QEMU 在用 KVM 运行虚拟机。加速器是在 "
        "QEMU 命令行上选的：p.accel 是在这里能用的那个",
    )
    # The guest prints its readiness line on ttyS0 once it is up: read it from the console log QEMU wrote.
    console = host.console(p.console_log)
    line = console.ready_line
    yield check(
        "hand-guest-booted",
        "the hand-run guest booted (its readiness line is on its serial console)",
        line is not None,
        expected="KVMLAB-READY ...",
        actual=line if line else ("no readiness line" if Path(p.console_log).is_file() else "no console log"),
        hint="the guest's serial console must go to the console log file (p.console_log); a guest that hangs under "
        "an accelerator that does not work on this host never prints its readiness line",
        zh="手动运行的虚拟机启动成功了（串口控制台上有它的就绪行）",
        hint_zh="虚拟机的串口控制台必须输出到控制台日志文件（p.console_log）；"
        "加速器在这台宿主机上用不了的话，虚拟机会卡住，永远打不出就绪行",
    )


@step(
    3,
    "Run the same guest through libvirt",
    hints=(
        "libvirt turns a domain's XML into a QEMU command line and keeps its own QMP connection to every QEMU it "
        "starts: the same binary, the same question (query-kvm) and the same answer.",
        "virsh start DOMAIN; virsh qemu-monitor-command DOMAIN with a QMP command in JSON",
    ),
    zh="通过 libvirt 运行同一台虚拟机",
    hints_zh=(
        "libvirt 把域的 XML 转换成 QEMU 命令行，并对它启动的每个 QEMU 保持一条自己的 QMP 连接："
        "同一个二进制程序，同一个问题（query-kvm），同一个答案。",
        "virsh start DOMAIN；virsh qemu-monitor-command DOMAIN 加一条 JSON 格式的 QMP 命令",
    ),
)
def under_libvirt(host: Host, p: QemuParams) -> Checks:
    want_kvm = p.accel == "kvm"
    vm = host.domain(p.domain)
    guest = vm.guest
    up = guest is not None and wait_until(guest.ping, bool, AGENT_WAIT)
    yield check(
        "libvirt-running",
        f"the same guest runs under libvirt as {p.domain}",
        up,
        expected="running, its agent answers",
        actual="running, its agent answers" if up else vm.state,
        hint="the lab defined the guest in libvirt, shut off: libvirt starts it (and its agent answers a few "
        "seconds later)",
        zh=f"同一台虚拟机以 {p.domain} 的名字在 libvirt 下运行",
        hint_zh="实验已经在 libvirt 里定义了这台虚拟机，处于关机状态：由 libvirt 来启动它（几秒钟后它的 "
        "agent 才会应答）",
    )
    answer = vm.qmp("query-kvm")
    yield check(
        "libvirt-query-kvm",
        "libvirt's QEMU answers query-kvm like yours",
        isinstance(answer, dict) and answer.get("enabled") is want_kvm,
        expected=f"enabled={str(want_kvm).lower()}",
        actual=_kvm(answer),
        hint="the domain's type (kvm or qemu) chose the accelerator; libvirt passes a raw QMP command to its QEMU "
        "for you",
        zh="libvirt 的 QEMU 对 query-kvm 的回答和你的一样",
        hint_zh="域的类型（kvm 或 qemu）决定了加速器；libvirt 可以替你把一条原始的 QMP 命令转给它的 QEMU",
    )
