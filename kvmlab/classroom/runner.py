"""One command for the whole class: start, grade, finish, exam.

Each trainee's lab runs on the libvirt URI the roster gives. A broken host
or trainee is reported and the run goes on with the rest. Grading happens
here, on the host, from the installed package; results are signed into the
gradebook.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import libvirt

import graders
import kvmlab
from kvmlab import exams, paths
from kvmlab.classroom.gradebook import Gradebook
from kvmlab.classroom.roster import Member, Roster
from kvmlab.connection import Connection
from kvmlab.errors import HostCannot, KvmlabError, LibvirtUnavailable
from kvmlab.grading import Report
from kvmlab.labs import registry
from kvmlab.session import LabSession

Progress = Callable[[str], None]


@dataclass
class Outcome:
    trainee: str
    uri: str
    ok: bool
    detail: str = ""
    report: Report | None = None


def _untrusted(root: Path) -> list[str]:
    """Files under ``root`` that someone other than root could have changed."""
    bad = []
    for path in [root, *root.rglob("*")]:
        if "__pycache__" in path.parts:
            continue
        st = path.lstat()
        if st.st_uid != 0 or st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            bad.append(str(path))
    return bad


def ensure_trusted_install() -> None:
    """Grade only with code trainees cannot write: kvmlab and graders owned by root, not group/world-writable."""
    if os.geteuid() != 0:
        return  # an unprivileged instructor grades their own session; nothing to protect from
    roots = [Path(str(pkg.__file__)).resolve().parent for pkg in (kvmlab, graders)]
    bad = [p for root in roots for p in _untrusted(root)]
    if bad:
        raise HostCannot(
            f"the grading code can be changed by non-root users ({bad[0]}"
            f"{f' and {len(bad) - 1} more' if len(bad) > 1 else ''})",
            "install kvmlab owned by root and not group/world-writable before grading a class",
        )


def set_class_seed(roster: Roster) -> None:
    """Trainees' notebooks and the grader must compute the same variants: the seed goes
    where kvmlab.variants reads it on this host."""
    path = paths.data_dir() / "class" / "seed"
    paths.ensure_dir(path.parent, 0o755)
    path.write_text(roster.seed + "\n")
    path.chmod(0o644)


REMOTE_TIMEOUT = 600.0  # a remote `lab start` boots a guest; a busy TCG host needs minutes


@dataclass(frozen=True)
class Verb:
    """A lab command: a LabSession method for local members, `kvmlab lab NAME` on remote ones."""

    name: str
    method: Callable[[LabSession], Any]


class ClassRunner:
    def __init__(self, roster: Roster, progress: Progress = print, parallel: int = 1) -> None:
        self.roster = roster
        self.progress = progress
        self.parallel = max(1, parallel)
        self._dead_hosts: dict[str, str] = {}
        set_class_seed(roster)

    def _session(self, lab_id: str, member: Member) -> LabSession:
        return LabSession(registry.get(lab_id), member.trainee, Connection(member.uri), progress=lambda _m: None)

    def _remote(self, lab_id: str, member: Member, verb: str) -> Report | None:
        """Run `kvmlab lab VERB` on the trainee's own host through the roster's command prefix."""
        argv = [
            *member.via,
            "env",
            f"KVMLAB_CLASS_SEED={self.roster.seed}",
            f"KVMLAB_URI={member.uri}",
            member.kvmlab,
            "lab",
            verb,
            lab_id,
            "--trainee",
            member.trainee.name,
        ]
        if verb == "check":
            argv.append("--json")
        try:
            proc = subprocess.run(argv, capture_output=True, text=True, timeout=REMOTE_TIMEOUT)
        except (OSError, subprocess.TimeoutExpired) as err:
            raise LibvirtUnavailable(
                f"cannot run kvmlab via {member.where}: {err}", "check the roster's `via` command by hand"
            ) from err
        if verb == "check":
            try:
                return Report.from_dict(json.loads(proc.stdout))
            except (ValueError, KeyError, TypeError):
                pass  # no JSON: the host said why on stderr
        if proc.returncode != 0:
            last = (proc.stderr.strip().splitlines() or [f"exit {proc.returncode}"])[-1]
            error = LibvirtUnavailable if proc.returncode == 3 or proc.returncode == 255 else KvmlabError
            raise error(f"{member.where}: {last}", "")
        return None

    def _one(self, lab_id: str, member: Member, action: Verb) -> Outcome:
        name = member.trainee.name
        if member.where in self._dead_hosts:
            return Outcome(name, member.where, False, f"host unreachable: {self._dead_hosts[member.where]}")
        started = time.monotonic()
        try:
            if member.via:
                result = self._remote(lab_id, member, action.name)
            else:
                result = action.method(self._session(lab_id, member))
        except LibvirtUnavailable as err:
            self._dead_hosts[member.where] = err.message
            return Outcome(name, member.where, False, f"host unreachable: {err.message}")
        except KvmlabError as err:
            return Outcome(name, member.where, False, err.message)
        except libvirt.libvirtError as err:
            return Outcome(name, member.where, False, f"libvirt: {err.get_error_message()}")
        report = result if isinstance(result, Report) else None
        detail = f"{report.score}/{report.max_score}" if report else "done"
        return Outcome(name, member.where, True, f"{detail} in {time.monotonic() - started:.1f} s", report)

    def each(self, lab_id: str, action: Verb) -> list[Outcome]:
        registry.get(lab_id)  # an unknown lab fails once, before touching any host
        members = self.roster.members
        outcomes: list[Outcome] = []

        def run(member: Member) -> Outcome:
            outcome = self._one(lab_id, member, action)
            mark = "ok" if outcome.ok else "FAILED"
            self.progress(
                f"[{len(outcomes) + 1}/{len(members)}] {action.name} {lab_id} for {outcome.trainee} "
                f"({outcome.uri}): {mark} {outcome.detail}"
            )
            outcomes.append(outcome)
            return outcome

        if self.parallel == 1:
            for member in members:
                run(member)
        else:
            with ThreadPoolExecutor(self.parallel) as pool:
                list(pool.map(run, members))
        order = {m.trainee.name: i for i, m in enumerate(members)}
        return sorted(outcomes, key=lambda o: order[o.trainee])

    def start(self, lab_id: str) -> list[Outcome]:
        return self.each(lab_id, Verb("start", LabSession.start))

    def solve(self, lab_id: str) -> list[Outcome]:
        return self.each(lab_id, Verb("solve", LabSession.solve))

    def finish(self, lab_id: str) -> list[Outcome]:
        return self.each(lab_id, Verb("finish", LabSession.finish))

    def grade(self, lab_id: str, gradebook: Gradebook, at_deadline: bool = False) -> list[Outcome]:
        """Grade everybody and sign the results into the gradebook.

        ``at_deadline``: this is the exam's automatic grading, so nothing is late.
        """
        ensure_trusted_install()
        deadline = exam_deadline(self.roster.name, lab_id)
        outcomes = self.each(lab_id, Verb("check", LabSession.check))
        for o in outcomes:
            if o.report is not None:
                gradebook.record(self.roster.name, o.uri, o.report, deadline, late=False if at_deadline else None)
        return outcomes


# -- practical exams -------------------------------------------------------------


def exam_deadline(class_name: str, lab_id: str) -> datetime | None:
    exam = exams.load(class_name)
    return exam.deadline if exam is not None and lab_id in exam.labs else None


ROOT_CAVEAT = (
    "trainees cannot use lab solve, hints or solutions until the deadline; a trainee with root on the lab "
    "host can get round any refusal, so every solve and reveal is also written to their journal, which the "
    "grade shows (made_by_solve, hints_used)"
)


def exam(
    runner: ClassRunner,
    labs: list[str],
    minutes: float,
    gradebook: Gradebook,
    wait: bool = True,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, list[Outcome]]:
    """Start the labs with a deadline; at the deadline grade them all. Later grades are marked late."""
    for lab_id in labs:
        registry.get(lab_id)
    deadline = datetime.now(UTC) + timedelta(minutes=minutes)
    trainees = [m.trainee.name for m in runner.roster.members]
    exams.start(runner.roster.name, labs, trainees, deadline, gradebook.key)
    runner.progress(f"exam of {runner.roster.name}: {ROOT_CAVEAT}")
    results = {lab_id: runner.start(lab_id) for lab_id in labs}
    if not wait:
        runner.progress(f"exam running until {deadline.astimezone():%H:%M:%S}; grade with kvmlab class grade")
        return results
    while (left := (deadline - datetime.now(UTC)).total_seconds()) > 0:
        runner.progress(f"exam: {int(left // 60)}:{int(left % 60):02d} left")
        sleep(min(left, 60))
    return {lab_id: runner.grade(lab_id, gradebook, at_deadline=True) for lab_id in labs}
