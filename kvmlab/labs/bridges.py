"""Lab: a Linux bridge and a guest NIC on it; which bridge is a NIC on? (seed question 9)

The trainee makes the bridge with iproute2 (no address, no uplink: it
carries nothing off the host), plugs a NIC of the running guest into it, and
finds the connection from both sides: `virsh domiflist` (libvirt's view) and
`bridge link` / `ip link show master BR` (the kernel's).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from kvmlab.labs.base import Lab, Params
from kvmlab.procs import run
from kvmlab.session import LabSession


@dataclass(frozen=True)
class BridgeParams(Params):
    domain: str
    bridge: str
    model: str
    uri: str


class Bridges(Lab):
    id: ClassVar[str] = "bridges"
    title: ClassVar[str] = "A guest NIC on a Linux bridge, found from both sides"
    topic: ClassVar[str] = "bridges"
    seed_questions: ClassVar[tuple[int, ...]] = (9,)
    notebook: ClassVar[str] = "labs/09-bridges.ipynb"
    requires: ClassVar[tuple[str, ...]] = ("libvirt", "guest", "root", "bridges")
    grader: ClassVar[str] = "bridges"

    def params(self, session: LabSession) -> BridgeParams:
        return BridgeParams(
            domain=session.name("vm-br"),
            bridge=session.ifname("br0"),
            model="virtio",
            uri=session.uri,
        )

    def start(self, session: LabSession) -> None:
        p = self.params(session)
        session.lab_guest(session.guest_spec("vm-br"))
        session.expect("bridge", p.bridge)  # the trainee creates it; finish deletes it

    def solve(self, session: LabSession) -> None:
        p = self.params(session)
        make_bridge(p)
        session.virsh(
            "attach-interface",
            p.domain,
            "--type",
            "bridge",
            "--source",
            p.bridge,
            "--model",
            p.model,
            "--live",
            "--config",
        )


def make_bridge(p: BridgeParams) -> None:
    """`ip link add BR type bridge; ip link set BR up`: no address, no ports yet."""
    run(["ip", "link", "add", "name", p.bridge, "type", "bridge"])
    run(["ip", "link", "set", "dev", p.bridge, "up"])
