"""The notebook's panels (ipywidgets): "Check my work", "Check this step" with hints, the progress bar.

Every panel renders a :class:`kvmlab.grading.Report`; none of them grades or
records anything itself: buttons call back into the lab session, which checks
on the host and writes the journal.
"""

from __future__ import annotations

import html
import time
from collections.abc import Callable

import ipywidgets as widgets

from kvmlab.grading import Check, Report

_ROW = (
    "<tr style='background:{bg}'><td style='padding:4px 8px;font-weight:bold;color:{fg}'>{mark}</td>"
    "<td style='padding:4px 8px'>{title}{detail}</td></tr>"
)
# The panels' own words in the zh edition (the lab's titles and hints come from its grader).
_ZH = {
    "made by <code>lab solve</code>: passes, but earns no points": "由 <code>lab solve</code> 完成：通过，但不得分",
    "expected": "期望",
    "actual": "实际",
    "hint": "提示",
    "Hint": "提示",
    "Hint {n}": "提示 {n}",
    "Solution": "答案",
    "(recorded)": "（已记录）",
    "Show solution": "显示答案",
    "Check again": "再检查一次",
    "Check my work": "检查我的操作",
    "Check this step": "检查这一步",
    "step done": "这一步完成了",
    "not done yet": "还没完成",
    "Step {n} — {title}": "第 {n} 步 — {title}",
    "{k} of {n} steps done": "已完成 {k}/{n} 步",
    "all checks pass — well done": "全部检查通过，做得好",
    "not done yet: fix the red rows": "还没完成：请修正标红的行",
    "all checks pass, but `lab solve` made this state: reset the lab and do it yourself": (
        "全部通过，但这是 `lab solve` 做出来的：请重置实验，自己动手做一遍"
    ),
    "score": "得分",
    "checked at {time}": "检查于 {time}",
}


def tr(text: str, lang: str, **values: object) -> str:
    """A panel's own words in ``lang`` (English where no translation is kept)."""
    return (_ZH.get(text, text) if lang == "zh" else text).format(**values)


def _checked_at(lang: str) -> str:
    # "Check again" must show that it ran even when nothing changed.
    return f"<p style='color:#666;font-size:85%'>{tr('checked at {time}', lang, time=time.strftime('%H:%M:%S'))}</p>"


def _row(c: Check, lang: str = "en") -> str:
    detail = ""
    if not c.passed:
        detail = (
            f"<div style='font-size:90%;margin-top:2px'>{tr('expected', lang)}: <code>{html.escape(c.expected)}</code>"
            f" &nbsp; {tr('actual', lang)}: <code>{html.escape(c.actual)}</code></div>"
        )
        if c.hint:
            detail += f"<div style='font-size:90%'>{tr('hint', lang)}: {html.escape(c.hint)}</div>"
    elif c.made_by:
        note = tr("made by <code>lab solve</code>: passes, but earns no points", lang)
        detail = f"<div style='font-size:90%;color:#8a6d00'>{note}</div>"
    return _ROW.format(
        bg="#e6f4ea" if c.passed else "#fce8e6",
        fg="#137333" if c.passed else "#a50e0e",
        mark="✔ PASS" if c.passed else "✘ FAIL",
        title=html.escape(c.title),
        detail=detail,
    )


def progress_text(rep: Report, lang: str = "en") -> str:
    done = sum(1 for ok in rep.steps().values() if ok)
    return tr("{k} of {n} steps done", lang, k=done, n=len(rep.step_titles)) if rep.step_titles else ""


def report_html(rep: Report, lang: str = "en") -> str:
    rows = []
    current = None
    for c in rep.checks:
        if c.step and c.step != current and c.step in rep.step_titles:
            current = c.step
            title = html.escape(tr("Step {n} — {title}", lang, n=c.step, title=rep.step_titles[c.step]))
            rows.append(f"<tr><td colspan='2' style='padding:6px 8px 2px;font-weight:bold'>{title}</td></tr>")
        rows.append(_row(c, lang))
    colour = "#137333" if rep.passed else "#a50e0e"
    verdict = "all checks pass — well done" if rep.passed else "not done yet: fix the red rows"
    if rep.passed and rep.made_by_solve:
        verdict = "all checks pass, but `lab solve` made this state: reset the lab and do it yourself"
    progress = progress_text(rep, lang)
    return (
        f"<table style='border-collapse:collapse;width:100%'>{''.join(rows)}</table>"
        f"<p style='color:{colour};font-weight:bold'>{tr('score', lang)} {rep.score}/{rep.max_score}"
        f"{' · ' + progress if progress else ''}: {html.escape(tr(verdict, lang))}</p>{_checked_at(lang)}"
    )


