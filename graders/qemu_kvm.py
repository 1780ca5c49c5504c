"""Checks of the QEMU-and-KVM lab (seed question 5)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from kvmlab.grading import Check, check
from kvmlab.guest.build import READY_MARKER
from kvmlab.host import Host
from kvmlab.labs.qemu_kvm import QemuParams
from kvmlab.resources.agent import poll
from kvmlab.resources.qmp import QmpUnavailable

AGENT_WAIT = 5.0


def _mib(n: int | None) -> str:
    return "none" if n is None else f"{n / 1024**2:g} MiB"


def _kvm(answer: Any) -> str:
    if not isinstance(answer, dict):
        return "no answer"
    return f"enabled={str(answer.get('enabled')).lower()}, present={str(answer.get('present')).lower()}"


def _image_checks(host: Host, p: QemuParams) -> Iterator[Check]:
    raw, qcow2 = host.image(p.raw_image).info(), host.image(p.qcow2_image).info()
    yield check(
        "raw-image",
        f"{Path(p.raw_image).name} is a raw image",
        raw is not None and raw.format == "raw",
        expected="raw",
        actual=raw.format if raw else "missing",
        hint=f"qemu-img create -f raw {p.raw_image} {p.size_mib}M",
    )
    yield check(
        "qcow2-image",
        f"{Path(p.qcow2_image).name} is a qcow2 image",
        qcow2 is not None and qcow2.format == "qcow2",
        expected="qcow2",
        actual=qcow2.format if qcow2 else "missing",
        hint="qemu-img convert writes raw unless told otherwise: qemu-img convert -f raw -O qcow2 SRC DST",
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
        hint="qemu-img info shows the virtual size; convert keeps it, create sets it (128M, not 128)",
    )


def _qmp_checks(host: Host, p: QemuParams, want_kvm: bool) -> Iterator[Check]:
    qmp = host.qmp(p.qmp_socket)
    version, peer, answer, why = "", None, None, ""
    try:
        with qmp.session() as s:
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
        hint="-qmp unix:PATH,server=on,wait=off; QMP takes one client at a time: close your own connection first",
    )
    proc = host.process(p.pid_file)
    yield check(
        "qmp-pidfile",
        f"the QEMU answering there is the one in {Path(p.pid_file).name} (so finish can stop it)",
        peer is not None and proc.is_running and peer == proc.pid,
        expected="the same PID",
        actual=f"socket served by pid {peer}, pid file names {proc.pid}" if peer else "no QEMU answers",
        hint=f"start QEMU with -pidfile {p.pid_file}",
    )
    yield check(
        "qmp-query-kvm",
        f"query-kvm says KVM is {'enabled' if want_kvm else 'not enabled'}, as the accelerator here is {p.accel}",
        isinstance(answer, dict) and answer.get("enabled") is want_kvm,
        expected=f"enabled={str(want_kvm).lower()}",
        actual=_kvm(answer),
        hint=f"-accel {p.accel}: 'present' only says /dev/kvm exists; 'enabled' says this QEMU uses it",
    )
    log = Path(p.console_log)
    booted = log.is_file() and READY_MARKER in log.read_bytes()
    yield check(
        "hand-guest-booted",
        "the hand-run guest booted (its readiness line is on its serial console)",
        booted,
        expected=READY_MARKER.decode(),
        actual="seen" if booted else ("no readiness line" if log.is_file() else "no console log"),
        hint=f"-serial file:{p.console_log}; a guest that never boots under -accel kvm is the kvm_pvm story",
    )


def checks(host: Host, p: QemuParams) -> Iterator[Check]:
    want_kvm = p.accel == "kvm"
    yield from _image_checks(host, p)
    yield from _qmp_checks(host, p, want_kvm)

    vm = host.domain(p.domain)
    guest = vm.guest
    up = guest is not None and poll(guest.ping, bool, AGENT_WAIT)
    yield check(
        "libvirt-running",
        f"the same guest runs under libvirt as {p.domain}",
        up,
        expected="running, its agent answers",
        actual="running, its agent answers" if up else vm.state,
        hint=f"virsh start {p.domain}",
    )
    answer = vm.qmp("query-kvm")
    yield check(
        "libvirt-query-kvm",
        "libvirt's QEMU answers query-kvm like yours",
        isinstance(answer, dict) and answer.get("enabled") is want_kvm,
        expected=f"enabled={str(want_kvm).lower()}",
        actual=_kvm(answer),
        hint=f'virsh qemu-monitor-command {p.domain} --pretty \'{{"execute":"query-kvm"}}\'',
    )
