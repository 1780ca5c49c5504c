"""A process started by hand (QEMU without libvirt), known by its pid file.

A pid file alone proves nothing: the process may have exited and its PID been
reused by something else. A process counts as *the one in the pid file* only
while its own command line still names that pid file (``-pidfile PATH``), so
kvmlab never signals a stranger that inherited the number.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
from collections.abc import Callable
from pathlib import Path

PROC = Path("/proc")


def argv_of(pid: int) -> list[str]:
    try:
        raw = (PROC / str(pid) / "cmdline").read_bytes()
    except OSError:
        return []
    return [arg.decode(errors="replace") for arg in raw.split(b"\0") if arg]


def has_exited(pid: int) -> bool:
    """Gone, or a zombie waiting for its parent: either way it runs nothing."""
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return True
    # The state letter follows the command name in parentheses, which may itself hold spaces.
    return stat.rpartition(")")[2].split()[:1] == ["Z"]


class PidFileProcess:
    def __init__(self, pid_file: str | Path) -> None:
        self.pid_file = Path(pid_file)

    @property
    def pid(self) -> int | None:
        """The number written in the pid file; None when there is no usable one."""
        try:
            with self.pid_file.open("rb") as f:
                text = f.read(32).decode(errors="replace").strip()  # a PID, not whatever else was put there
        except OSError:
            return None
        return int(text) if text.isdigit() and int(text) > 0 else None

    def argv(self) -> list[str]:
        """The command line of the process named in the pid file ([] when none runs)."""
        pid = self.pid
        return argv_of(pid) if pid is not None and not has_exited(pid) else []

    @staticmethod
    def names_pid_file(argv: list[str], pid_file: Path) -> bool:
        """Whether ``argv`` was started with ``pid_file`` as its pid file (-pidfile P, --pidfile=P)."""
        path = str(pid_file)
        return any(arg == path or arg.endswith("=" + path) for arg in argv[1:])

    @property
    def is_running(self) -> bool:
        """A live process whose command line still names this pid file."""
        return self.names_pid_file(self.argv(), self.pid_file)

    def stop(self, grace: float = 5.0) -> str | None:
        """SIGTERM, then SIGKILL, only the process this pid file names. Returns a note if it left one alone."""
        pid = self.pid
        if pid is None:
            return None

        def still_ours(argv: list[str]) -> str | None:
            if self.names_pid_file(argv, self.pid_file):
                return None
            return f"pid {pid} from {self.pid_file} now runs {argv[0]}, not the recorded process: left alone"

        return stop_process(pid, still_ours, grace, what=f"pid {pid} from {self.pid_file}")


def stop_process(
    pid: int, still_ours: Callable[[list[str]], str | None], grace: float = 5.0, what: str | None = None
) -> str | None:
    """SIGTERM, then SIGKILL, one process kvmlab started: the only code in kvmlab that kills.

    The process is pinned with a pidfd *before* its command line is read and
    ``still_ours(argv)`` is asked (None: ours; else the note to leave), so a
    PID reused between the check and the signal is never hit; the pidfd also
    says when that very process has exited. A process whose command line
    cannot be read (a kernel thread, or one caught mid-exec) is never proven
    ours and is left alone.
    """
    what = what or f"pid {pid}"
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        return None  # it exited: nothing to stop
    try:
        if has_exited(pid):
            return None
        argv = argv_of(pid)
        if not argv:
            return f"{what} has no readable command line: left alone"
        note = still_ours(argv)
        if note is not None:
            return note
        for sig in (signal.SIGTERM, signal.SIGKILL):
            with contextlib.suppress(ProcessLookupError):
                signal.pidfd_send_signal(pidfd, sig)
            # A pidfd turns readable once its process has exited (zombie or reaped).
            if select.select([pidfd], [], [], grace)[0]:
                return None
        return f"pid {pid} ({argv[0]}) did not exit after SIGKILL"
    finally:
        os.close(pidfd)
