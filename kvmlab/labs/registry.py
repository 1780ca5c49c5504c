"""Every lab kvmlab knows, by id.

Labs are discovered from the modules of this package: each module that
defines a :class:`Lab` subclass with an ``id`` is a lab. Discovery happens on
first use, not at import time.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import pkgutil
from functools import cache

import kvmlab.labs
from kvmlab.errors import UnknownLab
from kvmlab.labs.base import Lab

_NOT_LABS = {"base", "registry"}


@cache
def labs() -> dict[str, Lab]:
    found: dict[str, Lab] = {}
    for info in pkgutil.iter_modules(kvmlab.labs.__path__):
        if info.name in _NOT_LABS or info.name.startswith("_"):
            continue
        module = importlib.import_module(f"kvmlab.labs.{info.name}")
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, Lab) and cls is not Lab and cls.__module__ == module.__name__ and "id" in vars(cls):
                found[cls.id] = cls()
    # Catalogue order: by the first seed question each lab answers.
    return dict(sorted(found.items(), key=lambda kv: (min(kv[1].seed_questions or (99,)), kv[0])))


def get(lab_id: str) -> Lab:
    try:
        return labs()[lab_id]
    except KeyError:
        close = difflib.get_close_matches(lab_id, labs(), n=3)
        suggestion = f"did you mean {', '.join(close)}? " if close else ""
        raise UnknownLab(
            f"there is no lab called {lab_id!r}", f"{suggestion}`kvmlab lab list` shows the labs"
        ) from None


def all_labs() -> list[Lab]:
    return list(labs().values())
