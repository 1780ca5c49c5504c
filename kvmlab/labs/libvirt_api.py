"""Lab: the libvirt API (seed question 7).

The same operations twice: with virsh on one guest (start, autostart,
metadata), and with libvirt-python on a second guest the trainee defines
from XML (define, start, autostart, metadata, lifecycle events).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import libvirt

from kvmlab.connection import lookup, open_connection
from kvmlab.guestxml import lab_guest_xml
from kvmlab.labs.base import Lab, Params, lab
from kvmlab.resources.events import run_event_loop
from kvmlab.toolkit import Toolkit

LIFECYCLE_EVENTS = (
    "DEFINED",
    "UNDEFINED",
    "STARTED",
    "SUSPENDED",
    "RESUMED",
    "STOPPED",
    "SHUTDOWN",
    "PMSUSPENDED",
    "CRASHED",
)
EVENT_NAMES = {getattr(libvirt, f"VIR_DOMAIN_EVENT_{name}"): name for name in LIFECYCLE_EVENTS}


@dataclass(frozen=True)
class ApiParams(Params):
    domain: str  # defined by start, shut off: the virsh half
    api_domain: str  # the trainee defines it with libvirt-python from xml_file
    xml_file: str
    meta_uri: str  # the metadata's XML namespace: what identifies it
    meta_key: str  # the namespace prefix libvirt writes
    meta_tag: str
    meta_value: str
    events_file: str  # one line per lifecycle event the trainee's callback saw: "DOMAIN EVENT DETAIL"
    uri: str

    @property
    def meta_xml(self) -> str:
        return f"<{self.meta_tag}>{self.meta_value}</{self.meta_tag}>"


class LifecycleRecorder:
    """A connection with a lifecycle callback that appends each event of ``names`` to a file."""

    def __init__(self, uri: str, events_file: str, names: tuple[str, ...]) -> None:
        run_event_loop()
        self.path, self.names = Path(events_file), names
        self.seen: list[str] = []
        self.conn = open_connection(uri)  # after the loop is registered, or no events arrive on it
        self.callback_id = self.conn.domainEventRegisterAny(
            None, libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE, self._on_event, None
        )

    def _on_event(
        self, _conn: libvirt.virConnect, dom: libvirt.virDomain, event: int, detail: int, _opaque: Any
    ) -> None:
        if dom.name() in self.names:
            line = f"{dom.name()} {EVENT_NAMES.get(event, str(event))} {detail}"
            self.seen.append(line)
            with self.path.open("a") as out:
                out.write(line + "\n")

    def wait_for(self, name: str, event: str, count: int = 1, seconds: float = 10.0) -> bool:
        """Events arrive asynchronously, a moment after the call that caused them."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if sum(line.split()[:2] == [name, event] for line in self.seen) >= count:
                return True
            time.sleep(0.05)
        return False

    def close(self) -> None:
        self.conn.domainEventDeregisterAny(self.callback_id)
        self.conn.close()


@lab("libvirt-api", "libvirt: the same operations with virsh and with the Python API", seed=(7,))
class LibvirtApi(Lab):
    def params(self, kit: Toolkit) -> ApiParams:
        api = kit.name("vm-api")
        return ApiParams(
            domain=kit.name("vm-virsh"),
            api_domain=api,
            xml_file=str(kit.path(f"{api}.xml")),
            meta_uri="https://kvmlab.dev/xmlns/course/1",
            meta_key="course",
            meta_tag="lesson",
            meta_value=f"seed-7 {kit.trainee.name}",
            events_file=str(kit.path("events.txt")),
            uri=kit.uri,
        )

    def start(self, kit: Toolkit) -> None:
        p = self.params(kit)
        kit.lab_guest(kit.guest_spec("vm-virsh"), running=False)
        # The second guest: its disk, console log and XML are ready; defining it is the trainee's.
        spec = kit.guest_spec("vm-api")
        kit.make_overlay(spec.disk, kit.guest_files.disk)
        kit.owners.confirm(kit.claim("file", str(spec.console_log)))
        kit.write_file(Path(p.xml_file), lab_guest_xml(spec, kit.guest_files))
        kit.expect("domain", p.api_domain)
        kit.expect("file", p.events_file)

    def solve(self, kit: Toolkit) -> None:
        p = self.params(kit)
        # virsh half
        if not kit.host.domain(p.domain).is_running:  # solving twice is not an error
            kit.virsh("start", p.domain)
        kit.virsh("autostart", p.domain)
        kit.virsh(
            "metadata", p.domain, "--uri", p.meta_uri, "--key", p.meta_key, "--set", p.meta_xml, "--live", "--config"
        )
        # API half
        recorder = LifecycleRecorder(p.uri, p.events_file, (p.api_domain,))
        try:
            conn = recorder.conn
            dom = lookup(lambda: conn.lookupByName(p.api_domain)) or conn.defineXML(Path(p.xml_file).read_text())
            if not dom.isActive():
                dom.create()
            dom.setAutostart(1)
            flags = libvirt.VIR_DOMAIN_AFFECT_LIVE | libvirt.VIR_DOMAIN_AFFECT_CONFIG
            dom.setMetadata(libvirt.VIR_DOMAIN_METADATA_ELEMENT, p.meta_xml, p.meta_key, p.meta_uri, flags)
            dom.destroy()
            dom.create()
            recorder.wait_for(p.api_domain, "STARTED", count=2)
        finally:
            recorder.close()
