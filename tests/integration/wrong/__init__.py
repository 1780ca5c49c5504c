"""Known-wrong solutions, one module per lab (``LAB = "id"``, ``WRONG = [...]``).

Each is what a trainee really types, run against the real guest, and must
fail *exactly* the named checks. A grader that lets one of these pass cannot
tell right from wrong.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass

from kvmlab.toolkit import Toolkit


@dataclass(frozen=True)
class Wrong:
    name: str
    apply: Callable[[Toolkit], None]
    fails: frozenset[str]  # exactly these checks fail, every other check passes


def by_lab() -> dict[str, list[Wrong]]:
    found: dict[str, list[Wrong]] = {}
    for info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{info.name}")
        found.setdefault(module.LAB, []).extend(module.WRONG)
    return found
