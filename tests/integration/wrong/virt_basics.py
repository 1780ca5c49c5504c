from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from kvmlab.guest.boot import GUEST_BOOT_TIMEOUT
from kvmlab.labs.virt_basics import BasicsParams, emulated_xml
from kvmlab.resources.agent import GuestAgent
from kvmlab.toolkit import Toolkit
from tests.integration.wrong import Wrong

LAB = "virt-basics"


def _emulated(
    verdict: str = "right",
    disk_bus: str = "ide",
    nic_model: str = "e1000",
    start: bool = True,
    define: str = "define",
) -> Callable[[Toolkit], None]:
    def apply(s: Toolkit) -> None:
        p = s.params
        assert isinstance(p, BasicsParams)
        # "/dev/kvm exists, so it is KVM" (or its mirror image on a KVM host): the opposite of the doctor.
        opposite = "kvm" if s.verdict.accel == "tcg" else "tcg"
        Path(p.verdict_file).write_text((s.verdict.accel if verdict == "right" else opposite) + "\n")
        Path(p.emu_xml).write_text(emulated_xml(s.virsh("dumpxml", "--inactive", p.pv_domain), p, disk_bus, nic_model))
        s.virsh(define, p.emu_xml)  # "create": a transient guest, running at once, gone at its next stop
        if start and define == "define":
            s.virsh("start", p.emu_domain)
        if start:
            GuestAgent(s.connection.conn.lookupByName(p.emu_domain)).wait(GUEST_BOOT_TIMEOUT)

    return apply


WRONG = [
    Wrong("verdict-opposite-of-doctor", _emulated(verdict="opposite"), frozenset({"accel-verdict"})),
    Wrong("disk-left-on-virtio", _emulated(disk_bus="virtio"), frozenset({"emu-disk-bus", "emu-guest-sees-ide-disk"})),
    Wrong("nic-left-virtio", _emulated(nic_model="virtio"), frozenset({"emu-nic-model", "emu-guest-sees-e1000"})),
    Wrong(
        "defined-not-started",
        _emulated(start=False),
        frozenset({"emu-running", "emu-guest-sees-ide-disk", "emu-guest-sees-e1000"}),
    ),
    # virsh create: the guest runs and sees its IDE disk and e1000, but no definition outlives its next stop.
    Wrong(
        "created-transient",
        _emulated(define="create"),
        frozenset({"emu-defined", "emu-domain-type", "emu-disk-bus", "emu-nic-model"}),
    ),
]
