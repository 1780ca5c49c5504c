"""Declarative, read-mostly views over libvirt XML.

Each view class maps the few elements graders and labs need with class-level
properties (``vcpu_max = Int("vcpu")``), in the spirit of
virtinst's XMLProperty. XPath strings live here and nowhere else.

Parsing goes through defusedxml with DTDs forbidden: XML can come from a
trainee, and entity expansion or external entities are refused outright.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import TypeVar, overload

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from kvmlab.errors import XMLRejected

V = TypeVar("V", bound="View")

MAX_XML_BYTES = 1 << 20  # no libvirt object description comes near 1 MiB


def parse(text: str | bytes, what: str = "XML") -> ET.Element:
    if len(text) > MAX_XML_BYTES:
        raise XMLRejected(
            f"{what} is larger than 1 MiB", "libvirt XML is a few KiB: check that you passed the right file"
        )
    try:
        return fromstring(text, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as err:
        raise XMLRejected(
            f"{what} uses a DTD or entities, which kvmlab refuses", "remove the <!DOCTYPE> and &entity; parts"
        ) from err
    except ET.ParseError as err:
        raise XMLRejected(
            f"{what} is not well-formed: {err}", "fix the XML (xmllint --noout FILE shows where)"
        ) from err


_UNITS = {
    "b": 1 / 1024,
    "bytes": 1 / 1024,
    "k": 1,
    "kib": 1,
    "kb": 1000 / 1024,
    "m": 1024,
    "mib": 1024,
    "mb": 1e6 / 1024,
    "g": 1024**2,
    "gib": 1024**2,
    "gb": 1e9 / 1024,
    "t": 1024**3,
    "tib": 1024**3,
    "tb": 1e12 / 1024,
}


def to_kib(value: str, unit: str | None) -> int:
    return int(int(value) * _UNITS[(unit or "KiB").lower()])


def to_bytes(value: str, unit: str | None) -> int:
    return int(int(value) * _UNITS[(unit or "bytes").lower()] * 1024)


class _Field:
    """A value at ``path`` (an ElementTree path) or at its attribute ``attr``."""

    def __init__(self, path: str = ".", attr: str | None = None) -> None:
        self.path, self.attr = path, attr

    def _raw(self, node: ET.Element) -> str | None:
        el = node.find(self.path)
        if el is None:
            return None
        return el.get(self.attr) if self.attr else (el.text or "").strip()


class Text(_Field):
    def __init__(self, path: str = ".", attr: str | None = None, default: str | None = None) -> None:
        super().__init__(path, attr)
        self.default = default

    @overload
    def __get__(self, obj: None, owner: type) -> Text: ...
    @overload
    def __get__(self, obj: View, owner: type) -> str | None: ...
    def __get__(self, obj: View | None, owner: type) -> Text | str | None:
        if obj is None:
            return self
        raw = self._raw(obj.node)
        return self.default if raw is None else raw


class Int(_Field):
    @overload
    def __get__(self, obj: None, owner: type) -> Int: ...
    @overload
    def __get__(self, obj: View, owner: type) -> int | None: ...
    def __get__(self, obj: View | None, owner: type) -> Int | int | None:
        if obj is None:
            return self
        raw = self._raw(obj.node)
        return int(raw) if raw not in (None, "") else None


class YesNo(_Field):
    """libvirt's yes/no (on/off) attributes; None when absent."""

    @overload
    def __get__(self, obj: None, owner: type) -> YesNo: ...
    @overload
    def __get__(self, obj: View, owner: type) -> bool | None: ...
    def __get__(self, obj: View | None, owner: type) -> YesNo | bool | None:
        if obj is None:
            return self
        raw = self._raw(obj.node)
        return None if raw is None else raw in ("yes", "on", "1")


class Flag(_Field):
    """True when the element at ``path`` exists (e.g. ``<readonly/>``)."""

    @overload
    def __get__(self, obj: None, owner: type) -> Flag: ...
    @overload
    def __get__(self, obj: View, owner: type) -> bool: ...
    def __get__(self, obj: View | None, owner: type) -> Flag | bool:
        if obj is None:
            return self
        return obj.node.find(self.path) is not None


class Size(_Field):
    """A size with a ``unit`` attribute, in KiB (memory) or in bytes (pools, volumes)."""

    def __init__(self, path: str, default_unit: str = "KiB", in_bytes: bool = False) -> None:
        super().__init__(path)
        self.default_unit, self.in_bytes = default_unit, in_bytes

    @overload
    def __get__(self, obj: None, owner: type) -> Size: ...
    @overload
    def __get__(self, obj: View, owner: type) -> int | None: ...
    def __get__(self, obj: View | None, owner: type) -> Size | int | None:
        if obj is None:
            return self
        el = obj.node.find(self.path)
        text = (el.text or "").strip() if el is not None else ""
        if el is None or not text:
            return None
        unit = el.get("unit", self.default_unit)
        return to_bytes(text, unit) if self.in_bytes else to_kib(text, unit)


