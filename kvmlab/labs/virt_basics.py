"""Lab: virtualization basics (seed questions 1-4).

The host side: CPU flags, KVM modules, /dev/kvm and the doctor's verdict on
acceleration, which the trainee records. The guest side: one guest with
paravirtual devices (virtio disk and NIC, made by start) and one with
emulated devices (IDE disk, e1000 NIC) that the trainee defines from the
first one's XML, boots, and compares from inside.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from kvmlab.errors import XMLRejected
from kvmlab.guest.boot import GUEST_BOOT_TIMEOUT
from kvmlab.guestxml import Nic
from kvmlab.labs.base import Lab, Params, lab
from kvmlab.resources.agent import GuestAgent
from kvmlab.toolkit import Toolkit
from kvmlab.xmlviews import parse


@dataclass(frozen=True)
class BasicsParams(Params):
    pv_domain: str  # virtio disk + virtio NIC (start makes it)
    emu_domain: str  # IDE disk + e1000 NIC (the trainee defines it)
    network: str  # isolated libvirt network both NICs plug into
    emu_disk: str  # the emulated guest's disk (start makes it)
    emu_console_log: str
    emu_xml: str  # where the trainee writes the emulated guest's XML
    verdict_file: str  # the trainee writes "kvm" or "tcg" here
    uri: str


def isolated_network_xml(name: str, bridge: str) -> str:
    """No <forward> and no <ip>: a bare L2 segment. Nothing is routed, no DHCP, no address on the host."""
    net = ET.Element("network")
    ET.SubElement(net, "name").text = name
    ET.SubElement(net, "bridge", name=bridge, stp="on", delay="0")
    return ET.tostring(net, encoding="unicode")


@lab(
    "virt-basics",
    "Virtualization basics: acceleration, paravirtual vs emulated devices",
    seed=(1, 2, 3, 4),
    requires=("libvirt", "guest", "networks"),
)
class VirtBasics(Lab):
    def params(self, kit: Toolkit) -> BasicsParams:
        emu = kit.name("vm-emu")
        return BasicsParams(
            pv_domain=kit.name("vm-pv"),
            emu_domain=emu,
            network=kit.name("basicsnet"),
            emu_disk=str(kit.path(f"{emu}.qcow2")),
            emu_console_log=str(kit.path(f"{emu}.console.log")),
            emu_xml=str(kit.path(f"{emu}.xml")),
            verdict_file=str(kit.path("accel-verdict.txt")),
            uri=kit.uri,
        )

    def start(self, kit: Toolkit) -> None:
        p = self.params(kit)
        kit.make_dir()
        net = kit.define_network(isolated_network_xml(p.network, kit.ifname("virbasics")))
        if not net.isActive():
            net.create()
        kit.lab_guest(kit.guest_spec("vm-pv", nics=(Nic("network", p.network, "virtio"),)))
        # The emulated guest's disk and console log: ready for the trainee's domain.
        kit.make_overlay(Path(p.emu_disk), kit.guest_files.disk)
        kit.owners.confirm(kit.claim("file", p.emu_console_log))
        kit.expect("domain", p.emu_domain)
        kit.expect("file", p.emu_xml)
        kit.expect("file", p.verdict_file)

    def solve(self, kit: Toolkit) -> None:
        p = self.params(kit)
        Path(p.verdict_file).write_text(kit.verdict.accel + "\n")
        Path(p.emu_xml).write_text(emulated_xml(kit.virsh("dumpxml", "--inactive", p.pv_domain), p))
        if not kit.host.domain(p.emu_domain).exists:  # no <uuid>: a second define would be a new domain
            kit.virsh("define", p.emu_xml)
        if not kit.host.domain(p.emu_domain).is_running:  # solving twice is not an error
            kit.virsh("start", p.emu_domain)
        dom = kit.connection.conn.lookupByName(p.emu_domain)
        GuestAgent(dom).wait(GUEST_BOOT_TIMEOUT)


def _one(node: ET.Element, path: str) -> ET.Element:
    found = node.find(path)
    if found is None:
        raise XMLRejected(f"the domain XML has no <{path}>", "start from `virsh dumpxml --inactive` of the lab guest")
    return found


def emulated_xml(pv_xml: str, p: BasicsParams, disk_bus: str = "ide", nic_model: str = "e1000") -> str:
    """The paravirtual guest's XML turned into the emulated one, as a trainee edits it by hand.

    ``disk_bus`` and ``nic_model`` exist so the tests can make the classic
    half-done edits; the lab itself always asks for ide and e1000.
    """
    dom = parse(pv_xml, "domain XML")
    _one(dom, "name").text = p.emu_domain
    uuid = dom.find("uuid")
    if uuid is not None:
        dom.remove(uuid)  # libvirt makes a new one; two domains cannot share it
    devices = _one(dom, "devices")
    for device in devices:
        # Addresses belong to the old bus layout (a PCI slot means nothing to IDE): libvirt assigns new ones.
        for address in device.findall("address"):
            device.remove(address)
    disk = _one(devices, "disk")
    _one(disk, "source").set("file", p.emu_disk)
    _one(disk, "target").attrib.update(dev="hda" if disk_bus == "ide" else "vda", bus=disk_bus)
    nic = _one(devices, "interface")
    mac = nic.find("mac")
    if mac is not None:
        nic.remove(mac)  # a new MAC, or both guests would answer for the same one
    _one(nic, "model").set("type", nic_model)
    for log in devices.iter("log"):  # <serial> and its <console> alias both name the log file
        log.set("file", p.emu_console_log)
    return ET.tostring(dom, encoding="unicode")
