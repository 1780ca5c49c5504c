"""What a lab needs from the host (root, libvirt networks, bridges, libguestfs), said before anything is made."""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence

from kvmlab.connection import Connection
from kvmlab.errors import HostCannot


def unmet_requirements(requires: Sequence[str], session_uri: bool) -> list[tuple[str, str]]:
    """What this host cannot give a lab, as (what it needs, what to do); [] when it can run."""
    needs = set(requires)
    unmet = []
    if "root" in needs and os.geteuid() != 0:
        unmet.append(
            (
                "needs root (it changes host networking)",
                "run it as root, or pick a lab that runs unprivileged (kvmlab doctor lists them)",
            )
        )
    if "networks" in needs and session_uri:
        unmet.append(
            ("needs libvirt networks, which qemu:///session does not have", "run it as root on qemu:///system")
        )
    if "bridges" in needs and os.geteuid() != 0:
        unmet.append(("creates a Linux bridge, which needs root", "run it as root"))
    if "libguestfs" in needs and not shutil.which("virt-customize"):
        unmet.append(("needs libguestfs (virt-customize)", "apt-get install libguestfs-tools (make setup does)"))
    return unmet


def require(lab_id: str, requires: Sequence[str], connection: Connection) -> None:
    """Refuse early, before anything is made, when the host cannot run this lab."""
    _ = connection.conn  # raises LibvirtUnavailable with what to do
    if "guest" in requires:
        from kvmlab.guest.build import guest_files

        guest_files().require()  # raises GuestNotBuilt with what to do
    unmet = unmet_requirements(requires, connection.is_session)
    if unmet:
        message, hint = unmet[0]
        raise HostCannot(f"lab {lab_id} {message}", hint)
