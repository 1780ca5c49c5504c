"""One trainee working on one lab: the lab contract (start, check, solve, finish, reset).

Lab modules describe *what* to build, with a kvmlab.toolkit.Toolkit; this
module runs the contract safely: under the trainee's lock, through the
ownership record, rolling back a start that fails half-way so nothing
half-made is left behind.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import libvirt

from kvmlab import checking, journal, paths, variants
from kvmlab.connection import Connection
from kvmlab.errors import KvmlabError, UsageError
from kvmlab.grading import Report
from kvmlab.host import Host
from kvmlab.labs.base import Lab, Params
from kvmlab.ownership import Ownership
from kvmlab.requirements import require
from kvmlab.sandbox import exists, reconcile, remove
from kvmlab.toolkit import Toolkit
from kvmlab.trainee import Trainee

Progress = Callable[[str], None]


@dataclass
class ObjectStatus:
    kind: str
    name: str
    lab: str
    state: str
    present: bool


class LabSession:
    def __init__(
        self, lab: Lab, trainee: Trainee, connection: Connection | None = None, progress: Progress | None = None
    ) -> None:
        self.lab = lab
        self.trainee = trainee
        self.connection = connection or Connection()
        self.owners = Ownership(trainee)
        self.toolkit = Toolkit(lab, trainee, self.connection, self.owners, progress or (lambda _msg: None))

    @property
    def host(self) -> Host:
        return self.toolkit.host

    @property
    def uri(self) -> str:
        return self.connection.uri

    @cached_property
    def params(self) -> Params:
        return self.toolkit.params

    @property
    def lab_dir(self) -> Path:
        return self.toolkit.lab_dir

    @property
    def started(self) -> bool:
        return self.lab.id in self.owners.load().labs

    @property
    def run_id(self) -> str | None:
        """Which run of the lab this is (a new one at each start after a finish); None when not started."""
        info = self.owners.load().labs.get(self.lab.id)
        return None if info is None else info.get("run", info.get("started"))

    # -- the lab contract --------------------------------------------------

    def start(self) -> None:
        require(self.lab.id, self.lab.requires, self.connection)
        with self.owners.locked():
            reconcile(self.owners, self.connection)
            before = {o.key for o in self.owners.record.objects}
            first = self.lab.id not in self.owners.record.labs
            self.owners.lab_started(self.lab.id, self.uri)
            try:
                self.lab.start(self.toolkit)
            except BaseException:
                # Leave nothing half-made: undo what *this* start added.
                self._rollback(before, first)
                raise

    def _rollback(self, before: set[tuple[str, str, str | None]], first: bool) -> None:
        for obj in self.owners.record.removal_order(self.lab.id):
            if obj.key not in before:
                try:
                    remove(self.connection, obj, self.trainee.name)
                    self.owners.drop(obj)
                except (KvmlabError, libvirt.libvirtError, OSError):
                    continue  # stays in the record; the next finish retries it
        if first and not self.owners.record.of_lab(self.lab.id):
            self.owners.lab_finished(self.lab.id)
            variants.release(f"{self.trainee.name}/{self.lab.id}/")
        self._tidy_trainee_dir()

    def solve(self) -> None:
        from kvmlab import exams  # loaded by the commands that can be refused, not by `lab check`

        exams.guard(self.lab.id, self.trainee.name, "lab solve")
        self.start()
        with self.owners.locked():
            # Written first: a solve interrupted half-way still made part of the state.
            journal.Journal(self.trainee.name, self.lab.id).solved(self.run_id or "")
            self.lab.solve(self.toolkit)

    def check(self, stages: Sequence[checking.Stage] = (), step: int | None = None) -> Report:
        """Grade the lab (or one step): the default pipeline (kvmlab.checking), then the caller's own stages."""
        _ = self.connection.conn  # an unreachable libvirtd is an error, not a failed grade
        return checking.run(self, (*checking.DEFAULT, *stages), only_step=step)

    def hint(self, step: int, solution: bool = False, lang: str = "en") -> list[str]:
        """Reveal the next hint level of ``step`` (or its solution) and record it; every level revealed so far.

        Level 1 is the concept, level 2 the shape of the command, the last
        level the solution: the step's cells of the lab's notebook, with the
        trainee's own names filled in.
        """
        from kvmlab import exams

        exams.guard(self.lab.id, self.trainee.name, "the solution" if solution else "a hint")
        numbers = [s.number for s in self.lab.steps() if s.number]
        if step not in numbers:
            listed = ", ".join(map(str, numbers)) or "none"
            raise UsageError(f"lab {self.lab.id} has no step {step}", f"its steps are: {listed}")
        levels = self.hint_levels(step, lang)
        record = journal.Journal(self.trainee.name, self.lab.id)
        level = len(levels) if solution else min(record.hints_used().get(step, 0) + 1, len(levels))
        record.revealed(step, level)
        return levels[:level]

    def hint_levels(self, step: int, lang: str = "en") -> list[str]:
        """Every hint level of ``step``, the solution last (not recorded: see hint())."""
        # Several grader functions may check one step: the first that gives hints speaks for it.
        hints = next((s.hints_in(lang) for s in self.lab.steps() if s.number == step and s.hints), None)
        if hints is None and step not in {s.number for s in self.lab.steps()}:
            return []
        return [*(hints or ()), self.solution(step)]

    def revealed(self, step: int, lang: str = "en") -> list[str]:
        """The levels of ``step`` this trainee already revealed (shown again, not recorded again)."""
        used = journal.Journal(self.trainee.name, self.lab.id).hints_used().get(step, 0)
        return self.hint_levels(step, lang)[:used] if used else []

    def solution(self, step: int) -> str:
        from kvmlab import editions

        source = editions.read(paths.repo_dir() / self.lab.notebook)
        text = editions.solution(source, step)
        return editions.fill(text, self.params.as_dict()) if text else "(this step has no commands to type)"

    def finish(self) -> list[str]:
        """Remove everything this lab owns. Returns notes about things left on purpose."""
        notes: list[str] = []
        with self.owners.locked():
            reconcile(self.owners, self.connection)
            for obj in self.owners.record.removal_order(self.lab.id):
                note = remove(self.connection, obj, self.trainee.name)
                if note:
                    notes.append(note)
                self.owners.drop(obj)
            self.owners.lab_finished(self.lab.id)
            variants.release(f"{self.trainee.name}/{self.lab.id}/")
        self._tidy_trainee_dir()
        return notes

    def _tidy_trainee_dir(self) -> None:
        """The trainee's directory is shared by their labs: removed once the last one empties it."""
        trainee_dir = self.lab_dir.parent
        if trainee_dir.is_dir() and not any(trainee_dir.iterdir()):
            trainee_dir.rmdir()

    def reset(self) -> list[str]:
        notes = self.finish()
        self.start()
        return notes

    def status(self) -> list[ObjectStatus]:
        record = self.owners.load()
        return [
            ObjectStatus(o.kind, o.name, o.lab, o.state, exists(self.connection, o.kind, o.name))
            for o in record.objects
        ]
