"""Typed errors. Library code raises these; only the CLI turns them into exits.

Every message says what went wrong *and* what to do about it, because the
people reading it are trainees in the middle of a lab.
"""

from __future__ import annotations


class KvmlabError(Exception):
    """Base class: ``str(err)`` is the message, ``err.hint`` the next step."""

    exit_code = 1

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message}\n  what to do: {self.hint}" if self.hint else self.message

    def _render_traceback_(self) -> list[str]:
        """IPython shows this instead of a traceback when a notebook cell fails."""
        lines = [f"\x1b[1;31mkvmlab: {self.message}\x1b[0m"]
        if self.hint:
            lines.append(f"what to do: {self.hint}")
        return lines


class UsageError(KvmlabError):
    """The command line or an argument is wrong."""

    exit_code = 2


class UnknownLab(UsageError):
    pass


class InvalidName(UsageError):
    """A trainee or object name that kvmlab refuses to use."""


class LibvirtUnavailable(KvmlabError):
    """libvirtd cannot be reached at the chosen URI."""

    exit_code = 3


class GuestNotBuilt(KvmlabError):
    exit_code = 4


class HostCannot(KvmlabError):
    """The host lacks something a lab needs (root, bridges, libguestfs...)."""

    exit_code = 5


class NotOwned(KvmlabError):
    """An object exists under a name the lab wants, but the trainee does not own it."""

    exit_code = 6


class Busy(KvmlabError):
    """Another kvmlab command holds this trainee's lock."""

    exit_code = 7


class CommandFailed(KvmlabError):
    """An external tool (qemu-img, virsh...) failed."""


class XMLRejected(UsageError):
    """XML that is malformed or uses DTDs/entities (refused on purpose)."""


class GuestTimeout(KvmlabError):
    pass
