"""What a QEMU did while migrating out, from its own trace log.

Once a migration has completed, the source QEMU is stopped: nothing is left
to ask with ``query-migrate-parameters``. A QEMU started with

    -D TRACE.log -trace 'qmp_*migrate*' -trace migrate_set_state -trace vm_state_notify

writes down every QMP migration command it accepted, with its arguments
(``qmp_enter_migrate_set_parameters {"downtime-limit": 500}``) and result
(``qmp_exit_migrate_set_parameters {} 1``), the replies to ``query-migrate``,
each migration state it entered (``migrate_set_state new state
postcopy-active``), and each time its guest's vCPUs stopped or ran
(``vm_state_notify running 0 reason 4 (paused)``). The log is QEMU's own
record, and it outlives the process: graders read from it the parameters and
capabilities that were in force when ``migrate`` was issued, whether the guest
was still running then (a live migration) or had been stopped first (the
whole copy made while it stood still), and how that migration went.

A QEMU libvirt runs writes the same trace into libvirt's log of the domain
(its stderr) once tracing is switched on over its monitor (HMP ``log
trace:...``): :class:`DomainLogTrace` reads it from there, for one run of the
domain (libvirt appends every run to the same log).

Commands sent over HMP (``migrate_set_parameter``) do not pass through the
QMP dispatcher and are not in this trace.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TRACE_EVENTS = ("qmp_*migrate*", "migrate_set_state", "vm_state_notify")

# QEMU's defaults (QEMU 7.2), for parameters never set
DEFAULT_PARAMETERS: dict[str, Any] = {"downtime-limit": 300, "max-bandwidth": 128 * 1024 * 1024}

# "[PID@SECONDS:]event rest" (the prefix appears with -msg timestamp=on)
_LINE = re.compile(r"^(?:\d+@[\d.]+:)?(?P<event>[a-z0-9_]+) ?(?P<rest>.*)$")
_RUNNING = re.compile(r"^running (?P<running>[01])\b")
_START = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+[+-]\d{4}: starting up\b")  # libvirt's log of a domain


@dataclass
class Attempt:
    """One accepted ``migrate`` command and what followed it."""

    uri: str
    parameters: dict[str, Any]  # as set before migrate (only those set; see value())
    capabilities: dict[str, bool]
    states: list[str] = field(default_factory=list)  # setup, active, postcopy-active, completed...
    stats: dict[str, Any] | None = None  # the last query-migrate reply after it
    samples: list[dict[str, Any]] = field(default_factory=list)  # every query-migrate reply after it, oldest first
    # Whether the guest's vCPUs ran when migrate was issued; None: no stop or start traced before it (the guest
    # has been running since tracing began, as a lab's guest is when the lab turns tracing on).
    running_at_start: bool | None = None

    @property
    def live(self) -> bool:
        """The guest kept running while its memory was copied (it stops only at the switch-over)."""
        return self.running_at_start is not False

    def value(self, parameter: str) -> Any:
        return self.parameters.get(parameter, DEFAULT_PARAMETERS.get(parameter))

    def was_set(self, parameter: str) -> bool:
        return parameter in self.parameters

    @property
    def completed(self) -> bool:
        return "completed" in self.states

    @property
    def final_state(self) -> str:
        return self.states[-1] if self.states else "never started"


def parse(text: str) -> list[Attempt]:
    """Every migration the trace shows, oldest first."""
    parameters: dict[str, Any] = {}
    capabilities: dict[str, bool] = {}
    pending: dict[str, Any] = {}  # command -> arguments entered, applied once it exits successfully
    attempts: list[Attempt] = []
    running: bool | None = None
    for line in text.splitlines():
        m = _LINE.match(line.strip())
        if not m:
            continue
        event, rest = m["event"], m["rest"]
        if event.startswith("qmp_enter_"):
            try:
                pending[event.removeprefix("qmp_enter_")] = json.loads(rest or "{}")
            except ValueError:
                continue
            if event == "qmp_enter_migrate":  # its first states are traced before the command returns
                args = pending["migrate"]
                attempts.append(Attempt(str(args.get("uri", "")), dict(parameters), dict(capabilities)))
                attempts[-1].running_at_start = running
        elif event.startswith("qmp_exit_"):
            command = event.removeprefix("qmp_exit_")
            result, _, ok = rest.rpartition(" ")
            args = pending.pop(command, {})
            if ok != "1":
                if command == "migrate" and attempts:
                    attempts.pop()  # refused: no migration happened
                continue
            if command == "migrate_set_parameters":
                parameters.update(args)
            elif command == "migrate_set_capabilities":
                for cap in args.get("capabilities", []):
                    capabilities[cap.get("capability")] = bool(cap.get("state"))
            elif command == "query_migrate" and attempts:
                try:
                    attempts[-1].stats = json.loads(result)
                except ValueError:
                    continue
                attempts[-1].samples.append(attempts[-1].stats)
        elif event == "migrate_set_state" and attempts:
            attempts[-1].states.append(rest.removeprefix("new state ").strip())
        elif event == "vm_state_notify" and (state := _RUNNING.match(rest)):
            running = state["running"] == "1"
    return attempts


class MigrationTrace:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    @property
    def exists(self) -> bool:
        return self.path.is_file()

    def attempts(self) -> list[Attempt]:
        try:
            return parse(self.path.read_text(errors="replace"))
        except OSError:
            return []

    def last(self, uri: str | None = None) -> Attempt | None:
        """The latest migration (to ``uri`` if given)."""
        found = [a for a in self.attempts() if uri is None or a.uri == uri]
        return found[-1] if found else None


def last_run(log: str, uuid: str) -> str:
    """The lines libvirt logged for the last run of the domain with this UUID (its log holds every run)."""
    runs: list[list[str]] = []
    for line in log.splitlines():
        if _START.match(line):
            runs.append([])
        if runs:
            runs[-1].append(line)
    ours = [run for run in runs if any(line.startswith(f"-uuid {uuid}") for line in run)]
    return "\n".join(ours[-1]) if ours else ""


class DomainLogTrace:
    """The migration trace of a QEMU libvirt ran, from libvirt's log of the domain (one run: the last of a UUID)."""

    def __init__(self, log: str | Path, uuid: str) -> None:
        self.log = Path(log)
        self.uuid = uuid

    def attempts(self) -> list[Attempt]:
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return []
        return parse(last_run(text, self.uuid))

    def last(self) -> Attempt | None:
        found = self.attempts()
        return found[-1] if found else None
