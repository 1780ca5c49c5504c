from __future__ import annotations

from collections.abc import Iterator

from kvmlab.errors import GuestTimeout
from kvmlab.grading import Check, check, collect


def test_hint_is_kept_only_for_failures() -> None:
    assert check("a", "A", True, hint="do x").hint == ""
    assert check("a", "A", False, hint="do x").hint == "do x"


def test_report_scores_points_and_json_shape() -> None:
    def rows() -> Iterator[Check]:
        yield check("one", "first", True, points=2, expected="x", actual="x")
        yield check("two", "second", False, expected=1, actual=0, hint="fix it")

    rep = collect("lab", "alice", rows)
    assert (rep.score, rep.max_score, rep.passed) == (2, 3, False)
    data = rep.to_dict()
    assert set(data) == {
        "lab",
        "trainee",
        "score",
        "max_score",
        "passed",
        "made_by_solve",
        "steps",
        "hints_used",
        "checks",
    }
    assert set(data["checks"][0]) == {
        "id",
        "title",
        "passed",
        "points",
        "expected",
        "actual",
        "hint",
        "step",
        "made_by",
        "title_zh",
        "hint_zh",
    }
    assert data["checks"][1]["expected"] == "1"


def test_an_empty_grade_never_passes() -> None:
    assert not collect("lab", "t", lambda: iter(())).passed


def test_a_grader_error_becomes_a_failed_row_with_a_hint() -> None:
    def rows() -> Iterator[Check]:
        yield check("ok", "fine", True)
        raise GuestTimeout("the guest stopped answering", "kvmlab lab reset LAB")

    rep = collect("lab", "t", rows)
    assert [c.id for c in rep.checks] == ["ok", "grader-error"]
    assert rep.checks[1].hint == "kvmlab lab reset LAB" and not rep.passed
