"""Small JSON files every kvmlab process on a host shares (subnet allocations, the KSM lease)."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from kvmlab import paths


@contextlib.contextmanager
def locked_json(path: Path) -> Iterator[dict[str, Any]]:
    """Read, change and write ``path`` under an exclusive lock (``path`` with .lock).

    The write is atomic (a rename); a mapping left empty removes the file, so
    nothing stays behind once nobody holds anything.
    """
    paths.ensure_dir(path.parent)
    fd = os.open(path.with_suffix(".lock"), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            data: dict[str, Any] = json.loads(path.read_text())
        except (OSError, ValueError):
            data = {}
        yield data
        if data:
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
            tmp.replace(path)
        else:
            path.unlink(missing_ok=True)
    finally:
        os.close(fd)
