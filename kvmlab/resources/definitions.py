"""Definitions as a lab's start made them, kept for the grader: what "left unchanged" is measured against.

A lab that asks the trainee to edit one thing in a libvirt object (a DHCP
range, a domain's memory) must also notice an edit it did not ask for (a
renamed bridge, a new UUID). Right after defining an object, ``lab start``
records libvirt's own description of it (so everything libvirt fills in, a
UUID, a MAC, PCI addresses, is in the record); the grader compares the
object's persistent definition now with that record, leaving out what the
task asked to change and what libvirt fills in again on its own.

The record sits in the trainee's lab directory and is read with the bounded
reader of trainee files: a broken record is a failed check that says so.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from pathlib import Path

from kvmlab.errors import XMLRejected
from kvmlab.resources.trainee_files import read_json_object
from kvmlab.xmlviews import View, parse

SHOWN = 4  # differences listed in a check's "actual": enough to see the mistake, short enough to read
_INDEX = re.compile(r"\[\d+\]")
_NAMESPACE = re.compile(r"\{[^}]*\}")


def flatten(root: ET.Element) -> dict[str, str]:
    """Every text and attribute of an XML tree, by path: ``bridge@name``, ``devices/disk[2]/driver@type``.

    Repeated siblings carry their position among those of the same tag
    (libvirt writes devices in a stable order); an element with no text and
    no attributes is recorded by its path alone (``features/acpi`` = "").
    """
    found: dict[str, str] = {}

    def walk(node: ET.Element, path: str) -> None:
        text = (node.text or "").strip()
        if path and (text or not node.attrib):
            found[path] = text
        for key, value in node.attrib.items():
            found[f"{path}@{_NAMESPACE.sub('', key)}"] = value
        seen: dict[str, int] = {}
        for child in node:
            if not isinstance(child.tag, str):
                continue  # a comment or processing instruction: libvirt keeps none
            tag = _NAMESPACE.sub("", child.tag)
            total = sum(1 for c in node if isinstance(c.tag, str) and _NAMESPACE.sub("", c.tag) == tag)
            seen[tag] = seen.get(tag, 0) + 1
            name = f"{tag}[{seen[tag]}]" if total > 1 else tag
            walk(child, f"{path}/{name}" if path else name)

    walk(root, "")
    return found


def _under(key: str, paths: Collection[str]) -> str | None:
    """The entry of ``paths`` that ``key`` is (or lies under), positions ignored: ``ip/dhcp/range``."""
    bare = _INDEX.sub("", key)
    for path in paths:
        if bare == path or bare.startswith((path + "/", path + "@")):
            return path
    return None


@dataclass(frozen=True)
class Changes:
    """What differs between a recorded definition and the one libvirt holds now."""

    found: tuple[str, ...]  # one line per difference, "bridge@name: br0 -> br1"
    why: str = ""  # set when no comparison was possible (no record, no object)

    @property
    def unchanged(self) -> bool:
        return not self.why and not self.found

    def summary(self) -> str:
        if self.why:
            return self.why
        if not self.found:
            return "unchanged"
        more = len(self.found) - SHOWN
        return "; ".join(self.found[:SHOWN]) + (f"; and {more} more" if more > 0 else "")


def differences(
    before: ET.Element,
    after: ET.Element,
    *,
    asked: Collection[str] = (),
    filled: Collection[str] = (),
    accept: Mapping[str, Callable[[str], bool]] | None = None,
) -> tuple[str, ...]:
    """The edits from ``before`` to ``after``, leaving out the paths in ``asked`` and ``filled``.

    ``asked``: what the task changes (checked by its own checks); ``filled``:
    what libvirt writes on its own, whatever the trainee did (sizes of a
    pool); ``accept``: a path whose new value is fine when the test says so
    (a pool directory's mode, read from the directory, as long as only its
    owner may write).
    """
    accept = accept or {}
    old, new = flatten(before), flatten(after)
    lines = []
    for key in sorted(old.keys() | new.keys()):
        was, now = old.get(key), new.get(key)
        rule = _under(key, accept.keys())  # before `filled`: a rule may judge a value inside a filled element
        if rule is not None:
            if now is None or accept[rule](now):
                continue
        elif was == now or _under(key, asked) or _under(key, filled):
            continue
        if was is None:
            lines.append(f"added {key}" + (f" = {now!r}" if now else ""))
        elif now is None:
            lines.append(f"removed {key}" + (f" (was {was!r})" if was else ""))
        else:
            lines.append(f"{key}: {was!r} -> {now!r}")
    return tuple(lines)


class RecordedDefinitions:
    """The record ``lab start`` wrote: kind ("domain", "network", "pool") -> the XML it started from."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def write(self, definitions: Mapping[str, str]) -> None:
        self.path.write_text(json.dumps(dict(definitions), indent=1) + "\n")

    def read(self, kind: str) -> tuple[ET.Element | None, str]:
        """The recorded definition of ``kind``, or None and why it cannot be used."""
        data, why = read_json_object(self.path)
        if data is None:
            return None, f"the lab's record of the starting definitions ({self.path}): {why}"
        text = data.get(kind)
        if not isinstance(text, str):
            return None, f"the lab's record {self.path} has no {kind} definition"
        try:
            return parse(text, f"the recorded {kind} definition"), ""
        except XMLRejected as err:
            return None, f"the lab's record {self.path}: {err.message}"

    def changes(
        self,
        kind: str,
        now: View | None,
        *,
        asked: Collection[str] = (),
        filled: Collection[str] = (),
        accept: Mapping[str, Callable[[str], bool]] | None = None,
    ) -> Changes:
        """How ``now`` (a persistent definition) differs from the recorded one, beyond ``asked`` and ``filled``."""
        before, why = self.read(kind)
        if before is None:
            return Changes((), why)
        if now is None:
            return Changes((), f"no {kind} to compare")
        return Changes(differences(before, now.node, asked=asked, filled=filled, accept=accept))
