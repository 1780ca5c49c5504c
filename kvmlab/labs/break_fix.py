"""Lab: break-fix, a guest that will not run and the trainee finds out why (troubleshooting).

``lab start`` builds a small guest and breaks it the way production breaks.
Each trainee gets one fault (a per-trainee variant), so neighbours cannot
copy the answer:

``backing``      the overlay's backing file was "tidied" into an archive directory
``permissions``  the overlay was left with mode 000 (libvirt chowns images, it never chmods them)
``pool``         the directory of the storage pool holding the guest's scratch volume is gone
``emulator``     the definition names a QEMU binary that was removed (a hand-built one)
``bridge``       the NIC names a bridge that does not exist (renamed on the host)
``io-error``     the datastore of the data disk filled up: QEMU paused the guest on ENOSPC

The grader asks for the guest to run again *and* for the cause to be fixed,
not worked around: the backing file back where the overlay points (not a
rebase, not a fresh disk), the NIC on the lab's bridge with its own MAC, space
freed under the data disk with the error policy kept, and so on.

Every guest's NIC is on the lab's bridge (the host's "production" bridge),
whatever the fault, so the evidence around the guest is the same for all.
The fault injected is recorded in the lab directory at start, so the grader
grades what was really broken; it is a hidden parameter: never printed, and
no notebook cell reads it (the trainee diagnoses it). Instructors (and the tests) choose the fault
for a whole class with ``KVMLAB_BREAKFIX_FAULT=pool kvmlab class start ...``;
otherwise it is ``kit.variant("fault", FAULTS)``.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import libvirt

from kvmlab import hostinfo
from kvmlab.errors import GuestTimeout, HostCannot, UsageError
from kvmlab.guestxml import GuestSpec, Nic, lab_guest_xml
from kvmlab.kinds import MOUNT_SOURCE
from kvmlab.labs.base import Lab, Params, lab
from kvmlab.procs import run
from kvmlab.resources import runlog
from kvmlab.resources.agent import GuestAgent, poll
from kvmlab.resources.bridge import SYS_NET
from kvmlab.resources.diskmarks import BASE_MARK_OFFSET, IMAGE_MARK_OFFSET, write_mark
from kvmlab.toolkit import Toolkit
from kvmlab.xmlviews import parse

FAULTS = ("backing", "permissions", "pool", "emulator", "bridge", "io-error")
FAULT_ENV = "KVMLAB_BREAKFIX_FAULT"

PAUSE_TIMEOUT = 90.0  # the guest fills the datastore in a second or two; TCG on a busy host is slower


@dataclass(frozen=True)
class BreakFixParams(Params):
    domain: str
    image: str  # the guest's disk (vda): a qcow2 overlay
    base: str  # the overlay's backing file
    log: str  # libvirt's log of the guest's QEMU runs
    xml: str  # where to dump and edit the definition
    uri: str
    bridge: str  # the lab's bridge (the host's "production" bridge): where the guest's NIC belongs
    # The rest is the puzzle: hidden (never printed), used by start, solve and the grader.
    fault: str
    archive: str  # backing: where the tidy-up moved the base image
    pool: str  # pool: the storage pool holding the scratch volume (vdb)
    pool_dir: str
    volume: str
    volume_mib: int
    emulator: str  # emulator: the removed QEMU binary the definition names
    missing_bridge: (
        str  # bridge: the name the broken definition gives the NIC's bridge  # the bridge the broken definition names
    )
    mac: str
    datastore: str  # io-error: a small tmpfs holding the data disk
    datastore_mib: int
    data_disk: str
    data_mib: int
    junk: str  # what fills the datastore
    junk_mib: int
    mark: int  # the byte the marks are made of
    record: str  # which fault start injected

    # What the notebook and `kvmlab lab params` print is where to look, never what is wrong.
    hidden: ClassVar[tuple[str, ...]] = (
        "fault",
        "base",
        "archive",
        "pool",
        "pool_dir",
        "volume",
        "volume_mib",
        "emulator",
        "missing_bridge",
        "mac",
        "datastore",
        "datastore_mib",
        "data_disk",
        "data_mib",
        "junk",
        "junk_mib",
        "mark",
        "record",
    )


def chosen_fault(kit: Toolkit) -> str:
    """The fault start injected (recorded), else the instructor's choice, else this trainee's variant."""
    record = kit.path("fault")
    try:
        recorded = record.read_text().strip()
    except OSError:
        recorded = ""
    forced = os.environ.get(FAULT_ENV, "").strip()
    fault = recorded or forced or kit.variant("fault", FAULTS)
    if fault not in FAULTS:
        source = str(record) if recorded else FAULT_ENV
        raise UsageError(f"{source} names fault {fault!r}, which break-fix does not know", f"use one of {FAULTS}")
    return fault


@lab(
    "break-fix",
    "Break-fix: a guest that will not run, diagnosed from logs and fixed at the cause",
    seed=(15,),
    requires=("libvirt", "guest", "root", "bridges"),
)
class BreakFix(Lab):
    def params(self, kit: Toolkit) -> BreakFixParams:
        domain = kit.name("vm-fix")
        datastore = kit.path("datastore")
        return BreakFixParams(
            domain=domain,
            image=str(kit.path(f"{domain}.qcow2")),
            base=str(kit.path("base.qcow2")),
            log=str(runlog.log_path(kit.uri, domain)),
            xml=str(kit.path(f"{domain}.xml")),
            uri=kit.uri,
            bridge=kit.ifname("fixbr0"),
            fault=chosen_fault(kit),
            archive=str(kit.path("old-images") / "base.qcow2"),
            pool=kit.name("fixpool"),
            pool_dir=str(kit.path("pool")),
            volume="scratch.qcow2",
            volume_mib=32,
            emulator=str(kit.path("qemu-7.1") / "bin" / "qemu-system-x86_64"),
            missing_bridge=kit.ifname("brprod0"),
            mac=kit.mac("nic", "52:54:00:fb:00:01"),
            datastore=str(datastore),
            datastore_mib=48,
            data_disk=str(datastore / "data.qcow2"),
            data_mib=32,
            junk=str(datastore / "backup-2023.tar"),
            junk_mib=40,
            mark=kit.variant("mark", tuple(range(0x41, 0x5B))),  # 'A'..'Z'
            record=str(kit.path("fault")),
        )

    # -- start: a guest, then the fault ------------------------------------------

    def start(self, kit: Toolkit) -> None:
        p = self.params(kit)
        if Path(p.record).exists():
            return  # already broken (start is idempotent): a second start must not fix or re-break it
        files = kit.guest_files
        kit.make_dir()
        kit.expect("file", p.xml)
        kit.make_copy(Path(p.base), files.disk, "qcow2")
        write_mark(p.base, p.mark, BASE_MARK_OFFSET)
        kit.make_overlay(Path(p.image), Path(p.base), "qcow2")
        write_mark(p.image, p.mark, IMAGE_MARK_OFFSET)
        # Every guest sits on the host's bridge, broken or not: the evidence around it is the same for all faults.
        kit.make_bridge(p.bridge)
        spec = kit.guest_spec("vm-fix", nics=(Nic(type="bridge", source=p.bridge, mac=p.mac),))
        log = kit.claim("file", str(spec.console_log))
        kit.owners.confirm(log)
        {
            "backing": _break_backing,
            "permissions": _break_permissions,
            "pool": _break_pool,
            "emulator": _break_emulator,
            "bridge": _break_bridge,
            "io-error": _break_io,
        }[p.fault](kit, p, spec)
        kit.write_file(Path(p.record), p.fault + "\n")

    # -- the reference solution: the same commands as the notebook ------------------

    def solve(self, kit: Toolkit) -> None:
        p = self.params(kit)
        if p.fault == "backing":
            run(["mv", p.archive, p.base])  # back where the overlay points
        elif p.fault == "permissions":
            run(["chmod", "0600", p.image])  # libvirt chowns it to the qemu user at start
        elif p.fault == "pool":
            kit.virsh("pool-build", p.pool)  # makes the directory again
            kit.virsh("pool-start", p.pool)
            kit.virsh("vol-create-as", p.pool, p.volume, f"{p.volume_mib}M", "--format", "qcow2")
        elif p.fault == "emulator":
            emulator = host_emulator(kit)
            redefine(kit, p, lambda xml: xml.replace(f"<emulator>{p.emulator}<", f"<emulator>{emulator}<"))
        elif p.fault == "bridge":
            redefine(kit, p, lambda xml: xml.replace(f"'{p.missing_bridge}'", f"'{p.bridge}'"))
        elif p.fault == "io-error":
            run(["rm", p.junk])
            kit.virsh("resume", p.domain)
            return
        kit.virsh("start", p.domain)
        kit.wait_ready(p.domain)


# -- the faults --------------------------------------------------------------------


def _define(kit: Toolkit, spec: GuestSpec, edit: Any = None) -> libvirt.virDomain:
    """The guest's definition, changed by ``edit(root)`` (an ElementTree <domain>) before it is defined."""
    xml = lab_guest_xml(spec, kit.guest_files)
    if edit is not None:
        root = parse(xml, "the lab guest's XML")
        edit(root)
        ET.indent(root)
        xml = ET.tostring(root, encoding="unicode")
    return kit.define_domain(xml)


