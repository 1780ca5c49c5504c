"""The quiz card at the end of every lab notebook (ipywidgets).

Same checking and same progress store as ``kvmlab quiz``: one question at a
time, answer, see the verdict with the model answer and explanation, rate
how well you knew it, next. Due questions come first.
"""

from __future__ import annotations

import html
import time
from functools import cache
from typing import Any

import ipywidgets as widgets
from markdown_it import MarkdownIt

from kvmlab.quiz.bank import Bank, Question
from kvmlab.quiz.check import Verdict, check
from kvmlab.quiz.store import Store, rating_for
from kvmlab.quiz.trainer import self_rating


@cache
def _markdown() -> MarkdownIt:
    return MarkdownIt("commonmark", {"html": False})  # the bank's own raw HTML is never passed through


def md(text: str, inline: bool = False) -> str:
    """The bank's Markdown as the notebook shows Markdown: code spans, lists, emphasis."""
    return _markdown().renderInline(text) if inline else _markdown().render(text)


class QuizCard(widgets.VBox):
    def __init__(self, bank: Bank, topic: str, lang: str = "en", store: Store | None = None) -> None:
        self.store = store or Store()
        self.lang = lang
        pool = bank.select([topic])
        due = self.store.due([q.id for q in pool], {q.id: q.lab for q in pool})
        by_id = {q.id: q for q in pool}
        # Due questions first, then the rest, so the card never runs dry.
        self.questions: list[Question] = [by_id[i] for i in due] + [q for q in pool if q.id not in due]
        self.index = 0
        self.verdict: Verdict | None = None
        self.header = widgets.HTML()
        self.body = widgets.HTML()
        # Options are rows of a box and its rendered text, not RadioButtons: a radio label has a
        # fixed height, so a long option overlapped the next one and hid its button.
        self.multi = widgets.VBox(layout={"width": "100%"})
        self.boxes: list[widgets.Checkbox] = []
        # 'border-box' keeps the text box's right border inside the card (no horizontal scrollbar).
        self.text = widgets.Textarea(layout={"width": "98%", "height": "4em"})
        self.check_button = widgets.Button(description="Check", button_style="primary")
        self.result = widgets.HTML()
        self.rate = widgets.ToggleButtons(
            options=["again", "hard", "good", "easy"],
            value=None,
            tooltips=["forgot it", "hard to recall", "knew it", "too easy"],
        )
        self.next_button = widgets.Button(description="Next question")
        self.check_button.on_click(lambda _b: self.submit())
        self.next_button.on_click(lambda _b: self.next())
        super().__init__(
            [
                self.header,
                self.body,
                self.multi,
                self.text,
                self.check_button,
                self.result,
                self.rate,
                self.next_button,
            ]
        )
        self._show()

    @property
    def question(self) -> Question | None:
        return self.questions[self.index] if self.index < len(self.questions) else None

    def _show(self) -> None:
        q = self.question
        self.verdict = None
        self.result.value = ""
        self.rate.value = None
        for w in (self.rate, self.next_button):
            w.layout.display = "none"
        if q is None:
            self.header.value = "<b>No more questions in this topic — well done.</b>"
            for w in (self.body, self.multi, self.text, self.check_button):
                w.layout.display = "none"
            return
        seed = f" · seed Q{', Q'.join(map(str, q.seed))}" if q.seed else ""
        self.header.value = (
            f"<b>Quiz {self.index + 1}/{len(self.questions)}</b> "
            f"<span style='color:#666'>{html.escape(q.id)}{seed}</span>"
        )
        self.body.value = md(q.prompt(self.lang))
        self.boxes = [
            widgets.Checkbox(value=False, indent=False, layout={"width": "2em", "flex": "0 0 auto"}) for _ in q.options
        ]
        if q.type == "single":
            for box in self.boxes:
                box.observe(self._only_one, names="value")
        self.multi.children = [
            widgets.HBox(
                [box, widgets.HTML(f"<b>{o.key})</b> {md(o.zh if self.lang == 'zh' else o.en, inline=True)}")],
                layout={"align_items": "flex-start", "width": "100%"},
            )
            for box, o in zip(self.boxes, q.options, strict=True)
        ]
        self.multi.layout.display = "" if q.type in ("single", "multiple") else "none"
        self.text.layout.display = "" if q.type in ("short", "command") else "none"
        self.text.value = ""
        self.text.placeholder = "one command line" if q.type == "command" else "your answer"
        self.check_button.layout.display = ""

    def _only_one(self, change: dict[str, Any]) -> None:
        """A single-choice question: ticking one option unticks the others."""
        if change["new"]:
            for box in self.boxes:
                if box is not change["owner"] and box.value:
                    box.value = False

    def answer_text(self) -> str:
        q = self.question
        if q is None:
            return ""
        if q.type in ("single", "multiple"):
            return ",".join(o.key for o, box in zip(q.options, self.boxes, strict=True) if box.value)
        return str(self.text.value)

    def submit(self) -> Verdict | None:
        q = self.question
        if q is None:
            return None
        answer = self.answer_text()
        self.verdict = check(q, answer, self.lang)
        if self.verdict.self_graded:
            head = "<p style='color:#0b5394'><b>self-graded</b>: compare with the model answer, then rate yourself</p>"
        else:
            colour = "#137333" if self.verdict.correct else ("#b06000" if self.verdict.score > 0 else "#a50e0e")
            word = "right" if self.verdict.correct else ("partly right" if self.verdict.score > 0 else "not right")
            head = f"<p style='color:{colour}'><b>{word}</b> ({self.verdict.score:.0%})</p>"
        notes = "".join(f"<li>{html.escape(f)}</li>" for f in self.verdict.feedback)
        summary = q.answer_summary(self.lang)
        model = f"<pre>{html.escape(summary)}</pre>" if q.type == "command" else md(summary)
        misconception = (
            f"<p><b>misconception:</b></p>{md(q.misconception.get(self.lang, ''))}" if q.misconception else ""
        )
        self.result.value = (
            f"{head}<ul>{notes}</ul><p><b>model answer:</b></p>{model}"
            f"{md(q.explanation.get(self.lang, ''))}{misconception}"
            f"<p style='color:#666'>checked at {time.strftime('%H:%M:%S')}</p>"
        )
        if not self.verdict.self_graded:  # a self-graded answer is recorded once it is rated
            self.store.record(q.id, self.verdict, answer, rating_for(self.verdict), source="notebook")
        self.rate.layout.display = ""
        self.next_button.layout.display = ""
        return self.verdict

    def next(self) -> None:
        q = self.question
        if q is not None and self.verdict is not None and (self.rate.value or self.verdict.self_graded):
            # The learner's own rating overrides the one recorded at submit; a self-graded
            # answer left unrated counts as 'again' (the honest default).
            rating = str(self.rate.value or "again")
            verdict = self_rating(self.verdict, rating)
            self.store.record(q.id, verdict, self.answer_text(), rating, source="notebook")
        self.index += 1
        self._show()

    def __repr__(self) -> str:
        q = self.question
        return f"QuizCard({len(self.questions)} questions; now: {q.id if q else 'done'})"


def quiz_card(topic: str, lang: str = "en", trainee: str | None = None) -> QuizCard:
    from kvmlab.quiz.cli import load_bank
    from kvmlab.trainee import current

    return QuizCard(load_bank(), topic, lang, Store.of_trainee(current(trainee).name))
