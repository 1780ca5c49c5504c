"""Linux bridges as host facts, read from sysfs (what `bridge link` shows)."""

from __future__ import annotations

from pathlib import Path

SYS_NET = Path("/sys/class/net")


class Bridge:
    def __init__(self, name: str) -> None:
        self.name = name

    @property
    def exists(self) -> bool:
        return (SYS_NET / self.name / "bridge").is_dir()

    @property
    def ports(self) -> list[str]:
        """Interfaces enslaved to the bridge (the tap devices of guest NICs)."""
        brif = SYS_NET / self.name / "brif"
        return sorted(p.name for p in brif.iterdir()) if brif.is_dir() else []

    def has_port(self, ifname: str) -> bool:
        return ifname in self.ports
