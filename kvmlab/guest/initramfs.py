"""Assemble the tiny guest's initramfs as a newc cpio archive, in memory.

Writing the archive ourselves (instead of ``find | cpio``) means no root, no
mknod, and every entry gets exactly the owner and mode we give it.
"""

from __future__ import annotations

import gzip
import stat
from dataclasses import dataclass, field


@dataclass
class Entry:
    mode: int
    data: bytes = b""
    rdev: tuple[int, int] = (0, 0)


@dataclass
class Tree:
    """A file tree destined for the archive: paths are absolute, '/'-separated."""

    entries: dict[str, Entry] = field(default_factory=dict)

    def _parents(self, path: str) -> None:
        parts = path.strip("/").split("/")[:-1]
        for i in range(1, len(parts) + 1):
            parent = "/" + "/".join(parts[:i])
            self.entries.setdefault(parent, Entry(stat.S_IFDIR | 0o755))

    def dir(self, path: str, mode: int = 0o755) -> None:
        self._parents(path)
        self.entries[path] = Entry(stat.S_IFDIR | mode)

    def file(self, path: str, data: bytes | str, mode: int = 0o644) -> None:
        self._parents(path)
        self.entries[path] = Entry(stat.S_IFREG | mode, data.encode() if isinstance(data, str) else data)

    def symlink(self, path: str, target: str) -> None:
        self._parents(path)
        self.entries[path] = Entry(stat.S_IFLNK | 0o777, target.encode())

    def chardev(self, path: str, major: int, minor: int, mode: int = 0o600) -> None:
        self._parents(path)
        self.entries[path] = Entry(stat.S_IFCHR | mode, rdev=(major, minor))

    def __contains__(self, path: str) -> bool:
        return path in self.entries


def _pad(n: int) -> bytes:
    return b"\0" * ((4 - n % 4) % 4)


def _header(ino: int, entry: Entry, name: bytes, size: int) -> bytes:
    fields = [ino, entry.mode, 0, 0, 1, 0, size, 0, 0, entry.rdev[0], entry.rdev[1], len(name) + 1, 0]
    return b"070701" + b"".join(f"{v:08X}".encode() for v in fields)


def cpio_newc(tree: Tree) -> bytes:
    out = bytearray()
    # Parents sort before children, which the kernel's unpacker requires.
    for ino, path in enumerate(sorted(tree.entries), start=1):
        entry = tree.entries[path]
        name = path.lstrip("/").encode()
        head = _header(ino, entry, name, len(entry.data)) + name + b"\0"
        out += head + _pad(len(head)) + entry.data + _pad(len(entry.data))
    trailer = _header(0, Entry(0), b"TRAILER!!!", 0) + b"TRAILER!!!\0"
    out += trailer + _pad(len(trailer))
    return bytes(out)


def compress(archive: bytes) -> bytes:
    # gzip at level 6: the kernel's gunzip is the cheapest decompressor under
    # TCG, which matters more here than a few hundred KiB of size.
    return gzip.compress(archive, compresslevel=6, mtime=0)
