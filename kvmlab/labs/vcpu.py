"""Lab: add vCPUs to a running guest (seed question 17).

The guest starts with one vCPU and a maximum of one, so the hot-add cannot
work until the trainee raises the maximum in the persistent definition and
power-cycles the guest. Adding is taught live; removing only with
``--config`` and a restart: live vCPU unplug is broken under TCG (it times
out and can hang or crash QEMU), so neither the lab nor its tests ever do it.
"""

from __future__ import annotations

from dataclasses import dataclass

from kvmlab.labs._restart import restart
from kvmlab.labs.base import Lab, Params, lab
from kvmlab.toolkit import Toolkit


@dataclass(frozen=True)
class VcpuParams(Params):
    domain: str
    start_vcpus: int  # what the guest has (and may have at most) after start
    max_vcpus: int  # the maximum to set in the persistent definition
    vcpus: int  # the count to hot-add up to, live and persistent
    uri: str


@lab("vcpu", "Add vCPUs to a running guest", seed=(17,))
class Vcpu(Lab):
    def params(self, kit: Toolkit) -> VcpuParams:
        # Small on purpose: every vCPU is a host thread under TCG, and the host has 2 cores.
        return VcpuParams(
            domain=kit.name("vm-cpu"),
            start_vcpus=1,
            max_vcpus=4,
            vcpus=kit.variant("vcpus", (2, 3)),
            uri=kit.uri,
        )

    def start(self, kit: Toolkit) -> None:
        p = self.params(kit)
        kit.lab_guest(kit.guest_spec("vm-cpu", vcpus=p.start_vcpus, max_vcpus=p.start_vcpus))

    def solve(self, kit: Toolkit) -> None:
        p = self.params(kit)
        kit.virsh("setvcpus", p.domain, str(p.max_vcpus), "--maximum", "--config")
        live = kit.host.domain(p.domain).live
        if live is None or (live.vcpu_max or 0) < p.max_vcpus:
            restart(kit, p.domain)  # QEMU reads the maximum only when it starts
        kit.virsh("setvcpus", p.domain, str(p.vcpus), "--live", "--config")
