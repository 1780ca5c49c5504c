"""What a command accepts: its parameters (valued, positional, flags)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Param:
    name: str
    value: bool  # takes a value
    positional: bool = False  # may be given in position (virsh's [--name] <type>)
    required: bool = False
    rest: bool = False  # collects the rest of the line (qemu-monitor-command's --cmd)
    repeat: bool = False  # may be given several times (virt-customize -a)
    size_unit: str | None = None  # a size: compared by value, in this default unit
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class Spec:
    tool: str
    sub: str | None
    params: tuple[Param, ...]
    positionals_are_list: bool = False  # qemu-img convert SRC... DEST: positionals kept as a list
    keywords: bool = False  # options are bare words (ip's `dev tap0 mode tap`), not --dashed

    def find(self, opt: str) -> Param | None:
        for p in self.params:
            if opt == p.name or opt in p.aliases:
                return p
        return None

    @property
    def positional(self) -> list[Param]:
        return [p for p in self.params if p.positional]
