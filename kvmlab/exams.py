"""Practical exams in progress, as the host knows them: who may not solve, take hints or reveal solutions.

``kvmlab class exam`` writes one file per class into :data:`EXAMS_DIR`, a
directory only root can write, whoever runs kvmlab and wherever their data
directory is. While an exam runs, ``lab solve``, hints and solution reveals
are refused for its trainees, named either by trainee name or by their login.
The instructor still can: root, or whoever can read the instructor key the
exam was started with (its fingerprint is in the exam file).

Where a trainee has root on the lab host, no refusal can hold: they can
change this directory and kvmlab itself. kvmlab says so when an exam starts,
and every solve and reveal is also written to the trainee's journal, which
the grader reads (kvmlab.journal).
"""

from __future__ import annotations

import getpass
import hashlib
import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from kvmlab.errors import KvmlabError

# Fixed on purpose: a trainee must not be able to point kvmlab at an empty directory.
# Root (tests, a second install) may move it.
SYSTEM_EXAMS_DIR = Path("/var/lib/kvmlab/exams")


def exams_dir() -> Path:
    override = os.environ.get("KVMLAB_EXAMS_DIR")
    return Path(override) if override and os.geteuid() == 0 else SYSTEM_EXAMS_DIR


class ExamInProgress(KvmlabError):
    """The trainee is sitting a practical exam: no solve, no hints, no solutions."""

    exit_code = 8


@dataclass(frozen=True)
class Exam:
    class_name: str
    labs: tuple[str, ...]
    trainees: tuple[str, ...]
    deadline: datetime
    key_id: str  # fingerprint of the instructor key that started it

    @property
    def running(self) -> bool:
        return datetime.now(UTC) < self.deadline

    def covers(self, lab: str, names: set[str]) -> bool:
        return self.running and lab in self.labs and bool(names & set(self.trainees))


def key_id(key: bytes) -> str:
    return hashlib.sha256(b"kvmlab exam key id\0" + key).hexdigest()[:16]


def _path(class_name: str) -> Path:
    safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in class_name)
    return exams_dir() / f"{safe}.json"


def start(class_name: str, labs: list[str], trainees: list[str], deadline: datetime, key: bytes) -> Path:
    """Record a running exam where every user's kvmlab looks (root-owned, readable by all)."""
    path = _path(class_name)
    path.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
    data = {
        "class": class_name,
        "labs": labs,
        "trainees": trainees,
        "deadline": deadline.isoformat(),
        "key_id": key_id(key),
    }
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(data) + "\n")
    tmp.chmod(0o644)
    tmp.replace(path)
    return path


def load(class_name: str) -> Exam | None:
    return _read(_path(class_name))


def _read(path: Path) -> Exam | None:
    try:
        data = json.loads(path.read_text())
        return Exam(
            str(data["class"]),
            tuple(map(str, data["labs"])),
            tuple(map(str, data.get("trainees", []))),
            datetime.fromisoformat(data["deadline"]),
            str(data.get("key_id", "")),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def running_for(lab: str, trainee: str) -> Exam | None:
    """The exam, if any, that ``trainee`` (or the user running kvmlab) is sitting in ``lab`` right now."""
    names = {trainee, getpass.getuser()}
    directory = exams_dir()
    for path in sorted(directory.glob("*.json")) if directory.is_dir() else []:
        exam = _read(path)
        if exam is not None and exam.covers(lab, names):
            return exam
    return None


def is_instructor(exam: Exam) -> bool:
    if os.geteuid() == 0:
        return True
    from kvmlab.classroom.signing import key_path  # the instructor's key, where they keep it

    try:
        return key_id(key_path().read_bytes().strip()) == exam.key_id
    except OSError:
        return False


def guard(lab: str, trainee: str, what: str) -> None:
    """Refuse ``what`` (solve, a hint, a solution) to a trainee sitting an exam in this lab."""
    exam = running_for(lab, trainee)
    if exam is None or is_instructor(exam):
        return
    raise ExamInProgress(
        f"{what} is not available during the exam of class {exam.class_name} "
        f"(until {exam.deadline.astimezone():%H:%M})",
        "work it out from the lab's task; the instructor grades at the deadline",
    )
