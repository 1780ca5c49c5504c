"""Checks are data; renderers (terminal, JSON, notebook widget) live elsewhere.

A grader is a module of steps, each a generator of :class:`Check` rows::

    @step(1, "Create the image", hints=("the concept", "the shape of the command"))
    def image(host: Host, p: DiskParams) -> Checks:
        yield check("image-format", ...)

Every check belongs to the step that yields it; a trainee checks one step
or the whole lab. A step's hints come in levels: the concept, the shape of
the command, and last the solution itself (the step's cells in the lab's
notebook, see kvmlab.editions). A check's own ``hint``, shown on failure,
is at the concept level: it never gives away the full command.

A grader never prints. If a check itself blows up (the guest vanished,
libvirtd restarted), that becomes a failed row that says so, never a
traceback in the trainee's face.

This module and kvmlab.host are all a grader imports from kvmlab: the
errors a grader may catch and ``wait_until`` are re-exported here.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any, TypeVar

import libvirt

from kvmlab.errors import GuestTimeout, KvmlabError

if TYPE_CHECKING:
    from kvmlab.resources.agent import AgentUnavailable
    from kvmlab.resources.agent import poll as wait_until
    from kvmlab.resources.domain import Both
    from kvmlab.resources.imagefs import ImageUnreadable
    from kvmlab.resources.qmp import QmpUnavailable

# What graders may catch or call, loaded on first use: everything else that imports this
# module (the CLI, the classroom, the notebook panels) needs Check and Report only.
_LAZY = {
    "AgentUnavailable": ("kvmlab.resources.agent", "AgentUnavailable"),
    "wait_until": ("kvmlab.resources.agent", "poll"),
    "ImageUnreadable": ("kvmlab.resources.imagefs", "ImageUnreadable"),
    "QmpUnavailable": ("kvmlab.resources.qmp", "QmpUnavailable"),
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "AgentUnavailable",
    "Check",
    "Checks",
    "GuestTimeout",
    "ImageUnreadable",
    "KvmlabError",
    "QmpUnavailable",
    "Report",
    "Step",
    "check",
    "hot_plugged",
    "same_in_both",
    "step",
    "wait_until",
]


@dataclass
class Check:
    id: str
    title: str
    passed: bool
    points: int = 1
    expected: str = ""
    actual: str = ""
    hint: str = ""
    step: int = 0  # the trainee's step it checks; 0 for rows about the lab itself (not started, guest died)
    made_by: str = ""  # "solve" when `lab solve` made this state: passed, but not the trainee's work
    title_zh: str = ""  # the title and hint in Chinese (the zh edition; English where none is given)
    hint_zh: str = ""

    def localized(self, lang: str) -> Check:
        if lang != "zh":
            return self
        return replace(self, title=self.title_zh or self.title, hint=self.hint_zh or self.hint if self.hint else "")

    @property
    def score(self) -> int:
        """Points earned: a state `lab solve` made earns none."""
        return self.points if self.passed and not self.made_by else 0


Checks = Iterator[Check]
P = TypeVar("P")
T = TypeVar("T")


@dataclass(frozen=True)
class Step:
    """One step of a lab, as the grader sees it: its number, title, hints and checks."""

    number: int
    title: str
    hints: tuple[str, ...]  # level 1: the concept; level 2: the shape of the command (the solution comes last)
    run: Callable[[Any, Any], Iterable[Check]]
    title_zh: str = ""
    hints_zh: tuple[str, ...] = ()

    def title_in(self, lang: str) -> str:
        return self.title_zh if lang == "zh" and self.title_zh else self.title

    def hints_in(self, lang: str) -> tuple[str, ...]:
        return self.hints_zh if lang == "zh" and self.hints_zh else self.hints

    def rows(self, host: Any, params: Any) -> Iterator[Check]:
        for row in self.run(host, params):
            row.step = self.number
            yield row


def step(
    number: int,
    title: str,
    *,
    hints: tuple[str, ...] = (),
    zh: str = "",
    hints_zh: tuple[str, ...] = (),
) -> Callable[[Callable[[Any, P], Checks]], Step]:
    """Declare a grader function as (part of) step ``number`` of its lab (``zh``: its title in Chinese)."""

    def declare(fn: Callable[[Any, P], Checks]) -> Step:
        return Step(number, title, hints, fn, zh, hints_zh)

    return declare


def steps_of(module_name: str) -> list[Step]:
    """A grader module's steps, by number (several functions may share one: definition order)."""
    module = sys.modules[module_name]
    found = [obj for obj in vars(module).values() if isinstance(obj, Step)]
    return sorted(found, key=lambda s: s.number)  # sorted() is stable: definition order within a number


def check(
    id: str,
    title: str,
    passed: bool,
    *,
    expected: object = "",
    actual: object = "",
    hint: str = "",
    points: int = 1,
    zh: str = "",
    hint_zh: str = "",
) -> Check:
    """One row of a grade. ``hint`` is shown only when the check fails; ``zh``/``hint_zh`` are the Chinese."""
    return Check(
        id,
        title,
        bool(passed),
        points,
        str(expected),
        str(actual),
        "" if passed else hint,
        title_zh=zh,
        hint_zh="" if passed else hint_zh,
    )


