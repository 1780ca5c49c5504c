"""VMDK images as host facts: which VMware sub-format a file is.

``qemu-img info`` says "vmdk" for every sub-format; the one vSphere and an
OVA hand over is ``streamOptimized`` (compressed, written in one pass, made
for streaming), not qemu-img's default ``monolithicSparse``. The VMDK's own
descriptor names it (``createType``), and qemu-img reports it among the
format-specific data.
"""

from __future__ import annotations

import json
from pathlib import Path

from kvmlab.procs import run


class VmdkImage:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    @property
    def create_type(self) -> str | None:
        """The VMDK sub-format (streamOptimized, monolithicSparse, monolithicFlat, ...); None if not a VMDK."""
        if not self.path.is_file():
            return None
        proc = run(["qemu-img", "info", "-U", "--output=json", str(self.path)], check=False)
        if proc.returncode != 0:
            return None
        try:
            specific = json.loads(proc.stdout).get("format-specific", {})
        except ValueError:
            return None
        if not isinstance(specific, dict) or specific.get("type") != "vmdk":
            return None
        kind = specific.get("data", {}).get("create-type")
        return kind if isinstance(kind, str) else None
