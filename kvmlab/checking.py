"""Checking a lab is a pipeline of small steps, in the spirit of nbgrader's preprocessors.

The session runs :data:`DEFAULT` on every check: collect the grader's rows
(one lab step, or all), say when the lab was never started, put a dead or
missing guest at the top, and mark what ``lab solve`` made and which hints
the trainee revealed (kvmlab.journal). Callers append their own steps: the
CLI feeds a failed check back into the *trainee's* quiz schedule, the
classroom signs the result into its gradebook, the notebook adds nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

import libvirt

from kvmlab import journal
from kvmlab.errors import UsageError
from kvmlab.grading import Check, Report, check, collect
from kvmlab.kinds import libvirt_kind

if TYPE_CHECKING:
    from kvmlab.session import LabSession


@dataclass
class Checking:
    session: LabSession
    report: Report
    only_step: int | None = None  # check this lab step only (kvmlab lab check LAB --step N)


Stage = Callable[[Checking], None]


def grader_rows(c: Checking) -> None:
    """The lab's own checks, step by step: an error in one step is a failed row there, the others still run."""
    session, report = c.session, c.report
    steps = session.lab.steps()
    report.step_titles = {s.number: s.title for s in steps if s.number}
    report.step_titles_zh = {s.number: s.title_zh for s in steps if s.number and s.title_zh}
    chosen = [s for s in steps if c.only_step is None or s.number == c.only_step]
    if not chosen:
        numbers = ", ".join(str(n) for n in report.step_titles) or "none"
        raise UsageError(f"lab {session.lab.id} has no step {c.only_step}", f"its steps are: {numbers}")
    if not session.started:
        return  # nothing to grade: not_started says so in one row
    for s in chosen:
        rows = collect(report.lab, report.trainee, partial(s.rows, session.host, session.params)).checks
        for row in rows:
            row.step = s.number
        report.checks.extend(rows)


def not_started(c: Checking) -> None:
    # One row, the truth: a lab that is not started has nothing to grade (a column of red "create
    # the image" rows, and a maximum score that changes, would say otherwise).
    if not c.session.started:
        c.report.checks[:] = [
            check(
                "lab-started",
                "the lab has been started",
                False,
                expected="started",
                actual="not started",
                hint=f"run: kvmlab lab start {c.session.lab.id}",
                zh="实验已经启动",
                hint_zh=f"运行：kvmlab lab start {c.session.lab.id}",
            )
        ]


def guest_health(c: Checking) -> None:
    """Say it plainly when a lab's guest died or vanished, instead of a wall of red rows."""
    if c.report.passed or not c.session.started:
        return
    c.report.checks[:0] = _guest_rows(c.session)


def _guest_rows(session: LabSession) -> list[Check]:
    rows = []
    domains = libvirt_kind("domain")
    for obj in session.owners.load().of_lab(session.lab.id):
        if obj.kind != "domain" or obj.state != "created" or obj.uri != session.uri:
            continue
        dom = domains.find(session.connection.conn, obj.name, obj.uuid)
        if dom is None and session.lab.guests_migrate:
            continue  # it may have migrated to another host: the lab's checks say where it is
        if dom is None:
            rows.append(
                check(
                    "guest-present",
                    f"guest {obj.name} exists",
                    False,
                    expected="defined",
                    actual="gone",
                    hint=f"kvmlab lab reset {session.lab.id} builds it again",
                    zh=f"虚拟机 {obj.name} 存在",
                    hint_zh=f"kvmlab lab reset {session.lab.id} 会重新创建它",
                )
            )
            continue
        state, reason = dom.state()
        if state == libvirt.VIR_DOMAIN_SHUTOFF and reason == libvirt.VIR_DOMAIN_SHUTOFF_CRASHED:
            rows.append(
                check(
                    "guest-crashed",
                    f"guest {obj.name} is alive",
                    False,
                    expected="running",
                    actual="crashed: its QEMU process died",
                    hint=f"kvmlab lab start {session.lab.id} starts it again (persistent changes are kept); "
                    f"why it died: /var/log/libvirt/qemu/{obj.name}.log",
                    zh=f"虚拟机 {obj.name} 还活着",
                    hint_zh=f"kvmlab lab start {session.lab.id} 会重新启动它（持久化配置保留）；"
                    f"原因见 /var/log/libvirt/qemu/{obj.name}.log",
                )
            )
    return rows


def how_it_was_made(c: Checking) -> None:
    """What the journal says: hints revealed (ever), and whether `lab solve` made this run's state."""
    session, report = c.session, c.report
    record = journal.Journal(session.trainee.name, session.lab.id)
    report.hints_used = record.hints_used()
    if session.started and record.solved_in(session.run_id):
        for row in report.checks:
            if row.passed and row.step:
                row.made_by = "solve"


DEFAULT: tuple[Stage, ...] = (grader_rows, not_started, guest_health, how_it_was_made)


def quiz_feedback(c: Checking) -> None:
    """A failed check brings the lab's questions back into *this trainee's* review schedule."""
    if c.report.passed or not c.session.started:
        return
    from kvmlab.quiz.store import Store  # the quiz is loaded only by callers that ask for this stage

    Store.of_trainee(c.session.trainee.name).lab_failed(c.session.lab.id)


def remember_outcome(c: Checking) -> None:
    """A whole-lab check of a started lab goes into the trainee's journal: the course map reads the last one."""
    if c.only_step is not None or not c.session.started:
        return
    steps = c.report.steps()
    journal.Journal(c.session.trainee.name, c.session.lab.id).checked(
        c.session.run_id, c.report.passed, sum(steps.values()), len(c.report.step_titles), c.report.made_by_solve
    )


def run(session: LabSession, stages: Sequence[Stage], only_step: int | None = None) -> Report:
    c = Checking(session, Report(session.lab.id, session.trainee.name), only_step)
    for stage in stages:
        stage(c)
    return c.report
