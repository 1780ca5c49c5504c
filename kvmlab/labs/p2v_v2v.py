"""Lab: P2V/V2V, import a VMware disk, SPICE on loopback (seed question 14).

start makes the "VMware guest's" disk: a copy of the golden ext4 disk with
its own hostname and machine-id, so the imported guest's readiness line
proves which disk it booted from. The trainee exports it as a VMDK (what
vSphere hands over), converts that to qcow2 with qemu-img, imports it with
virt-install --import (SPICE on 127.0.0.1, QXL video) and boots it.

virt-install looks an existing disk up as a libvirt storage volume (that is
where it reads the image's format from), and when the disk's directory is in
no storage pool it creates one, autostarted, named after the directory, and
never removes it. So start makes the lab's directory an owned dir pool first:
virt-install finds it, and finish removes it.

virt-v2v itself is explained, not run: it inspects a real guest OS (kernel,
bootloader, fstab, package manager) and the busybox disk has none of that.
"""

from __future__ import annotations

import tempfile
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from kvmlab.errors import CommandFailed, GuestTimeout
from kvmlab.guest.boot import GUEST_BOOT_TIMEOUT, wait_for_marker
from kvmlab.guest.build import KERNEL_CMDLINE
from kvmlab.guestxml import AGENT_CHANNEL
from kvmlab.labs.base import Lab, Params, lab
from kvmlab.procs import run, which
from kvmlab.resources.imagefs import image_files
from kvmlab.toolkit import Toolkit

SOURCE_HOSTNAME = "web01-vmware"
LOOPBACK = "127.0.0.1"


@dataclass(frozen=True)
class V2vParams(Params):
    source_disk: str  # the VMware guest's disk (raw), made by start
    source_hostname: str  # what that disk's /etc/hostname says
    vmdk: str  # the trainee exports the disk here, as vSphere would
    vmdk_subformat: str  # streamOptimized: the compressed VMDK inside an OVA (its createType)
    converted: str  # the qcow2 the trainee converts the VMDK to
    domain: str  # the imported guest
    console_log: str  # its serial console: the readiness line names the disk it booted from
    kernel: str  # the tiny guest boots its kernel directly (the disk has no bootloader)
    initrd: str
    kernel_args: str
    domain_type: str  # kvm or qemu (TCG), from the accelerator verdict
    pool: str  # the lab directory as a storage pool, so virt-install does not make its own
    listen: str  # SPICE listens here and nowhere else
    uri: str


def virt_install_argv(p: V2vParams, fmt: str = "qcow2", listen: str | None = None) -> list[str]:
    """``virt-install --import``: define a domain around an existing disk and boot it.

    ``fmt`` and ``listen`` exist so the tests can make the classic mistakes;
    the lab asks for the converted qcow2 on 127.0.0.1. (For an image that
    already exists, virt-install takes the format libvirt's pool detects.)
    """
    return [
        "virt-install",
        "--connect",
        p.uri,
        "--import",
        "--name",
        p.domain,
        "--virt-type",
        p.domain_type,
        "--memory",
        "256",
        "--vcpus",
        "1",
        "--osinfo",
        "detect=on,require=off",
        "--disk",
        f"path={p.converted},format={fmt},bus=virtio",
        "--boot",
        f"kernel={p.kernel},initrd={p.initrd},kernel_args={p.kernel_args}",
        "--network",
        "none",
        "--graphics",
        f"spice,listen={listen or p.listen}",
        "--video",
        "qxl",
        "--serial",
        f"pty,log.file={p.console_log},log.append=off",
        "--channel",
        f"unix,target.type=virtio,name={AGENT_CHANNEL}",
        "--noautoconsole",
    ]


def dir_pool_xml(name: str, path: Path) -> str:
    pool = ET.Element("pool", type="dir")
    ET.SubElement(pool, "name").text = name
    ET.SubElement(ET.SubElement(pool, "target"), "path").text = str(path)
    return ET.tostring(pool, encoding="unicode")


