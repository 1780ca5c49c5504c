"""Lab: change a guest's root password offline, in its disk image (seed question 13).

The seed answers "通过 guestfish 工具 virt-edit". virt-edit is a libguestfs
tool of its own (guestfish is libguestfs's shell), and the usual tool today
is ``virt-customize --root-password``. All of them write the disk directly,
so the guest must be shut off first: start leaves it running on purpose.
"""

from __future__ import annotations

from dataclasses import dataclass

from kvmlab import guestfs
from kvmlab.guest.disk import DEFAULT_ROOT_PASSWORD
from kvmlab.labs._restart import shut_down
from kvmlab.labs.base import Lab, Params, lab
from kvmlab.toolkit import Toolkit

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


@lab(
    "offline-password",
    "Change a guest's root password offline with libguestfs",
    seed=(13,),
    requires=("libvirt", "guest", "libguestfs"),
)
class OfflinePassword(Lab):
    def params(self, kit: Toolkit) -> PasswordParams:
        domain = kit.name("vm-pw")
        return PasswordParams(
            domain=domain,
            disk=str(kit.path(f"{domain}.qcow2")),
            user="root",
            # Letters, digits and '-' only: it goes through a shell in `!virt-customize` cells.
            # Each trainee of a class gets their own, so one cannot hand another the answer.
            password=kit.variant("password", PASSWORDS),
            old_password=DEFAULT_ROOT_PASSWORD,
            uri=kit.uri,
        )

    def start(self, kit: Toolkit) -> None:
        kit.lab_guest(kit.guest_spec("vm-pw"))

    def solve(self, kit: Toolkit) -> None:
        p = self.params(kit)
        shut_down(kit, p.domain)
        guestfs.run_tool(
            ["virt-customize", "-a", p.disk, "--root-password", f"password:{p.password}"], kit.verdict.accel
        )
