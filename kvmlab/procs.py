"""Running host tools (qemu-img, virsh, qemu-system) with argument lists."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Mapping, Sequence

from kvmlab.errors import CommandFailed, HostCannot


def which(tool: str, package: str) -> str:
    path = shutil.which(tool) or shutil.which(tool, path="/usr/sbin:/sbin:/usr/bin:/bin")
    if not path:
        raise HostCannot(f"{tool} is not installed", f"install the Debian package {package} (make setup does)")
    return path


def run(
    argv: Sequence[str],
    *,
    timeout: float = 120,
    check: bool = True,
    input: str | None = None,
    env: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` (never through a shell) and return its output.

    A failure raises CommandFailed carrying the tool's own stderr, which is
    what a trainee needs to see to understand what went wrong.
    """
    try:
        proc = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout, input=input, env=env)
    except FileNotFoundError as err:
        raise HostCannot(f"{argv[0]} is not installed", "run `make setup` to install the host tools") from err
    except subprocess.TimeoutExpired as err:
        raise CommandFailed(f"{' '.join(argv)} did not finish within {timeout:.0f} s") from err
    if check and proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip()
        raise CommandFailed(f"{' '.join(argv)} failed (exit {proc.returncode}): {detail}")
    return proc


def version_line(argv: Sequence[str]) -> str | None:
    """First line of ``tool --version``, or None when the tool is missing."""
    try:
        proc = subprocess.run(list(argv), capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    out = (proc.stdout or proc.stderr).strip().splitlines()
    return out[0] if out else None
