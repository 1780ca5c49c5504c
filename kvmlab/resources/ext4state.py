"""The ext4 filesystem of a disk image, as its superblock says (no journal replay, no mount).

A mounted ext4 keeps its journal's ``needs_recovery`` flag set on disk until
it is unmounted or frozen: fsfreeze (what ``virsh snapshot-create-as
--quiesce`` and ``virsh domfsfreeze`` ask the guest agent for) flushes the
journal and clears the flag before the freeze. So a copy of a running
guest's disk taken at a quiesced snapshot has it clear; one taken without
the freeze (a snapshot without --quiesce, a copy made behind QEMU's back)
has it set: crash-consistent only, usable after a journal replay.
kvmlab.resources.imagefs replays the journal before reading files, so this
reads the superblock itself, before any of that.
"""

from __future__ import annotations

import struct
import tempfile
from pathlib import Path

from kvmlab.procs import run

SUPERBLOCK = 1024  # bytes into a whole-disk ext4 filesystem
EXT4_MAGIC = 0xEF53
MAGIC_AT, INCOMPAT_AT = 0x38, 0x60  # offsets inside the superblock
INCOMPAT_RECOVER = 0x4  # needs_recovery: the journal holds transactions not yet written in place


class Ext4Image:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def _superblock(self) -> bytes | None:
        if not self.path.is_file():
            return None
        with tempfile.TemporaryDirectory(prefix="kvmlab-sb-") as tmp:
            out = Path(tmp) / "sb"
            # The first 2 KiB, superblock included (qemu-img 7.2's dd counts skipped blocks in count=).
            proc = run(
                ["qemu-img", "dd", "-U", "-O", "raw", "bs=1024", "count=2", f"if={self.path}", f"of={out}"],
                check=False,
            )
            if proc.returncode != 0 or not out.is_file():
                return None
            data = out.read_bytes()[SUPERBLOCK:]
        return data if len(data) >= INCOMPAT_AT + 4 else None

    @property
    def needs_recovery(self) -> bool | None:
        """Whether the journal must be replayed before the filesystem is consistent; None when it holds no ext4."""
        sb = self._superblock()
        if sb is None or struct.unpack_from("<H", sb, MAGIC_AT)[0] != EXT4_MAGIC:
            return None
        return bool(struct.unpack_from("<I", sb, INCOMPAT_AT)[0] & INCOMPAT_RECOVER)
