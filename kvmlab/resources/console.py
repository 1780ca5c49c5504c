"""A lab guest's serial console log, as host facts: did it boot, and from which disk.

The tiny guest prints one readiness line on ttyS0 once it is up::

    KVMLAB-READY hostname=web01 machine-id=4c4c... cpus=2

``hostname`` and ``machine-id`` come from the disk it booted from (the
initramfs alone says ``hostname=kvmlab machine-id=none``), so the line proves
which disk a guest really booted from. The log is truncated at each start
(libvirt's ``append='off'``), so the last line is this boot's.
"""

from __future__ import annotations

from pathlib import Path

# What the guest's init prints once it is up (kvmlab/guest/init.sh); the guest builder imports it from here.
READY_MARKER = b"KVMLAB-READY"
# What the guest prints when it found no disk of its own to read its identity from.
INITRAMFS_IDENTITY = {"hostname": "kvmlab", "machine-id": "none"}
MAX_LOG = 4 << 20  # a boot prints a few KiB; a log this big was not written by a lab guest


class GuestConsole:
    def __init__(self, log: str | Path | None) -> None:
        self.log = Path(log) if log else None

    def _text(self) -> bytes:
        if self.log is None:
            return b""
        try:
            with self.log.open("rb") as f:
                return f.read(MAX_LOG)
        except OSError:
            return b""

    @property
    def ready_line(self) -> str | None:
        """This boot's readiness line (the last one), or None before the guest is ready."""
        lines = [ln for ln in self._text().replace(b"\r", b"").split(b"\n") if READY_MARKER in ln]
        if not lines:
            return None
        last = lines[-1]
        return last[last.index(READY_MARKER) :].decode(errors="replace").strip()

    @property
    def booted(self) -> bool:
        return self.ready_line is not None

    @property
    def identity(self) -> dict[str, str]:
        """The key=value pairs of the readiness line (hostname, machine-id, cpus); {} before it."""
        line = self.ready_line
        if line is None:
            return {}
        return dict(word.split("=", 1) for word in line.split()[1:] if "=" in word)

    @property
    def hostname(self) -> str | None:
        return self.identity.get("hostname")

    @property
    def machine_id(self) -> str | None:
        return self.identity.get("machine-id")

    @property
    def booted_from_own_disk(self) -> bool:
        """Whether it read its identity from a disk (not the initramfs's defaults)."""
        ident = self.identity
        return bool(ident) and ident.get("hostname") != INITRAMFS_IDENTITY["hostname"]
