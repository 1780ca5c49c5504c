"""A libvirt domain seen as host facts: exists, is_running, live and config XML."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import libvirt
import libvirt_qemu

from kvmlab.connection import lookup
from kvmlab.resources import runlog
from kvmlab.resources.agent import GuestAgent
from kvmlab.resources.console import GuestConsole
from kvmlab.xmlviews import DomainSnapshotXML, DomainXML

T = TypeVar("T")

STATE_NAMES = {
    libvirt.VIR_DOMAIN_NOSTATE: "no state",
    libvirt.VIR_DOMAIN_RUNNING: "running",
    libvirt.VIR_DOMAIN_BLOCKED: "blocked",
    libvirt.VIR_DOMAIN_PAUSED: "paused",
    libvirt.VIR_DOMAIN_SHUTDOWN: "shutting down",
    libvirt.VIR_DOMAIN_SHUTOFF: "shut off",
    libvirt.VIR_DOMAIN_CRASHED: "crashed",
    libvirt.VIR_DOMAIN_PMSUSPENDED: "suspended",
}


# Why a domain is in its state, as `virsh domstate --reason` words it (libvirt's reason enums, by state).
REASON_NAMES = {
    libvirt.VIR_DOMAIN_RUNNING: (
        "unknown",
        "booted",
        "migrated",
        "restored",
        "from snapshot",
        "unpaused",
        "migration canceled",
        "save canceled",
        "event wakeup",
        "crashed",
        "post-copy",
        "post-copy failed",
    ),
    libvirt.VIR_DOMAIN_PAUSED: (
        "unknown",
        "user",
        "migrating",
        "saving",
        "dumping",
        "I/O error",
        "watchdog",
        "from snapshot",
        "shutting down",
        "creating snapshot",
        "crashed",
        "starting up",
        "post-copy",
        "post-copy failed",
    ),
    libvirt.VIR_DOMAIN_SHUTOFF: (
        "unknown",
        "shutdown",
        "destroyed",
        "crashed",
        "migrated",
        "saved",
        "failed",
        "from snapshot",
        "daemon",
    ),
}


@dataclass(frozen=True)
class Both(Generic[T]):
    """One device (or value) as the running guest has it and as the persistent definition has it."""

    live: T | None
    config: T | None

    def views(self) -> dict[str, T]:
        """The views it is in: {"live": ..., "persistent": ...}."""
        found = {"live": self.live, "persistent": self.config}
        return {name: value for name, value in found.items() if value is not None}


class Domain:
    def __init__(self, conn: libvirt.virConnect, name: str) -> None:
        self.conn = conn
        self.name = name

    @property
    def handle(self) -> libvirt.virDomain | None:
        return lookup(lambda: self.conn.lookupByName(self.name))

    @property
    def exists(self) -> bool:
        return self.handle is not None

    @property
    def state(self) -> str:
        dom = self.handle
        if dom is None:
            return "absent"
        return STATE_NAMES.get(dom.state()[0], "unknown")

    @property
    def reason(self) -> str:
        """Why it is in its state, as `virsh domstate --reason` says: "I/O error", "failed", "migrated"..."""
        dom = self.handle
        if dom is None:
            return "absent"
        state, reason = dom.state()
        names = REASON_NAMES.get(state, ())
        return names[reason] if 0 <= reason < len(names) else "unknown"

    @property
    def state_with_reason(self) -> str:
        """``paused (I/O error)``, ``shut off (failed)``: the state and why, as `virsh domstate --reason` says."""
        state = self.state
        return state if state == "absent" else f"{state} ({self.reason})"

    @property
    def is_running(self) -> bool:
        dom = self.handle
        return dom is not None and dom.isActive() == 1

    @property
    def is_persistent(self) -> bool:
        dom = self.handle
        return dom is not None and dom.isPersistent() == 1

    @property
    def is_autostart(self) -> bool:
        dom = self.handle
        return dom is not None and dom.autostart() == 1

    @property
    def uuid(self) -> str | None:
        dom = self.handle
        return dom.UUIDString() if dom is not None else None

    @property
    def live(self) -> DomainXML | None:
        """What the running guest has now (None when it is not running)."""
        dom = self.handle
        if dom is None or not dom.isActive():
            return None
        return DomainXML.from_xml(dom.XMLDesc(0))

    @property
    def config(self) -> DomainXML | None:
        """The persistent definition: what the guest gets after a restart."""
        dom = self.handle
        if dom is None or not dom.isPersistent():
            return None
        return DomainXML.from_xml(dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))

    def both(self, find: Callable[[DomainXML], T | None]) -> Both[T]:
        """``find`` applied to the live XML and to the persistent one: vm.both(lambda x: x.disk("vdb"))."""
        live, config = self.live, self.config
        return Both(find(live) if live is not None else None, find(config) if config is not None else None)

    @property
    def guest(self) -> GuestAgent | None:
        dom = self.handle
        return GuestAgent(dom) if dom is not None and dom.isActive() else None

    def memory_stats(self) -> dict[str, int]:
        dom = self.handle
        return dict(dom.memoryStats()) if dom is not None and dom.isActive() else {}

    def settle_balloon(self, target_kib: int, seconds: float = 20.0, still: float = 2.0) -> None:
        """Let a moving balloon arrive before anyone grades it.

        The guest moves its balloon 1 MiB at a time (under TCG, 128 MiB can take
        seconds), and libvirt's live <currentMemory> follows it (QEMU's
        BALLOON_CHANGE events), so right after `setmem` both still show the old
        size. Wait until QEMU's 'actual' and the live XML are at the target, or
        have not moved for ``still`` seconds (it rests somewhere else: grade that).
        """
        deadline = time.monotonic() + seconds
        last: tuple[int | None, int | None] | None = None
        still_since = time.monotonic()
        while self.is_running and time.monotonic() < deadline:
            live = self.live
            now = (self.memory_stats().get("actual"), live.current_memory_kib if live else None)
            if now == (target_kib, target_kib):
                return
            if now != last:
                last, still_since = now, time.monotonic()
            elif time.monotonic() - still_since > still:
                return
            time.sleep(0.2)

    def qmp(self, command: str, arguments: dict[str, Any] | None = None) -> Any:
        """Ask the domain's QEMU over libvirt's QMP monitor (``virsh qemu-monitor-command``); None if not running.

        libvirt marks the domain "tainted" for this: fine for lab guests, and
        the only way to ask QEMU what libvirt does not model (``query-kvm``).
        """
        dom = self.handle
        if dom is None or not dom.isActive():
            return None
        payload: dict[str, Any] = {"execute": command}
        if arguments:
            payload["arguments"] = arguments
        return json.loads(libvirt_qemu.qemuMonitorCommand(dom, json.dumps(payload), 0)).get("return")

    def query(self, command: str, arguments: dict[str, Any] | None = None) -> Any:
        """Like qmp(), but None when QEMU refuses (no such device path) or the guest went away meanwhile."""
        try:
            return self.qmp(command, arguments)
        except libvirt.libvirtError:
            return None

    @property
    def console(self) -> GuestConsole:
        """Its serial console log (the readiness line: booted, from which disk)."""
        xml = self.live or self.config
        return GuestConsole(xml.serial_log if xml is not None else None)

    def hotplugged(self, alias: str) -> bool | None:
        """QEMU's own word on whether device ``alias`` was plugged into the running guest (not there at start).

        A device attached with ``--live`` is marked hot-plugged; one that was in
        the definition when QEMU started (``--config`` then a restart, or a
        crash and ``lab start``) is not. None when the guest is not running or
        has no such device.
        """
        try:
            value = self.qmp("qom-get", {"path": f"/machine/peripheral/{alias}", "property": "hotplugged"})
        except libvirt.libvirtError:
            return None
        return value if isinstance(value, bool) else None

    def hotplugged_vcpus(self) -> list[bool] | None:
        """QEMU's hotplugged mark of each vCPU the running guest has now; None when it is not running.

        ``query-hotpluggable-cpus`` lists every slot up to the maximum; a slot in
        use has a QOM path (``/machine/peripheral/vcpuN`` for one libvirt plugged
        with ``setvcpus --live``, ``/machine/unattached/device[N]`` for one QEMU
        was started with, as after ``--config`` and a restart). The vCPU's own
        ``hotplugged`` property tells the two apart, as for any device.
        """
        try:
            slots = self.qmp("query-hotpluggable-cpus")
        except libvirt.libvirtError:
            return None
        if not isinstance(slots, list):
            return None
        marks = []
        for slot in slots:
            path = slot.get("qom-path") if isinstance(slot, dict) else None
            if not path:
                continue  # an empty slot: room below the maximum
            try:
                value = self.qmp("qom-get", {"path": path, "property": "hotplugged"})
            except libvirt.libvirtError:
                return None  # the guest went away mid-way
            marks.append(value is True)
        return marks

    def snapshots(self) -> dict[str, DomainSnapshotXML]:
        """libvirt's snapshot metadata of this domain (``virsh snapshot-list``), by name."""
        dom = self.handle
        if dom is None:
            return {}
        return {snap.getName(): DomainSnapshotXML.from_xml(snap.getXMLDesc(0)) for snap in dom.listAllSnapshots(0)}

    @property
    def current_snapshot(self) -> str | None:
        """The snapshot the current state descends from (``virsh snapshot-current --name``)."""
        dom = self.handle
        if dom is None or not dom.hasCurrentSnapshot(0):
            return None
        return str(dom.snapshotCurrent(0).getName())

    def block_job(self, disk: str) -> dict[str, int]:
        """The block job (commit, pull, copy) running on ``disk``; empty when there is none."""
        dom = self.handle
        if dom is None or not dom.isActive():
            return {}
        return dict(dom.blockJobInfo(disk, 0) or {})

    def runs(self) -> list[runlog.Run] | None:
        """This domain's runs (start, stop, why it stopped) from libvirt's log; None when unreadable."""
        uuid = self.uuid
        return None if uuid is None else runlog.runs(self.conn.getURI(), self.name, uuid)

    def block_capacity(self, target: str) -> int | None:
        """The size the running QEMU gives disk ``target`` now (``virsh domblkinfo``); None when not running or gone."""
        dom = self.handle
        if dom is None or not dom.isActive():
            return None
        try:
            return int(dom.blockInfo(target, 0)[0])
        except libvirt.libvirtError:  # detached or stopped meanwhile
            return None
