"""Lab: QEMU and KVM (seed question 5).

The trainee runs qemu-system-x86_64 by hand (no libvirt) with a QMP socket,
asks it ``query-kvm``, then runs the same guest through libvirt; and moves an
image between raw and qcow2 with qemu-img. The hand-started QEMU is owned as
a "process" named by its pid file, so ``finish`` stops exactly that process.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from kvmlab.errors import GuestTimeout
from kvmlab.guest.boot import GUEST_BOOT_TIMEOUT, bare_qemu_argv, wait_for_marker
from kvmlab.guest.build import KERNEL_CMDLINE, guest_files
from kvmlab.labs.base import Lab, Params, lab
from kvmlab.procs import run
from kvmlab.resources.agent import GuestAgent
from kvmlab.resources.process import PidFileProcess
from kvmlab.toolkit import Toolkit


@dataclass(frozen=True)
class QemuParams(Params):
    accel: str  # what this host really runs guests on: "kvm" or "tcg" (the doctor's verdict)
    qmp_socket: str
    pid_file: str
    console_log: str  # serial console of the hand-run guest
    kernel: str  # what the trainee boots by hand: the lab guest's kernel, initramfs and command line
    initrd: str
    cmdline: str
    memory_mib: int
    domain: str  # the same guest under libvirt (start defines it, shut off)
    raw_image: str
    qcow2_image: str
    size_mib: int
    uri: str

    @property
    def size_bytes(self) -> int:
        return self.size_mib * 1024**2


def hand_qemu_argv(p: QemuParams, accel: str | None = None, qmp: bool = True) -> list[str]:
    """The command a trainee types: the tiny guest on bare QEMU, with QMP, a pid file, in the background.

    ``accel`` and ``qmp`` exist so the tests can make the classic mistakes.
    """
    files = guest_files().require()
    argv = bare_qemu_argv(files, accel or p.accel, Path(p.console_log), None, None, p.memory_mib)
    if qmp:
        argv += ["-qmp", f"unix:{p.qmp_socket},server=on,wait=off"]
    return [*argv, "-pidfile", p.pid_file, "-daemonize"]


def start_hand_qemu(p: QemuParams, argv: list[str], timeout: float = GUEST_BOOT_TIMEOUT) -> bool:
    """Run it (``-daemonize`` returns once QEMU is set up) and wait for the guest's readiness line."""
    run(argv)
    waited = wait_for_marker(Path(p.console_log), timeout, alive=lambda: PidFileProcess(p.pid_file).is_running)
    return waited is not None


@lab("qemu-kvm", "QEMU and KVM: QEMU by hand, QMP, the same guest under libvirt, qemu-img", seed=(5,))
class QemuKvm(Lab):
    def params(self, kit: Toolkit) -> QemuParams:
        return QemuParams(
            accel=kit.verdict.accel,
            qmp_socket=str(kit.path("qmp.sock")),
            pid_file=str(kit.path("qemu.pid")),
            console_log=str(kit.path("qemu-by-hand.console.log")),
            kernel=str(guest_files().kernel),
            initrd=str(guest_files().initrd),
            cmdline=KERNEL_CMDLINE,
            memory_mib=256,
            domain=kit.name("vm-qemu"),
            raw_image=str(kit.path("disk.raw")),
            qcow2_image=str(kit.path("disk.qcow2")),
            size_mib=128,
            uri=kit.uri,
        )

    def start(self, kit: Toolkit) -> None:
        p = self.params(kit)
        kit.lab_guest(kit.guest_spec("vm-qemu"), running=False)
        # What the trainee makes by hand; finish stops the process, then removes the files.
        kit.expect("process", p.pid_file)
        for path in (p.qmp_socket, p.console_log, p.raw_image, p.qcow2_image):
            kit.expect("file", path)

    def solve(self, kit: Toolkit) -> None:
        p = self.params(kit)
        run(["qemu-img", "create", "-f", "raw", p.raw_image, f"{p.size_mib}M"])
        run(["qemu-img", "convert", "-f", "raw", "-O", "qcow2", p.raw_image, p.qcow2_image])
        if not PidFileProcess(p.pid_file).is_running and not start_hand_qemu(p, hand_qemu_argv(p)):
            raise GuestTimeout(
                f"the hand-run guest did not boot within {GUEST_BOOT_TIMEOUT:.0f} s", f"read {p.console_log}"
            )
        if not kit.host.domain(p.domain).is_running:  # solving twice is not an error
            kit.virsh("start", p.domain)
        GuestAgent(kit.connection.conn.lookupByName(p.domain)).wait(GUEST_BOOT_TIMEOUT)
