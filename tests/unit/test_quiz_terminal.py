"""The terminal trainer as a person sees it: in a pseudo-terminal of a given width.

The bank is Markdown. Printed raw, a learner sees backticks and ``**`` and lines
broken inside words ("definin g"); rendered, they see code and emphasis, wrapped
at word boundaries to their terminal.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from rich.console import Console

from kvmlab.quiz import bank as bankmod
from kvmlab.quiz.check import Verdict
from kvmlab.quiz.store import Store
from kvmlab.quiz.trainer import quiz
from tests.helpers import run_in_pty

WIDTH = 64


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_quiz_renders_markdown_in_a_terminal(kvmlab_home: Path, lang: str) -> None:
    # hotadd-disk's questions hold code spans in prompts, options and explanations.
    answers = ["", "again"] * 12
    text = run_in_pty(
        ["quiz", "--topic", "hotadd-disk", "--count", "12", "--lang", lang], answers, dict(os.environ), width=WIDTH
    )
    assert "model answer" in text, text[-2000:]
    shown = [ln for ln in text.splitlines() if not ln.startswith(("your answer>", "how well"))]
    assert not [ln for ln in shown if "`" in ln or "**" in ln], "raw Markdown markers reached the terminal"
    from rich.cells import cell_len

    too_wide = [ln for ln in shown if cell_len(ln.rstrip()) > WIDTH and " " in ln.strip() and "virsh" not in ln]
    assert not too_wide, f"lines wider than the terminal: {too_wide[:3]}"
    if lang == "zh":
        assert re.search(r"[\u4e00-\u9fff]", text)


def test_a_self_graded_answer_takes_the_trainees_rating(tmp_path: Path) -> None:
    b = bankmod.load(Path(__file__).parent.parent / "data" / "bank-good")
    q = b.get("demo-002")
    assert q is not None
    q.grading = "self"
    out = Console(record=True, width=80)
    answers = iter(
        [
            "virsh setvcpus centos 4 --live --config",  # demo-001 (a command), then its rating
            "",
            "Paravirtualization changes the guest; full virtualization does not.",  # demo-002, self-graded
            "maybe",  # no rating: asked again, no default taken
            "good",
        ]
    )
    results = quiz(b, Store(tmp_path / "s.sqlite"), out, lambda _p: next(answers), topics=["demo"], count=2)
    text = out.export_text()
    assert "self-graded" in text and "rate it with one of" in text
    assert [qid for qid, _ in results] == ["demo-001", "demo-002"]
    assert results[1][1].correct and results[1][1].self_graded  # the rating decided


def test_self_graded_verdict_follows_the_rating() -> None:
    from kvmlab.quiz.trainer import self_rating

    v = Verdict(False, 0.4, ["2/5 key points"], ["x"], self_graded=True)
    assert self_rating(v, "good").correct and not self_rating(v, "again").correct
    assert self_rating(Verdict(False, 0.4), "easy").correct is False  # rules-graded: the rating does not overrule
