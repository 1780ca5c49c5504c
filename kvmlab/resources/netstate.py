"""A libvirt network that is not ours, as a state to compare: proof that a lab left it alone.

A lab records the state at start (a small JSON file in the trainee's lab
directory); the grader compares the state now with it. The record is read
with the bounded reader of trainee files, so a broken one is a failed check
that says so, never a grader error.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass

from kvmlab.resources.network import Network


@dataclass(frozen=True)
class NetworkState:
    exists: bool
    active: bool
    autostart: bool
    xml: str  # its persistent definition, as libvirt describes it

    @classmethod
    def of(cls, net: Network) -> NetworkState:
        config = net.config
        return cls(net.exists, net.is_active, net.is_autostart, config.xml() if config is not None else "")

    def as_dict(self) -> dict[str, object]:
        return asdict(self)

    def changed_since(self, recorded: Mapping[str, object]) -> list[str]:
        """What differs from a recorded state ("xml", "active"...); a field the record lacks counts as changed."""
        return sorted(key for key, value in self.as_dict().items() if key not in recorded or recorded[key] != value)
