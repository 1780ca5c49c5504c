"""A TCP port on this host as facts: the addresses a socket listens on it (the kernel's socket table).

A graphics console (SPICE, VNC) is only as private as the address its
socket listens on: the XML says what was asked, the kernel says what QEMU did.
"""

from __future__ import annotations

from kvmlab.resources.sockets import tcp_listeners


class TcpPort:
    def __init__(self, port: int) -> None:
        self.port = port

    @property
    def listeners(self) -> list[str]:
        """Addresses with a socket listening on this port (``0.0.0.0`` and ``::`` mean every address)."""
        return tcp_listeners(self.port) if self.port > 0 else []