def _break_backing(kit: Toolkit, p: BreakFixParams, spec: GuestSpec) -> None:
    _define(kit, spec)
    kit.make_dir(Path(p.archive).parent)
    moved = kit.claim("file", p.archive)
    Path(p.base).rename(p.archive)  # "nothing uses base.qcow2 any more": the overlay does
    kit.owners.confirm(moved)


def _break_permissions(kit: Toolkit, p: BreakFixParams, spec: GuestSpec) -> None:
    _define(kit, spec)
    Path(p.image).chmod(0)


def _break_pool(kit: Toolkit, p: BreakFixParams, spec: GuestSpec) -> None:
    kit.make_dir(Path(p.pool_dir))
    pool = ET.Element("pool", type="dir")
    ET.SubElement(pool, "name").text = p.pool
    ET.SubElement(ET.SubElement(pool, "target"), "path").text = p.pool_dir
    handle = kit.define_pool(ET.tostring(pool, encoding="unicode"))
    if not handle.isActive():
        handle.create(0)
    volume = Path(p.pool_dir) / p.volume
    vol = kit.claim("file", str(volume))
    kit.virsh("vol-create-as", p.pool, p.volume, f"{p.volume_mib}M", "--format", "qcow2")
    kit.owners.confirm(vol)

    def scratch(root: ET.Element) -> None:
        devices = root.find("devices")
        assert devices is not None
        disk = ET.Element("disk", type="volume", device="disk")
        ET.SubElement(disk, "driver", name="qemu", type="qcow2")
        ET.SubElement(disk, "source", pool=p.pool, volume=p.volume)
        ET.SubElement(disk, "target", dev="vdb", bus="virtio")
        devices.insert(1, disk)

    _define(kit, spec, scratch)
    # The directory goes (a wiped filesystem, a mount that did not come back); libvirtd
    # cannot start the pool any more, nor the guest whose volume it holds.
    handle.destroy()
    volume.unlink()
    Path(p.pool_dir).rmdir()


