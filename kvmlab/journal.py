"""What a trainee revealed and what `lab solve` did, per trainee and lab: the journal graders read.

An append-only file of JSON lines next to the trainee's ownership record.
It outlives ``finish`` and ``reset`` on purpose: a hint once read stays
read. Each ``solve`` is tied to the lab *run* it changed (the id the
ownership record gives each start), so a fresh start is the trainee's own
work again while the hints they used are still counted.

The journal is as trustworthy as the account that writes it: a trainee with
root (or their own data directory) can delete it. The README says so; a
class grades on the instructor's side what the journal says at that moment.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from kvmlab import paths

MAX_LINE = 512  # an event is ~100 bytes; longer lines were not written by kvmlab


def journal_path(trainee: str) -> Path:
    return paths.owners_dir() / f"{trainee}.journal"


class Journal:
    def __init__(self, trainee: str, lab: str) -> None:
        self.trainee = trainee
        self.lab = lab
        self.path = journal_path(trainee)

    def _append(self, event: dict[str, Any]) -> None:
        paths.ensure_dir(self.path.parent, 0o700)
        line = json.dumps({"at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "lab": self.lab, **event})
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # one line at a time, whole
            os.write(fd, (line + "\n").encode())
        finally:
            os.close(fd)

    def events(self) -> Iterator[dict[str, Any]]:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return
        for line in raw.splitlines():
            if len(line) > MAX_LINE:
                continue
            try:
                event = json.loads(line)
            except ValueError:
                continue  # a torn or edited line tells nothing
            if isinstance(event, dict) and event.get("lab") == self.lab:
                yield event

    def revealed(self, step: int, level: int) -> None:
        """The trainee read hint ``level`` of ``step`` (the last level is the solution)."""
        self._append({"event": "hint", "step": step, "level": level})

    def solved(self, run: str) -> None:
        self._append({"event": "solve", "run": run})

    def checked(self, run: str | None, passed: bool, done: int, steps: int, by_solve: bool) -> None:
        """A whole-lab check the trainee ran: the course map's "passed" outlives ``finish`` this way."""
        self._append(
            {"event": "check", "run": run, "passed": passed, "done": done, "steps": steps, "by_solve": by_solve}
        )

    def last_check(self) -> dict[str, Any] | None:
        """The trainee's last whole-lab check ({passed, done, steps, by_solve, at}), if any."""
        last = None
        for e in self.events():
            if e.get("event") == "check" and isinstance(e.get("passed"), bool):
                last = e
        return last

    def hints_used(self) -> dict[int, int]:
        """Per step, the highest hint level the trainee revealed."""
        used: dict[int, int] = {}
        for e in self.events():
            if e.get("event") == "hint" and isinstance(e.get("step"), int) and isinstance(e.get("level"), int):
                used[e["step"]] = max(used.get(e["step"], 0), e["level"])
        return dict(sorted(used.items()))

    def solved_in(self, run: str | None) -> bool:
        """Whether `lab solve` ran in this lab run (since its start)."""
        return run is not None and any(e.get("event") == "solve" and e.get("run") == run for e in self.events())
