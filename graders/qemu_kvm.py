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
    )
    yield check(
        "qcow2-image",
        f"{Path(p.qcow2_image).name} is a qcow2 image",
        qcow2 is not None and qcow2.format == "qcow2",
        expected="qcow2",
        actual=qcow2.format if qcow2 else "missing",
        hint="qemu-img convert writes raw unless it is told the output format, whatever the file is called",
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
    )
    proc = host.process(p.pid_file)
    yield check(
        "qmp-pidfile",
        f"the QEMU answering there is the one in {Path(p.pid_file).name} (so finish can stop it)",
        peer is not None and proc.is_running and peer == proc.pid,
        expected="the same PID",
        actual=f"socket served by pid {peer}, pid file names {proc.pid}" if peer else "no QEMU answers",
        hint="QEMU writes its own pid file when told where: that is how exactly this process is stopped later",
    )
    yield check(
        "qmp-query-kvm",
        f"query-kvm says KVM is {'enabled' if want_kvm else 'not enabled'}, as the accelerator here is {p.accel}",
        isinstance(answer, dict) and answer.get("enabled") is want_kvm,
        expected=f"enabled={str(want_kvm).lower()}",
        actual=_kvm(answer),
        hint="'present' only says /dev/kvm could be opened; 'enabled' says this QEMU runs the guest with KVM. "
        "The accelerator is chosen on QEMU's command line: p.accel is the one that works here",
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
    )


@step(
    3,
    "Run the same guest through libvirt",
    hints=(
        "libvirt turns a domain's XML into a QEMU command line and keeps its own QMP connection to every QEMU it "
        "starts: the same binary, the same question (query-kvm) and the same answer.",
        "virsh start DOMAIN; virsh qemu-monitor-command DOMAIN with a QMP command in JSON",
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
    )
