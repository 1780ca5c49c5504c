"""Parse command lines (virsh, qemu-img, virt-* tools) into their meaning.

A parsed command is the tool, the subcommand, the values of its named
parameters and the set of its flags, however the learner ordered or spelled
them (``--count 4`` or the 4 in position, ``--x=y`` or ``--x y``). Two
command lines are the same answer when their parses are equal.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field, replace
from functools import cache
from typing import Any

from kvmlab.quiz import tool_specs, virsh_spec
from kvmlab.quiz.cmdspec import Param, Spec
from kvmlab.quiz.values import canonical_rest, canonical_values


class CommandError(ValueError):
    """The line cannot be a valid invocation; the message says why."""


@dataclass(frozen=True)
class Parsed:
    tool: str
    sub: str | None
    values: tuple[tuple[str, tuple[str, ...]], ...]  # sorted (param, values)
    flags: frozenset[str]
    line: str = field(compare=False, default="")

    def value(self, name: str) -> tuple[str, ...]:
        return dict(self.values).get(name, ())

    def describe(self) -> str:
        return f"{self.tool} {self.sub}" if self.sub else self.tool


# Sizes: virsh takes scaled integers (setmem 2G), qemu-img suffixes (k, M, G, T).
_SIZE = re.compile(r"^([+-]?)(\d+(?:\.\d+)?)\s*([a-zA-Z]*)$")
_UNIT = {
    "": None,
    "b": 1,
    "bytes": 1,
    "k": 1024,
    "kib": 1024,
    "kb": 1000,
    "m": 1024**2,
    "mib": 1024**2,
    "mb": 10**6,
    "g": 1024**3,
    "gib": 1024**3,
    "gb": 10**9,
    "t": 1024**4,
    "tib": 1024**4,
    "tb": 10**12,
}


def normalize_size(text: str, default_unit: str) -> str:
    match = _SIZE.match(text.strip())
    if not match:
        return text
    sign, number, unit = match.groups()
    scale = _UNIT.get(unit.lower(), -1)
    if scale == -1:
        return text
    factor = scale if scale is not None else _UNIT[default_unit]
    return f"{sign}{int(float(number) * factor)}"  # type: ignore[operator]


@cache
def _virsh_specs() -> dict[str, Any]:
    commands: dict[str, Any] = virsh_spec.load()["commands"]
    return commands


# virsh's scaled integers and their default units (virsh(1) man page).
_VIRSH_SIZES = {
    ("setmem", "size"): "k",
    ("setmaxmem", "size"): "k",
    ("blockresize", "size"): "k",
    ("vol-create-as", "capacity"): "b",
    ("vol-resize", "capacity"): "b",
    ("vol-create-as", "allocation"): "b",
    ("allocpages", "pagesize"): "k",
    ("freepages", "pagesize"): "k",
}

_VIRSH_GLOBAL_VALUE = {
    "-c",
    "--connect",
    "-d",
    "--debug",
    "-e",
    "--escape",
    "-k",
    "--keepalive-interval",
    "-K",
    "--keepalive-count",
    "-l",
    "--log",
}
_VIRSH_GLOBAL_FLAG = {"-q", "--quiet", "-r", "--readonly", "-t", "--timing"}
# The global options that change what the command does: which libvirt it talks to, and whether
# that connection may change anything. The others (-q, -t, -d, -l, -e, -k, -K) only change what is
# printed or logged, or how a dead connection is noticed. Kept under their short names, which no
# subcommand option has (those are stored without dashes).
_VIRSH_GLOBAL_MEANING = {"-c": "-c", "--connect": "-c", "-r": "-r", "--readonly": "-r"}


def virsh_spec_for(sub: str) -> Spec:
    raw = _virsh_specs().get(sub)
    if raw is None:
        raise CommandError(f"virsh has no command {sub!r} (virsh help lists them)")
    params = tuple(
        Param(
            o["name"],
            value=o["value"] is not None,
            positional=o["positional"],
            required=o["required"],
            rest=o["rest"],
            size_unit=_VIRSH_SIZES.get((sub, o["name"])),
        )
        for o in raw["options"]
    )
    return Spec("virsh", sub, params)


def spec_for(tool: str, sub: str | None) -> Spec:
    if tool == "virsh":
        if sub is None:
            raise CommandError("virsh needs a command, e.g. virsh list --all")
        return virsh_spec_for(sub)
    spec = tool_specs.lookup(tool, sub)
    if spec is None:
        known = ", ".join([*tool_specs.known_tools(), "virsh"])
        raise CommandError(f"{tool} {sub or ''}".strip() + f" is not a command kvmlab can check (known: {known})")
    return spec


def _split(line: str) -> list[str]:
    try:
        return shlex.split(line, comments=False)
    except ValueError as err:
        raise CommandError(f"cannot split the line: {err} (unbalanced quotes?)") from err


def _virsh_globals(words: list[str]) -> tuple[dict[str, str], set[str], list[str]]:
    """virsh's own options in front of the subcommand: (-c's URI, the -r flag, the words after them)."""
    values: dict[str, str] = {}
    flags: set[str] = set()
    i = 0
    while i < len(words) and words[i].startswith("-"):
        opt, eq, inline = words[i].partition("=")
        meaning = _VIRSH_GLOBAL_MEANING.get(opt)
        if opt in _VIRSH_GLOBAL_VALUE:
            if not eq and i + 1 >= len(words):
                raise CommandError(f"{opt} needs a value")
            if meaning:
                values[meaning] = inline if eq else words[i + 1]
            i += 1 if eq else 2
        elif opt in _VIRSH_GLOBAL_FLAG:
            if meaning:
                flags.add(meaning)
            i += 1
        else:
            raise CommandError(f"{words[i]} is not an option of virsh itself")
    return values, flags, words[i:]


def parse(line: str) -> Parsed:
    words = _split(line)
    if words and words[0] == "sudo":
        words = words[1:]
    if not words:
        raise CommandError("the answer is empty")
    tool = words[0].rsplit("/", 1)[-1]
    rest = words[1:]
    if tool == "vish":
        raise CommandError("there is no `vish`: the libvirt shell is virsh")
    global_values: dict[str, str] = {}
    global_flags: set[str] = set()
    if tool == "virsh":
        global_values, global_flags, rest = _virsh_globals(rest)
    sub: str | None = None
    if tool == "virsh" or tool_specs.has_subcommands(tool):
        if not rest:
            raise CommandError(f"{tool} needs a subcommand")
        if tool == "virsh":
            sub, rest = rest[0], rest[1:]
        else:
            sub, rest = tool_specs.split_subcommand(tool, rest)
    parsed = _parse_args(spec_for(tool, sub), rest, line)
    if global_values or global_flags:
        values = dict(parsed.values) | {k: (v,) for k, v in global_values.items()}
        parsed = replace(parsed, values=tuple(sorted(values.items())), flags=parsed.flags | global_flags)
    return parsed


def _words(*parts: str) -> str:
    """An argv option's words ('info kvm' quoted or not is the same --cmd)."""
    return " ".join(" ".join(parts).split())


