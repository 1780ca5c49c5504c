"""What lab notebooks import: one object per lab, with the trainee's parameters.

from kvmlab.notebook import open_lab
lab = open_lab("hotadd-disk")
lab.start()
p = lab.params            # then: !qemu-img create -f {p.format} {p.image} {p.size_gib}G
lab.check()               # the "Check my work" panel
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from kvmlab import guestfs
from kvmlab.connection import default_uri
from kvmlab.errors import UsageError
from kvmlab.host import Host
from kvmlab.labs import registry
from kvmlab.labs.base import Params
from kvmlab.quiz.widget import QuizCard, quiz_card
from kvmlab.session import LabSession
from kvmlab.trainee import current
from kvmlab.widgets import CheckPanel


def prepare_shell(uri: str | None = None) -> None:
    """Make `!kvmlab` and `!virsh` in cells use this venv and kvmlab's libvirt URI."""
    bindir = str(Path(sys.executable).parent)
    if bindir not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = bindir + os.pathsep + os.environ.get("PATH", "")
    os.environ["LIBVIRT_DEFAULT_URI"] = uri or default_uri()


class NotebookLab:
    def __init__(self, lab_id: str, trainee: str | None = None) -> None:
        self.session = LabSession(registry.get(lab_id), current(trainee), progress=print)
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
        print(f"Lab {self.session.lab.id} is ready for trainee {self.session.trainee.name}.")
        if "libguestfs" in self.session.lab.requires:
            self.prepare_guestfs()
        self.show_params()

    def prepare_guestfs(self) -> None:
        """Set libguestfs's variables for `!virt-customize` and friends: direct backend, TCG where KVM is unusable."""
        for key, value in guestfs.prepare(self.session.toolkit.verdict.accel).items():
            print(f"libguestfs: {key}={value}")

    def show_params(self) -> None:
        print("Your parameters (use them as {p.NAME} in ! commands):")
        for key, value in self.params.as_dict().items():
            print(f"  p.{key:<10} = {value}")

    def check(self) -> CheckPanel:
        return CheckPanel(self.session.check)

    def solve(self) -> None:
        """The reference solution (for instructors and automated runs)."""
        self.session.solve()

    def wait_ready(self, domain: str | None = None) -> None:
        """After `!virsh start`: wait until the guest has booted and its agent answers (default: p.domain)."""
        name = domain or getattr(self.params, "domain", None)
        if not isinstance(name, str) or not name:
            raise UsageError("this lab has no guest of its own to wait for", "name it: lab.wait_ready(DOMAIN)")
        self.session.toolkit.wait_ready(name)

    def quiz(self, lang: str = "en") -> QuizCard:
        """The quiz card of this lab's topic (same checking and progress as `kvmlab quiz`)."""
        return quiz_card(self.session.lab.topic, lang, self.session.trainee.name)

    def finish(self) -> None:
        for note in self.session.finish():
            print(note)
        print(f"Lab {self.session.lab.id} finished: everything it made is gone.")


def open_lab(lab_id: str, trainee: str | None = None) -> NotebookLab:
    return NotebookLab(lab_id, trainee)
