"""A path on the host as facts: what it is (file, symlink, directory), its mode and times (birth time
included), whether it may be run, the room left on its filesystem, which file a given path names.

Birth time (statx's ``btime``, ``stat -c %W``) is when the inode was made.
Writing, chmod and ``touch`` leave it alone, so an overlay's birth time says
when it was created even after its guest has written to it for days; set
against another file's modification time, it tells which came first
(a base image written after the overlays on it were made corrupts them).
Python 3.11's ``os.stat`` does not return it on Linux: coreutils' stat asks
statx for it.
"""

from __future__ import annotations

import os
import stat
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
    def kind(self) -> str:
        """``file``, ``symlink``, ``directory``, ``other`` or ``missing``; a symlink is not followed."""
        try:
            mode = os.lstat(self.path).st_mode
        except OSError:
            return "missing"
        if stat.S_ISLNK(mode):
            return "symlink"
        if stat.S_ISREG(mode):
            return "file"
        return "directory" if stat.S_ISDIR(mode) else "other"

    @property
    def executable(self) -> bool:
        """This process may run it (a regular file with an x bit it is allowed)."""
        return self.path.is_file() and os.access(self.path, os.X_OK)

    @property
    def free_bytes(self) -> int | None:
        """Room left for unprivileged writers on the filesystem it is on; None when missing."""
        try:
            fs = os.statvfs(self.path)
        except OSError:
            return None
        return fs.f_bavail * fs.f_frsize

    @property
    def mode(self) -> int | None:
        """Permission bits of what it names, symlinks followed (0o444: nobody may write); None when missing."""
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