def _parse_args(spec: Spec, args: list[str], line: str) -> Parsed:
    values: dict[str, list[str]] = {}
    flags: set[str] = set()
    positionals: list[str] = []
    i = 0
    while i < len(args):
        word = args[i]
        if word == "--":
            positionals.extend(args[i + 1 :])
            break
        keyword = spec.keywords and spec.find(word) is not None
        if keyword or (word.startswith("-") and len(word) > 1 and not _SIZE.match(word)):
            opt, eq, inline = (word, "", "") if keyword else word.partition("=")
            name = opt.lstrip("-") if spec.tool == "virsh" else opt
            param = spec.find(name)
            if param is None:
                raise CommandError(f"{opt} is not an option of {spec.tool}{' ' + spec.sub if spec.sub else ''}")
            if param.value:
                if eq:
                    value = inline
                elif i + 1 < len(args):
                    i += 1
                    value = args[i]
                else:
                    raise CommandError(f"{opt} needs a value")
                if param.name in values and not (param.repeat or param.rest):
                    raise CommandError(f"{opt} is given twice")
                values.setdefault(param.name, []).append(value)
            else:
                if eq:
                    raise CommandError(f"{opt} is a flag and takes no value")
                flags.add(param.name)
        else:
            positionals.append(word)
        i += 1

    if spec.positionals_are_list:
        if positionals:
            values.setdefault("positional", []).extend(positionals)
    else:
        # virsh's argv options (--cmd, --diskspec) take one value when named and
        # every bare word left over once the other positional slots are full.
        free = [p for p in spec.positional if p.name not in values or p.rest]
        for k, word in enumerate(positionals):
            if k >= len(free):
                raise CommandError(f"unexpected argument {word!r} for {spec.tool}{' ' + spec.sub if spec.sub else ''}")
            if free[k].rest:
                values.setdefault(free[k].name, []).extend(positionals[k:])
                break
            values[free[k].name] = [word]
        for param in spec.params:
            if param.rest and param.name in values:
                # quoted or not, the same words (QMP's JSON and snapshot disk specs: the same meaning)
                parts = values[param.name]
                values[param.name] = [canonical_rest(spec, param.name, parts, flags) or _words(*parts)]
    for param in spec.params:
        if param.required and param.name not in values:
            raise CommandError(
                f"{spec.tool} {spec.sub or ''} needs {'--' if spec.tool == 'virsh' else ''}{param.name}".replace(
                    "  ", " "
                )
            )
        if param.size_unit and param.name in values:
            values[param.name] = [normalize_size(v, param.size_unit) for v in values[param.name]]
    values = canonical_values(spec, values)
    # Repeatable options (-a disk1 -a disk2) compare as sets; everything else keeps its order.
    repeatable = {p.name for p in spec.params if p.repeat}
    ordered = tuple(sorted((k, tuple(sorted(v) if k in repeatable else v)) for k, v in values.items()))
    return Parsed(spec.tool, spec.sub, ordered, frozenset(flags), line)
