"""Declarative, read-mostly views over libvirt XML.

Each view class maps the few elements graders and labs need with class-level
properties (``vcpu_max = Prop("vcpu", conv=int)``), in the spirit of
virtinst's XMLProperty. XPath strings live here and nowhere else.

Parsing goes through defusedxml with DTDs forbidden: XML can come from a
trainee, and entity expansion or external entities are refused outright.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable
from typing import Any, Generic, TypeVar, overload

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from kvmlab.errors import XMLRejected

T = TypeVar("T")
V = TypeVar("V", bound="View")

MAX_XML_BYTES = 1 << 20  # no libvirt object description comes near 1 MiB


def parse(text: str | bytes, what: str = "XML") -> ET.Element:
    if len(text) > MAX_XML_BYTES:
        raise XMLRejected(f"{what} is larger than 1 MiB", "libvirt XML is a few KiB: check that you passed the right file")
    try:
        return fromstring(text, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as err:
        raise XMLRejected(f"{what} uses a DTD or entities, which kvmlab refuses", "remove the <!DOCTYPE> and &entity; parts") from err
    except ET.ParseError as err:
        raise XMLRejected(f"{what} is not well-formed: {err}", "fix the XML (xmllint --noout FILE shows where)") from err


_UNITS = {
    "b": 1 / 1024, "bytes": 1 / 1024, "k": 1, "kib": 1, "kb": 1000 / 1024,
    "m": 1024, "mib": 1024, "mb": 1e6 / 1024, "g": 1024**2, "gib": 1024**2, "gb": 1e9 / 1024,
    "t": 1024**3, "tib": 1024**3, "tb": 1e12 / 1024,
}


def to_kib(value: str, unit: str | None) -> int:
    return int(int(value) * _UNITS[(unit or "KiB").lower()])


def to_bytes(value: str, unit: str | None) -> int:
    return int(int(value) * _UNITS[(unit or "bytes").lower()] * 1024)


class Prop(Generic[T]):
    """A value at ``path`` (ElementTree path) or its attribute ``attr``."""

    def __init__(self, path: str = ".", attr: str | None = None, conv: Callable[[str], T] = str, default: T | None = None) -> None:  # type: ignore[assignment]
        self.path, self.attr, self.conv, self.default = path, attr, conv, default

    def _raw(self, node: ET.Element) -> str | None:
        el = node.find(self.path)
        if el is None:
            return None
        return el.get(self.attr) if self.attr else (el.text or "").strip()

    @overload
    def __get__(self, obj: None, owner: type) -> Prop[T]: ...
    @overload
    def __get__(self, obj: View, owner: type) -> T | None: ...
    def __get__(self, obj: View | None, owner: type) -> Prop[T] | T | None:
        if obj is None:
            return self
        raw = self._raw(obj.node)
        return self.default if raw is None else self.conv(raw)


class SizeProp(Prop[int]):
    """A size with a ``unit`` attribute, in KiB (memory) or bytes (pools, volumes)."""

    def __init__(self, path: str, default_unit: str = "KiB", in_bytes: bool = False) -> None:
        super().__init__(path)
        self.default_unit, self.in_bytes = default_unit, in_bytes

    def __get__(self, obj: View | None, owner: type) -> Any:
        if obj is None:
            return self
        el = obj.node.find(self.path)
        if el is None or not (el.text or "").strip():
            return None
        unit = el.get("unit", self.default_unit)
        return to_bytes(el.text.strip(), unit) if self.in_bytes else to_kib(el.text.strip(), unit)  # type: ignore[union-attr]


class FlagProp(Prop[bool]):
    """True when the element at ``path`` exists (e.g. ``<readonly/>``)."""

    def __get__(self, obj: View | None, owner: type) -> Any:
        if obj is None:
            return self
        return obj.node.find(self.path) is not None


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


def _yes(raw: str) -> bool:
    return raw in ("yes", "on", "1")


class DiskXML(View):
    device = Prop(".", "device", default="disk")
    type = Prop(".", "type")
    driver_name = Prop("driver", "name")
    format = Prop("driver", "type")
    cache = Prop("driver", "cache")
    io = Prop("driver", "io")
    iothread = Prop("driver", "iothread", int)
    queues = Prop("driver", "queues", int)
    source_file = Prop("source", "file")
    source_dev = Prop("source", "dev")
    target = Prop("target", "dev")
    bus = Prop("target", "bus")
    readonly = FlagProp("readonly")
    serial = Prop("serial")

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


class InterfaceXML(View):
    type = Prop(".", "type")
    mac = Prop("mac", "address")
    model = Prop("model", "type")
    source_network = Prop("source", "network")
    source_bridge = Prop("source", "bridge")
    source_dev = Prop("source", "dev")
    target_dev = Prop("target", "dev")
    queues = Prop("driver", "queues", int)


class GraphicsXML(View):
    type = Prop(".", "type")
    listen = Prop(".", "listen")
    listen_address = Prop("listen", "address")
    port = Prop(".", "port", int)
    autoport = Prop(".", "autoport", _yes)


class DomainXML(View):
    name = Prop("name")
    uuid = Prop("uuid")
    title = Prop("title")
    description = Prop("description")
    domain_type = Prop(".", "type")
    vcpu_max = Prop("vcpu", conv=int)
    vcpu_placement = Prop("vcpu", "placement")
    memory_kib = SizeProp("memory")
    current_memory_kib = SizeProp("currentMemory")
    max_memory_kib = SizeProp("maxMemory")
    max_memory_slots = Prop("maxMemory", "slots", int)
    machine = Prop("os/type", "machine")
    arch = Prop("os/type", "arch")
    kernel = Prop("os/kernel")
    initrd = Prop("os/initrd")
    cmdline = Prop("os/cmdline")
    clock_offset = Prop("clock", "offset")
    cpu_mode = Prop("cpu", "mode")
    iothreads = Prop("iothreads", conv=int)
    emulator = Prop("devices/emulator")
    video_model = Prop("devices/video/model", "type")
    hugepages = FlagProp("memoryBacking/hugepages")
    balloon_model = Prop("devices/memballoon", "model")

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

    def controllers(self, kind: str) -> list[View]:
        return self._views(f"devices/controller[@type='{kind}']", View)

    def hyperv_features(self) -> dict[str, str]:
        node = self.node.find("features/hyperv")
        return {child.tag: child.get("state", "") for child in node} if node is not None else {}

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


class DhcpRange(View):
    start = Prop(".", "start")
    end = Prop(".", "end")


class NetworkXML(View):
    name = Prop("name")
    uuid = Prop("uuid")
    bridge = Prop("bridge", "name")
    forward_mode = Prop("forward", "mode")
    ip_address = Prop("ip", "address")
    netmask = Prop("ip", "netmask")
    prefix = Prop("ip", "prefix", int)

    @property
    def has_forward(self) -> bool:
        return self.node.find("forward") is not None

    def dhcp_ranges(self) -> list[DhcpRange]:
        return self._views("ip/dhcp/range", DhcpRange)

    def forward_pfs(self) -> list[str]:
        return [pf.get("dev", "") for pf in self.node.findall("forward/pf")]


class PoolXML(View):
    name = Prop("name")
    uuid = Prop("uuid")
    type = Prop(".", "type")
    target_path = Prop("target/path")
    capacity = SizeProp("capacity", "bytes", in_bytes=True)


class VolumeXML(View):
    name = Prop("name")
    key = Prop("key")
    path = Prop("target/path")
    format = Prop("target/format", "type")
    capacity = SizeProp("capacity", "bytes", in_bytes=True)
