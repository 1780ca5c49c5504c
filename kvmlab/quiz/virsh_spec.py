"""virsh's own description of its commands, turned into data.

``virsh help SUBCOMMAND`` lists every option as ``[--name] <type>`` (may be
given positionally, in that order), ``--name <type>`` (takes a value) or
``--name`` (a flag). Its help does not show which value-taking options may
also be given as bare words (``virsh vcpupin centos 0 1``), so that is asked of
virsh's own parser (probe_positional). We record it all once per libvirt release in
``specs/virsh.json`` (``python -m kvmlab.quiz.virsh_spec`` regenerates it) so
answers can be checked without a daemon, and the test suite compares the
recording with the installed virsh.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

SPEC_FILE = Path(__file__).parent / "specs" / "virsh.json"

_OPTION = re.compile(r"^\s{4}(\[?)--([a-z0-9-]+)\]?(?:\s+<(\w+)>)?\s")
_BARE_LIST = re.compile(r"^\s{4}<([a-z0-9-]+)>\s")
_COMMAND = re.compile(r"^\s{4}([a-z][a-z0-9-]*)\s{2,}")


def parse_help(text: str) -> dict[str, Any]:
    """One subcommand's options from its ``virsh help`` text."""
    synopsis = ""
    options: list[dict[str, Any]] = []
    section = ""
    for line in text.splitlines():
        if line.strip() in ("NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS"):
            section = line.strip()
            continue
        if section == "SYNOPSIS" and line.strip():
            synopsis += line.strip()
        if section == "OPTIONS":
            match = _OPTION.match(line)
            if match:
                positional, name, kind = match.groups()
                options.append({"name": name, "positional": bool(positional), "value": kind})
            elif bare := _BARE_LIST.match(line):
                # "<domain>  list of domains" (domstats): bare words only, as many as given.
                options.append({"name": bare.group(1), "positional": True, "value": "string", "bare_list": True})
    for opt in options:
        # "{[--cmd] <string>}..." (required) or "[[--diskspec] <string>]..." (optional) in the
        # synopsis: an argv option, given several times and taking the bare words left over.
        name = re.escape(opt["name"])
        opt["rest"] = opt.pop("bare_list", False) or bool(
            re.search(r"(\{\[--" + name + r"\][^}]*\}|\[\[--" + name + r"\][^\]]*\])\.\.\.", synopsis)
        )
        # "<domain>" bare in the synopsis: required; "[<target>]" or "[--x <y>]": optional.
        opt["required"] = bool(re.search(r"(^|\s)(\{\[)?<" + re.escape(opt["name"]) + r">", synopsis)) or bool(
            re.search(r"(^|\s)\{?\[--" + re.escape(opt["name"]) + r"\] <\w+>\}?(\.\.\.)?(\s|$)", synopsis)
        )
    return {"synopsis": synopsis, "options": options}


def _slots(command: str, named: tuple[str, ...] = ()) -> int | None:
    """How many bare words virsh's parser gives to options, with ``named`` given by name.

    virsh puts bare words into its value-taking options in order, except the
    ones it declares name-only, and says "unexpected data" for the first word
    it cannot place. Parsing happens before the command runs, so the test
    driver is enough. None: an option swallows the rest (qemu-monitor-command).
    """
    words = [f"kvmlabp{i}" for i in range(16)]
    argv = ["virsh", "-c", "test:///default", command]
    for name in named:
        argv += [f"--{name}", "kvmlabv"]
    err = subprocess.run([*argv, *words], capture_output=True, text=True).stderr
    match = re.search(r"unexpected data 'kvmlabp(\d+)'", err)
    return int(match.group(1)) if match else None


# With an argv option every spare bare word lands there, so _slots cannot count;
# for those few commands, what virsh's parser does was tried by hand (and
# tests/unit/test_virsh_spec.py tries it again on the test driver).
ARGV_COMMAND_POSITIONALS = {
    "snapshot-create-as": ("name", "description"),
    "checkpoint-create-as": ("name", "description"),
}


def probe_positional(command: str, options: list[dict[str, Any]]) -> None:
    """Mark which value-taking options virsh also accepts as bare words (``positional``)."""
    base = _slots(command)
    if base is None:
        # keep what `virsh help` says ([--name] options are positional), plus the known extras
        for opt in options:
            opt["positional"] = opt["positional"] or opt["name"] in ARGV_COMMAND_POSITIONALS.get(command, ())
        return
    for opt in options:
        if opt["value"] is not None and not opt["rest"]:
            opt["positional"] = _slots(command, (opt["name"],)) == base - 1


def list_commands() -> list[str]:
    out = subprocess.run(["virsh", "help"], capture_output=True, text=True, check=True).stdout
    return sorted({m.group(1) for line in out.splitlines() if (m := _COMMAND.match(line))})


def generate() -> dict[str, Any]:
    version = subprocess.run(["virsh", "--version"], capture_output=True, text=True, check=True).stdout.strip()
    commands = {}
    for name in list_commands():
        text = subprocess.run(["virsh", "help", name], capture_output=True, text=True, check=True).stdout
        spec = parse_help(text)
        probe_positional(name, spec["options"])
        commands[name] = spec
    return {"virsh_version": version, "commands": commands}


def load() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(SPEC_FILE.read_text())
    return data


if __name__ == "__main__":
    SPEC_FILE.parent.mkdir(exist_ok=True)
    SPEC_FILE.write_text(json.dumps(generate(), indent=1, sort_keys=True) + "\n")
    print(f"wrote {SPEC_FILE}")
