"""The IPv4 subnets libvirt's networks claim: which run, and which a lab's networks would collide with.

Only one running network can own a subnet (two bridges with the same
addresses give the host two routes for one destination). libvirt's
``default`` network holds its subnet even while stopped: anyone may start
it, and it usually autostarts. Any other network holds its subnet while it
runs.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass

import libvirt

from kvmlab.resources.network import Network
from kvmlab.xmlviews import NetworkXML


def subnet_of(xml: NetworkXML | None) -> ipaddress.IPv4Network | None:
    """The IPv4 subnet a network's (first) <ip> element claims, None if it has none."""
    if xml is None or not xml.ip_address:
        return None
    mask = xml.netmask or str(xml.prefix if xml.prefix is not None else 24)
    try:
        return ipaddress.IPv4Interface(f"{xml.ip_address}/{mask}").network
    except ValueError:
        return None  # an IPv6 <ip> first, or nonsense: it claims no IPv4 subnet


@dataclass(frozen=True)
class Clash:
    """A subnet one of a lab's networks wants, held by another network: the lab's must stay stopped."""

    network: str  # the lab's network that wants the subnet
    wanted: ipaddress.IPv4Network
    holder: str  # the network that holds it
    subnet: ipaddress.IPv4Network  # what the holder claims (it may be wider than what is wanted)
    why: str  # "is libvirt's default network", "is running"

    def __str__(self) -> str:
        return f"{self.wanted}: {self.holder} ({self.subnet}) {self.why}"


class Subnets:
    def __init__(self, conn: libvirt.virConnect) -> None:
        self.conn = conn

    def _names(self) -> list[str]:
        return sorted(n.name() for n in self.conn.listAllNetworks(0))

    def defined(self, name: str) -> ipaddress.IPv4Network | None:
        """The subnet network ``name``'s persistent definition claims; None if it is not defined or claims none."""
        net = Network(self.conn, name)
        return subnet_of(net.config) if net.is_persistent else None

    def running(self) -> dict[str, ipaddress.IPv4Network]:
        """Every running network's subnet, by network name."""
        found = {}
        for name in self._names():
            subnet = subnet_of(Network(self.conn, name).live)
            if subnet is not None:
                found[name] = subnet
        return found

    def clashes(self, wanted: Mapping[str, ipaddress.IPv4Network], default_network: str) -> list[Clash]:
        """The subnets in ``wanted`` (network name -> subnet) that a network outside ``wanted`` holds."""
        found: list[Clash] = []
        for name in self._names():
            if name in wanted:
                continue
            net = Network(self.conn, name)
            if name == default_network:
                subnet, why = subnet_of(net.config), "is libvirt's default network"
            else:
                subnet, why = subnet_of(net.live), "is running"
            if subnet is not None:
                found.extend(
                    Clash(mine, want, name, subnet, why) for mine, want in wanted.items() if want.overlaps(subnet)
                )
        return found
