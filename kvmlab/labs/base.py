"""What a lab is: metadata, the trainee's parameters, start and the reference solution.

Graders live apart, in the top-level ``graders`` package, one module per lab,
each exposing ``checks(host, params)``. ``finish`` is the same for every lab:
it removes what the ownership record lists, and nothing else.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from kvmlab.grading import Check

if TYPE_CHECKING:
    from kvmlab.host import Host
    from kvmlab.session import LabSession


@dataclass(frozen=True)
class Params:
    """Base for a lab's parameters: plain values the notebook prints and cells use."""

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON values (nested parameters too), for `lab params --json` and the notebooks."""
        return {k: _plain(v) for k, v in self.__dict__.items()}


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {k: _plain(v) for k, v in vars(value).items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


class Lab:
    id: ClassVar[str]
    title: ClassVar[str]
    topic: ClassVar[str]
    seed_questions: ClassVar[tuple[int, ...]]
    notebook: ClassVar[str]
    # What the host must offer: "libvirt", "root", "networks", "bridges", "libguestfs", "guest"
    requires: ClassVar[tuple[str, ...]] = ("libvirt", "guest")
    grader: ClassVar[str]  # module in the graders package
    # Subnets the default trainee's networks use: never handed to another trainee.
    canonical_subnets: ClassVar[tuple[str, ...]] = ()
    # Its guests may leave this libvirtd (live migration): a guest gone from here is not a fault.
    guests_migrate: ClassVar[bool] = False

    def params(self, session: LabSession) -> Params:
        raise NotImplementedError

    def start(self, session: LabSession) -> None:
        """Build the starting state. Must be idempotent."""
        raise NotImplementedError

    def solve(self, session: LabSession) -> None:
        """Apply the reference solution with the same tools a trainee uses."""
        raise NotImplementedError

    def checks(self, host: Host, params: Params) -> Iterable[Check]:
        module = importlib.import_module(f"graders.{self.grader}")
        rows: Iterable[Check] = module.checks(host, params)
        return rows

    def describe(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "topic": self.topic,
            "seed_questions": list(self.seed_questions),
            "notebook": self.notebook,
            "requires": list(self.requires),
        }
