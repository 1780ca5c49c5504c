from __future__ import annotations

from collections.abc import Callable

from kvmlab import accel, hostinfo
from kvmlab.guest.boot import GUEST_BOOT_TIMEOUT
from kvmlab.labs.qemu_kvm import QemuParams, hand_qemu_argv, start_hand_qemu
from kvmlab.procs import run
from kvmlab.resources.agent import GuestAgent
from kvmlab.toolkit import Toolkit
from tests.integration.wrong import Wrong

LAB = "qemu-kvm"


def _solve(
    size: str = "128M",
    convert_to: str | None = "qcow2",
    opposite_accel: bool = False,
    qmp: bool = True,
    libvirt: bool = True,
) -> Callable[[Toolkit], None]:
    def apply(s: Toolkit) -> None:
        p = s.params
        assert isinstance(p, QemuParams)
        run(["qemu-img", "create", "-f", "raw", p.raw_image, size])
        out_format = ["-O", convert_to] if convert_to else []
        run(["qemu-img", "convert", "-f", "raw", *out_format, p.raw_image, p.qcow2_image])
        wrong_accel = ("kvm" if p.accel == "tcg" else "tcg") if opposite_accel else None
        if libvirt:  # started first: it boots while the hand-run QEMU is waited for
            s.virsh("start", p.domain)
        # A guest that hangs under the wrong accelerator never gets ready: do not wait for it long.
        start_hand_qemu(p, hand_qemu_argv(p, wrong_accel, qmp), accel.KVM_TIMEOUT if opposite_accel else 120)
        if libvirt:
            GuestAgent(s.connection.conn.lookupByName(p.domain)).wait(GUEST_BOOT_TIMEOUT)

    return apply


def _opposite_accel() -> list[Wrong]:
    """QEMU run under the accelerator the doctor rejected. What fails depends on the host, so it is asked."""
    verdict = accel.decide()
    if verdict.accel == "kvm":
        # TCG works everywhere: the guest boots, only query-kvm tells.
        return [Wrong("accel-tcg-on-a-kvm-host", _solve(opposite_accel=True), frozenset({"qmp-query-kvm"}))]
    if hostinfo.kvm_info().accessible:
        # /dev/kvm opens but guests hang on it (kvm_pvm): QEMU runs, claims KVM, the guest never boots.
        return [
            Wrong(
                "accel-kvm-where-kvm-hangs",
                _solve(opposite_accel=True),
                frozenset({"qmp-query-kvm", "hand-guest-booted"}),
            )
        ]
    return []  # no /dev/kvm: QEMU refuses -accel kvm outright, there is nothing to grade


WRONG = [
    Wrong("convert-without-O-writes-raw", _solve(convert_to=None), frozenset({"qcow2-image"})),
    Wrong("size-without-unit-is-bytes", _solve(size="128"), frozenset({"image-size"})),
    Wrong("no-qmp-socket", _solve(qmp=False), frozenset({"qmp-answers", "qmp-pidfile", "qmp-query-kvm"})),
    Wrong("libvirt-guest-not-started", _solve(libvirt=False), frozenset({"libvirt-running", "libvirt-query-kvm"})),
    *_opposite_accel(),
]
