"""Option values compared by what they say, not how they are typed.

A learner's QMP command, an XML snippet given as an argument, a snapshot's
disk specs or qemu-img's ``-o`` list can be spelled many ways that virsh,
QEMU and libvirt read the same: these functions turn each into one canonical
text, so that two parses compare equal exactly when the tools would do the
same thing with them. A value that does not parse (invalid JSON, broken XML)
is left as written: it is then only equal to the same text, and the tool
would reject it anyway.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

from kvmlab.quiz.cmdspec import Spec

# virsh subcommands whose argv option is a JSON command (QMP, or the guest agent's protocol),
# unless --hmp makes it a human monitor command line.
_JSON_COMMANDS = {("qemu-monitor-command", "cmd"), ("qemu-agent-command", "cmd")}


def canonical_json(text: str) -> str | None:
    """The JSON text with its members sorted and no insignificant whitespace; None if not JSON.

    QEMU reads QMP as JSON: key order and the spaces between tokens mean nothing."""
    try:
        data = json.loads(text)
    except ValueError:
        return None
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical_xml(text: str) -> str | None:
    """The XML in canonical form (C14N 2.0); None if it is not XML.

    C14N sorts attributes and writes them in double quotes; stripping text drops the
    indentation between elements. libvirt's parser sees no difference in either."""
    if not text.lstrip().startswith("<"):
        return None
    try:
        return ET.canonicalize(text, strip_text=True)
    except ET.ParseError:
        return None


def canonical_rest(spec: Spec, name: str, parts: list[str], flags: set[str]) -> str | None:
    """An argv option's text (virsh joins its words with spaces), when it has a meaning finer than words."""
    if spec.tool == "virsh" and (spec.sub, name) in _JSON_COMMANDS and "hmp" not in flags:
        return canonical_json(" ".join(parts))
    if spec.tool == "virsh" and (spec.sub, name) == ("snapshot-create-as", "diskspec"):
        return canonical_diskspecs(parts)
    return None


def canonical_diskspecs(parts: list[str]) -> str:
    """``--diskspec vda,snapshot=no --diskspec vdb`` in any order: one spec per disk, its keys sorted.

    A diskspec is DISK[,key=value]...; libvirt applies each to the disk it names, so neither the
    order of the specs nor the order of the keys within one matters."""
    specs = []
    for word in " ".join(parts).split():
        disk, _, rest = word.partition(",")
        keys = sorted(k for k in rest.split(",") if k)
        specs.append(",".join([disk, *keys]))
    return " ".join(sorted(specs))


def canonical_qemu_options(values: list[str]) -> list[str]:
    """qemu-img's ``-o a=1,b=2`` and ``-o a=1 -o b=2`` are the same options: one sorted list of items.

    ``,,`` is QEMU's escape for a comma inside a value, so it does not split."""
    items: list[str] = []
    for value in values:
        items.extend(item.replace("\0", ",") for item in value.replace(",,", "\0").split(",") if item)
    return sorted(items)


def canonical_values(spec: Spec, values: dict[str, list[str]]) -> dict[str, list[str]]:
    """Every value of a parse in its canonical form (see the module's docstring)."""
    out: dict[str, list[str]] = {}
    for name, vals in values.items():
        if spec.tool == "qemu-img" and name == "-o":
            out[name] = canonical_qemu_options(vals)
        elif spec.tool == "virsh":
            out[name] = [canonical_xml(v) or v for v in vals]  # net-update's <host .../>, metadata --set
        else:
            out[name] = vals
    return out
