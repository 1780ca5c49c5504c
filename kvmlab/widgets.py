"""The notebook's "Check my work" panel: green and red rows with hints (ipywidgets)."""

from __future__ import annotations

import html
from collections.abc import Callable

import ipywidgets as widgets

from kvmlab.grading import Report

_ROW = (
    "<tr style='background:{bg}'><td style='padding:4px 8px;font-weight:bold;color:{fg}'>{mark}</td>"
    "<td style='padding:4px 8px'>{title}{detail}</td></tr>"
)


def report_html(rep: Report) -> str:
    rows = []
    for c in rep.checks:
        detail = ""
        if not c.passed:
            detail = (
                f"<div style='font-size:90%;margin-top:2px'>expected: <code>{html.escape(c.expected)}</code>"
                f" &nbsp; actual: <code>{html.escape(c.actual)}</code></div>"
            )
            if c.hint:
                detail += f"<div style='font-size:90%'>hint: {html.escape(c.hint)}</div>"
        rows.append(
            _ROW.format(
                bg="#e6f4ea" if c.passed else "#fce8e6",
                fg="#137333" if c.passed else "#a50e0e",
                mark="✔ PASS" if c.passed else "✘ FAIL",
                title=html.escape(c.title),
                detail=detail,
            )
        )
    colour = "#137333" if rep.passed else "#a50e0e"
    verdict = "all checks pass — well done" if rep.passed else "not done yet: fix the red rows"
    return (
        f"<table style='border-collapse:collapse;width:100%'>{''.join(rows)}</table>"
        f"<p style='color:{colour};font-weight:bold'>score {rep.score}/{rep.max_score}: {verdict}</p>"
    )


def report_text(rep: Report) -> str:
    lines = [
        f"{'PASS' if c.passed else 'FAIL'}  {c.title}" + ("" if c.passed else f"\n      hint: {c.hint}")
        for c in rep.checks
    ]
    lines.append(f"score {rep.score}/{rep.max_score}")
    return "\n".join(lines)


class CheckPanel(widgets.VBox):
    """The grader's rows plus a "Check again" button that re-runs the grader."""

    def __init__(self, grade: Callable[[], Report]) -> None:
        self._grade = grade
        self.button = widgets.Button(description="Check again", icon="check", button_style="primary")
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
