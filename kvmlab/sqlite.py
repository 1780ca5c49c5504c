"""The private SQLite files kvmlab keeps (quiz progress, the gradebook)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from kvmlab import paths


@contextmanager
def private_db(path: Path, schema: str, timeout: float = 30) -> Iterator[sqlite3.Connection]:
    """One transaction on a database only its owner can read (dir 0700, file 0600)."""
    paths.ensure_dir(path.parent, 0o700)
    db = sqlite3.connect(path, timeout=timeout)
    try:
        db.executescript(schema)
        with db:
            yield db
    finally:
        db.close()
    path.chmod(0o600)
