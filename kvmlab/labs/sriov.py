"""Lab: SR-IOV, IOMMU and a hostdev network (seed question 8).

The trainee looks at their host's IOMMU groups, PCI devices and NICs for
SR-IOV capability, records the verdict (the grader reads the same sysfs files
through host.sriov() and compares), defines a libvirt network of type
hostdev on a physical function (PF), and gives a guest an interface on it.

Nothing here is ever started: a hostdev network hands out the PF's virtual
functions (VFs) to guests by PCI passthrough, which needs an SR-IOV NIC and
an IOMMU. On a host without them (the lab says which, by looking) the
definitions are still valid XML that libvirt stores; starting them would
fail. kvmlab never writes to sriov_numvfs, never starts a network that has a
<forward> element, and never starts this lab's guest.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from kvmlab.labs.base import Lab, Params, lab
from kvmlab.toolkit import Toolkit

# The PF name a typical dual-port SR-IOV NIC (Intel X710/E810, Mellanox CX-5) gets on a
# server; used in the XML only when the trainee's host has no SR-IOV NIC of its own.
EXAMPLE_PF = "ens1f0"


@dataclass(frozen=True)
class SriovParams(Params):
    network: str  # the hostdev network (defined, never started)
    network_xml: str  # where the trainee writes its XML
    domain: str  # a guest that gets an interface on that network (defined, never started)
    # The host's first SR-IOV PF if it has one, else EXAMPLE_PF. Whether the host has one is
    # the trainee's to find out (the verdict): no parameter says it.
    pf: str
    verdict_file: str  # the trainee's JSON verdict on their host
    uri: str


def hostdev_network_xml(name: str, pf: str | None, managed: str = "yes") -> str:
    """``<forward mode='hostdev' managed='yes'><pf dev='PF'/></forward>``: a pool of the PF's VFs.

    ``pf=None`` and ``managed`` exist so the tests can make the classic mistakes.
    """
    net = ET.Element("network")
    ET.SubElement(net, "name").text = name
    forward = ET.SubElement(net, "forward", mode="hostdev", managed=managed)
    if pf is not None:
        ET.SubElement(forward, "pf", dev=pf)
    ET.indent(net)
    return ET.tostring(net, encoding="unicode")


@lab(
    "sriov",
    "SR-IOV: VT-d/IOMMU, PF and VFs, a hostdev network (defined, not started)",
    seed=(8,),
    requires=("libvirt", "guest", "networks"),
)
class Sriov(Lab):
    def params(self, kit: Toolkit) -> SriovParams:
        found = kit.host.sriov().pf_names
        network = kit.name("sriovnet")
        return SriovParams(
            network=network,
            network_xml=str(kit.path(f"{network}.xml")),
            domain=kit.name("vm-sriov"),
            pf=found[0] if found else EXAMPLE_PF,
            verdict_file=str(kit.path("sriov-verdict.json")),
            uri=kit.uri,
        )

    def start(self, kit: Toolkit) -> None:
        p = self.params(kit)
        # Defined only: its interface will be on a network that is never started.
        kit.lab_guest(kit.guest_spec("vm-sriov"), running=False)
        kit.expect("network", p.network)
        kit.expect("file", p.network_xml)
        kit.expect("file", p.verdict_file)

    def solve(self, kit: Toolkit) -> None:
        p = self.params(kit)
        Path(p.verdict_file).write_text(json.dumps(kit.host.sriov().verdict(), indent=1) + "\n")
        Path(p.network_xml).write_text(hostdev_network_xml(p.network, p.pf) + "\n")
        kit.virsh("net-define", p.network_xml)
        kit.virsh("attach-interface", p.domain, "network", p.network, "--config")