@dataclass
class Report:
    lab: str
    trainee: str
    checks: list[Check] = field(default_factory=list)
    step_titles: dict[int, str] = field(default_factory=dict)  # every step of the lab, checked or not
    hints_used: dict[int, int] = field(default_factory=dict)  # step -> highest hint level revealed
    step_titles_zh: dict[int, str] = field(default_factory=dict)

    def localized(self, lang: str) -> Report:
        """The same report with titles and hints in ``lang`` where the lab gives them (English otherwise)."""
        if lang != "zh":
            return self
        titles = {n: self.step_titles_zh.get(n) or t for n, t in self.step_titles.items()}
        return replace(self, checks=[c.localized(lang) for c in self.checks], step_titles=titles)

    @property
    def score(self) -> int:
        return sum(c.score for c in self.checks)

    @property
    def max_score(self) -> int:
        return sum(c.points for c in self.checks)

    @property
    def passed(self) -> bool:
        return bool(self.checks) and all(c.passed for c in self.checks)

    @property
    def made_by_solve(self) -> bool:
        return any(c.made_by == "solve" for c in self.checks)

    def steps(self) -> dict[int, bool]:
        """Each step checked, and whether all its checks pass."""
        done: dict[int, bool] = {}
        for c in self.checks:
            if c.step:
                done[c.step] = done.get(c.step, True) and c.passed
        return dict(sorted(done.items()))

    def failed_ids(self) -> list[str]:
        return [c.id for c in self.checks if not c.passed]

    def by_id(self, check_id: str) -> Check:
        return next(c for c in self.checks if c.id == check_id)

    def to_dict(self) -> dict[str, Any]:
        return {
            "lab": self.lab,
            "trainee": self.trainee,
            "score": self.score,
            "max_score": self.max_score,
            "passed": self.passed,
            "made_by_solve": self.made_by_solve,
            "steps": [
                {"step": n, "title": t, "passed": self.steps().get(n)}
                | ({"title_zh": self.step_titles_zh[n]} if n in self.step_titles_zh else {})
                for n, t in sorted(self.step_titles.items())
            ],
            "hints_used": {str(n): level for n, level in sorted(self.hints_used.items())},
            "checks": [asdict(c) for c in self.checks],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Report:
        """The inverse of to_dict (a `lab check --json` from another host). Scores are recomputed."""
        fields = ("id", "title", "passed", "points", "expected", "actual", "hint")
        optional = {"step": 0, "made_by": "", "title_zh": "", "hint_zh": ""}  # absent in results from an older kvmlab
        checks = [
            Check(**{k: row[k] for k in fields}, **{k: row.get(k, v) for k, v in optional.items()})
            for row in data["checks"]
        ]
        titles = {int(s["step"]): str(s["title"]) for s in data.get("steps", [])}
        hints = {int(k): int(v) for k, v in data.get("hints_used", {}).items()}
        zh = {int(s["step"]): str(s["title_zh"]) for s in data.get("steps", []) if s.get("title_zh")}
        return cls(str(data["lab"]), str(data["trainee"]), checks, titles, hints, zh)


def same_in_both(
    id: str,
    title: str,
    both: Both[T],
    value: Callable[[T], object],
    expected: object,
    hint: str,
    *,
    zh: str = "",
    hint_zh: str = "",
) -> Check:
    """A device property (disk format, NIC model) right in *every* view the device is in, and in at least one.

    The live view and the persistent definition are separate copies: a NIC
    hot-added with the right model but written to the definition without it
    gets the default model at the next boot.
    """
    seen = {name: value(device) for name, device in both.views().items()}
    return check(
        id,
        title,
        bool(seen) and all(v == expected for v in seen.values()),
        expected=f"{expected} wherever it is attached",
        actual=", ".join(f"{name}: {v if v is not None else 'not given'}" for name, v in seen.items())
        or "not attached",
        hint=hint,
        zh=zh,
        hint_zh=hint_zh,
    )


def hot_plugged(id: str, device: str, plugged: bool | None, device_zh: str = "") -> Check:
    """QEMU's own word that ``device`` was plugged into the running guest (kvmlab.resources.domain.hotplugged).

    A device written to the definition and picked up by a restart (or by a
    crash and `lab start`) is present from QEMU's start: a cold plug.
    """
    return check(
        id,
        f"{device} was plugged into the running guest (a hot-add, not a restart with a new definition)",
        plugged is True,
        expected="hot-plugged into the running QEMU",
        actual={True: "hot-plugged", False: "present since the guest started (a cold plug)", None: "no such device"}[
            plugged
        ],
        hint=f"QEMU marks devices added at run time; {device} written to the definition and picked up by a restart "
        "was cold-plugged: the lab is about adding it without stopping the guest",
        zh=f"{device_zh or device} 是热插入运行中的虚拟机的（热添加，而不是改定义后重启）",
        hint_zh=f"QEMU 会标记运行时加入的设备；把 {device_zh or device} 写进持久化配置再重启，是冷插拔："
        "本实验要的是不停机添加",
    )


def collect(lab: str, trainee: str, rows: Callable[[], Iterable[Check]]) -> Report:
    """Run a grader. A kvmlab error mid-way becomes a failed row, not a crash."""
    report = Report(lab, trainee)
    try:
        for row in rows():
            report.checks.append(row)
    except KvmlabError as err:
        report.checks.append(
            check(
                "grader-error",
                "the grader could finish its checks",
                False,
                actual=err.message,
                hint=err.hint or "run `kvmlab lab start` again",
                zh="评分程序完成了全部检查",
            )
        )
    except libvirt.libvirtError as err:
        report.checks.append(
            check(
                "grader-error",
                "the grader could finish its checks",
                False,
                actual=f"libvirt: {err.get_error_message()}",
                hint="the guest or libvirtd changed under the grader: run the check again",
                zh="评分程序完成了全部检查",
                hint_zh="检查过程中虚拟机或 libvirtd 发生了变化：请再检查一次",
            )
        )
    return report
