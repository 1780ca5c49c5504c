"""Lab: hot-add a disk to a running guest (seed question 15)."""

from __future__ import annotations

from dataclasses import dataclass

from kvmlab.labs.base import Lab, Params, lab
from kvmlab.procs import run
from kvmlab.toolkit import Toolkit


@dataclass(frozen=True)
class DiskParams(Params):
    domain: str
    image: str
    format: str
    size_gib: int
    target: str
    uri: str

    @property
    def size_bytes(self) -> int:
        return self.size_gib * 1024**3


@lab("hotadd-disk", "Hot-add a disk to a running guest", seed=(15,))
class HotAddDisk(Lab):
    def params(self, kit: Toolkit) -> DiskParams:
        return DiskParams(
            domain=kit.name("vm-disk"),
            image=str(kit.path("data.qcow2")),
            format="qcow2",
            size_gib=kit.variant("size", (1, 2, 3)),
            target="vdb",
            uri=kit.uri,
        )

    def start(self, kit: Toolkit) -> None:
        p = self.params(kit)
        kit.lab_guest(kit.guest_spec("vm-disk"))
        kit.expect("file", p.image)

    def solve(self, kit: Toolkit) -> None:
        p = self.params(kit)
        run(["qemu-img", "create", "-f", p.format, p.image, f"{p.size_gib}G"])
        kit.virsh(
            "attach-disk",
            p.domain,
            p.image,
            p.target,
            "--driver",
            "qemu",
            "--subdriver",
            p.format,
            "--targetbus",
            "virtio",
            "--live",
            "--config",
        )
