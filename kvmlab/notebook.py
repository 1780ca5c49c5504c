"""What lab notebooks import: one object per lab, with the trainee's parameters.

from kvmlab.notebook import open_lab
lab = open_lab("hotadd-disk", edition="practice")
lab.start()
p = lab.params            # then: !qemu-img create -f {p.format} {p.image} {p.size_gib}G
lab.step(1)               # "Check this step", hints in levels, the solution (practice edition)
lab.check()               # the "Check my work" panel

Everything here runs in the trainee's kernel, as the trainee: grading,
hints and the exam rules are decided by the lab session on the host, never
by the notebook.
"""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from kvmlab import checking, exams, guestfs
from kvmlab.connection import default_uri
from kvmlab.errors import KvmlabError, UsageError
from kvmlab.grading import Report
from kvmlab.host import Host
from kvmlab.labs import registry
from kvmlab.labs.base import Params
from kvmlab.pictures import Drawing, Plot
from kvmlab.quiz.widget import QuizCard, quiz_card
from kvmlab.session import LabSession
from kvmlab.trainee import current
from kvmlab.widgets import CheckPanel, ProgressPanel, StepPanel, tr

if TYPE_CHECKING:
    from kvmlab.guestpanel import GuestPanel


class StepToDo(KvmlabError):
    """A placeholder the trainee has not replaced yet: stops "Run All" with a plain message."""


def prepare_shell(uri: str | None = None) -> None:
    """Make `!kvmlab` and `!virsh` in cells use this venv and kvmlab's libvirt URI."""
    bindir = str(Path(sys.executable).parent)
    if bindir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bindir + os.pathsep + os.environ.get("PATH", "")
    os.environ["LIBVIRT_DEFAULT_URI"] = uri or default_uri()


