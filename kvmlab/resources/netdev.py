"""A host network interface by name, read from sysfs: is it there, is it a tap?"""

from __future__ import annotations

from kvmlab.resources.bridge import SYS_NET, is_tap


class NetDevice:
    def __init__(self, name: str) -> None:
        self.name = name

    @property
    def exists(self) -> bool:
        return (SYS_NET / self.name).exists()

    @property
    def is_tap(self) -> bool:
        """A tun/tap device (what libvirt plugs a guest NIC into), as opposed to a host uplink."""
        return is_tap(self.name)
