"""The gradebook: every attempt with its per-check results and time, each row signed.

SQLite in the instructor's data directory (0600). Reading a row verifies its
signature; a row edited behind kvmlab's back is reported as tampered and
never counted.
"""

from __future__ import annotations

import json
import sqlite3
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kvmlab import paths
from kvmlab.classroom import signing
from kvmlab.grading import Report
from kvmlab.sqlite import private_db

_SCHEMA = """
CREATE TABLE IF NOT EXISTS attempts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    class TEXT NOT NULL, lab TEXT NOT NULL, trainee TEXT NOT NULL, uri TEXT NOT NULL,
    at TEXT NOT NULL, deadline TEXT, late INTEGER NOT NULL,
    payload TEXT NOT NULL, signature TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS attempts_lab ON attempts (class, lab, trainee);
"""


@dataclass
class Attempt:
    id: int
    payload: dict[str, Any]  # class, lab, trainee, uri, at, deadline, late, result (the check --json object)
    signature: str
    verified: bool

    @property
    def result(self) -> dict[str, Any]:
        result: dict[str, Any] = self.payload["result"]
        return result

    def export(self) -> dict[str, Any]:
        return {**self.payload, "signature": self.signature}


def default_path() -> Path:
    return paths.data_dir() / "class" / "gradebook.sqlite"


class Gradebook:
    def __init__(self, path: Path | None = None, key: bytes | None = None) -> None:
        self.path = path or default_path()
        self.key = key if key is not None else signing.load_key()

    def _db(self) -> AbstractContextManager[sqlite3.Connection]:
        return private_db(self.path, _SCHEMA)

    def record(
        self,
        class_name: str,
        uri: str,
        report: Report,
        deadline: datetime | None = None,
        now: datetime | None = None,
        late: bool | None = None,
    ) -> Attempt:
        """Store a signed attempt. ``late`` defaults to "graded after the deadline"."""
        now = now or datetime.now(UTC)
        if late is None:
            late = deadline is not None and now > deadline
        payload = {
            "class": class_name,
            "lab": report.lab,
            "trainee": report.trainee,
            "uri": uri,
            "at": now.isoformat(timespec="seconds"),
            "deadline": deadline.isoformat(timespec="seconds") if deadline else None,
            "late": late,
            "result": report.to_dict(),
        }
        signature = signing.sign(payload, self.key)
        with self._db() as db:
            cur = db.execute(
                "INSERT INTO attempts (class, lab, trainee, uri, at, deadline, late, payload, signature)"
                " VALUES (?,?,?,?,?,?,?,?,?)",
                (
                    class_name,
                    report.lab,
                    report.trainee,
                    uri,
                    payload["at"],
                    payload["deadline"],
                    int(late),
                    json.dumps(payload, ensure_ascii=False),
                    signature,
                ),
            )
            row_id = int(cur.lastrowid or 0)
        return Attempt(row_id, payload, signature, True)

    def attempts(self, class_name: str | None = None, lab: str | None = None) -> list[Attempt]:
        query, args = "SELECT id, payload, signature FROM attempts WHERE 1=1", list[str]()
        if class_name:
            query, args = query + " AND class = ?", [*args, class_name]
        if lab:
            query, args = query + " AND lab = ?", [*args, lab]
        with self._db() as db:
            rows = db.execute(query + " ORDER BY id", args).fetchall()
        out = []
        for row_id, raw, signature in rows:
            try:
                payload = json.loads(raw)
            except ValueError:
                out.append(Attempt(row_id, {"result": {}}, signature, False))
                continue
            out.append(Attempt(row_id, payload, signature, signing.verify(payload, signature, self.key)))
        return out

    def latest(self, class_name: str | None = None, lab: str | None = None) -> list[Attempt]:
        """Each trainee's most recent verified attempt per lab."""
        best: dict[tuple[str, str], Attempt] = {}
        for attempt in self.attempts(class_name, lab):
            if attempt.verified:
                best[(attempt.payload["lab"], attempt.payload["trainee"])] = attempt
        return sorted(best.values(), key=lambda a: (a.payload["lab"], a.payload["trainee"]))


def verify_export(data: list[dict[str, Any]], key: bytes) -> list[tuple[int, bool]]:
    """Check every result of an exported JSON file: (index, verifies)."""
    out = []
    for n, item in enumerate(data):
        payload = {k: v for k, v in item.items() if k != "signature"}
        out.append((n, isinstance(item.get("signature"), str) and signing.verify(payload, item["signature"], key)))
    return out