class NotebookLab:
    def __init__(
        self, lab_id: str, trainee: str | None = None, edition: str = "guided", lang: str | None = None
    ) -> None:
        from kvmlab import lang as langs

        self.session = LabSession(registry.get(lab_id), current(trainee), progress=print)
        self.edition = edition
        self.lang = lang or langs.default()
        self._progress: ProgressPanel | None = None
        prepare_shell(self.session.uri)

    @property
    def host(self) -> Host:
        """Host facts as graders see them: lab.host.domain(p.domain).guest.read("/proc/partitions")."""
        return self.session.host

    @property
    def params(self) -> Params:
        return self.session.params

    def start(self) -> None:
        self.session.start()
        print(f"Lab {self.session.lab.id} is ready for trainee {self.session.trainee.name} ({self.edition} edition).")
        if "libguestfs" in self.session.lab.requires:
            self.prepare_guestfs()
        self.show_params()

    def prepare_guestfs(self) -> None:
        """Set libguestfs's variables for `!virt-customize` and friends: direct backend, TCG where KVM is unusable."""
        for key, value in guestfs.prepare(self.session.toolkit.verdict.accel).items():
            print(f"libguestfs: {key}={value}")

    def show_host(self) -> None:
        """What *this* host can do, as `kvmlab doctor` finds it now: not what the machine the lab was written on had."""
        from kvmlab import doctor

        data = doctor.report()
        kvm = data["kvm"]
        print(f"/dev/kvm: {'present' if kvm['exists'] else 'absent'}, module {kvm.get('module') or 'none'}")
        print(f"accelerator: {data['accel']} (libvirt domain type {data['domain_type']})")
        print(f"why: {data['accel_reason']}")

    def show_params(self) -> None:
        print("Your parameters (use them as {p.NAME} in ! commands):")
        for key, value in self.params.as_dict().items():
            print(f"  p.{key:<10} = {value}")

    # -- steps, progress, hints ---------------------------------------------------------

    def _graded(self, step: int | None = None) -> Report:
        # "Check my work" (the whole lab) is remembered for the course map, as `lab check` is.
        report = self.session.check((checking.remember_outcome,), step=step).localized(self.lang)
        if self._progress is not None:
            self._progress.update(report)
        return report

    def progress(self) -> ProgressPanel:
        """ "k of n steps done", kept up to date by every check in this notebook."""
        report = self.session.check()
        self._progress = ProgressPanel(len(report.step_titles), self.lang)
        self._progress.update(report)
        return self._progress

    def step(self, number: int) -> StepPanel:
        """Check step ``number``; in the practice edition also its hints and solution."""
        titles = {s.number: s.title_in(self.lang) for s in self.session.lab.steps()}
        if number not in titles:
            raise UsageError(f"lab {self.session.lab.id} has no step {number}", f"its steps: {sorted(titles)}")
        practice = self.edition == "practice"
        return StepPanel(
            tr("Step {n} — {title}", self.lang, n=number, title=titles[number]),
            lambda: self._graded(number),
            (lambda solution: self.session.hint(number, solution, self.lang)) if practice else None,
            self.session.revealed(number, self.lang) if practice else [],
            len(self.session.hint_levels(number)),
            self.lang,
        )

    def todo(self, number: int) -> None:
        """The placeholder of a step the trainee has to write (practice and exam editions)."""
        raise StepToDo(
            f"step {number} is yours to do: this cell still holds its placeholder",
            f"replace `lab.todo({number})` with your own command(s), run the cell, then check the step below it",
        )

    def hint(self, number: int) -> None:
        """Print the next hint of step ``number`` (recorded, like the Hint button)."""
        for level, text in enumerate(self.session.hint(number, lang=self.lang), 1):
            print(f"hint {level}: {text}")

    def solution(self, number: int) -> None:
        """Print the solution of step ``number`` (recorded, like the Show solution button)."""
        print(self.session.hint(number, solution=True, lang=self.lang)[-1])

    def exam(self) -> None:
        """The exam edition's banner: the deadline of the class exam this trainee sits, if any."""
        exam = exams.running_for(self.session.lab.id, self.session.trainee.name)
        if exam is None:
            print("Exam edition: tasks only, no hints, no solutions. No class exam is running for you: time yourself.")
            return
        left = int((exam.deadline - datetime.now(UTC)).total_seconds() // 60)
        print(
            f"Exam of class {exam.class_name}: until {exam.deadline.astimezone():%H:%M} ({left} min left). "
            "Hints, solutions and lab solve are off; the instructor grades at the deadline."
        )

    def guest_panel(self, poll: float = 3.0) -> GuestPanel:
        """The lab's guests as they are now (state, vCPUs, memory, disks and NICs: live, persistent, in the guest),
        redrawn on libvirt's events and every few seconds until the notebook closes."""
        from kvmlab.guestpanel import GuestPanel

        session = self.session

        def guests() -> list[str]:
            return [o.name for o in session.owners.load().of_lab(session.lab.id) if o.kind == "domain"]

        return GuestPanel(session.uri, guests, self.lang, poll)

    def check(self) -> CheckPanel:
        return CheckPanel(self._graded, lang=self.lang)

    def solve(self) -> None:
        """The reference solution (instructors and automated runs); recorded, and refused during an exam."""
        self.session.solve()

    def wait_ready(self, domain: str | None = None) -> None:
        """After `!virsh start`: wait until the guest has booted and its agent answers (default: p.domain)."""
        name = domain or getattr(self.params, "domain", None)
        if not isinstance(name, str) or not name:
            raise UsageError("this lab has no guest of its own to wait for", "name it: lab.wait_ready(DOMAIN)")
        self.session.toolkit.wait_ready(name)

    def quiz(self, lang: str | None = None) -> QuizCard:
        """The quiz card of this lab's topic (same checking and progress as `kvmlab quiz`)."""
        return quiz_card(self.session.lab.topic, lang or self.lang, self.session.trainee.name)

    # -- pictures (kvmlab.pictures: graphviz and matplotlib load when a cell draws) ------------

    def _param(self, name: str, instead: str) -> str:
        value = getattr(self.params, name, None)
        if not isinstance(value, str) or not value:
            raise UsageError(f"lab {self.session.lab.id} has no p.{name}", f"name it: {instead}")
        return value

    def show_chain(self, path: str | None = None, guest: str | None = None) -> Drawing:
        """The backing chain of ``path`` drawn base to active layer (default: the disk of the lab's guest, p.domain)."""
        from kvmlab.pictures import chain

        if path is None:
            guest = guest or self._param("domain", "lab.show_chain('/path/to/image.qcow2')")
            path = chain.guest_disk(self.host, guest)
        return chain.draw_chain(path, guest)

    def show_network(self, only: str | None = None, everything: bool = False) -> Drawing:
        """Guests, taps, bridges and libvirt networks now: this lab's and what its guests plug into (default),
        the objects whose name contains ``only``, or ``everything`` on this host."""
        from kvmlab.pictures import network

        names: str | set[str] | None = only
        if only is None and not everything:
            owned = self.session.owners.load().of_lab(self.session.lab.id)
            names = {o.name for o in owned if o.kind in ("domain", "network", "bridge")} or None
            if names is None:
                print("This lab has no guest or network of its own yet: the whole host is drawn.")
        return network.draw_network(self.host.connection.conn, names)

    def plot_migration(self, samples: list[dict[str, object]] | None = None) -> Plot:
        """Pre-copy rounds: remaining RAM and dirty rate per query-migrate reply (default: the last migration the
        source QEMU traced, p.source_trace)."""
        from kvmlab.pictures import migration

        if samples is not None:
            return migration.plot_migration(samples)
        instead = "lab.plot_migration(samples), a list of query-migrate replies"
        return migration.plot_migration(migration.last_attempt(self._param("source_trace", instead)))

    def plot_bench(self, results: str | dict[str, object] | None = None) -> Plot:
        """qemu-img bench seconds per format and preallocation mode (default: the lab's results file, p.results)."""
        from kvmlab.pictures import bench

        instead = 'lab.plot_bench({"count": N, "runs": [...]})'
        return bench.plot_bench(results if results is not None else self._param("results", instead))

    def finish(self) -> None:
        for note in self.session.finish():
            print(note)
        print(f"Lab {self.session.lab.id} finished: everything it made is gone.")


def open_lab(lab_id: str, trainee: str | None = None, edition: str = "guided", lang: str | None = None) -> NotebookLab:
    return NotebookLab(lab_id, trainee, edition, lang)
