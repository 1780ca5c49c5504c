"""A class roster: who is in the class and on which libvirt host each one works.

class = "kvm-spring"
seed = "a secret only the instructor knows"   # per-trainee variants; default: the class name

[[trainee]]
name = "alice"                                 # uri defaults to qemu:///system

[[trainee]]
name = "bob"
uri = "qemu+ssh://root@hv2.example.org/system"
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from kvmlab.errors import InvalidName, UsageError
from kvmlab.trainee import Trainee, validate

DEFAULT_URI = "qemu:///system"


@dataclass(frozen=True)
class Member:
    trainee: Trainee
    uri: str
    # A command prefix that runs a command on the trainee's own hypervisor host
    # (["ssh", "root@hv2"]): kvmlab runs there, where the trainee's files are,
    # and only the signing happens here.
    via: tuple[str, ...] = ()
    kvmlab: str = "kvmlab"  # the kvmlab command on that host

    @property
    def where(self) -> str:
        return " ".join(self.via) if self.via else self.uri


@dataclass(frozen=True)
class Roster:
    name: str
    seed: str
    members: tuple[Member, ...]
    path: Path

    @property
    def uris(self) -> list[str]:
        return sorted({m.uri for m in self.members})


def _remote(uri: str) -> bool:
    """A libvirt URI naming another machine (qemu+ssh://host/..., qemu+tls://host/...)."""
    return bool(urlsplit(uri).hostname)


def load(path: Path) -> Roster:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"no roster at {path}", "write one (see `kvmlab class --help` and the README)") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise UsageError(f"{path}: not valid TOML: {err}", "fix the roster file") from None
    name = data.get("class")
    if not isinstance(name, str) or not name.strip():
        raise UsageError(f'{path}: the roster needs `class = "NAME"`', "add the class name at the top")
    seed = data.get("seed", name)
    entries = data.get("trainee", [])
    if not isinstance(entries, list) or not entries:
        raise UsageError(f"{path}: no trainees", 'add [[trainee]] entries with name = "..."')
    members: list[Member] = []
    seen: set[str] = set()
    for n, entry in enumerate(entries, start=1):
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise UsageError(f"{path}: trainee #{n} has no name", 'each [[trainee]] needs name = "..."')
        try:
            trainee_name = validate(entry["name"])
        except InvalidName as err:
            raise UsageError(f"{path}: trainee #{n}: {err.message}", err.hint) from None
        if trainee_name in seen:
            raise UsageError(f"{path}: trainee {trainee_name} is listed twice", "keep one entry per trainee")
        seen.add(trainee_name)
        uri = entry.get("uri", DEFAULT_URI)
        if not isinstance(uri, str) or "://" not in uri:
            raise UsageError(
                f"{path}: trainee {trainee_name}: uri {uri!r} is not a libvirt URI",
                "e.g. qemu:///system or qemu+ssh://root@host/system",
            )
        via = entry.get("via", [])
        if not isinstance(via, list) or not all(isinstance(w, str) and w for w in via):
            raise UsageError(
                f"{path}: trainee {trainee_name}: via must be a list of words",
                'e.g. via = ["ssh", "root@hv2.example.org"]',
            )
        if _remote(uri) and not via:
            # The labs' files (images, logs) live on that host: grading them from here would be wrong.
            raise UsageError(
                f"{path}: trainee {trainee_name}: {uri} is another host, and kvmlab must run there",
                'add via = ["ssh", "root@THAT-HOST"] and give uri as that host sees it (qemu:///system)',
            )
        members.append(Member(Trainee(trainee_name), uri, tuple(via), str(entry.get("kvmlab", "kvmlab"))))
    return Roster(name.strip(), str(seed), tuple(members), path)
