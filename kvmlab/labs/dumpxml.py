"""Lab: read, edit and redefine libvirt XML: a domain, a network, a pool (seed questions 10-12).

Start defines the domain (the tiny guest, shut off) and the network, so there
is real XML to dump; the trainee edits both and redefines them, then builds
the storage pool from nothing and puts a volume in it. The seed names them
``tianyun``, ``mynet`` and ``mypool``.

Start also records the three definitions as they begin (libvirt's own
description of the domain and the network, and the pool the trainee is asked
to define): the grader compares with them, so an edit nobody asked for (a
renamed bridge, a new UUID) does not pass.
"""

from __future__ import annotations

import ipaddress
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from kvmlab.labs.base import Lab, Params, lab
from kvmlab.resources.definitions import RecordedDefinitions
from kvmlab.toolkit import Toolkit
from kvmlab.xmlviews import parse

# Not started by the lab, so it never competes with another network for its
# subnet; libvirt's documentation uses this one in its examples.
MYNET_SUBNET = "192.168.100.0/24"


@dataclass(frozen=True)
class DumpXmlParams(Params):
    domain: str
    memory_mib: int  # asked: both <memory> and <currentMemory>
    vcpus: int  # asked: the guest boots with this many
    description: str
    domain_xml: str  # where the trainee saves `virsh dumpxml`
    network: str
    network_bridge: str
    subnet: str
    dhcp_start: str  # asked range
    dhcp_end: str
    network_xml: str
    pool: str
    pool_path: str  # the dir pool's target directory
    pool_xml: str
    volume: str
    volume_format: str
    volume_size_gib: int
    start_record: str  # the definitions as the lab started them: what the grader compares with
    uri: str

    @property
    def volume_path(self) -> str:
        return str(Path(self.pool_path) / self.volume)

    @property
    def volume_bytes(self) -> int:
        return self.volume_size_gib * 1024**3


def mynet_xml(p: DumpXmlParams) -> str:
    """mynet as start defines it: isolated (no <forward>), DHCP over the whole subnet."""
    net = ipaddress.IPv4Network(p.subnet)
    hosts = list(net.hosts())
    root = ET.Element("network")
    ET.SubElement(root, "name").text = p.network
    ET.SubElement(root, "bridge", name=p.network_bridge, stp="on", delay="0")
    ip = ET.SubElement(root, "ip", address=str(hosts[0]), netmask=str(net.netmask))
    dhcp = ET.SubElement(ip, "dhcp")
    ET.SubElement(dhcp, "range", start=str(hosts[1]), end=str(hosts[-1]))
    ET.indent(root)
    return ET.tostring(root, encoding="unicode")


@lab("dumpxml", "Dump, edit and redefine libvirt XML", seed=(10, 11, 12), requires=("libvirt", "guest", "networks"))
class DumpXml(Lab):
    def params(self, kit: Toolkit) -> DumpXmlParams:
        net = ipaddress.IPv4Network(MYNET_SUBNET)
        return DumpXmlParams(
            domain=kit.name("tianyun"),
            memory_mib=512,
            vcpus=2,
            description="tianyun web server",
            domain_xml=str(kit.path("tianyun.xml")),
            network=kit.name("mynet"),
            network_bridge=kit.ifname("br-mynet"),
            subnet=MYNET_SUBNET,
            dhcp_start=str(net.network_address + 100),
            dhcp_end=str(net.network_address + 200),
            network_xml=str(kit.path("mynet.xml")),
            pool=kit.name("mypool"),
            pool_path=str(kit.path("mypool")),
            pool_xml=str(kit.path("mypool.xml")),
            volume="data.qcow2",
            volume_format="qcow2",
            volume_size_gib=1,
            start_record=str(kit.path("start-definitions.json")),
            uri=kit.uri,
        )

    def start(self, kit: Toolkit) -> None:
        p = self.params(kit)
        kit.lab_guest(kit.guest_spec("tianyun"), running=False)
        kit.define_network(mynet_xml(p))
        record = RecordedDefinitions(p.start_record)
        # Written once: a second start must not take the trainee's edits for the starting point.
        kit.make("file", p.start_record, lambda: record.write(starting_definitions(kit, p)), record.path.exists)
        # What the trainee makes; finish removes the volume file, then the pool's directory.
        kit.expect("pool", p.pool)
        kit.expect("dir", p.pool_path)
        kit.expect("file", p.volume_path)
        for dump in (p.domain_xml, p.network_xml, p.pool_xml):
            kit.expect("file", dump)

    def solve(self, kit: Toolkit) -> None:
        p = self.params(kit)
        solve_domain(kit, p)
        solve_network(kit, p)
        solve_pool(kit, p)


