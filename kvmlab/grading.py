"""Checks are data; renderers (terminal, JSON, notebook widget) live elsewhere.

A grader is a generator of :class:`Check` rows. It never prints. If a check
itself blows up (the guest vanished, libvirtd restarted), that becomes a
failed row that says so, never a traceback in the trainee's face.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

import libvirt

from kvmlab.errors import KvmlabError


@dataclass
class Check:
    id: str
    title: str
    passed: bool
    points: int = 1
    expected: str = ""
    actual: str = ""
    hint: str = ""

    @property
    def score(self) -> int:
        return self.points if self.passed else 0


def check(
    id: str, title: str, passed: bool, *, expected: object = "", actual: object = "", hint: str = "", points: int = 1
) -> Check:
    """One row of a grade. ``hint`` is shown only when the check fails."""
    return Check(id, title, bool(passed), points, str(expected), str(actual), "" if passed else hint)


@dataclass
class Report:
    lab: str
    trainee: str
    checks: list[Check] = field(default_factory=list)

    @property
    def score(self) -> int:
        return sum(c.score for c in self.checks)

    @property
    def max_score(self) -> int:
        return sum(c.points for c in self.checks)

    @property
    def passed(self) -> bool:
        return bool(self.checks) and all(c.passed for c in self.checks)

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
            "checks": [asdict(c) for c in self.checks],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Report:
        """The inverse of to_dict (a `lab check --json` from another host). Scores are recomputed."""
        fields = ("id", "title", "passed", "points", "expected", "actual", "hint")
        checks = [Check(**{k: row[k] for k in fields}) for row in data["checks"]]
        return cls(str(data["lab"]), str(data["trainee"]), checks)


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
            )
        )
    return report
