"""The quiz card at the end of every lab notebook (ipywidgets).

Same checking and same progress store as ``kvmlab quiz``: one question at a
time, answer, see the verdict with the model answer and explanation, rate
how well you knew it, next. Due questions come first.
"""

from __future__ import annotations

import html

import ipywidgets as widgets

from kvmlab.quiz.bank import Bank, Question
from kvmlab.quiz.check import Verdict, check
from kvmlab.quiz.store import Store, rating_for


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
        self.choices = widgets.RadioButtons(options=[], layout={"width": "100%"})
        self.multi = widgets.VBox()
        self.text = widgets.Textarea(layout={"width": "100%", "height": "4em"})
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
                self.choices,
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
            for w in (self.body, self.choices, self.multi, self.text, self.check_button):
                w.layout.display = "none"
            return
        seed = f" · seed Q{', Q'.join(map(str, q.seed))}" if q.seed else ""
        self.header.value = (
            f"<b>Quiz {self.index + 1}/{len(self.questions)}</b> "
            f"<span style='color:#666'>{html.escape(q.id)}{seed}</span>"
        )
        self.body.value = f"<p>{html.escape(q.prompt(self.lang))}</p>"
        labels = [(f"{o.key}) {o.zh if self.lang == 'zh' else o.en}", o.key) for o in q.options]
        self.choices.options = labels if q.type == "single" else []
        self.choices.value = None
        self.multi.children = (
            [widgets.Checkbox(description=label, value=False, indent=False) for label, _ in labels]
            if q.type == "multiple"
            else []
        )
        self.choices.layout.display = "" if q.type == "single" else "none"
        self.multi.layout.display = "" if q.type == "multiple" else "none"
        self.text.layout.display = "" if q.type in ("short", "command") else "none"
        self.text.value = ""
        self.text.placeholder = "one command line" if q.type == "command" else "your answer"
        self.check_button.layout.display = ""

    def answer_text(self) -> str:
        q = self.question
        if q is None:
            return ""
        if q.type == "single":
            return str(self.choices.value or "")
        if q.type == "multiple":
            return ",".join(o.key for o, box in zip(q.options, self.multi.children, strict=True) if box.value)
        return str(self.text.value)

    def submit(self) -> Verdict | None:
        q = self.question
        if q is None:
            return None
        answer = self.answer_text()
        self.verdict = check(q, answer, self.lang)
        colour = "#137333" if self.verdict.correct else ("#b06000" if self.verdict.score > 0 else "#a50e0e")
        word = "right" if self.verdict.correct else ("partly right" if self.verdict.score > 0 else "not right")
        notes = "".join(f"<li>{html.escape(f)}</li>" for f in self.verdict.feedback)
        misconception = (
            f"<p><b>misconception:</b> {html.escape(q.misconception.get(self.lang, ''))}</p>" if q.misconception else ""
        )
        self.result.value = (
            f"<p style='color:{colour}'><b>{word}</b> ({self.verdict.score:.0%})</p><ul>{notes}</ul>"
            f"<p><b>model answer:</b> <code>{html.escape(q.answer_summary(self.lang))}</code></p>"
            f"<p>{html.escape(q.explanation.get(self.lang, ''))}</p>{misconception}"
        )
        self.store.record(q.id, self.verdict, answer, rating_for(self.verdict), source="notebook")
        self.rate.layout.display = ""
        self.next_button.layout.display = ""
        return self.verdict

    def next(self) -> None:
        q = self.question
        if q is not None and self.verdict is not None and self.rate.value:
            # The learner's own rating overrides the one recorded at submit.
            self.store.record(q.id, self.verdict, self.answer_text(), str(self.rate.value), source="notebook")
        self.index += 1
        self._show()

    def __repr__(self) -> str:
        q = self.question
        return f"QuizCard({len(self.questions)} questions; now: {q.id if q else 'done'})"


def quiz_card(topic: str, lang: str = "en", trainee: str | None = None) -> QuizCard:
    from kvmlab.quiz.cli import load_bank
    from kvmlab.trainee import current

    return QuizCard(load_bank(), topic, lang, Store.of_trainee(current(trainee).name))
