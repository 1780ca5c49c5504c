"""Disk image files as host facts, read with ``qemu-img info``."""

from __future__ import annotations

import errno
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from kvmlab.procs import run
from kvmlab.resources.imagefs import ImageFiles, image_files


class Image:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    @property
    def exists(self) -> bool:
        return self.path.is_file()

    def info(self) -> dict[str, Any] | None:
        """``qemu-img info``; ``-U`` because a running guest holds the image lock."""
        if not self.exists:
            return None
        proc = run(["qemu-img", "info", "-U", "--output=json", str(self.path)], check=False)
        return json.loads(proc.stdout) if proc.returncode == 0 else None

    def chain(self) -> list[dict[str, Any]]:
        """The backing chain, top image first."""
        if not self.exists:
            return []
        proc = run(["qemu-img", "info", "-U", "--backing-chain", "--output=json", str(self.path)], check=False)
        return list(json.loads(proc.stdout)) if proc.returncode == 0 else []

    @property
    def format(self) -> str | None:
        info = self.info()
        return info.get("format") if info else None

    @property
    def virtual_size(self) -> int | None:
        info = self.info()
        return int(info["virtual-size"]) if info else None

    @property
    def backing_file(self) -> str | None:
        info = self.info()
        return info.get("full-backing-filename") or info.get("backing-filename") if info else None

    def check(self) -> tuple[bool, str]:
        """``qemu-img check``: (clean, what it said). Raw images have nothing to check."""
        proc = run(["qemu-img", "check", "-U", str(self.path)], check=False)
        text = (proc.stdout + proc.stderr).strip()
        return proc.returncode == 0 or "does not support checks" in text, text

    @property
    def mode(self) -> int | None:
        """Permission bits (0o444 for a read-only base image); None when missing."""
        return self.path.stat().st_mode & 0o7777 if self.exists else None

    @contextmanager
    def files(self, snapshot: str | None = None) -> Iterator[ImageFiles]:
        """Read files inside the image (or one of its internal snapshots) without booting or mounting it.

        See kvmlab.resources.imagefs.
        """
        with image_files(self.path, snapshot) as fs:
            yield fs

    @property
    def allocated(self) -> int | None:
        """Bytes the host really stores for this file (``du``, ``ls -s``: st_blocks), not its length."""
        return self.path.stat().st_blocks * 512 if self.exists else None

    @property
    def apparent_size(self) -> int | None:
        """The file's length (``ls -l``, ``du --apparent-size``): holes count, as in the guest's view."""
        return self.path.stat().st_size if self.exists else None

    @property
    def data_bytes(self) -> int | None:
        """Bytes in the file's data extents (lseek SEEK_DATA/SEEK_HOLE, as ``cp --sparse`` sees them).

        Blocks reserved with fallocate() but never written are holes here while
        ``allocated`` counts them: that is how preallocation=falloc and =full differ.
        """
        if not self.exists:
            return None
        fd = os.open(self.path, os.O_RDONLY)
        try:
            size, offset, total = os.fstat(fd).st_size, 0, 0
            while offset < size:
                try:
                    start = os.lseek(fd, offset, os.SEEK_DATA)
                except OSError as err:
                    if err.errno == errno.ENXIO:  # no data after offset
                        break
                    raise
                offset = os.lseek(fd, start, os.SEEK_HOLE)
                total += offset - start
            return total
        finally:
            os.close(fd)

    def map(self) -> list[dict[str, Any]]:
        """``qemu-img map --output=json``: which guest ranges are data, zero or unallocated, and where they live."""
        if not self.exists:
            return []
        proc = run(["qemu-img", "map", "-U", "--output=json", str(self.path)], check=False)
        return list(json.loads(proc.stdout)) if proc.returncode == 0 else []
