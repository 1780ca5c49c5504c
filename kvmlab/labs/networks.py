"""Lab: isolated libvirt networks on the seed's four subnets (seed question 6).

192.168.122.0/24 is also the subnet of libvirt's own ``default`` network. That
network is never ours: the lab reads it (to find the clash and to prove it was
left alone) and never starts, changes or undefines it. The trainee's network
on a subnet that another network holds (``default``, or any other network
running on it) is defined but not started and not autostarted; the others
run, each with its own bridge and DHCP range.
"""

from __future__ import annotations

import ipaddress
import json
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from kvmlab.labs.base import Lab, Params, lab
from kvmlab.toolkit import Toolkit

# The seed's subnets. Per-trainee variants will change these in params().
SUBNETS = ("192.168.122.0/24", "192.168.133.0/24", "192.168.144.0/24", "192.168.155.0/24")
DHCP_FIRST, DHCP_LAST = 100, 200  # host numbers: the rest of each subnet stays free for static addresses
LIBVIRT_DEFAULT = "default"
LIBVIRT_DEFAULT_SUBNET = SUBNETS[0]  # what libvirt ships its default network with


@dataclass(frozen=True)
class NetSpec:
    tag: str  # which of the seed's four it stands for: "122", "133", "144", "155"
    name: str
    bridge: str
    subnet: str  # 192.168.133.0/24 (a trainee of a class gets their own /24 in its place)
    dhcp_start: str
    dhcp_end: str
    xml: str  # the file the trainee writes, then net-defines

    @property
    def network(self) -> ipaddress.IPv4Network:
        return ipaddress.IPv4Network(self.subnet)

    @property
    def gateway(self) -> str:
        """The host's address on the bridge: the first host of the subnet, by convention."""
        return str(self.network.network_address + 1)

    @property
    def netmask(self) -> str:
        return str(self.network.netmask)

    def __repr__(self) -> str:  # one line per network when the notebook prints p.nets
        return f"<{self.name}: {self.subnet} gw {self.gateway} dhcp {self.dhcp_start}-{self.dhcp_end} br {self.bridge}>"


@dataclass(frozen=True)
class NetworksParams(Params):
    nets: tuple[NetSpec, ...]
    default_network: str  # libvirt's: read, never touched
    default_snapshot: str  # its state when the lab started, to prove it was left alone
    uri: str

    @property
    def wanted(self) -> dict[str, ipaddress.IPv4Network]:
        """Each network's name and the subnet it asks for (what host.subnets().clashes compares)."""
        return {n.name: n.network for n in self.nets}

    def net(self, subnet_or_name: str) -> NetSpec:
        """p.net("133") or p.net("net133"): one of the trainee's networks, by the seed subnet it stands for."""
        for n in self.nets:
            if subnet_or_name in (n.tag, n.name, n.subnet):
                return n
        raise KeyError(subnet_or_name)


def network_xml(n: NetSpec) -> str:
    """An isolated network: no <forward>, so nothing leaves the bridge."""
    root = ET.Element("network")
    ET.SubElement(root, "name").text = n.name
    ET.SubElement(root, "bridge", name=n.bridge, stp="on", delay="0")
    ip = ET.SubElement(root, "ip", address=n.gateway, netmask=n.netmask)
    dhcp = ET.SubElement(ip, "dhcp")
    ET.SubElement(dhcp, "range", start=n.dhcp_start, end=n.dhcp_end)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode") + "\n"


@lab(
    "networks",
    "Isolated libvirt networks on the seed's four subnets",
    seed=(6,),
    requires=("libvirt", "root", "networks"),
    canonical_subnets=SUBNETS,
)
class Networks(Lab):
    def params(self, kit: Toolkit) -> NetworksParams:
        nets = []
        for canonical in SUBNETS:
            tag = canonical.split(".")[2]
            # 122 stays 122 for everybody: it teaches the clash with libvirt's default
            # network and is never started. The others are each trainee's own in a
            # class, so trainees' running networks never overlap.
            subnet = canonical if canonical == LIBVIRT_DEFAULT_SUBNET else kit.subnet(f"net{tag}", canonical)
            net = ipaddress.IPv4Network(subnet)
            nets.append(
                NetSpec(
                    tag=tag,
                    name=kit.name(f"net{tag}"),
                    bridge=kit.ifname(f"virbr{tag}"),
                    subnet=subnet,
                    dhcp_start=str(net.network_address + DHCP_FIRST),
                    dhcp_end=str(net.network_address + DHCP_LAST),
                    xml=str(kit.path(f"net{tag}.xml")),
                )
            )
        return NetworksParams(
            nets=tuple(nets),
            default_network=LIBVIRT_DEFAULT,
            default_snapshot=str(kit.path("default-network.json")),
            uri=kit.uri,
        )

    def start(self, kit: Toolkit) -> None:
        p = self.params(kit)
        kit.make_dir()
        snap = Path(p.default_snapshot)
        obj = kit.claim("file", p.default_snapshot)
        if not snap.exists():  # a second start keeps the first snapshot: that is the "before"
            snap.write_text(json.dumps(kit.host.network_state(p.default_network).as_dict()) + "\n")
        kit.owners.confirm(obj)
        for n in p.nets:
            kit.expect("network", n.name)
            kit.expect("file", n.xml)

    def solve(self, kit: Toolkit) -> None:
        p = self.params(kit)
        for n in p.nets:
            Path(n.xml).write_text(network_xml(n))
            kit.virsh("net-define", n.xml)
        taken = {c.network for c in kit.host.subnets().clashes(p.wanted, p.default_network)}
        for n in p.nets:
            if n.name not in taken:
                kit.virsh("net-start", n.name)
