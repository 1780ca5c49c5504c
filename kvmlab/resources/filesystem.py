"""Facts about the filesystem a lab's images live on."""

from __future__ import annotations

import os
from pathlib import Path


def supports_o_direct(directory: Path) -> bool:
    """Can files in ``directory`` be opened with O_DIRECT (what cache=none and io=native need)?

    Tried, not guessed: an anonymous O_TMPFILE is opened with O_DIRECT. It has
    no name, never appears in the directory, and is gone when closed.
    """
    try:
        fd = os.open(directory, os.O_TMPFILE | os.O_RDWR | os.O_DIRECT, 0o600)
    except OSError:
        return False
    os.close(fd)
    return True


def nearest_existing(path: Path) -> Path:
    """``path`` or its closest existing parent (a lab's directory may not exist before start)."""
    for candidate in (path, *path.parents):
        if candidate.is_dir():
            return candidate
    return Path("/")


class Filesystem:
    """The filesystem a path is (or will be) on, as graders see it (``host.filesystem(path)``)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    @property
    def supports_o_direct(self) -> bool:
        """O_DIRECT works there (cache=none, directsync and io=native need it): tried on the nearest directory."""
        return supports_o_direct(nearest_existing(self.path))
