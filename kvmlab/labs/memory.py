"""Lab: maximum memory and the balloon (seed question 18).

The guest starts with 256 MiB and a maximum of 256 MiB, so it cannot be given
the asked 384 MiB until the trainee raises the maximum in the persistent
definition (``setmaxmem --config``, which works while the guest runs: only
``--live`` is refused) and power-cycles it. Then the virtio balloon moves the
guest between the two without a restart: ``virsh setmem`` (KiB unless a unit
is given) or QEMU's HMP ``balloon`` (MiB).
"""

from __future__ import annotations

from dataclasses import dataclass

from kvmlab.labs._restart import restart
from kvmlab.labs.base import Lab, Params, lab
from kvmlab.toolkit import Toolkit


@dataclass(frozen=True)
class MemoryParams(Params):
    domain: str
    start_mib: int  # memory and maximum after start
    max_mib: int  # the maximum to set (<memory> in the persistent definition)
    current_mib: int  # what the balloon must leave the guest, live and persistent
    hmp_mib: int  # a first, live-only balloon target for the HMP step of the notebook
    uri: str

    @property
    def start_kib(self) -> int:
        return self.start_mib * 1024

    @property
    def max_kib(self) -> int:
        return self.max_mib * 1024

    @property
    def current_kib(self) -> int:
        return self.current_mib * 1024


@lab("memory", "Maximum memory and the balloon", seed=(18,))
class Memory(Lab):
    def params(self, kit: Toolkit) -> MemoryParams:
        # Small on purpose: a class shares one host. Every target is above 256, so it needs the new maximum.
        start, current = 256, kit.variant("current", (384, 320, 448))
        return MemoryParams(
            domain=kit.name("vm-mem"),
            start_mib=start,
            max_mib=512,
            current_mib=current,
            hmp_mib=(start + current) // 2,  # somewhere else on the way, so each step shows a change
            uri=kit.uri,
        )

    def start(self, kit: Toolkit) -> None:
        p = self.params(kit)
        kit.lab_guest(kit.guest_spec("vm-mem", memory_mib=p.start_mib, max_memory_mib=p.start_mib))

    def solve(self, kit: Toolkit) -> None:
        p = self.params(kit)
        kit.virsh("setmaxmem", p.domain, f"{p.max_mib}M", "--config")
        live = kit.host.domain(p.domain).live
        if live is None or (live.memory_kib or 0) < p.max_kib:
            restart(kit, p.domain)  # QEMU sizes guest RAM only when it starts
        # Always with a unit: a bare number is KiB.
        kit.virsh("setmem", p.domain, f"{p.current_mib}M", "--live", "--config")
