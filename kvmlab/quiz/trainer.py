"""The terminal trainer (``kvmlab quiz``) and the timed mock interview (``kvmlab exam``).

Both read answers with ``input()`` so they work the same at a keyboard and
with answers piped in (which is how the tests drive them).
"""

from __future__ import annotations

import getpass
import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markdown import Markdown
from rich.markup import escape

from kvmlab import paths
from kvmlab.quiz.bank import Bank, Question
from kvmlab.quiz.check import Verdict, check
from kvmlab.quiz.store import RATINGS, Store, rating_for

Ask = Callable[[str], str]


def _read(ask: Ask, prompt: str) -> str | None:
    try:
        return ask(prompt)
    except EOFError:
        return None


def _md(out: Console, text: str, style: str | None = None) -> None:
    """The bank is Markdown: code spans, lists and emphasis render as such, wrapped at word
    boundaries to the terminal's width (never the raw backticks, never a word cut in two)."""
    out.print(Markdown(text, code_theme="ansi_dark", inline_code_lexer=None), style=style, soft_wrap=False)


def show_question(out: Console, q: Question, lang: str, n: int, total: int) -> None:
    seed = f" · seed Q{', Q'.join(map(str, q.seed))}" if q.seed else ""
    out.print(f"\n[bold]({n}/{total}) {escape(q.id)}[/] [dim]{escape(q.topic)}{seed} · {q.type}[/]")
    _md(out, q.prompt(lang))
    for o in q.options:
        _md(out, f"**{o.key})** {o.zh if lang == 'zh' else o.en}")
    hint = {
        "single": "one letter",
        "multiple": "letters, e.g. a,c",
        "command": "one command line",
        "short": "a sentence or two",
    }[q.type]
    out.print(f"[dim]answer with {hint}[/]")


def show_verdict(out: Console, q: Question, verdict: Verdict, lang: str) -> None:
    if verdict.self_graded:
        out.print("[cyan][bold]self-graded[/]: compare your answer with the model answer, then rate yourself[/]")
    else:
        colour = "green" if verdict.correct else ("yellow" if verdict.score > 0 else "red")
        word = "right" if verdict.correct else ("partly right" if verdict.score > 0 else "not right")
        out.print(f"[{colour}][bold]{word}[/] (score {verdict.score:.0%})[/]")
    for line in verdict.feedback:
        out.print(f"  • {escape(line)}", soft_wrap=False)
    out.print("[bold]model answer:[/]")
    summary = q.answer_summary(lang)
    if q.type == "command":
        out.print(escape(summary), style="bold cyan", soft_wrap=True)  # one line to copy, never wrapped
    else:
        _md(out, summary)
    explanation = q.explanation.get(lang) or q.explanation.get("en", "")
    _md(out, explanation, style="dim")
    if q.misconception:
        out.print("[magenta]misconception:[/]")
        _md(out, q.misconception.get(lang) or q.misconception.get("en", ""))


def self_rating(verdict: Verdict, rating: str) -> Verdict:
    """A self-graded answer takes its verdict from the trainee's rating (as in Anki)."""
    if not verdict.self_graded:
        return verdict
    right = rating in ("good", "easy")
    return Verdict(right, 1.0 if right else 0.0, [*verdict.feedback, f"you rated it {rating}"], verdict.missed, True)


def choose(
    bank: Bank, store: Store, topics: list[str] | None, due_only: bool, seed_only: bool, count: int | None
) -> list[Question]:
    pool = bank.select(topics, seed_only)
    if due_only:
        order = store.due([q.id for q in pool], {q.id: q.lab for q in pool})
        by_id = {q.id: q for q in pool}
        pool = [by_id[qid] for qid in order]
    return pool[:count] if count else pool


def quiz(
    bank: Bank,
    store: Store,
    out: Console,
    ask: Ask,
    *,
    topics: list[str] | None = None,
    lang: str = "en",
    due_only: bool = False,
    seed_only: bool = False,
    count: int | None = None,
) -> list[tuple[str, Verdict]]:
    questions = choose(bank, store, topics, due_only, seed_only, count)
    if not questions:
        out.print("nothing to ask: no question matches (or none is due yet)")
        return []
    results = []
    for n, q in enumerate(questions, start=1):
        show_question(out, q, lang, n, len(questions))
        answer = _read(ask, "your answer> ")
        if answer is None:
            break
        verdict = check(q, answer, lang)
        show_verdict(out, q, verdict, lang)
        suggested = rating_for(verdict)
        rating = _rate(out, ask, suggested, verdict.self_graded)
        verdict = self_rating(verdict, rating)
        card = store.record(q.id, verdict, answer, rating)
        out.print(f"[dim]next review: {card.due.astimezone().strftime('%Y-%m-%d %H:%M')}[/]")
        results.append((q.id, verdict))
    right = sum(1 for _, v in results if v.correct)
    out.print(f"\n[bold]{right}/{len(results)} right[/]")
    return results


