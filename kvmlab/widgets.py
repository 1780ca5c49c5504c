"""The notebook's panels (ipywidgets): "Check my work", "Check this step" with hints, the progress bar.

Every panel renders a :class:`kvmlab.grading.Report`; none of them grades or
records anything itself: buttons call back into the lab session, which checks
on the host and writes the journal.
"""

from __future__ import annotations

import html
from collections.abc import Callable

import ipywidgets as widgets

from kvmlab.grading import Check, Report

_ROW = (
    "<tr style='background:{bg}'><td style='padding:4px 8px;font-weight:bold;color:{fg}'>{mark}</td>"
    "<td style='padding:4px 8px'>{title}{detail}</td></tr>"
)
_SOLVE_NOTE = "made by <code>lab solve</code>: passes, but earns no points"


def _row(c: Check) -> str:
    detail = ""
    if not c.passed:
        detail = (
            f"<div style='font-size:90%;margin-top:2px'>expected: <code>{html.escape(c.expected)}</code>"
            f" &nbsp; actual: <code>{html.escape(c.actual)}</code></div>"
        )
        if c.hint:
            detail += f"<div style='font-size:90%'>hint: {html.escape(c.hint)}</div>"
    elif c.made_by:
        detail = f"<div style='font-size:90%;color:#8a6d00'>{_SOLVE_NOTE}</div>"
    return _ROW.format(
        bg="#e6f4ea" if c.passed else "#fce8e6",
        fg="#137333" if c.passed else "#a50e0e",
        mark="✔ PASS" if c.passed else "✘ FAIL",
        title=html.escape(c.title),
        detail=detail,
    )


def progress_text(rep: Report) -> str:
    done = sum(1 for ok in rep.steps().values() if ok)
    return f"{done} of {len(rep.step_titles)} steps done" if rep.step_titles else ""


def report_html(rep: Report) -> str:
    rows = []
    current = None
    for c in rep.checks:
        if c.step and c.step != current and c.step in rep.step_titles:
            current = c.step
            title = html.escape(f"Step {c.step} — {rep.step_titles[c.step]}")
            rows.append(f"<tr><td colspan='2' style='padding:6px 8px 2px;font-weight:bold'>{title}</td></tr>")
        rows.append(_row(c))
    colour = "#137333" if rep.passed else "#a50e0e"
    verdict = "all checks pass — well done" if rep.passed else "not done yet: fix the red rows"
    if rep.passed and rep.made_by_solve:
        verdict = "all checks pass, but `lab solve` made this state: reset the lab and do it yourself"
    progress = progress_text(rep)
    return (
        f"<table style='border-collapse:collapse;width:100%'>{''.join(rows)}</table>"
        f"<p style='color:{colour};font-weight:bold'>score {rep.score}/{rep.max_score}"
        f"{' · ' + progress if progress else ''}: {html.escape(verdict)}</p>"
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

    def __init__(self, grade: Callable[[], Report], label: str = "Check again") -> None:
        self._grade = grade
        self.button = widgets.Button(description=label, icon="check", button_style="primary")
        self.output = widgets.HTML()
        self.report: Report | None = None
        self.button.on_click(lambda _b: self.refresh())
        super().__init__([self.output, self.button])
        self.refresh()

    def refresh(self) -> Report:
        self.report = self._grade()
        self.output.value = report_html(self.report)
        return self.report

    def __repr__(self) -> str:  # what nbval and plain-text frontends show
        return report_text(self.report) if self.report else "CheckPanel()"


class ProgressPanel(widgets.HBox):
    """ "3 of 5 steps done", at the top of the notebook; every step check moves it."""

    def __init__(self, total: int) -> None:
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
        self.label.value = f"{count} of {self.total} steps done"

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
    ) -> None:
        self._grade = grade
        self._reveal = reveal
        self.levels = levels
        self.output = widgets.HTML()
        self.hints = widgets.HTML()
        self.report: Report | None = None
        check = widgets.Button(description="Check this step", icon="check", button_style="primary")
        check.on_click(lambda _b: self.refresh())
        buttons: list[widgets.Widget] = [check]
        if reveal is not None:
            self.hint_button = widgets.Button(description="Hint", icon="lightbulb-o")
            self.hint_button.on_click(lambda _b: self._show_hints(self._reveal_next(False)))
            self.solution_button = widgets.Button(description="Show solution", icon="eye", button_style="warning")
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
                parts.append(f"<div><b>Solution</b> (recorded):<pre>{html.escape(text)}</pre></div>")
            else:
                parts.append(f"<div><b>Hint {level}</b>: {html.escape(text)}</div>")
        self.hints.value = "".join(parts)
        self.revealed = revealed

    def refresh(self) -> Report:
        self.report = self._grade()
        rows = "".join(_row(c) for c in self.report.checks)
        ok = self.report.passed
        verdict = "step done" if ok else "not done yet"
        colour = "#137333" if ok else "#a50e0e"
        self.output.value = (
            f"<table style='border-collapse:collapse;width:100%'>{rows}</table>"
            f"<p style='color:{colour};font-weight:bold'>{verdict}</p>"
        )
        return self.report

    def __repr__(self) -> str:
        text = report_text(self.report) if self.report else "StepPanel()"
        hints = "\n".join(f"hint {n}: {h}" for n, h in enumerate(getattr(self, "revealed", []), 1))
        return text + ("\n" + hints if hints else "")
