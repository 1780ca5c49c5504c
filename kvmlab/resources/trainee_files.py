"""Files a trainee writes for the grader (recorded figures, verdicts, facts): read defensively.

They come from the trainee, so they may be missing, not JSON, or absurdly
large; every reader says which, instead of failing the grader.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

MAX_BYTES = 1 << 20  # a results file is a few hundred bytes


def read_json(path: str | Path) -> tuple[Any, str]:
    """(the parsed JSON, "") or (None, why it cannot be used)."""
    path = Path(path)
    try:
        if path.stat().st_size > MAX_BYTES:
            return None, f"larger than {MAX_BYTES // 1024} KiB"
        return json.loads(path.read_text(errors="replace")), ""
    except FileNotFoundError:
        return None, "no file"
    except (OSError, ValueError) as err:
        return None, f"not JSON ({err})"


def read_json_object(path: str | Path) -> tuple[dict[str, Any] | None, str]:
    data, why = read_json(path)
    if why:
        return None, why
    return (data, "") if isinstance(data, dict) else (None, "not a JSON object")


def same_file(a: object, b: str | Path) -> bool:
    """Whether the path a trainee gave names ``b`` (a symlink or a relative path may)."""
    if not isinstance(a, str) or not a:
        return False
    try:
        return Path(a).samefile(b)
    except OSError:
        return Path(a) == Path(b)