def rewrite_identity(disk: Path, hostname: str, machine_id: str) -> None:
    """Give an ext4 image its own /etc/hostname and /etc/machine-id, without mounting (debugfs)."""
    debugfs = which("debugfs", "e2fsprogs")
    with tempfile.TemporaryDirectory(prefix="kvmlab-v2v-") as tmp:
        host_file, id_file = Path(tmp) / "hostname", Path(tmp) / "machine-id"
        host_file.write_text(hostname + "\n")
        id_file.write_text(machine_id + "\n")
        script = (
            f"rm /etc/hostname\nwrite {host_file} /etc/hostname\nrm /etc/machine-id\nwrite {id_file} /etc/machine-id\n"
        )
        run([debugfs, "-w", "-f", "-", str(disk)], input=script)
    # debugfs exits 0 even when a command in its script fails: read the result back.
    with image_files(disk) as fs:
        written = (fs.read("/etc/hostname") or "").strip()
    if written != hostname:
        raise CommandFailed(f"debugfs could not set the hostname inside {disk}", "check that it is an ext4 image")


def wait_ready(kit: Toolkit, p: V2vParams) -> float:
    """Wait for the imported guest's readiness line, as lab start does for its own guests."""
    dom = kit.connection.conn.lookupByName(p.domain)
    waited = wait_for_marker(Path(p.console_log), GUEST_BOOT_TIMEOUT, alive=lambda: dom.isActive() == 1)
    if waited is None:
        raise GuestTimeout(
            f"guest {p.domain} did not report ready within {GUEST_BOOT_TIMEOUT:.0f} s",
            f"look at its console log ({p.console_log})",
        )
    return waited


@lab("p2v-v2v", "P2V/V2V: convert a VMware disk to qcow2, import it, SPICE on loopback", seed=(14,))
class P2vV2v(Lab):
    def params(self, kit: Toolkit) -> V2vParams:
        domain = kit.name("web01")
        files = kit.guest_files
        return V2vParams(
            source_disk=str(kit.path("vmware-web01-flat.raw")),
            source_hostname=SOURCE_HOSTNAME,
            vmdk=str(kit.path("web01.vmdk")),
            vmdk_subformat="streamOptimized",
            converted=str(kit.path("web01.qcow2")),
            domain=domain,
            console_log=str(kit.path(f"{domain}.console.log")),
            kernel=str(files.kernel),
            initrd=str(files.initrd),
            kernel_args=KERNEL_CMDLINE,
            domain_type=kit.verdict.domain_type,
            pool=kit.name("v2vpool"),
            listen=LOOPBACK,
            uri=kit.uri,
        )

    def start(self, kit: Toolkit) -> None:
        p = self.params(kit)
        lab_dir = kit.make_dir()
        pool = kit.define_pool(dir_pool_xml(p.pool, lab_dir))
        if not pool.isActive():
            pool.create(0)
        source = Path(p.source_disk)
        obj = kit.claim("file", p.source_disk)  # claimed first: a start that fails half-way removes it
        if not source.exists():
            run(["qemu-img", "convert", "-f", "raw", "-O", "raw", str(kit.guest_files.disk), str(source)])
            rewrite_identity(source, p.source_hostname, uuid.uuid4().hex)
        kit.owners.confirm(obj)
        for path in (p.vmdk, p.converted, p.console_log):
            kit.expect("file", path)
        kit.expect("domain", p.domain)

    def solve(self, kit: Toolkit) -> None:
        p = self.params(kit)
        # What vSphere exports (an OVA holds a streamOptimized VMDK) ...
        run(
            [
                "qemu-img",
                "convert",
                "-f",
                "raw",
                "-O",
                "vmdk",
                "-o",
                f"subformat={p.vmdk_subformat}",
                p.source_disk,
                p.vmdk,
            ]
        )
        # ... and what KVM wants.
        run(["qemu-img", "convert", "-f", "vmdk", "-O", "qcow2", p.vmdk, p.converted])
        run(virt_install_argv(p), timeout=GUEST_BOOT_TIMEOUT)
        wait_ready(kit, p)