class View:
    def __init__(self, node: ET.Element) -> None:
        self.node = node

    @classmethod
    def from_xml(cls: type[V], text: str | bytes) -> V:
        return cls(parse(text, f"{cls.__name__} XML"))

    def xml(self) -> str:
        return ET.tostring(self.node, encoding="unicode")

    def _views(self, path: str, cls: type[V]) -> list[V]:
        return [cls(el) for el in self.node.findall(path)]


class DiskXML(View):
    device = Text(".", "device", default="disk")
    type = Text(".", "type")
    driver_name = Text("driver", "name")
    format = Text("driver", "type")
    cache = Text("driver", "cache")
    io = Text("driver", "io")
    iothread = Int("driver", "iothread")
    queues = Int("driver", "queues")
    source_file = Text("source", "file")
    source_dev = Text("source", "dev")
    target = Text("target", "dev")
    bus = Text("target", "bus")
    readonly = Flag("readonly")
    serial = Text("serial")
    alias = Text("alias", "name")  # live XML only: QEMU's device id (virtio-disk1)
    discard = Text("driver", "discard")  # unmap: the guest's TRIM/discard frees space in the image
    error_policy = Text("driver", "error_policy")  # stop, report, ignore, enospc (QEMU's werror); None: enospc
    source_pool = Text("source", "pool")  # <disk type='volume'>: a volume of a libvirt storage pool
    source_volume = Text("source", "volume")

    @property
    def source(self) -> str | None:
        return self.source_file or self.source_dev

    def backing_files(self) -> list[str]:
        """The backing chain libvirt reports in live XML, top to bottom."""
        chain, node = [], self.node.find("backingStore")
        while node is not None and node.find("source") is not None:
            src = node.find("source")
            chain.append(src.get("file") or src.get("dev") or "")  # type: ignore[union-attr]
            node = node.find("backingStore")
        return chain


class ControllerXML(View):
    type = Text(".", "type")
    model = Text(".", "model")
    index = Int(".", "index")
    queues = Int("driver", "queues")
    iothread = Int("driver", "iothread")
    alias = Text("alias", "name")  # live XML only


class InterfaceXML(View):
    type = Text(".", "type")
    mac = Text("mac", "address")
    model = Text("model", "type")
    source_network = Text("source", "network")
    source_bridge = Text("source", "bridge")
    source_dev = Text("source", "dev")
    target_dev = Text("target", "dev")
    queues = Int("driver", "queues")
    alias = Text("alias", "name")  # live XML only: QEMU's device id (net1)


class GraphicsXML(View):
    type = Text(".", "type")
    listen = Text(".", "listen")
    listen_address = Text("listen", "address")
    port = Int(".", "port")
    autoport = YesNo(".", "autoport")


