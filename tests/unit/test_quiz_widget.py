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
    text = card.result.value.replace("<code>", "").replace("</code>", "")
    assert "not right" in card.result.value and "--persistent does not exist" in text


def test_quiz_card_multiple_choice_uses_checkboxes(tmp_path: Path) -> None:
    card = QuizCard(bank.load(DATA / "bank-good"), "demo", store=Store(tmp_path / "s.sqlite"))
    card.next()
    card.next()
    assert card.question is not None and card.question.type == "multiple"
    card.boxes[0].value = True
    card.boxes[2].value = True
    verdict = card.submit()
    assert verdict is not None and verdict.correct
    card.next()
    assert card.question is None and "No more questions" in card.header.value


def test_single_choice_ticks_one_option_and_renders_markdown(tmp_path: Path) -> None:
    card = QuizCard(bank.load(DATA / "bank-good"), "demo", store=Store(tmp_path / "s.sqlite"))
    card.text.value = "virsh setvcpus centos 4 --live --config --persistent"
    card.check_button.click()
    # The misconception's code span is rendered, not shown as raw backticks.
    assert "<code>--persistent</code>" in card.result.value and "`" not in card.result.value
    assert "checked at" in card.result.value  # "Check" again shows that it ran
    b = bank.load(DATA / "bank-good")
    q = b.get("demo-003")
    assert q is not None
    q.type = "single"
    card = QuizCard(b, "demo", store=Store(tmp_path / "t.sqlite"))
    card.index = card.questions.index(q)
    card._show()
    card.boxes[0].value = True
    card.boxes[2].value = True  # a single choice: the first is unticked
    assert [box.value for box in card.boxes] == [False, False, True]
    assert card.answer_text() == "c"


def test_a_self_graded_card_records_the_trainees_rating(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.sqlite")
    b = bank.load(DATA / "bank-good")
    q = b.get("demo-002")
    assert q is not None
    q.grading = "self"
    card = QuizCard(b, "demo", store=store)
    card.next()
    card.text.value = "paravirtualization changes the guest, full virtualization does not"
    card.check_button.click()
    assert "self-graded" in card.result.value
    assert not list(sqlite3.connect(store.path).execute("SELECT 1 FROM reviews"))  # nothing until rated
    card.rate.value = "good"
    card.next_button.click()
    rows = list(sqlite3.connect(store.path).execute("SELECT rating, correct FROM reviews"))
    assert rows == [("good", 1)]