def _break_emulator(kit: Toolkit, p: BreakFixParams, spec: GuestSpec) -> None:
    qemu = hostinfo.qemu_binary()
    if qemu is None:
        raise HostCannot("qemu-system-x86_64 is not installed", "run `make setup` to install the host tools")
    wrapper = Path(p.emulator)
    kit.make_dir(wrapper.parent.parent)
    kit.make_dir(wrapper.parent)
    obj = kit.claim("file", str(wrapper))
    # libvirt refuses to define a guest whose emulator it cannot run, so the
    # hand-built QEMU exists while the guest is defined, and goes afterwards.
    wrapper.write_text(f'#!/bin/sh\n# a hand-built QEMU 7.1 (kvmlab break-fix)\nexec {qemu} "$@"\n')
    wrapper.chmod(0o755)
    kit.owners.confirm(obj)

    def emulator(root: ET.Element) -> None:
        devices = root.find("devices")
        assert devices is not None
        el = ET.Element("emulator")
        el.text = str(wrapper)
        devices.insert(0, el)

    _define(kit, spec, emulator)
    wrapper.unlink()
    wrapper.parent.rmdir()
    wrapper.parent.parent.rmdir()


def _break_bridge(kit: Toolkit, p: BreakFixParams, spec: GuestSpec) -> None:
    if (SYS_NET / p.missing_bridge).exists():
        raise HostCannot(
            f"an interface named {p.missing_bridge} exists on this host, and the lab needs that name to be free",
            "use another trainee name (--trainee NAME)",
        )
    # A trainee may "fix" it by creating a bridge with the old name: finish removes that one too.
    kit.expect("bridge", p.missing_bridge)
    spec.nics = (Nic(type="bridge", source=p.missing_bridge, mac=p.mac),)
    _define(kit, spec)


