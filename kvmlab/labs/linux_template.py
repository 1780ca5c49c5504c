"""Lab: make a Linux template and clones from it (seed question 19).

Start hands the trainee a "golden" guest as it is after installation: a
standalone qcow2 copy of kvmlab's golden disk (never kvmlab's own file),
still carrying its machine-id, SSH host keys, hostname, logs and shell
history, defined as a domain on an isolated network and shut off. The
trainee seals the image, makes it read-only, puts one qcow2 overlay per clone
on it, defines clones with their own name, UUID and MAC, and boots one.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from kvmlab import guestfs
from kvmlab.guestxml import Nic, lab_guest_xml
from kvmlab.labs.base import Lab, Params, lab
from kvmlab.procs import run
from kvmlab.toolkit import Toolkit

SEALED_HOSTNAMES = ("localhost.localdomain", "localhost")  # virt-sysprep's default, and the short form


@dataclass(frozen=True)
class TemplateParams(Params):
    template: str  # the golden guest's domain (shut off; never started again once sealed)
    base: str  # its disk: the image to seal, then the read-only base of every clone
    hostname: str  # what the sealed image's /etc/hostname says
    sealed_hostnames: tuple[str, ...]  # the neutral names a sealed image may carry (virt-sysprep's, and its short form)
    clone1: str
    clone1_disk: str
    clone1_console_log: str  # where clone1's serial console goes once it has its own
    clone2: str
    clone2_disk: str
    clone2_console_log: str
    network: str  # isolated: no forward, no address, no DHCP
    pool: str  # a dir pool on the lab directory: virt-clone makes one of its own for a directory without
    uri: str

    @property
    def clones(self) -> tuple[tuple[str, str], ...]:
        return ((self.clone1, self.clone1_disk), (self.clone2, self.clone2_disk))


def isolated_network_xml(name: str, bridge: str) -> str:
    """No <forward> and no <ip>: a bare L2 segment with nothing routed and no address on the host."""
    net = ET.Element("network")
    ET.SubElement(net, "name").text = name
    ET.SubElement(net, "bridge", name=bridge, stp="on", delay="0")
    return ET.tostring(net, encoding="unicode")


def dir_pool_xml(name: str, directory: Path) -> str:
    pool = ET.Element("pool", type="dir")
    ET.SubElement(pool, "name").text = name
    ET.SubElement(ET.SubElement(pool, "target"), "path").text = str(directory)
    return ET.tostring(pool, encoding="unicode")


@lab(
    "linux-template",
    "Make a Linux template: seal, read-only base, qcow2 overlays, clones",
    seed=(19,),
    requires=("libvirt", "guest", "networks", "libguestfs"),
)
class LinuxTemplate(Lab):
    def params(self, kit: Toolkit) -> TemplateParams:
        template, clone1, clone2 = kit.name("golden"), kit.name("clone1"), kit.name("clone2")
        return TemplateParams(
            template=template,
            base=str(kit.path(f"{template}.qcow2")),
            hostname=SEALED_HOSTNAMES[0],
            sealed_hostnames=SEALED_HOSTNAMES,
            clone1=clone1,
            clone1_disk=str(kit.path(f"{clone1}.qcow2")),
            clone1_console_log=str(kit.path(f"{clone1}.console.log")),
            clone2=clone2,
            clone2_disk=str(kit.path(f"{clone2}.qcow2")),
            clone2_console_log=str(kit.path(f"{clone2}.console.log")),
            network=kit.name("tplnet"),
            pool=kit.name("tplpool"),
            uri=kit.uri,
        )

    def start(self, kit: Toolkit) -> None:
        p = self.params(kit)
        kit.make_dir()
        net = kit.define_network(isolated_network_xml(p.network, kit.ifname("tplbr0")))
        if not net.isActive():
            net.create()
        pool = kit.define_pool(dir_pool_xml(p.pool, kit.lab_dir))
        if not pool.isActive():
            pool.create(0)
        # A copy, not an overlay: the base must stand alone (it is sealed in place and outlives kvmlab's build).
        kit.make_copy(Path(p.base), kit.guest_files.disk, "qcow2")
        spec = kit.guest_spec("golden", nics=(Nic("network", p.network, "virtio"),))
        kit.owners.confirm(kit.claim("file", str(spec.console_log)))
        kit.define_domain(lab_guest_xml(spec, kit.guest_files))
        for name, disk in p.clones:
            kit.expect("file", disk)
            kit.expect("file", kit.path(f"{name}.console.log"))
            kit.expect("domain", name)

    def solve(self, kit: Toolkit) -> None:
        p = self.params(kit)
        seal(kit, p.base, ["--hostname", p.hostname])
        run(["chmod", "0444", p.base])
        for name, disk in p.clones:
            run(["qemu-img", "create", "-q", "-f", "qcow2", "-b", p.base, "-F", "qcow2", disk])
            clone(kit, p.template, name, disk)
        boot_clone(kit, p.clone1)


# machine-id(5): a file that says "uninitialized" (or no file) makes the next boot a first boot.
FIRST_BOOT_MACHINE_ID = "uninitialized"


def seal(kit: Toolkit, image: str, extra: list[str]) -> None:
    """virt-sysprep's default operations, /etc/machine-id left saying "uninitialized".

    virt-sysprep's machine-id operation empties the file, and libguestfs
    1.48's customize step then writes a fresh id into an empty one; an empty
    file is no first boot to systemd anyway. The last customize action
    writes the first-boot marker machine-id(5) describes.
    """
    write = ["--write", f"/etc/machine-id:{FIRST_BOOT_MACHINE_ID}"]
    guestfs.run_tool(["virt-sysprep", "-a", image, *extra, *write], kit.verdict.accel)


def clone(kit: Toolkit, original: str, name: str, disk: str) -> None:
    """virt-clone with the overlay made for it: new name, UUID and MAC; the disk kept as it is."""
    argv = ["--connect", kit.uri]
    run(["virt-clone", *argv, "--original", original, "--name", name, "--file", disk, "--preserve-data"])
    # virt-clone copies the original's serial <log file=...>: two clones would write one console log.
    log = kit.path(f"{name}.console.log")
    run(["virt-xml", *argv, name, "--edit", "--serial", f"log.file={log},log.append=off"])


def boot_clone(kit: Toolkit, name: str) -> None:
    kit.virsh("start", name)
    kit.wait_ready(name)
