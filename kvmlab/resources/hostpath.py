"""A path on the host as facts: what it is (file, symlink, directory), its mode, the room left on its filesystem."""

from __future__ import annotations

import os
import stat
from pathlib import Path


class HostPath:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

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
    def mode(self) -> int | None:
        """Permission bits of what it names (symlinks followed); None when missing."""
        try:
            return self.path.stat().st_mode & 0o7777
        except OSError:
            return None

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
