"""Who owns what: the per-trainee ownership record and its lock.

Every object a lab makes is written to the record *before* it is created
(state ``pending``) and confirmed after (``created``, with its UUID), so an
interrupted command can always be reconciled: nothing that exists is
missing from the record, and nothing listed is gone after the next command.
Names a lab hands to the trainee to create themselves are ``expected``.

``finish`` deletes only what this record lists. A name alone is never enough:
libvirt objects that kvmlab made are found again by UUID.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

from kvmlab import paths
from kvmlab.errors import Busy
from kvmlab.kinds import LIBVIRT_KINDS, REMOVAL_ORDER
from kvmlab.trainee import Trainee


@dataclass
class Owned:
    kind: str
    name: str  # libvirt name, interface name, or absolute path
    lab: str
    state: str = "pending"  # pending | created | expected
    uuid: str | None = None
    uri: str | None = None  # for libvirt objects: the connection they live on

    @property
    def key(self) -> tuple[str, str, str | None]:
        return (self.kind, self.name, self.uri)


@dataclass
class Record:
    trainee: str
    labs: dict[str, dict[str, str]] = field(default_factory=dict)  # lab id -> {"started": iso time, "uri": ...}
    objects: list[Owned] = field(default_factory=list)

    def find(self, kind: str, name: str, uri: str | None = None) -> Owned | None:
        return next((o for o in self.objects if o.key == (kind, name, uri if kind in LIBVIRT_KINDS else None)), None)

    def of_lab(self, lab: str) -> list[Owned]:
        return [o for o in self.objects if o.lab == lab]

    def removal_order(self, lab: str | None = None) -> list[Owned]:
        chosen = self.objects if lab is None else self.of_lab(lab)
        # Deepest paths first so directories empty out before we try rmdir.
        return sorted(chosen, key=lambda o: (REMOVAL_ORDER.index(o.kind), -len(o.name)))


class Ownership:
    """The record file of one trainee, changed only under its lock."""

    def __init__(self, trainee: Trainee, root: Path | None = None) -> None:
        self.trainee = trainee
        self.root = root or paths.owners_dir()
        self.path = self.root / f"{trainee.name}.json"
        self.lock_path = self.root / f"{trainee.name}.lock"
        self.record = self.load()
        self._locked = False

    def load(self) -> Record:
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return Record(self.trainee.name)
        return Record(
            trainee=data["trainee"],
            labs=data.get("labs", {}),
            objects=[Owned(**o) for o in data.get("objects", [])],
        )

    def save(self) -> None:
        if not self.record.labs and not self.record.objects:
            # Owning nothing leaves no record behind (the lock file stays: it
            # may be held by a waiting command).
            self.path.unlink(missing_ok=True)
            return
        paths.ensure_dir(self.root, 0o700)
        tmp = self.path.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(
            json.dumps(
                {
                    "version": 1,
                    "trainee": self.record.trainee,
                    "labs": self.record.labs,
                    "objects": [asdict(o) for o in self.record.objects],
                },
                indent=1,
            )
            + "\n"
        )
        tmp.chmod(0o600)
        # rename is atomic: a crash leaves the old record or the new one, never half.
        tmp.replace(self.path)

    @contextlib.contextmanager
    def locked(self, wait: float = 60.0) -> Iterator[Ownership]:
        """Hold the trainee's lock: a second command waits, then is refused."""
        paths.ensure_dir(self.root, 0o700)
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        deadline = time.monotonic() + wait
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
                        raise Busy(
                            f"another kvmlab command for trainee {self.trainee.name} is running (pid {holder})",
                            "wait for it to finish, then run your command again",
                        ) from None
                    time.sleep(0.1)
            os.ftruncate(fd, 0)
            os.pwrite(fd, str(os.getpid()).encode(), 0)
            self.record = self.load()  # someone may have changed it while we waited
            self._locked = True
            yield self
        finally:
            self._locked = False
            os.close(fd)  # closing releases the flock

    def _require_lock(self) -> None:
        assert self._locked, "ownership changes need the trainee's lock"

    def add(self, obj: Owned) -> Owned:
        self._require_lock()
        existing = self.record.find(obj.kind, obj.name, obj.uri)
        if existing is not None:
            return existing
        self.record.objects.append(obj)
        self.save()
        return obj

    def confirm(self, obj: Owned, uuid: str | None = None) -> None:
        self._require_lock()
        obj.state = "created"
        obj.uuid = uuid or obj.uuid
        self.save()

    def drop(self, obj: Owned) -> None:
        self._require_lock()
        self.record.objects = [o for o in self.record.objects if o is not obj]
        self.save()

    def lab_started(self, lab: str, uri: str) -> None:
        self._require_lock()
        # "run" names this run of the lab (until finish): what `lab solve` did is tied to it (kvmlab.journal).
        started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        self.record.labs.setdefault(lab, {"started": started, "uri": uri, "run": os.urandom(16).hex()})
        self.save()

    def lab_finished(self, lab: str) -> None:
        self._require_lock()
        self.record.labs.pop(lab, None)
        self.save()
