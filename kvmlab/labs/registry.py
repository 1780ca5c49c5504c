"""Every lab kvmlab knows, by id."""

from __future__ import annotations

import difflib

from kvmlab.errors import UnknownLab
from kvmlab.labs.base import Lab
from kvmlab.labs.hotadd_disk import HotAddDisk

LABS: dict[str, Lab] = {lab.id: lab for lab in (HotAddDisk(),)}


def get(lab_id: str) -> Lab:
    try:
        return LABS[lab_id]
    except KeyError:
        close = difflib.get_close_matches(lab_id, LABS, n=3)
        suggestion = f"did you mean {', '.join(close)}? " if close else ""
        raise UnknownLab(
            f"there is no lab called {lab_id!r}", f"{suggestion}`kvmlab lab list` shows the labs"
        ) from None


def all_labs() -> list[Lab]:
    return list(LABS.values())
