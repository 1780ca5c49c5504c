"""Listening TCP sockets on this host, read from /proc/net/tcp and tcp6.

A graphics console (SPICE, VNC) is only as private as the address its socket
listens on: the XML says what was asked, these files say what the kernel did.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

PROC_NET = Path("/proc/net")
TCP_LISTEN = "0A"


def _address(hex_addr: str) -> str:
    """/proc/net/tcp* addresses: 32-bit words in host (little-endian) byte order."""
    words = [bytes.fromhex(hex_addr[i : i + 8])[::-1] for i in range(0, len(hex_addr), 8)]
    return str(ipaddress.ip_address(b"".join(words)))


def tcp_listeners(port: int, proc_net: Path = PROC_NET) -> list[str]:
    """Addresses with a socket listening on TCP ``port`` (``0.0.0.0`` and ``::`` mean every address)."""
    found: list[str] = []
    for name in ("tcp", "tcp6"):
        try:
            lines = (proc_net / name).read_text().splitlines()[1:]
        except OSError:
            continue  # no IPv6 on this host
        for line in lines:
            fields = line.split()
            if len(fields) < 4 or fields[3] != TCP_LISTEN:
                continue
            addr, _, hex_port = fields[1].partition(":")
            if int(hex_port, 16) == port:
                found.append(_address(addr))
    return sorted(set(found))


def is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False  # a host name or garbage: not provably loopback
