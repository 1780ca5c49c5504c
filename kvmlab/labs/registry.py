"""Every lab kvmlab knows, by id.

A lab's id names its module (``hotadd-disk`` is ``kvmlab.labs.hotadd_disk``),
so the ids are known without importing anything, and ``get`` imports only
the one lab asked for: ``kvmlab lab check X`` loads lab X and its grader,
not the other labs.
"""

from __future__ import annotations

import difflib
import importlib
import pkgutil
from functools import cache

import kvmlab.labs
from kvmlab.errors import UnknownLab
from kvmlab.labs.base import Lab, module_name

_NOT_LABS = {"base", "registry"}


@cache
def lab_ids() -> tuple[str, ...]:
    """The ids of every lab module, unimported (helpers start with an underscore)."""
    names = (info.name for info in pkgutil.iter_modules(kvmlab.labs.__path__))
    return tuple(sorted(n.replace("_", "-") for n in names if n not in _NOT_LABS and not n.startswith("_")))


@cache
def get(lab_id: str) -> Lab:
    if lab_id not in lab_ids():
        close = difflib.get_close_matches(lab_id, lab_ids(), n=3)
        suggestion = f"did you mean {', '.join(close)}? " if close else ""
        raise UnknownLab(
            f"there is no lab called {lab_id!r}", f"{suggestion}`kvmlab lab list` shows the labs"
        ) from None
    module = importlib.import_module(f"kvmlab.labs.{module_name(lab_id)}")
    found = [
        obj
        for obj in vars(module).values()
        if isinstance(obj, type) and issubclass(obj, Lab) and obj.__dict__.get("id") == lab_id
    ]
    if len(found) != 1:
        raise TypeError(f"module {module.__name__} must declare exactly one lab {lab_id!r} (with @lab)")
    return found[0]()


def all_labs() -> list[Lab]:
    """Every lab, in catalogue order: by the first seed question each answers."""
    return sorted((get(i) for i in lab_ids()), key=lambda lab: (min(lab.seed_questions or (99,)), lab.id))


def canonical_subnets() -> list[str]:
    """Subnets the default trainee's networks use in any lab: never handed to another trainee."""
    return [net for lab in all_labs() for net in lab.canonical_subnets]