def starting_definitions(kit: Toolkit, p: DumpXmlParams) -> dict[str, str]:
    """What each object is before the trainee's work, as libvirt describes it (UUIDs, MACs, addresses filled in).

    The pool does not exist yet: its starting point is the definition the
    task asks for, a dir pool at p.pool_path and nothing more.
    """
    domain, network = kit.host.domain(p.domain).config, kit.host.network(p.network).config
    assert domain is not None and network is not None, "start defines both before recording them"
    pool = kit.virsh("pool-define-as", p.pool, "dir", "--target", p.pool_path, "--print-xml")
    return {"domain": domain.xml(), "network": network.xml(), "pool": pool}


# The reference solution in parts, so the known-wrong solutions in the tests
# can do all but one part right.


def dump(kit: Toolkit, command: str, name: str, path: str) -> ET.Element:
    """`virsh dumpxml NAME > PATH` (or net-dumpxml...), returned parsed for editing."""
    text = kit.virsh(command, name)
    Path(path).write_text(text)
    return parse(text, f"virsh {command} {name}")


def save(root: ET.Element, path: str) -> None:
    Path(path).write_text(ET.tostring(root, encoding="unicode"))


def child(parent: ET.Element, path: str) -> ET.Element:
    """The element at ``path`` (``a/b/c``), created if a trainee's edits removed it."""
    node = parent
    for tag in path.split("/"):
        found = node.find(tag)
        node = found if found is not None else ET.SubElement(node, tag)
    return node


def solve_domain(kit: Toolkit, p: DumpXmlParams) -> None:
    root = dump(kit, "dumpxml", p.domain, p.domain_xml)
    for tag in ("memory", "currentMemory"):
        el = child(root, tag)
        el.set("unit", "MiB")
        el.text = str(p.memory_mib)
    vcpu = child(root, "vcpu")
    vcpu.text = str(p.vcpus)
    vcpu.set("current", str(p.vcpus))
    child(root, "description").text = p.description
    save(root, p.domain_xml)
    kit.virsh("define", p.domain_xml)


def solve_network(kit: Toolkit, p: DumpXmlParams) -> None:
    root = dump(kit, "net-dumpxml", p.network, p.network_xml)
    rng = child(root, "ip/dhcp/range")
    rng.set("start", p.dhcp_start)
    rng.set("end", p.dhcp_end)
    save(root, p.network_xml)
    kit.virsh("net-define", p.network_xml)


def solve_pool(kit: Toolkit, p: DumpXmlParams) -> None:
    # --print-xml writes the XML instead of defining it: the file is what pool-dumpxml will show.
    xml = kit.virsh("pool-define-as", p.pool, "dir", "--target", p.pool_path, "--print-xml")
    Path(p.pool_xml).write_text(xml)
    kit.virsh("pool-define", p.pool_xml)
    kit.virsh("pool-build", p.pool)
    kit.virsh("pool-start", p.pool)
    make_volume(kit, p)


def make_volume(kit: Toolkit, p: DumpXmlParams) -> None:
    kit.virsh("vol-create-as", p.pool, p.volume, f"{p.volume_size_gib}G", "--format", p.volume_format)
