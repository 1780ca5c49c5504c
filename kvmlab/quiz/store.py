"""Review progress: one SQLite file per user, the schedule computed by FSRS.

The ``fsrs`` package decides when a question comes back; we only store its
cards and a log of every answer. Mistakes bring questions forward: a wrong
answer is rated Again, and a failed lab check makes the questions of that
lab due again.
"""

from __future__ import annotations

import getpass
import json
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from fsrs import Card, Rating, Scheduler

from kvmlab import paths
from kvmlab.quiz.check import Verdict
from kvmlab.sqlite import private_db
from kvmlab.trainee import DEFAULT

RATINGS = {"again": Rating.Again, "hard": Rating.Hard, "good": Rating.Good, "easy": Rating.Easy}

_SCHEMA = """
CREATE TABLE IF NOT EXISTS cards (qid TEXT PRIMARY KEY, card TEXT NOT NULL, due TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS lab_failures (lab TEXT PRIMARY KEY, at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS reviews (
    id INTEGER PRIMARY KEY AUTOINCREMENT, qid TEXT NOT NULL, at TEXT NOT NULL, rating TEXT NOT NULL,
    correct INTEGER NOT NULL, score REAL NOT NULL, answer TEXT NOT NULL, source TEXT NOT NULL DEFAULT 'quiz'
);
"""


# Topics renamed to their lab's id: progress kept under the old question ids moves once.
RENAMED_TOPICS = {
    "hot-add-disk": "hotadd-disk",
    "hot-add-nic": "hotadd-nic",
    "libvirt": "libvirt-api",
    "migration": "live-migration",
    "troubleshooting": "break-fix",
    "storage": "storage-internals",
    "memory-virtualization": "memory-virt",
    "virtualization-basics": "virt-basics",
}
_MOVE = (
    "UPDATE cards SET qid = ? || substr(qid, ?) WHERE qid GLOB ?",
    "UPDATE reviews SET qid = ? || substr(qid, ?) WHERE qid GLOB ?",
)


def _migrate(db: sqlite3.Connection) -> None:
    """user_version 1: the question ids of RENAMED_TOPICS moved to their new names."""
    if db.execute("PRAGMA user_version").fetchone()[0] >= 1:
        return
    for old, new in RENAMED_TOPICS.items():
        for statement in _MOVE:
            db.execute(statement, (new, len(old) + 1, f"{old}-[0-9][0-9][0-9]"))
    db.execute("PRAGMA user_version = 1")


def default_path(user: str | None = None) -> Path:
    return paths.data_dir() / "quiz" / f"{user or getpass.getuser()}.sqlite"


def trainee_path(trainee: str) -> Path:
    """Whose progress: the trainee's. The default trainee's file keeps the user's name, as before trainees."""
    return default_path(None if trainee == DEFAULT else trainee)


def rating_for(verdict: Verdict) -> str:
    """What a non-interactive answer is rated: right = good, partly right = hard, wrong = again."""
    if verdict.correct:
        return "good"
    return "hard" if verdict.score >= 0.5 else "again"


class Store:
    def __init__(self, path: Path | None = None) -> None:
        self.path = path or default_path()
        self.scheduler = Scheduler(enable_fuzzing=False)

    @classmethod
    def of_trainee(cls, trainee: str) -> Store:
        """The review schedule of this trainee, whoever runs the command (root grading alice feeds alice's)."""
        return cls(trainee_path(trainee))

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        with private_db(self.path, _SCHEMA) as db:
            _migrate(db)
            yield db

    def card(self, qid: str) -> Card | None:
        with self._db() as db:
            row = db.execute("SELECT card FROM cards WHERE qid = ?", (qid,)).fetchone()
        return Card.from_dict(json.loads(row[0])) if row else None

    def record(
        self,
        qid: str,
        verdict: Verdict,
        answer: str,
        rating: str | None = None,
        source: str = "quiz",
        now: datetime | None = None,
    ) -> Card:
        """Log an answer and move the question's card along the FSRS schedule."""
        rating = rating or rating_for(verdict)
        if not verdict.correct and rating in ("good", "easy"):
            rating = "again"  # a wrong answer is never "remembered"
        now = now or datetime.now(UTC)
        card = self.card(qid) or Card()
        card, _log = self.scheduler.review_card(card, RATINGS[rating], review_datetime=now)
        with self._db() as db:
            db.execute(
                "INSERT OR REPLACE INTO cards (qid, card, due) VALUES (?, ?, ?)",
                (qid, json.dumps(card.to_dict()), card.due.isoformat()),
            )
            db.execute(
                "INSERT INTO reviews (qid, at, rating, correct, score, answer, source) VALUES (?,?,?,?,?,?,?)",
                (qid, now.isoformat(), rating, int(verdict.correct), verdict.score, answer, source),
            )
        return card

    def due(
        self, qids: Iterable[str], labs: dict[str, str | None] | None = None, now: datetime | None = None
    ) -> list[str]:
        """Questions due for review: never seen, FSRS says so, or their lab failed a check since.

        ``labs`` maps question ids to their lab; a lab check that failed after
        a question's last review brings that question back now.
        """
        now = now or datetime.now(UTC)
        with self._db() as db:
            due_at = dict(db.execute("SELECT qid, due FROM cards").fetchall())
            last = dict(db.execute("SELECT qid, MAX(at) FROM reviews GROUP BY qid").fetchall())
            failed = dict(db.execute("SELECT lab, at FROM lab_failures").fetchall())

        def is_due(qid: str) -> bool:
            if qid not in due_at or datetime.fromisoformat(due_at[qid]) <= now:
                return True
            lab = (labs or {}).get(qid)
            return lab is not None and lab in failed and failed[lab] > last.get(qid, "")

        # Earliest due first; unseen questions after the overdue ones.
        return sorted((q for q in qids if is_due(q)), key=lambda q: due_at.get(q, "9999"))

    def lab_failed(self, lab: str, now: datetime | None = None) -> None:
        """A lab check failed: its questions are due again (see due())."""
        with self._db() as db:
            db.execute(
                "INSERT OR REPLACE INTO lab_failures (lab, at) VALUES (?, ?)",
                (lab, (now or datetime.now(UTC)).isoformat()),
            )

    def failed_labs(self) -> dict[str, str]:
        """Labs whose check failed, and when (the last time)."""
        with self._db() as db:
            return dict(db.execute("SELECT lab, at FROM lab_failures").fetchall())

    def answers(self) -> list[tuple[str, str, bool]]:
        """Every answer logged, oldest first: (question id, when, right)."""
        with self._db() as db:
            rows = db.execute("SELECT qid, at, correct FROM reviews ORDER BY at, id").fetchall()
        return [(qid, at, bool(ok)) for qid, at, ok in rows]

    def stats(self) -> dict[str, dict[str, float | int]]:
        """Per question: reviews, correct answers, last score."""
        with self._db() as db:
            rows = db.execute("SELECT qid, COUNT(*), SUM(correct), MAX(at) FROM reviews GROUP BY qid").fetchall()
        return {qid: {"reviews": n, "correct": int(ok or 0), "last": last} for qid, n, ok, last in rows}
