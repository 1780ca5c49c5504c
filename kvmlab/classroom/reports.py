"""Gradebook exports: CSV and JSON for people and LMSs, JUnit XML for CI, HTML with a chart."""

from __future__ import annotations

import csv
import html
import io
import json
import xml.etree.ElementTree as ET
from collections import defaultdict
from typing import Any

from kvmlab.classroom.gradebook import Attempt


def pass_rates(attempts: list[Attempt]) -> dict[str, dict[str, tuple[int, int]]]:
    """Per lab, per check id: (trainees who pass it, trainees graded)."""
    rates: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    for a in attempts:
        for c in a.result.get("checks", []):
            row = rates[a.payload["lab"]][c["id"]]
            row[0] += int(c["passed"])
            row[1] += 1
    return {lab: {cid: (p, n) for cid, (p, n) in checks.items()} for lab, checks in rates.items()}


def hints_text(result: dict[str, Any]) -> str:
    """Hints a trainee revealed, per step: "1:2 2:3" (step 1 up to level 2, step 2 up to level 3)."""
    used = result.get("hints_used", {})
    return " ".join(f"{step}:{level}" for step, level in sorted(used.items(), key=lambda kv: int(kv[0])))


def to_csv(attempts: list[Attempt]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        [
            "class",
            "lab",
            "trainee",
            "score",
            "max_score",
            "passed",
            "made_by_solve",
            "hints_used",
            "late",
            "at",
            "failed_checks",
        ]
    )
    for a in attempts:
        r = a.result
        failed = " ".join(c["id"] for c in r.get("checks", []) if not c["passed"])
        writer.writerow(
            [
                a.payload["class"],
                a.payload["lab"],
                a.payload["trainee"],
                r.get("score"),
                r.get("max_score"),
                r.get("passed"),
                r.get("made_by_solve", False),
                hints_text(r),
                a.payload["late"],
                a.payload["at"],
                failed,
            ]
        )
    return out.getvalue()


def to_json(attempts: list[Attempt]) -> str:
    return json.dumps([a.export() for a in attempts], indent=2, ensure_ascii=False) + "\n"


def to_junit(attempts: list[Attempt]) -> str:
    """One testsuite per lab, one testcase per trainee and check: failures carry the hint."""
    suites = ET.Element("testsuites")
    by_lab: dict[str, list[Attempt]] = defaultdict(list)
    for a in attempts:
        by_lab[a.payload["lab"]].append(a)
    for lab, group in sorted(by_lab.items()):
        cases = [(a, c) for a in group for c in a.result.get("checks", [])]
        failures = sum(1 for _, c in cases if not c["passed"])
        suite = ET.SubElement(suites, "testsuite", name=lab, tests=str(len(cases)), failures=str(failures))
        for a, c in cases:
            case = ET.SubElement(suite, "testcase", classname=f"{lab}.{a.payload['trainee']}", name=c["id"])
            if not c["passed"]:
                fail = ET.SubElement(case, "failure", message=c["title"])
                fail.text = f"expected: {c['expected']}\nactual: {c['actual']}\nhint: {c['hint']}"
            notes = []
            if a.payload["late"]:
                notes.append("late: graded after the deadline")
            if c.get("made_by"):
                notes.append(f"made by lab {c['made_by']}: no points")
            if notes:
                ET.SubElement(case, "system-out").text = "; ".join(notes)
    ET.indent(suites)
    return ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"


def _bar_chart(rates: dict[str, tuple[int, int]]) -> str:
    """An inline SVG bar per check: no scripts, opens anywhere."""
    rows = sorted(rates.items())
    height = 24 * len(rows) + 10
    bars = []
    for i, (cid, (passed, total)) in enumerate(rows):
        share = passed / total if total else 0
        y = 5 + 24 * i
        colour = "#1e8e3e" if share >= 0.8 else "#f9ab00" if share >= 0.5 else "#d93025"
        bars.append(
            f"<text x='0' y='{y + 15}' font-size='12'>{html.escape(cid)}</text>"
            f"<rect x='200' y='{y}' width='{300 * share:.0f}' height='18' fill='{colour}'/>"
            f"<text x='{205 + 300 * share:.0f}' y='{y + 14}' font-size='12'>{passed}/{total}</text>"
        )
    return f"<svg xmlns='http://www.w3.org/2000/svg' width='560' height='{height}'>{''.join(bars)}</svg>"


def to_html(attempts: list[Attempt], title: str = "kvmlab gradebook") -> str:
    rates = pass_rates(attempts)
    parts = [
        f"<!doctype html><meta charset='utf-8'><title>{html.escape(title)}</title>",
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:4px 8px}.ok{color:#1e8e3e}.no{color:#d93025}</style>",
        f"<h1>{html.escape(title)}</h1>",
    ]
    for lab in sorted({a.payload["lab"] for a in attempts}):
        group = [a for a in attempts if a.payload["lab"] == lab]
        passed = sum(1 for a in group if a.result.get("passed"))
        parts.append(f"<h2>{html.escape(lab)}: {passed}/{len(group)} trainees pass</h2>")
        parts.append("<h3>Pass rate per check</h3>" + _bar_chart(rates.get(lab, {})))
        parts.append(
            "<table><tr><th>trainee</th><th>score</th><th>result</th><th>how</th><th>hints used</th>"
            "<th>late</th><th>failed checks</th></tr>"
        )
        for a in group:
            r = a.result
            ok = r.get("passed")
            failed = ", ".join(c["id"] for c in r.get("checks", []) if not c["passed"])
            parts.append(
                f"<tr><td>{html.escape(a.payload['trainee'])}</td><td>{r.get('score')}/{r.get('max_score')}"
                f"</td><td class='{'ok' if ok else 'no'}'>{'pass' if ok else 'fail'}</td>"
                f"<td>{'made by lab solve' if r.get('made_by_solve') else ''}</td>"
                f"<td>{html.escape(hints_text(r))}</td>"
                f"<td>{'late' if a.payload['late'] else ''}</td><td>{html.escape(failed)}</td></tr>"
            )
        parts.append("</table>")
    return "\n".join(parts) + "\n"


def render(attempts: list[Attempt], fmt: str, title: str = "kvmlab gradebook") -> str:
    if fmt == "csv":
        return to_csv(attempts)
    if fmt == "json":
        return to_json(attempts)
    if fmt == "junit":
        return to_junit(attempts)
    return to_html(attempts, title)


def summary(attempts: list[Attempt]) -> dict[str, Any]:
    rates = pass_rates(attempts)
    return {
        lab: {cid: round(p / n, 2) if n else 0.0 for cid, (p, n) in checks.items()} for lab, checks in rates.items()
    }
