"""Trainee names: validated once, turned into the prefix of everything they own."""

from __future__ import annotations

import os
import re
import unicodedata
from dataclasses import dataclass

from kvmlab.errors import InvalidName

DEFAULT = "default"
MAX_LEN = 12  # bridge and tap names derive from it, and Linux caps those at 15 bytes
_NAME = re.compile(r"[a-z][a-z0-9]*")


def _describe(name: str) -> str:
    """Show a hostile name safely: control and look-alike characters spelled out."""
    shown = "".join(
        ch if ch.isascii() and ch.isprintable() else f"<U+{ord(ch):04X} {unicodedata.name(ch, 'control')}>"
        for ch in name[:40]
    )
    return repr(shown + ("..." if len(name) > 40 else ""))


def validate(name: str) -> str:
    rule = f"use 1-{MAX_LEN} lowercase ASCII letters and digits, starting with a letter (e.g. alice, bob2)"
    if not name:
        raise InvalidName("the trainee name is empty", rule)
    if len(name) > MAX_LEN:
        raise InvalidName(
            f"the trainee name {_describe(name)} is {len(name)} characters long (at most {MAX_LEN})", rule
        )
    if not _NAME.fullmatch(name):
        raise InvalidName(f"the trainee name {_describe(name)} has characters kvmlab does not allow", rule)
    return name


@dataclass(frozen=True)
class Trainee:
    name: str

    @property
    def is_default(self) -> bool:
        return self.name == DEFAULT

    @property
    def prefix(self) -> str:
        """The default trainee keeps the seed's short names (tianyun, mynet);
        named trainees get theirs prefixed (alice-tianyun) so a class can share a host."""
        return "" if self.is_default else f"{self.name}-"

    def object_name(self, base: str) -> str:
        return self.prefix + base


def current(explicit: str | None = None) -> Trainee:
    name = explicit if explicit is not None else os.environ.get("KVMLAB_TRAINEE", DEFAULT)
    return Trainee(validate(name))
