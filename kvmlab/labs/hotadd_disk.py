"""Lab: hot-add a disk to a running guest (seed question 15)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from kvmlab.labs.base import Lab, Params
from kvmlab.procs import run
from kvmlab.session import LabSession


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


class HotAddDisk(Lab):
    id: ClassVar[str] = "hotadd-disk"
    title: ClassVar[str] = "Hot-add a disk to a running guest"
    topic: ClassVar[str] = "hot-add-disk"
    seed_questions: ClassVar[tuple[int, ...]] = (15,)
    notebook: ClassVar[str] = "labs/15-hotadd-disk.ipynb"
    requires: ClassVar[tuple[str, ...]] = ("libvirt", "guest")
    grader: ClassVar[str] = "hotadd_disk"

    def params(self, session: LabSession) -> DiskParams:
        return DiskParams(
            domain=session.name("vm-disk"),
            image=str(session.path("data.qcow2")),
            format="qcow2",
            size_gib=session.variant("size", (1, 2, 3)),
            target="vdb",
            uri=session.uri,
        )

    def start(self, session: LabSession) -> None:
        p = self.params(session)
        session.lab_guest(session.guest_spec("vm-disk"))
        session.expect("file", p.image)

    def solve(self, session: LabSession) -> None:
        p = self.params(session)
        run(["qemu-img", "create", "-f", p.format, p.image, f"{p.size_gib}G"])
        session.virsh(
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
