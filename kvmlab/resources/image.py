"""Disk image files as host facts, read with ``qemu-img info``."""

from __future__ import annotations

import errno
import json
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kvmlab.procs import run
from kvmlab.resources.imagefs import ImageFiles, image_files


@dataclass(frozen=True)
class ImageInfo:
    """What ``qemu-img info --output=json`` says about one image, typed."""

    filename: str
    format: str
    virtual_size: int
    actual_size: int | None = None
    cluster_size: int | None = None
    backing_file: str | None = None  # as qemu-img resolved it (full-backing-filename), else as written
    backing_format: str | None = None
    dirty: bool = False
    corrupt: bool | None = None
    snapshots: Mapping[str, int] = field(default_factory=dict)  # internal snapshots: name -> VM state size

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ImageInfo | None:
        """From qemu-img's JSON (or a trainee's copy of it); None when it does not look like one."""
        try:
            specific = data.get("format-specific", {}).get("data", {})
            backing = data.get("full-backing-filename") or data.get("backing-filename")
            return cls(
                filename=str(data.get("filename", "")),
                format=str(data["format"]),
                virtual_size=int(data["virtual-size"]),
                actual_size=_int_or_none(data.get("actual-size")),
                cluster_size=_int_or_none(data.get("cluster-size")),
                backing_file=str(backing) if backing else None,
                backing_format=data.get("backing-filename-format"),
                dirty=bool(data.get("dirty-flag", False)),
                corrupt=specific.get("corrupt") if isinstance(specific, dict) else None,
                snapshots={str(s["name"]): int(s.get("vm-state-size", 0)) for s in data.get("snapshots", [])},
            )
        except (KeyError, TypeError, ValueError, AttributeError):
            return None


def _int_or_none(value: object) -> int | None:
    return int(value) if isinstance(value, int | str) and str(value).isdigit() else None


class Image:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    @property
    def exists(self) -> bool:
        return self.path.is_file()

    def info(self) -> ImageInfo | None:
        """``qemu-img info``; ``-U`` because a running guest holds the image lock. None when missing or unreadable."""
        if not self.exists:
            return None
        proc = run(["qemu-img", "info", "-U", "--output=json", str(self.path)], check=False)
        return ImageInfo.from_json(json.loads(proc.stdout)) if proc.returncode == 0 else None

    def chain(self) -> list[ImageInfo]:
        """The backing chain, top image first."""
        if not self.exists:
            return []
        proc = run(["qemu-img", "info", "-U", "--backing-chain", "--output=json", str(self.path)], check=False)
        if proc.returncode != 0:
            return []
        return [info for entry in json.loads(proc.stdout) if (info := ImageInfo.from_json(entry)) is not None]

    @property
    def format(self) -> str | None:
        info = self.info()
        return info.format if info else None

    @property
    def virtual_size(self) -> int | None:
        info = self.info()
        return info.virtual_size if info else None

    @property
    def backing_file(self) -> str | None:
        info = self.info()
        return info.backing_file if info else None

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
