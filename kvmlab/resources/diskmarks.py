"""Marks written into a lab guest's disk, read back through its backing chain: is it still the same disk?

A lab that breaks a guest's storage writes a pattern at start into the base
image and another into the overlay, in a region of the tiny guest's disk that
holds no data (ext4 block group 6). A fix that keeps the disk keeps both; a
fresh disk, or a new empty base under the overlay, boots just as well but has
lost them, as a server would have lost its data.
"""

from __future__ import annotations

import os
from pathlib import Path

from kvmlab.procs import run

BASE_MARK_OFFSET = 50 * 1024 * 1024  # written into the base image
IMAGE_MARK_OFFSET = 54 * 1024 * 1024  # written into the overlay on it
MARK_BYTES = 64 * 1024


def write_mark(image: str | Path, byte: int, offset: int) -> None:
    """Fill MARK_BYTES at ``offset`` of a qcow2 image with ``byte``."""
    run(["qemu-io", "-f", "qcow2", "-c", f"write -P {byte} {offset} {MARK_BYTES}", str(image)])


class DiskMarks:
    def __init__(self, image: str | Path) -> None:
        self.image = Path(image)

    def read_back(self, byte: int) -> tuple[bool, str]:
        """Do both marks (the base's and the overlay's) read back through the chain? And what was seen."""
        if not os.path.lexists(self.image):
            return False, f"{self.image} is missing"
        # -r -U: read-only, without the lock a running guest holds
        argv = ["qemu-io", "-r", "-U", "-f", "qcow2"]
        for offset in (BASE_MARK_OFFSET, IMAGE_MARK_OFFSET):
            argv += ["-c", f"read -P {byte} {offset} {MARK_BYTES}"]
        proc = run([*argv, str(self.image)], check=False)
        text = (proc.stdout + proc.stderr).strip()
        if proc.returncode == 0 and "Pattern verification failed" not in text:
            return True, "the overlay's data and its base's read back"
        if "Pattern verification failed" in text:
            return False, "the disk opens, but the data written before the fault is not on it (a fresh disk?)"
        return False, f"the disk does not open: {text.splitlines()[-1] if text else 'qemu-io failed'}"
