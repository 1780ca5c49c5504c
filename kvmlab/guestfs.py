"""Running libguestfs tools (virt-customize, virt-sysprep, guestfish, virt-edit) on this host.

libguestfs boots a small appliance VM (Debian's kernel from /boot plus a
supermin root) to edit a disk. On these hosts it works only with the
``direct`` backend (libvirt's backend cannot reach the appliance here), and
where KVM is unusable (the accelerator verdict says "tcg") QEMU must be told
``force_tcg``, or it tries /dev/kvm and aborts or hangs. Where KVM works the
setting is left out, so the appliance runs at full speed.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Sequence

from kvmlab.procs import run, which

BACKEND = "direct"
FORCE_TCG = "force_tcg"
# A launch takes ~20-26 s under TCG on a 2-core host; a busy host doubles it.
TOOL_TIMEOUT = 600.0


def env(accel: str) -> dict[str, str]:
    """The environment variables libguestfs needs, for the given accelerator ("kvm" or "tcg")."""
    variables = {"LIBGUESTFS_BACKEND": BACKEND}
    if accel == "tcg":
        variables["LIBGUESTFS_BACKEND_SETTINGS"] = FORCE_TCG
    return variables


def tool_env(accel: str) -> dict[str, str]:
    """This process's environment plus what libguestfs needs (for subprocesses)."""
    merged = dict(os.environ)
    if accel != "tcg" and merged.get("LIBGUESTFS_BACKEND_SETTINGS") == FORCE_TCG:
        del merged["LIBGUESTFS_BACKEND_SETTINGS"]  # left over from a TCG verdict: KVM works now
    merged.update(env(accel))
    return merged


def prepare(accel: str) -> dict[str, str]:
    """Set libguestfs's variables in os.environ, so that `!virt-customize` in notebook cells works.

    Returns the variables set, for the notebook to show.
    """
    if accel != "tcg" and os.environ.get("LIBGUESTFS_BACKEND_SETTINGS") == FORCE_TCG:
        del os.environ["LIBGUESTFS_BACKEND_SETTINGS"]
    variables = env(accel)
    os.environ.update(variables)
    return variables


def run_tool(argv: Sequence[str], accel: str, timeout: float = TOOL_TIMEOUT) -> subprocess.CompletedProcess[str]:
    """Run a libguestfs tool with the right environment; its own error text on failure."""
    which(argv[0], "libguestfs-tools")
    return run(argv, timeout=timeout, env=tool_env(accel))
