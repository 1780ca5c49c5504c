"""Lab: hot-add a NIC to a running guest (seed question 16).

The lab owns an isolated libvirt network (no <forward>: nothing leaves the
host) and a running guest without a NIC; the trainee plugs a virtio NIC with
an asked MAC into that network, live and persistent. The subnet and the MAC
are in the parameters: the default trainee gets 192.168.166.0/24 and
52:54:00:c0:a8:a6, others their own (kvmlab.variants), so a class can share
a host.
"""

from __future__ import annotations

import ipaddress
import xml.etree.ElementTree as ET
from dataclasses import dataclass

import libvirt

from kvmlab.errors import HostCannot
from kvmlab.labs.base import Lab, Params, lab
from kvmlab.toolkit import Toolkit

CANONICAL_SUBNET = "192.168.166.0/24"  # a less common /24, clear of the seed's 122/133/144/155
# 52:54:00 is QEMU/KVM's prefix; c0:a8:a6 is 192.168.166 in hex.
CANONICAL_MAC = "52:54:00:c0:a8:a6"


@dataclass(frozen=True)
class NicParams(Params):
    domain: str
    network: str
    subnet: str  # 192.168.166.0/24
    gateway: str  # the host's address on the network's bridge
    mac: str
    model: str
    uri: str


def network_xml(p: NicParams) -> str:
    """An isolated network: no <forward> element, so libvirt routes and NATs nothing."""
    net = ipaddress.ip_network(p.subnet)
    root = ET.Element("network")
    ET.SubElement(root, "name").text = p.network
    ip = ET.SubElement(root, "ip", address=p.gateway, netmask=str(net.netmask))
    dhcp = ET.SubElement(ip, "dhcp")
    ET.SubElement(dhcp, "range", start=str(net.network_address + 100), end=str(net.network_address + 199))
    return ET.tostring(root, encoding="unicode")


@lab(
    "hotadd-nic",
    "Hot-add a NIC to a running guest",
    seed=(16,),
    requires=("libvirt", "guest", "networks"),
    canonical_subnets=(CANONICAL_SUBNET,),
)
class HotAddNic(Lab):
    def params(self, kit: Toolkit) -> NicParams:
        subnet = kit.subnet("nic", CANONICAL_SUBNET)
        return NicParams(
            domain=kit.name("vm-nic"),
            network=kit.name("nicnet"),
            subnet=subnet,
            gateway=str(ipaddress.ip_network(subnet).network_address + 1),
            mac=kit.mac("nic", CANONICAL_MAC),
            model="virtio",
            uri=kit.uri,
        )

    def start(self, kit: Toolkit) -> None:
        p = self.params(kit)
        net = kit.define_network(network_xml(p))
        if not net.isActive():
            try:
                net.create()
            except libvirt.libvirtError as err:
                raise HostCannot(
                    f"cannot start network {p.network} on {p.subnet}: {err.get_error_message()}",
                    "another network on this host uses that subnet: `virsh net-list` shows them; "
                    "finish the lab that owns it, or use another trainee name",
                ) from err
        kit.lab_guest(kit.guest_spec("vm-nic"))

    def solve(self, kit: Toolkit) -> None:
        p = self.params(kit)
        kit.virsh(
            "attach-interface",
            p.domain,
            "--type",
            "network",
            "--source",
            p.network,
            "--model",
            p.model,
            "--mac",
            p.mac,
            "--live",
            "--config",
        )