class DomainXML(View):
    name = Text("name")
    uuid = Text("uuid")
    title = Text("title")
    description = Text("description")
    domain_type = Text(".", "type")
    vcpu_max = Int("vcpu")
    vcpu_placement = Text("vcpu", "placement")
    memory_kib = Size("memory")
    current_memory_kib = Size("currentMemory")
    max_memory_kib = Size("maxMemory")
    max_memory_slots = Int("maxMemory", "slots")
    machine = Text("os/type", "machine")
    arch = Text("os/type", "arch")
    kernel = Text("os/kernel")
    initrd = Text("os/initrd")
    cmdline = Text("os/cmdline")
    clock_offset = Text("clock", "offset")
    cpu_mode = Text("cpu", "mode")
    iothreads = Int("iothreads")
    emulator = Text("devices/emulator")
    video_model = Text("devices/video/model", "type")
    hugepages = Flag("memoryBacking/hugepages")
    nosharepages = Flag("memoryBacking/nosharepages")  # QEMU mem-merge=off: KSM never merges this guest's RAM
    balloon_model = Text("devices/memballoon", "model")
    serial_log = Text("devices/serial/log", "file")  # where libvirt copies the serial console
    hyperv_spinlock_retries = Int("features/hyperv/spinlocks", "retries")

    @property
    def vcpu_current(self) -> int | None:
        node = self.node.find("vcpu")
        if node is None:
            return None
        return int(node.get("current", (node.text or "0").strip()))

    def disks(self) -> list[DiskXML]:
        return self._views("devices/disk", DiskXML)

    def disk(self, target: str) -> DiskXML | None:
        return next((d for d in self.disks() if d.target == target), None)

    def interfaces(self) -> list[InterfaceXML]:
        return self._views("devices/interface", InterfaceXML)

    def interface(self, mac: str) -> InterfaceXML | None:
        return next((i for i in self.interfaces() if (i.mac or "").lower() == mac.lower()), None)

    def graphics(self) -> list[GraphicsXML]:
        return self._views("devices/graphics", GraphicsXML)

    def controllers(self, kind: str) -> list[ControllerXML]:
        return self._views(f"devices/controller[@type='{kind}']", ControllerXML)

    def iothread_ids(self) -> list[int]:
        """IOThread ids a disk or controller may name: <iothreadids>, else 1..<iothreads>."""
        ids = [int(t.get("id", "0")) for t in self.node.findall("iothreadids/iothread")]
        return sorted(ids) if ids else list(range(1, (self.iothreads or 0) + 1))

    def hugepage_sizes_kib(self) -> list[int]:
        """Page sizes asked in <memoryBacking><hugepages><page size=.../>; empty means the host's default size."""
        return [to_kib(p.get("size", "0"), p.get("unit")) for p in self.node.findall("memoryBacking/hugepages/page")]

    def hyperv_features(self) -> dict[str, str]:
        node = self.node.find("features/hyperv")
        return {child.tag: child.get("state", "") for child in node} if node is not None else {}

    def timers(self) -> dict[str, dict[str, str]]:
        """<clock><timer name=... present=... tickpolicy=.../>: name -> its attributes."""
        return {t.get("name", ""): dict(t.attrib) for t in self.node.findall("clock/timer")}

    def features(self) -> set[str]:
        node = self.node.find("features")
        return {child.tag for child in node} if node is not None else set()

    def vcpupins(self) -> dict[int, str]:
        return {int(p.get("vcpu", "-1")): p.get("cpuset", "") for p in self.node.findall("cputune/vcpupin")}

    def emulatorpin(self) -> str | None:
        node = self.node.find("cputune/emulatorpin")
        return node.get("cpuset") if node is not None else None

    def metadata(self, namespace: str) -> ET.Element | None:
        meta = self.node.find("metadata")
        if meta is None:
            return None
        return next((child for child in meta if child.tag.startswith("{" + namespace + "}")), None)

    def has_channel(self, name: str) -> bool:
        return any(c.get("name") == name for c in self.node.findall("devices/channel/target"))


class CapabilitiesXML(View):
    """``virsh capabilities``: what this host's hypervisor driver can run."""

    def emulators(self) -> set[str]:
        """Every emulator binary libvirt found for some guest architecture (``<guest><arch><emulator>``)."""
        found = self.node.findall("guest/arch/emulator") + self.node.findall("guest/arch/domain/emulator")
        return {(e.text or "").strip() for e in found if (e.text or "").strip()}


class DhcpRange(View):
    start = Text(".", "start")
    end = Text(".", "end")


class NetworkXML(View):
    name = Text("name")
    uuid = Text("uuid")
    bridge = Text("bridge", "name")
    forward_mode = Text("forward", "mode")
    forward_managed = YesNo("forward", "managed")
    ip_address = Text("ip", "address")
    netmask = Text("ip", "netmask")
    prefix = Int("ip", "prefix")

    @property
    def has_forward(self) -> bool:
        return self.node.find("forward") is not None

    def dhcp_ranges(self) -> list[DhcpRange]:
        return self._views("ip/dhcp/range", DhcpRange)

    def forward_pfs(self) -> list[str]:
        return [pf.get("dev", "") for pf in self.node.findall("forward/pf")]


class PoolXML(View):
    name = Text("name")
    uuid = Text("uuid")
    type = Text(".", "type")
    target_path = Text("target/path")
    capacity = Size("capacity", "bytes", in_bytes=True)


class VolumeXML(View):
    name = Text("name")
    key = Text("key")
    path = Text("target/path")
    format = Text("target/format", "type")
    capacity = Size("capacity", "bytes", in_bytes=True)


class SnapshotDiskXML(View):
    """One <disk> of a domain snapshot: internal (inside the qcow2), external (a new overlay) or no."""

    name = Text(".", "name")
    snapshot = Text(".", "snapshot")
    source_file = Text("source", "file")


class DomainSnapshotXML(View):
    """``virsh snapshot-dumpxml``: what a snapshot holds and where it hangs in the tree."""

    name = Text("name")
    state = Text("state")  # running / shutoff (memory or powered off) or disk-snapshot (disk-only)
    parent = Text("parent/name")
    memory = Text("memory", "snapshot")  # internal, external or no
    memory_file = Text("memory", "file")

    def disks(self) -> list[SnapshotDiskXML]:
        return self._views("disks/disk", SnapshotDiskXML)

    def disk(self, name: str) -> SnapshotDiskXML | None:
        return next((d for d in self.disks() if d.name == name), None)
