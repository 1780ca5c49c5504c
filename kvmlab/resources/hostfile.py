"""A file on the host as facts: permission bits, times (birth time included), which file a path names.

Birth time (statx's ``btime``, ``stat -c %W``) is when the inode was made.
Writing, chmod and ``touch`` leave it alone, so an overlay's birth time says
when it was created even after its guest has written to it for days; set
against another file's modification time, it tells which came first
(a base image written after the overlays on it were made corrupts them).
Python 3.11's ``os.stat`` does not return it on Linux: coreutils' stat asks
statx for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from kvmlab.procs import run
from kvmlab.resources.trainee_files import same_file


@dataclass(frozen=True)
class FileTimes:
    """A host file's times, in seconds since the epoch (nanosecond precision)."""

    modified: float  # st_mtime: content last written (qemu-img, QEMU, libguestfs all move it)
    changed: float  # st_ctime: inode last changed (content, mode, owner)
    born: float | None  # statx btime: when the file was created; None where the filesystem does not record it


def birth_time(path: Path) -> float | None:
    """statx's birth time of ``path``; None when the filesystem (or the kernel) does not record it."""
    proc = run(["stat", "-c", "%.9W", str(path)], check=False, timeout=10)
    try:
        born = float(proc.stdout.strip())
    except ValueError:  # "-" or "?" on old coreutils, nothing when stat failed
        return None
    return born if proc.returncode == 0 and born > 0 else None  # 0: unknown


class HostFile:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    @property
    def exists(self) -> bool:
        return self.path.exists()

    @property
    def mode(self) -> int | None:
        """Permission bits (0o444: nobody may write); None when missing."""
        try:
            return self.path.stat().st_mode & 0o7777
        except OSError:
            return None

    def times(self) -> FileTimes | None:
        """Its times; None when missing."""
        try:
            st = self.path.stat()
        except OSError:
            return None
        return FileTimes(st.st_mtime_ns / 1e9, st.st_ctime_ns / 1e9, birth_time(self.path))

    def is_named_by(self, given: object) -> bool:
        """Whether a path someone gave (a backing file name, a disk source: symlinks, relative paths) is this file."""
        return same_file(given, self.path)
