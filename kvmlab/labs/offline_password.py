"""Lab: change a guest's root password offline, in its disk image (seed question 13).

The seed answers "通过 guestfish 工具 virt-edit". virt-edit is a libguestfs
tool of its own (guestfish is libguestfs's shell), and the usual tool today
is ``virt-customize --root-password``. All of them write the disk directly,
so the guest must be shut off first: start leaves it running on purpose.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from kvmlab import guestfs
from kvmlab.guest.disk import DEFAULT_ROOT_PASSWORD
from kvmlab.labs._restart import shut_down
from kvmlab.labs.base import Lab, Params
from kvmlab.session import LabSession

# Lab passwords, not secrets: the first is the canonical one (the default trainee).
PASSWORDS = ("N3w-kvmlab-pw", "Blue-Otter-42", "Quiet-Maple-17", "Red-Comet-93", "Tall-Cedar-58", "Warm-Dune-26")


@dataclass(frozen=True)
class PasswordParams(Params):
    domain: str
    disk: str  # the guest's own disk (a qcow2 overlay on the golden image)
    user: str
    password: str  # what the trainee sets
    old_password: str  # what the image has at start
    uri: str


class OfflinePassword(Lab):
    id: ClassVar[str] = "offline-password"
    title: ClassVar[str] = "Change a guest's root password offline with libguestfs"
    topic: ClassVar[str] = "offline-password"
    seed_questions: ClassVar[tuple[int, ...]] = (13,)
    notebook: ClassVar[str] = "labs/13-offline-password.ipynb"
    requires: ClassVar[tuple[str, ...]] = ("libvirt", "guest", "libguestfs")
    grader: ClassVar[str] = "offline_password"

    def params(self, session: LabSession) -> PasswordParams:
        domain = session.name("vm-pw")
        return PasswordParams(
            domain=domain,
            disk=str(session.path(f"{domain}.qcow2")),
            user="root",
            # Letters, digits and '-' only: it goes through a shell in `!virt-customize` cells.
            # Each trainee of a class gets their own, so one cannot hand another the answer.
            password=session.variant("password", PASSWORDS),
            old_password=DEFAULT_ROOT_PASSWORD,
            uri=session.uri,
        )

    def start(self, session: LabSession) -> None:
        session.lab_guest(session.guest_spec("vm-pw"))

    def solve(self, session: LabSession) -> None:
        p = self.params(session)
        shut_down(session, p.domain)
        guestfs.run_tool(
            ["virt-customize", "-a", p.disk, "--root-password", f"password:{p.password}"], session.verdict.accel
        )
