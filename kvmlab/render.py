"""Terminal rendering (rich). The only place that turns results into text for people."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from rich.console import Console, Group
from rich.markup import escape
from rich.table import Table

from kvmlab.grading import Report
from kvmlab.labs.base import Lab

if TYPE_CHECKING:
    from kvmlab.guestview import GuestView  # libvirt and the resources load only for --watch

# A notebook's `!kvmlab ...` runs on IPython's pseudo-terminal, which says 80 columns; the output
# area is much wider and wraps by itself, so tables would be squeezed for nothing (lab list cut
# off the notebook column the welcome text points to).
NOTEBOOK_WIDTH = 160


def console(stderr: bool = False) -> Console:
    in_notebook = "JPY_PARENT_PID" in os.environ and "COLUMNS" not in os.environ
    return Console(stderr=stderr, highlight=False, soft_wrap=True, width=NOTEBOOK_WIDTH if in_notebook else None)


def report(rep: Report, out: Console) -> None:
    """One line per check; expected/actual/hint indented under the failures.

    Lines, not a table: paths and hints are long, and a wrapped table cell is
    harder to read in a terminal than an indented line.
    """
    out.print(f"[bold]{escape(rep.lab)}[/] — trainee {escape(rep.trainee)}")
    for c in rep.checks:
        mark = "[green]PASS[/]" if c.passed else "[red]FAIL[/]"
        # No check ids for people: some name what the trainee has to find out (break-fix's fault); --json has them.
        out.print(f"  {mark}  {escape(c.title)}")
        if not c.passed:
            out.print(f"        expected: {escape(c.expected)}")
            out.print(f"        actual:   {escape(c.actual)}")
            if c.hint:
                out.print(f"        [yellow]hint:[/] {escape(c.hint)}")
    colour = "green" if rep.passed else "red"
    verdict = "all checks pass" if rep.passed else "not done yet"
    out.print(f"[{colour}]score {rep.score}/{rep.max_score}: {verdict}[/]")


def lab_list(labs: Sequence[Lab], out: Console) -> None:
    table = Table(title="kvmlab labs", title_justify="left")
    for col in ("id", "title", "seed Qs", "requires", "notebook"):
        table.add_column(col)
    for lab in labs:
        table.add_row(lab.id, lab.title, ",".join(map(str, lab.seed_questions)), ", ".join(lab.requires), lab.notebook)
    out.print(table)


def status(
    trainee: str, labs: dict[str, dict[str, str]], progress: dict[str, Any], objects: Sequence[Any], out: Console
) -> None:
    if not labs and not objects:
        out.print(f"trainee {trainee} owns nothing right now")
        return
    out.print(f"trainee {trainee}: labs started: {', '.join(sorted(labs)) or 'none'}")
    for lab, p in progress.items():
        out.print(f"  {lab}: {p['done']} of {p['steps']} steps done")
    table = Table()
    for col in ("lab", "kind", "name", "state", "present"):
        table.add_column(col, overflow="fold")
    for o in objects:
        table.add_row(o.lab, o.kind, escape(o.name), o.state, {True: "yes", False: "no"}.get(o.present, "?"))
    out.print(table)


def doctor(data: dict[str, Any], out: Console) -> None:
    table = Table(title="kvmlab doctor", title_justify="left")
    table.add_column("")
    table.add_column("check")
    table.add_column("detail", overflow="fold")
    for row in data["checks"]:
        table.add_row("[green]ok[/]" if row["ok"] else "[red]no[/]", row["name"], escape(row["detail"]))
    out.print(table)
    out.print(f"accelerator: [bold]{data['accel']}[/] (libvirt domain type {data['domain_type']})")


def guest_views(views: Sequence[GuestView], lang: str = "en") -> Group:
    """The live guest panel in a terminal (`kvmlab lab status --watch`): one table per guest."""
    from kvmlab.guestview import NO_AGENT, difference, in_guest, present, summary, words

    parts: list[Any] = []
    for g in views:
        colour = "green" if g.state.startswith("running") else "yellow" if g.state.startswith("paused") else "red"
        parts.append(
            f"[bold]{escape(g.name)}[/] · [{colour}]{escape(g.state)}[/]" + (f" · {g.accel}" if g.accel else "")
        )
        parts.extend(f"  {escape(label)}: {escape(text)}" for label, text in summary(g, lang))
        table = Table(show_edge=False, box=None, padding=(0, 2))
        for col in ("", words("live", lang), words("persistent", lang), words("in guest", lang), ""):
            table.add_column(col)
        for label, devices in ((words("disks", lang), g.disks), (words("NICs", lang), g.nics)):
            table.add_row(f"[bold]{label}[/]", "", "", "", "")
            for d in devices:
                why = difference(d, lang)
                table.add_row(
                    escape(d.name),
                    present(d.live),
                    present(d.config),
                    escape(in_guest(d, g.agent)),
                    escape(d.detail) + (f" [yellow]⚠ {escape(why)}[/]" if why else ""),
                )
        parts.append(table)
        if g.running and not g.agent:
            parts.append(f"  [dim]{escape(words(NO_AGENT, lang))}[/]")
        parts.append("")
    if not views:
        parts.append("no guest")
    return Group(*parts)
