"""Files inside a disk image, read without booting it and without mounting it.

Graders must not launch libguestfs (~25 s a look under TCG) nor mount a
trainee's image on the host. Instead the image (qcow2 chain or raw) is
converted to a temporary raw file, its ext4 journal is replayed there (a
guest that was powered off leaves committed changes in the journal), and
``debugfs`` reads it: about 10 ms a question. The image itself is opened
read-only with ``-U``, so a running guest's disk can be read too.

Only a whole-disk ext4 filesystem (the lab images) is understood: a disk
with a partition table raises :class:`ImageUnreadable`.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from kvmlab.errors import KvmlabError
from kvmlab.procs import run, which

CONVERT_TIMEOUT = 120.0


class ImageUnreadable(KvmlabError):
    """The image is missing, not an image qemu-img reads, or holds no whole-disk ext4."""


@dataclass(frozen=True)
class FileTimes:
    """An inode's times as the kernel that last wrote it set them (seconds since the epoch, UTC)."""

    mtime: float  # content last written
    ctime: float  # inode last changed (content, mode, owner, rename): cannot be set with touch(1)


_TIME = re.compile(r"^\s*(?P<kind>[acm]time|crtime):\s*0x(?P<sec>[0-9a-f]+)(?::(?P<extra>[0-9a-f]+))?", re.M)


def _inode_time(sec_hex: str, extra_hex: str | None) -> float:
    seconds = int(sec_hex, 16)
    if seconds >= 1 << 31:
        seconds -= 1 << 32  # a signed 32-bit field
    if extra_hex is None:
        return float(seconds)
    extra = int(extra_hex, 16)
    # ext4's extra field: 2 epoch bits (times after 2038), then nanoseconds.
    return seconds + ((extra & 3) << 32) + (extra >> 2) / 1e9


class ImageFiles:
    """An ext4 filesystem in a raw file, asked through debugfs in read-only, catastrophic mode."""

    def __init__(self, raw: Path) -> None:
        self.raw = raw
        self._debugfs = which("debugfs", "e2fsprogs")

    def _ask(self, request: str) -> tuple[bytes, str]:
        # -c: read-only, no bitmaps (fast); the request is one debugfs command, paths unquoted.
        proc = subprocess.run(
            [self._debugfs, "-c", "-R", request, str(self.raw)], capture_output=True, timeout=30, check=False
        )
        err = proc.stderr.decode(errors="replace")
        return proc.stdout, "\n".join(line for line in err.splitlines() if not line.startswith("debugfs "))

    @staticmethod
    def _safe(path: str) -> str:
        if not path.startswith("/") or any(c in path for c in "\n\r\"' "):
            raise ValueError(f"not a plain absolute path: {path!r}")
        return path

    def exists(self, path: str) -> bool:
        out, err = self._ask(f"stat {self._safe(path)}")
        return bool(out) and "not found" not in err

    def read(self, path: str) -> str | None:
        """The file's text, or None when there is no such file."""
        if not self.exists(path):
            return None
        out, _err = self._ask(f"cat {self._safe(path)}")
        return out.decode(errors="replace")

    def times(self, path: str) -> FileTimes | None:
        out, err = self._ask(f"stat {self._safe(path)}")
        if not out or "not found" in err:
            return None
        found = {m["kind"]: _inode_time(m["sec"], m["extra"]) for m in _TIME.finditer(out.decode(errors="replace"))}
        if "mtime" not in found or "ctime" not in found:
            return None
        return FileTimes(mtime=found["mtime"], ctime=found["ctime"])

    def fsck(self) -> tuple[bool, str]:
        """``e2fsck -fn``: (consistent, what it said). Read-only: nothing is repaired."""
        proc = run([which("e2fsck", "e2fsprogs"), "-fn", str(self.raw)], check=False)
        said = (proc.stdout + proc.stderr).strip()
        return proc.returncode == 0, said

    def listdir(self, path: str) -> list[str] | None:
        """Names in a directory (without . and ..), or None when it does not exist."""
        out, err = self._ask(f"ls -p {self._safe(path)}")
        if "not found" in err or not out:
            return None
        names = []
        for line in out.decode(errors="replace").splitlines():
            fields = line.split("/")  # /inode/mode/uid/gid/name/size/
            if len(fields) >= 7 and fields[5] not in (".", ".."):
                names.append(fields[5])
        return sorted(names)


@contextmanager
def image_files(image: Path, snapshot: str | None = None) -> Iterator[ImageFiles]:
    """Convert ``image`` to a temporary raw copy, replay its journal, and read files from it.

    ``snapshot`` names an internal qcow2 snapshot to read instead of the image's current state.
    """
    if not image.is_file():
        raise ImageUnreadable(f"there is no image at {image}", "check the path (qemu-img info)")
    if snapshot is not None and (not snapshot or any(c in snapshot for c in ",=\n")):
        raise ValueError(f"not a plain snapshot name: {snapshot!r}")
    with tempfile.TemporaryDirectory(prefix="kvmlab-imagefs-") as tmp:
        raw = Path(tmp) / "disk.raw"
        from_snapshot = ["-l", f"snapshot.name={snapshot}"] if snapshot is not None else []
        proc = run(
            ["qemu-img", "convert", "-U", *from_snapshot, "-O", "raw", str(image), str(raw)],
            check=False,
            timeout=CONVERT_TIMEOUT,
        )
        if proc.returncode != 0:
            raise ImageUnreadable(
                f"qemu-img cannot read {image}: {(proc.stderr or proc.stdout).strip()}",
                "qemu-img info and qemu-img check say what is wrong with it",
            )
        # Journal only: committed transactions are applied to the copy, nothing is "repaired".
        # Exit 0 (clean) or 1 (journal replayed) both mean the copy is now consistent.
        fsck = run([which("e2fsck", "e2fsprogs"), "-E", "journal_only", "-p", str(raw)], check=False)
        if fsck.returncode > 1:
            said = (fsck.stderr or fsck.stdout).strip().splitlines()
            raise ImageUnreadable(
                f"{image} does not hold a whole-disk ext4 filesystem kvmlab can read"
                + (f" ({said[0]})" if said else ""),
                "the lab images are whole-disk ext4; virt-filesystems -a IMAGE lists what this one holds",
            )
        yield ImageFiles(raw)
