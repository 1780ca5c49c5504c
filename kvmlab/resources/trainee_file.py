"""A file the trainee wrote for the grader (a verdict, recorded figures, readings), read defensively.

It comes from the trainee, so it may be missing, not text, not JSON, or
absurdly large: every reader says which instead of failing the grader
(kvmlab.resources.trainee_files holds the bounded JSON reader itself).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kvmlab.resources.trainee_files import MAX_BYTES, read_json_object


class TraineeFile:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def text(self) -> str | None:
        """Its text (at most MAX_BYTES of it, undecodable bytes replaced); None when it cannot be read."""
        try:
            with self.path.open("rb") as f:
                return f.read(MAX_BYTES).decode(errors="replace")
        except OSError:
            return None

    def word(self) -> str | None:
        """A one-word answer (``kvm``, ``tcg``): stripped and lower-cased; None when there is no file."""
        text = self.text()
        return None if text is None else text.strip().lower()

    def json_object(self) -> tuple[dict[str, Any] | None, str]:
        """(the JSON object, "") or (None, why it cannot be used: no file, not JSON, too large...)."""
        return read_json_object(self.path)
