"""Lab: a Linux bridge and a guest NIC on it; which bridge is a NIC on? (seed question 9)

The trainee makes the bridge with iproute2 (no address, no uplink: it
carries nothing off the host), plugs a NIC of the running guest into it, and
finds the connection from both sides: `virsh domiflist` (libvirt's view) and
`bridge link` / `ip link show master BR` (the kernel's).
"""

from __future__ import annotations

from dataclasses import dataclass

from kvmlab.labs.base import Lab, Params, lab
from kvmlab.procs import run
from kvmlab.toolkit import Toolkit


@dataclass(frozen=True)
class BridgeParams(Params):
    domain: str
    bridge: str
    model: str
    uri: str


@lab(
    "bridges",
    "A guest NIC on a Linux bridge, found from both sides",
    seed=(9,),
    requires=("libvirt", "guest", "root", "bridges"),
)
class Bridges(Lab):
    def params(self, kit: Toolkit) -> BridgeParams:
        return BridgeParams(
            domain=kit.name("vm-br"),
            bridge=kit.ifname("br0"),
            model="virtio",
            uri=kit.uri,
        )

    def start(self, kit: Toolkit) -> None:
        p = self.params(kit)
        kit.lab_guest(kit.guest_spec("vm-br"))
        kit.expect("bridge", p.bridge)  # the trainee creates it; finish deletes it

    def solve(self, kit: Toolkit) -> None:
        p = self.params(kit)
        make_bridge(p)
        kit.virsh(
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