def _break_io(kit: Toolkit, p: BreakFixParams, spec: GuestSpec) -> None:
    datastore = Path(p.datastore)
    make_tmpfs(kit, datastore, p.datastore_mib)
    junk = kit.claim("file", p.junk)
    run(["fallocate", "-l", f"{p.junk_mib}M", p.junk])  # "an old backup someone parked on the datastore"
    kit.owners.confirm(junk)
    data = kit.claim("file", p.data_disk)
    run(["qemu-img", "create", "-q", "-f", "qcow2", p.data_disk, f"{p.data_mib}M"])
    kit.owners.confirm(data)

    def data_disk(root: ET.Element) -> None:
        devices = root.find("devices")
        assert devices is not None
        disk = ET.Element("disk", type="file", device="disk")
        ET.SubElement(disk, "driver", name="qemu", type="qcow2", error_policy="stop")
        ET.SubElement(disk, "source", file=p.data_disk)
        ET.SubElement(disk, "target", dev="vdb", bus="virtio")
        devices.insert(1, disk)

    dom = _define(kit, spec, data_disk)
    kit.boot(dom, spec.console_log)
    agent = GuestAgent(dom)
    agent.wait(60)
    # The guest's application writes its data disk; the thin qcow2 grows until the datastore is full.
    agent.command("guest-exec", {"path": "/bin/dd", "arg": ["if=/dev/zero", "of=/dev/vdb", "bs=1M", "conv=fsync"]})
    paused = (libvirt.VIR_DOMAIN_PAUSED, libvirt.VIR_DOMAIN_PAUSED_IOERROR)
    if poll(lambda: tuple(dom.state()), lambda s: s == paused, seconds=PAUSE_TIMEOUT, interval=0.25) != paused:
        raise GuestTimeout(
            f"guest {p.domain} did not pause on the full datastore within {PAUSE_TIMEOUT:.0f} s",
            "the host is very busy: kvmlab lab reset break-fix tries again",
        )


def make_tmpfs(kit: Toolkit, path: Path, size_mib: int) -> Path:
    """An owned tmpfs of ``size_mib`` at ``path`` (a directory the lab owns): a filesystem that really fills up."""
    kit.make_dir(path)
    obj = kit.claim("mount", str(path))
    if not os.path.ismount(path):
        source = f"{MOUNT_SOURCE}-{kit.trainee.name}"
        run(["mount", "-t", "tmpfs", "-o", f"size={size_mib}m,mode=0755", source, str(path)])
    kit.owners.confirm(obj)
    return path


# -- shared by the solution, the notebook and the tests ---------------------------------


def host_emulator(kit: Toolkit) -> str:
    """The emulator libvirt itself picks for this guest (``virsh domcapabilities``)."""
    caps = parse(kit.virsh("domcapabilities", "--virttype", kit.verdict.domain_type), "domcapabilities")
    path = caps.findtext("path")
    if not path:
        raise HostCannot("virsh domcapabilities names no emulator", "is QEMU installed? `kvmlab doctor` checks")
    return path


def redefine(kit: Toolkit, p: BreakFixParams, edit: Any) -> None:
    """virsh dumpxml --inactive > FILE, edit FILE, virsh define FILE: what `virsh edit` does, in steps."""
    text = kit.virsh("dumpxml", "--inactive", p.domain)
    Path(p.xml).write_text(edit(text))
    kit.virsh("define", p.xml)
