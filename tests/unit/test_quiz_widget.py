"""The notebook quiz card, driven through its real widgets."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from kvmlab.quiz import bank
from kvmlab.quiz.store import Store
from kvmlab.quiz.widget import QuizCard
from tests.helpers import DATA


def test_quiz_card_checks_records_and_moves_on(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.sqlite")
    card = QuizCard(bank.load(DATA / "bank-good"), "demo", store=store)
    assert card.question is not None and card.question.id == "demo-001"
    card.text.value = "virsh setvcpus --config --live centos 4"
    card.check_button.click()
    assert "<b>right</b>" in card.result.value
    card.rate.value = "easy"
    card.next_button.click()
    assert card.question is not None and card.question.id == "demo-002"
    ratings = [r for (r,) in sqlite3.connect(store.path).execute("SELECT rating FROM reviews ORDER BY id")]
    assert ratings == ["good", "easy"]  # suggested at check, then the learner's own rating


def test_quiz_card_shows_misconception_for_a_wrong_command(tmp_path: Path) -> None:
    card = QuizCard(bank.load(DATA / "bank-good"), "demo", store=Store(tmp_path / "s.sqlite"))
    card.text.value = "virsh setvcpus centos 4 --live --config --persistent"
    card.check_button.click()
    assert "not right" in card.result.value and "--persistent does not exist" in card.result.value.replace(
        "<code>", ""
    ).replace("`", "")


def test_quiz_card_multiple_choice_uses_checkboxes(tmp_path: Path) -> None:
    card = QuizCard(bank.load(DATA / "bank-good"), "demo", store=Store(tmp_path / "s.sqlite"))
    card.next()
    card.next()
    assert card.question is not None and card.question.type == "multiple"
    boxes = card.multi.children
    boxes[0].value = True  # type: ignore[attr-defined]
    boxes[2].value = True  # type: ignore[attr-defined]
    verdict = card.submit()
    assert verdict is not None and verdict.correct
    card.next()
    assert card.question is None and "No more questions" in card.header.value
