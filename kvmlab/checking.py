"""Checking a lab is a pipeline of small steps, in the spirit of nbgrader's preprocessors.

The session runs :data:`DEFAULT` on every check: collect the grader's rows,
say when the lab was never started, and put a dead or missing guest at the
top. Callers append their own steps: the CLI feeds a failed check back into
the *trainee's* quiz schedule, the classroom signs the result into its
gradebook, the notebook adds nothing. Each step takes the session and the
report so far and changes only the report (or what it records elsewhere).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import libvirt

from kvmlab.grading import Check, Report, check, collect
from kvmlab.kinds import libvirt_kind

if TYPE_CHECKING:
    from kvmlab.session import LabSession

Step = Callable[["LabSession", Report], None]


def grader_rows(session: LabSession, report: Report) -> None:
    """The lab's own checks (kvmlab.grading.collect turns an error mid-way into a failed row)."""
    lab = session.lab
    report.checks.extend(collect(lab.id, session.trainee.name, lambda: lab.checks(session.host, session.params)).checks)


def not_started(session: LabSession, report: Report) -> None:
    if not session.started:
        report.checks.insert(
            0,
            check(
                "lab-started",
                "the lab has been started",
                False,
                expected="started",
                actual="not started",
                hint=f"run: kvmlab lab start {session.lab.id}",
            ),
        )


def guest_health(session: LabSession, report: Report) -> None:
    """Say it plainly when a lab's guest died or vanished, instead of a wall of red rows."""
    if report.passed or not session.started:
        return
    report.checks[:0] = _guest_rows(session)


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
                )
            )
    return rows


DEFAULT: tuple[Step, ...] = (grader_rows, not_started, guest_health)


def quiz_feedback(session: LabSession, report: Report) -> None:
    """A failed check brings the lab's questions back into *this trainee's* review schedule."""
    if report.passed or not session.started:
        return
    from kvmlab.quiz.store import Store  # the quiz is loaded only by callers that ask for this step

    Store.of_trainee(session.trainee.name).lab_failed(session.lab.id)


def run(session: LabSession, steps: Sequence[Step]) -> Report:
    report = Report(session.lab.id, session.trainee.name)
    for step in steps:
        step(session, report)
    return report
