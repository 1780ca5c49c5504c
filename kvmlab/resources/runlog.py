"""When a domain ran, from libvirt's own log of its QEMU processes.

libvirt appends to ``/var/log/libvirt/qemu/NAME.log`` (qemu:///system) or
``~/.cache/libvirt/qemu/log/NAME.log`` (qemu:///session) a ``starting up``
line, the QEMU command line (with ``-uuid``) and, when QEMU ends, a
``shutting down, reason=...`` line: ``shutdown`` when the guest powered
itself off, ``destroyed`` after ``virsh destroy``, ``crashed``, ``failed``.
The log outlives the domain, so runs are told apart by the domain's UUID.

This is the only history of a domain's power state libvirt keeps; graders
use it to tell whether a disk was changed while its guest was running.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

_STAMP = r"(?P<stamp>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+[+-]\d{4}): "
_START = re.compile(_STAMP + r"starting up\b")
_STOP = re.compile(_STAMP + r"shutting down, reason=(?P<reason>\w+)")
_UUID = re.compile(r"^-uuid (?P<uuid>[0-9a-f-]{36})\b")


@dataclass(frozen=True)
class Run:
    started: float  # seconds since the epoch
    stopped: float | None  # None: still running, as far as the log says
    reason: str | None  # why it stopped: shutdown, destroyed, crashed, failed, ...
    uuid: str | None

    def covers(self, when: float, now: float, slack: float = 0.0) -> bool:
        """True when ``when`` falls within this run (widened by ``slack`` seconds either side)."""
        end = self.stopped if self.stopped is not None else now
        return self.started - slack <= when <= end + slack


def log_path(uri: str, name: str) -> Path:
    if "/session" in uri:
        cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        return Path(cache) / "libvirt" / "qemu" / "log" / f"{name}.log"
    return Path("/var/log/libvirt/qemu") / f"{name}.log"


def _when(stamp: str) -> float:
    return datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S.%f%z").timestamp()


def parse(text: str) -> list[Run]:
    runs: list[Run] = []
    started: float | None = None
    uuid: str | None = None
    for line in text.splitlines():
        if m := _START.match(line):
            if started is not None:
                # No stop line (libvirtd restarted, log cut): assume it ran until this start.
                runs.append(Run(started, _when(m["stamp"]), None, uuid))
            started, uuid = _when(m["stamp"]), None
        elif started is not None and uuid is None and (u := _UUID.match(line)):
            uuid = u["uuid"]
        elif started is not None and (m := _STOP.match(line)):
            runs.append(Run(started, _when(m["stamp"]), m["reason"], uuid))
            started, uuid = None, None
    if started is not None:
        runs.append(Run(started, None, None, uuid))
    return runs


def runs(uri: str, name: str, uuid: str | None = None) -> list[Run] | None:
    """The domain's runs, oldest first (only those of ``uuid`` if given); None when the log is unreadable."""
    try:
        text = log_path(uri, name).read_text(errors="replace")
    except OSError:
        return None
    found = parse(text)
    return [r for r in found if r.uuid == uuid] if uuid else found
