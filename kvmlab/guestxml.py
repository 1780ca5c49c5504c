"""Domain XML for lab guests, built with ElementTree (names are escaped, never pasted)."""

from __future__ import annotations

import hashlib
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from kvmlab.guest.build import KERNEL_CMDLINE, GuestFiles

OWNER_NS = "https://kvmlab.dev/xmlns/owner/1"
AGENT_CHANNEL = "org.qemu.guest_agent.0"


@dataclass(frozen=True)
class Nic:
    """A guest NIC: type 'network' (source = libvirt network), 'bridge' (source = host bridge) or 'user'."""

    type: str
    source: str = ""
    model: str = "virtio"
    mac: str | None = None


@dataclass
class GuestSpec:
    name: str
    domain_type: str  # "kvm" or "qemu"
    disk: Path  # the guest's own qcow2 overlay, attached as vda
    console_log: Path
    trainee: str
    lab: str
    memory_mib: int = 256
    max_memory_mib: int | None = None  # balloon ceiling (<memory>); defaults to memory_mib
    vcpus: int = 1
    max_vcpus: int | None = None
    disk_bus: str = "virtio"
    disk_format: str = "qcow2"
    machine: str = "pc"  # i440fx: PCI hot-plug needs no spare root ports, unlike q35
    nics: tuple[Nic, ...] = ()
    graphics: str | None = None  # "spice" or "vnc", always listening on 127.0.0.1 only
    # Stable for the same trainee, lab and guest (kvmlab.toolkit): a saved ready state restores
    # only into a definition with the UUID it was saved from (kvmlab.guest.ready).
    uuid: str | None = None


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    el = ET.SubElement(parent, tag, attrs)
    if text is not None:
        el.text = text
    return el


def stable_mac(uuid: str, index: int) -> str:
    """The MAC of a lab guest's NIC, the same at every start: a random one (libvirt's default) makes every
    definition new, and a saved ready state restores only into the definition it was saved from."""
    digest = hashlib.sha256(f"{uuid}:{index}".encode()).digest()
    return "52:54:00:" + ":".join(f"{b:02x}" for b in digest[:3])


def lab_guest_xml(spec: GuestSpec, files: GuestFiles) -> str:
    ET.register_namespace("kvmlab", OWNER_NS)
    dom = ET.Element("domain", type=spec.domain_type)
    _sub(dom, "name", spec.name)
    if spec.uuid:
        _sub(dom, "uuid", spec.uuid)
    meta = _sub(dom, "metadata")
    _sub(meta, f"{{{OWNER_NS}}}owner", trainee=spec.trainee, lab=spec.lab)
    _sub(dom, "memory", str(spec.max_memory_mib or spec.memory_mib), unit="MiB")
    _sub(dom, "currentMemory", str(spec.memory_mib), unit="MiB")
    _sub(dom, "vcpu", str(spec.max_vcpus or spec.vcpus), placement="static", current=str(spec.vcpus))
    os_el = _sub(dom, "os")
    _sub(os_el, "type", "hvm", arch="x86_64", machine=spec.machine)
    _sub(os_el, "kernel", str(files.kernel))
    _sub(os_el, "initrd", str(files.initrd))
    _sub(os_el, "cmdline", KERNEL_CMDLINE)
    features = _sub(dom, "features")
    _sub(features, "acpi")
    _sub(features, "apic")
    _sub(dom, "clock", offset="utc")
    _sub(dom, "on_poweroff", "destroy")
    _sub(dom, "on_reboot", "restart")
    _sub(dom, "on_crash", "destroy")
    devices = _sub(dom, "devices")
    disk = _sub(devices, "disk", type="file", device="disk")
    _sub(disk, "driver", name="qemu", type=spec.disk_format)
    _sub(disk, "source", file=str(spec.disk))
    _sub(disk, "target", dev="vda" if spec.disk_bus == "virtio" else "hda", bus=spec.disk_bus)
    for index, nic in enumerate(spec.nics):
        iface = _sub(devices, "interface", type=nic.type)
        mac = nic.mac or (stable_mac(spec.uuid, index) if spec.uuid else None)
        if mac:
            _sub(iface, "mac", address=mac)
        if nic.type in ("network", "bridge"):
            _sub(iface, "source", **{nic.type: nic.source})
        _sub(iface, "model", type=nic.model)
    _sub(devices, "controller", type="usb", model="none")
    serial = _sub(devices, "serial", type="pty")
    _sub(serial, "log", file=str(spec.console_log), append="off")
    _sub(serial, "target", port="0")
    console = _sub(devices, "console", type="pty")
    _sub(console, "target", type="serial", port="0")
    channel = _sub(devices, "channel", type="unix")
    _sub(channel, "target", type="virtio", name=AGENT_CHANNEL)
    if spec.graphics:
        graphics = _sub(devices, "graphics", type=spec.graphics, autoport="yes", listen="127.0.0.1")
        _sub(graphics, "listen", type="address", address="127.0.0.1")
    # Free page reporting: the guest hands pages it freed (in 2 MiB blocks) back to the host,
    # so an idle guest's QEMU holds what the guest uses, not every page it ever touched.
    balloon = _sub(devices, "memballoon", model="virtio", freePageReporting="on")
    _sub(balloon, "stats", period="2")
    ET.indent(dom)
    return ET.tostring(dom, encoding="unicode")
