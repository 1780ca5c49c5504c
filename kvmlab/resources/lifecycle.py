"""Lifecycle events a trainee's program recorded, held against libvirt's own log of the domain's runs.

A trainee's lifecycle callback appends one line per event to a file:
``NAME EVENT DETAIL`` (``vm-api STOPPED 1``). Anyone can type such a file,
so it proves little on its own. libvirt logs each run of a domain's QEMU
and why it ended (kvmlab.resources.runlog): a STOPPED line is believed only
when libvirt logged a stop of that domain, since the lab started, for the
reason its detail code names. A guest keeps its name (and may keep its
UUID) across lab resets, so stops logged before the lab started do not count
(with no slack: the previous session's finish stops the guest moments before
the next start).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import libvirt

from kvmlab.resources.runlog import Run
from kvmlab.resources.trainee_file import TraineeFile

# libvirt's detail code of a STOPPED event -> the reason it writes in the domain's log for that stop
# ("shutting down, reason=destroyed"; "from snapshot" is read as its first word).
STOP_REASONS = {
    libvirt.VIR_DOMAIN_EVENT_STOPPED_SHUTDOWN: "shutdown",
    libvirt.VIR_DOMAIN_EVENT_STOPPED_DESTROYED: "destroyed",
    libvirt.VIR_DOMAIN_EVENT_STOPPED_CRASHED: "crashed",
    libvirt.VIR_DOMAIN_EVENT_STOPPED_MIGRATED: "migrated",
    libvirt.VIR_DOMAIN_EVENT_STOPPED_SAVED: "saved",
    libvirt.VIR_DOMAIN_EVENT_STOPPED_FAILED: "failed",
    libvirt.VIR_DOMAIN_EVENT_STOPPED_FROM_SNAPSHOT: "from",
}


@dataclass(frozen=True)
class EventsCompared:
    """A domain's events as recorded, and how they stand against libvirt's log."""

    seen: tuple[str, ...]  # the recorded event names, in order: STARTED, STOPPED...
    unlogged: tuple[str, ...]  # recorded stops libvirt did not log ("STOPPED 1")
    logged: tuple[str, ...]  # the stops libvirt logged since the lab started, by reason
    why: str = ""  # set when there is nothing to compare (no file, no log)

    def saw(self, *events: str) -> bool:
        return set(events) <= set(self.seen)

    @property
    def believable(self) -> bool:
        """Every recorded stop is one libvirt logged (and there was something to compare)."""
        return not self.why and not self.unlogged


class EventsFile:
    def __init__(self, path: str | Path) -> None:
        self.file = TraineeFile(path)

    def events(self, domain: str) -> list[tuple[str, str]] | None:
        """(event, detail) of each line about ``domain``, in order; None when there is no readable file."""
        text = self.file.text()
        if text is None:
            return None
        lines = (line.split() for line in text.splitlines())
        return [
            (parts[1], parts[2] if len(parts) > 2 else "") for parts in lines if len(parts) >= 2 and parts[0] == domain
        ]

    def compared(self, domain: str, runs: list[Run] | None, lab_started: str | Path) -> EventsCompared:
        """The events of ``domain`` against its ``runs`` (Domain.runs()) that ended since the lab started.

        ``lab_started``: a file the lab's start wrote and nobody rewrites; when it was written is when
        this session of the lab began.
        """
        since = written_at(lab_started)
        found = self.events(domain)
        if found is None:
            return EventsCompared((), (), (), f"no events file {self.file.path}")
        seen = tuple(event for event, _ in found)
        if runs is None or since is None:
            return EventsCompared(seen, (), (), f"libvirt's log of {domain}'s runs cannot be read")
        logged = [r.reason for r in runs if r.reason and r.stopped is not None and r.stopped >= since]
        unlogged = []
        for event, detail in found:
            if event != "STOPPED":
                continue
            reason = STOP_REASONS.get(int(detail)) if detail.isdigit() else None
            if reason is None or reason not in logged:
                unlogged.append(f"STOPPED {detail}".strip())
        return EventsCompared(seen, tuple(unlogged), tuple(logged))


def written_at(path: str | Path) -> float | None:
    """When a file was last written (seconds since the epoch); None when it is missing."""
    try:
        return Path(path).stat().st_mtime
    except OSError:
        return None
