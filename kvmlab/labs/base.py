"""What a lab is: metadata, the trainee's parameters, start and the reference solution.

A lab is declared in one place, with :func:`lab` on its class::

    @lab("hotadd-disk", "Hot-add a disk to a running guest", seed=(15,))
    class HotAddDisk(Lab): ...

Everything else is found from the id, by convention: the module
``kvmlab.labs.hotadd_disk``, the grader ``graders.hotadd_disk``, the notebook
``labs/NN-hotadd-disk.ipynb`` and the quiz topic ``hotadd-disk``
(``questions/hotadd-disk.md``). ``finish`` is the same for every lab: it
removes what the ownership record lists, and nothing else.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from kvmlab import paths
from kvmlab.grading import Check, Step, steps_of

if TYPE_CHECKING:
    from kvmlab.host import Host
    from kvmlab.toolkit import Toolkit


@dataclass(frozen=True)
class Params:
    """Base for a lab's parameters: plain values the notebook prints and cells use."""

    # Fields the grader needs but the trainee must find out (break-fix's fault): never printed or shown.
    hidden: ClassVar[tuple[str, ...]] = ()

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON values (nested parameters too), for `lab params --json` and the notebooks."""
        return {k: _plain(v) for k, v in self.__dict__.items() if k not in self.hidden}


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {k: _plain(v) for k, v in vars(value).items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def module_name(lab_id: str) -> str:
    """The Python module name of a lab id: hotadd-disk -> hotadd_disk (lab, grader, wrong solutions)."""
    return lab_id.replace("-", "_")


class Lab:
    id: ClassVar[str]
    title: ClassVar[str]
    seed_questions: ClassVar[tuple[int, ...]]
    # What the host must offer: "libvirt", "root", "networks", "bridges", "libguestfs", "guest"
    requires: ClassVar[tuple[str, ...]] = ("libvirt", "guest")
    # Subnets the default trainee's networks use: never handed to another trainee.
    canonical_subnets: ClassVar[tuple[str, ...]] = ()
    # Its guests may leave this libvirtd (live migration): a guest gone from here is not a fault.
    guests_migrate: ClassVar[bool] = False
    # `lab reset` rewinds in about a second: every guest comes back from its saved ready state
    # (kvmlab.guest.ready) and nothing else is slow to make. False: state outside libvirt (a second
    # libvirtd, KSM, a QEMU started by hand) or slow steps, so reset rebuilds the lab.
    rewind: ClassVar[bool] = True

    @property
    def topic(self) -> str:
        """Its quiz topic (questions/ID.md): the lab's id."""
        return self.id

    @property
    def grader(self) -> str:
        """Its module in the graders package."""
        return module_name(self.id)

    @property
    def notebook(self) -> str:
        """Its notebook, relative to the repository: labs/NN-ID.ipynb."""
        found = sorted(paths.notebooks_dir().glob(f"[0-9][0-9]-{self.id}.ipynb"))
        return f"labs/{found[0].name}" if found else f"labs/??-{self.id}.ipynb"

    def params(self, kit: Toolkit) -> Params:
        raise NotImplementedError

    def start(self, kit: Toolkit) -> None:
        """Build the starting state. Must be idempotent."""
        raise NotImplementedError

    def solve(self, kit: Toolkit) -> None:
        """Apply the reference solution with the same tools a trainee uses."""
        raise NotImplementedError

    def steps(self) -> list[Step]:
        """The grader's steps (graders.ID, by convention)."""
        module = importlib.import_module(f"graders.{self.grader}")
        found = steps_of(module.__name__)
        if not found and hasattr(module, "checks"):  # a grader of one piece: one step, numbered 0
            return [Step(0, self.title, (), module.checks)]
        return found

    def checks(self, host: Host, params: Params) -> Iterable[Check]:
        for step in self.steps():
            yield from step.rows(host, params)

    def describe(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "topic": self.topic,
            "seed_questions": list(self.seed_questions),
            "notebook": self.notebook,
            "requires": list(self.requires),
            "reset": "rewind" if self.rewind else "rebuild",
        }


L = TypeVar("L", bound=type[Lab])


def lab(
    id: str,
    title: str,
    *,
    seed: tuple[int, ...],
    requires: tuple[str, ...] = ("libvirt", "guest"),
    canonical_subnets: tuple[str, ...] = (),
    guests_migrate: bool = False,
    rewind: bool = True,
) -> Callable[[L], L]:
    """Declare a lab: its id (which names its module, grader, notebook and topic), title and needs."""

    def declare(cls: L) -> L:
        expected = f"kvmlab.labs.{module_name(id)}"
        if cls.__module__ != expected:
            raise TypeError(f"lab {id} must be declared in {expected}, not {cls.__module__}")
        cls.id, cls.title, cls.seed_questions, cls.requires = id, title, seed, requires
        cls.canonical_subnets, cls.guests_migrate, cls.rewind = canonical_subnets, guests_migrate, rewind
        return cls

    return declare