def report_text(rep: Report) -> str:
    lines = []
    for c in rep.checks:
        tail = f"\n      hint: {c.hint}" if not c.passed else (" (made by lab solve)" if c.made_by else "")
        lines.append(f"{'PASS' if c.passed else 'FAIL'}  {c.title}{tail}")
    progress = progress_text(rep)
    lines.append(f"score {rep.score}/{rep.max_score}" + (f", {progress}" if progress else ""))
    return "\n".join(lines)


class CheckPanel(widgets.VBox):
    """The grader's rows plus a "Check again" button that re-runs the grader."""

    def __init__(self, grade: Callable[[], Report], label: str = "Check again", lang: str = "en") -> None:
        self._grade = grade
        self.lang = lang
        self.button = widgets.Button(description=tr(label, lang), icon="check", button_style="primary")
        self.output = widgets.HTML()
        self.report: Report | None = None
        self.button.on_click(lambda _b: self.refresh())
        super().__init__([self.output, self.button])
        self.refresh()

    def refresh(self) -> Report:
        self.report = self._grade()
        self.output.value = report_html(self.report, self.lang)
        return self.report

    def __repr__(self) -> str:  # what nbval and plain-text frontends show
        return report_text(self.report) if self.report else "CheckPanel()"


class ProgressPanel(widgets.HBox):
    """ "3 of 5 steps done", at the top of the notebook; every step check moves it."""

    def __init__(self, total: int, lang: str = "en") -> None:
        self.lang = lang
        self.bar = widgets.IntProgress(value=0, min=0, max=max(total, 1), bar_style="success")
        self.label = widgets.Label()
        self.done: dict[int, bool] = {}
        self.total = total
        super().__init__([self.bar, self.label])
        self._show()

    def update(self, rep: Report) -> None:
        self.done.update(rep.steps())
        self._show()

    def _show(self) -> None:
        count = sum(1 for ok in self.done.values() if ok)
        self.bar.value = count
        self.label.value = tr("{k} of {n} steps done", self.lang, k=count, n=self.total)

    def __repr__(self) -> str:
        return str(self.label.value)


class StepPanel(widgets.VBox):
    """Under a task: "Check this step", and in the practice edition hints in levels and the solution.

    ``reveal(solution)`` asks the host for the next hint level (or the
    solution), which records it, and returns every level revealed so far.
    """

    def __init__(
        self,
        title: str,
        grade: Callable[[], Report],
        reveal: Callable[[bool], list[str]] | None,
        revealed: list[str],
        levels: int,
        lang: str = "en",
    ) -> None:
        self._grade = grade
        self.lang = lang
        self._reveal = reveal
        self.levels = levels
        self.output = widgets.HTML()
        self.hints = widgets.HTML()
        self.report: Report | None = None
        check = widgets.Button(description=tr("Check this step", lang), icon="check", button_style="primary")
        check.on_click(lambda _b: self.refresh())
        buttons: list[widgets.Widget] = [check]
        if reveal is not None:
            self.hint_button = widgets.Button(description=tr("Hint", lang), icon="lightbulb-o")
            self.hint_button.on_click(lambda _b: self._show_hints(self._reveal_next(False)))
            self.solution_button = widgets.Button(
                description=tr("Show solution", lang), icon="eye", button_style="warning"
            )
            self.solution_button.on_click(lambda _b: self._show_hints(self._reveal_next(True)))
            buttons += [self.hint_button, self.solution_button]
        header = widgets.HTML(f"<b>{html.escape(title)}</b>")
        super().__init__([header, self.output, widgets.HBox(buttons), self.hints])
        self._show_hints(revealed)
        self.refresh()

    def _reveal_next(self, solution: bool) -> list[str]:
        assert self._reveal is not None
        return self._reveal(solution)

    def _show_hints(self, revealed: list[str]) -> None:
        parts = []
        for level, text in enumerate(revealed, 1):
            if level == self.levels:
                head = f"<b>{tr('Solution', self.lang)}</b> {tr('(recorded)', self.lang)}"
                parts.append(f"<div>{head}:<pre>{html.escape(text)}</pre></div>")
            else:
                parts.append(f"<div><b>{tr('Hint {n}', self.lang, n=level)}</b>: {html.escape(text)}</div>")
        self.hints.value = "".join(parts)
        self.revealed = revealed

    def refresh(self) -> Report:
        self.report = self._grade()
        rows = "".join(_row(c, self.lang) for c in self.report.checks)
        ok = self.report.passed
        verdict = tr("step done" if ok else "not done yet", self.lang)
        colour = "#137333" if ok else "#a50e0e"
        self.output.value = (
            f"<table style='border-collapse:collapse;width:100%'>{rows}</table>"
            f"<p style='color:{colour};font-weight:bold'>{verdict}</p>{_checked_at(self.lang)}"
        )
        return self.report

    def __repr__(self) -> str:
        text = report_text(self.report) if self.report else "StepPanel()"
        hints = "\n".join(f"hint {n}: {h}" for n, h in enumerate(getattr(self, "revealed", []), 1))
        return text + ("\n" + hints if hints else "")