def _rate(out: Console, ask: Ask, suggested: str, self_graded: bool) -> str:
    """The trainee's rating. A self-graded answer has no suggestion to fall back on: ask until one
    of the four words comes (end of input counts as 'again', the honest default)."""
    while True:
        default = "" if self_graded else f" [{suggested}]"
        raw = _read(ask, f"how well did you know it? again/hard/good/easy{default}> ")
        rating = (raw or "").strip().lower()
        if rating in RATINGS:
            return rating
        if raw is None or not self_graded:
            return "again" if self_graded else suggested
        out.print("[dim]rate it with one of: again, hard, good, easy[/]")


# -- exam ----------------------------------------------------------------------


@dataclass
class ExamItem:
    qid: str
    topic: str
    answer: str | None = None
    late: bool = False
    verdict: Verdict | None = None


@dataclass
class ExamResult:
    user: str
    started: str
    minutes: float
    items: list[ExamItem] = field(default_factory=list)

    def by_topic(self) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for item in self.items:
            row = out.setdefault(item.topic, {"questions": 0, "answered": 0, "correct": 0, "score": 0.0})
            row["questions"] += 1
            row["answered"] += int(item.answer is not None and not item.late)
            if item.verdict:
                row["correct"] += int(item.verdict.correct)
                row["score"] += item.verdict.score
        for row in out.values():
            row["score"] = round(row["score"] / row["questions"], 2)
        return out

    def to_dict(self) -> dict[str, Any]:
        correct = sum(1 for i in self.items if i.verdict and i.verdict.correct)
        return {
            "user": self.user,
            "started": self.started,
            "minutes": self.minutes,
            "questions": len(self.items),
            "correct": correct,
            "score": round(sum(i.verdict.score for i in self.items if i.verdict) / max(1, len(self.items)), 2),
            "by_topic": self.by_topic(),
            "items": [
                {
                    "id": i.qid,
                    "topic": i.topic,
                    "answer": i.answer,
                    "late": i.late,
                    **(i.verdict.to_dict() if i.verdict else {"correct": False, "score": 0.0}),
                }
                for i in self.items
            ],
        }


def exam(
    bank: Bank,
    store: Store,
    out: Console,
    ask: Ask,
    *,
    minutes: float,
    count: int,
    topics: list[str] | None = None,
    lang: str = "en",
    rng_seed: int | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> ExamResult:
    """A mock interview: random questions, a deadline, verdicts only at the end."""
    pool = bank.select(topics)
    # Not security: just a fair shuffle that a --rng-seed can repeat.
    questions = random.Random(rng_seed).sample(pool, min(count, len(pool)))  # noqa: S311
    result = ExamResult(getpass.getuser(), datetime.now(UTC).isoformat(timespec="seconds"), minutes)
    deadline = clock() + minutes * 60
    out.print(f"[bold]mock interview: {len(questions)} questions, {minutes:g} minutes. No verdicts until the end.[/]")
    for n, q in enumerate(questions, start=1):
        item = ExamItem(q.id, q.topic)
        result.items.append(item)
        left = deadline - clock()
        if left <= 0:
            continue  # time is up: the rest stay unanswered
        out.print(f"[dim]{int(left // 60)}:{int(left % 60):02d} left[/]")
        show_question(out, q, lang, n, len(questions))
        answer = _read(ask, "your answer> ")
        if answer is None:
            break
        item.answer = answer
        item.late = clock() > deadline
    by_id = {q.id: q for q in questions}
    for item in result.items:
        q = by_id[item.qid]
        if item.answer is None or item.late:
            item.verdict = Verdict(False, 0.0, ["late: answered after the deadline" if item.late else "not answered"])
        else:
            item.verdict = check(q, item.answer, lang)
        store.record(q.id, item.verdict, item.answer or "", source="exam")
    _report(out, result, by_id, lang)
    return result


def _report(out: Console, result: ExamResult, by_id: dict[str, Question], lang: str) -> None:
    data = result.to_dict()
    out.print(f"\n[bold]result: {data['correct']}/{data['questions']} right, score {data['score']:.0%}[/]")
    for topic, row in data["by_topic"].items():
        out.print(f"  {topic:<24} {row['correct']}/{row['questions']} right  score {row['score']:.0%}")
    for item in result.items:
        assert item.verdict is not None
        mark = "[cyan]?[/]" if item.verdict.self_graded else ("[green]✔[/]" if item.verdict.correct else "[red]✘[/]")
        out.print(f"{mark} {item.qid}: {escape('; '.join(item.verdict.feedback))}")
        if not item.verdict.correct or item.verdict.self_graded:
            out.print(f"    [dim]model answer: {escape(by_id[item.qid].answer_summary(lang))}[/]")


def save_exam(result: ExamResult, path: Path | None = None) -> Path:
    stamp = result.started.replace(":", "").replace("-", "")
    path = path or paths.data_dir() / "quiz" / "exams" / f"{result.user}-{stamp}.json"
    paths.ensure_dir(path.parent, 0o700)
    path.write_text(json.dumps(result.to_dict(), indent=2, ensure_ascii=False) + "\n")
    return path
