"""One trainee working on one lab: the lab contract (start, check, solve, finish, reset).

Lab modules describe *what* to build; this module does it safely: under the
trainee's lock, through the ownership record, rolling back a start that
fails half-way so nothing half-made is left behind.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, TypeVar

import libvirt

from kvmlab import accel, paths, sandbox, variants
from kvmlab.connection import Connection
from kvmlab.errors import GuestTimeout, HostCannot, KvmlabError
from kvmlab.grading import Check, Report, check, collect
from kvmlab.guest.boot import wait_for_marker
from kvmlab.guest.build import GuestFiles, guest_files
from kvmlab.guestxml import GuestSpec, lab_guest_xml
from kvmlab.host import Host
from kvmlab.labs.base import Lab, Params
from kvmlab.ownership import Owned, Ownership
from kvmlab.procs import run
from kvmlab.quiz.store import Store
from kvmlab.resources.agent import GuestAgent
from kvmlab.resources.bridge import SYS_NET
from kvmlab.resources.domain import Domain
from kvmlab.trainee import Trainee
from kvmlab.xmlviews import DomainXML, NetworkXML, PoolXML

GUEST_BOOT_TIMEOUT = 120.0  # TCG on a busy 2-core host; a KVM boot takes ~1 s

Progress = Callable[[str], None]
T = TypeVar("T")


@dataclass
class ObjectStatus:
    kind: str
    name: str
    lab: str
    state: str
    present: bool


# What a tiny guest costs beyond its RAM (QEMU itself, the TCG translation cache),
# measured with bench/capacity.py; and what the host keeps for itself by default.
GUEST_OVERHEAD_MIB = 192
HOST_RESERVE_MIB = 512


def available_memory_mib(meminfo: Path = Path("/proc/meminfo")) -> int:
    for line in meminfo.read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) // 1024
    return 0


def ensure_memory_for(name: str, memory_mib: int) -> None:
    """Refuse to start a guest the host has no memory for, rather than let the host run out."""
    reserve = int(os.environ.get("KVMLAB_MEMORY_RESERVE_MIB", HOST_RESERVE_MIB))
    needed = memory_mib + GUEST_OVERHEAD_MIB
    available = available_memory_mib()
    if available - reserve < needed:
        raise HostCannot(
            f"not enough memory to start guest {name}: it needs about {needed} MiB, the host has "
            f"{available} MiB available and keeps {reserve} MiB for itself",
            "finish labs you no longer need (kvmlab lab status shows them) or stop other guests",
        )


def unmet_requirements(requires: Sequence[str], session_uri: bool) -> list[tuple[str, str]]:
    """What this host cannot give a lab, as (what it needs, what to do); [] when it can run."""
    needs = set(requires)
    unmet = []
    if "root" in needs and os.geteuid() != 0:
        unmet.append(
            (
                "needs root (it changes host networking)",
                "run it as root, or pick a lab that runs unprivileged (kvmlab doctor lists them)",
            )
        )
    if "networks" in needs and session_uri:
        unmet.append(
            ("needs libvirt networks, which qemu:///session does not have", "run it as root on qemu:///system")
        )
    if "bridges" in needs and os.geteuid() != 0:
        unmet.append(("creates a Linux bridge, which needs root", "run it as root"))
    if "libguestfs" in needs and not shutil.which("virt-customize"):
        unmet.append(("needs libguestfs (virt-customize)", "apt-get install libguestfs-tools (make setup does)"))
    return unmet


class LabSession:
    def __init__(
        self, lab: Lab, trainee: Trainee, connection: Connection | None = None, progress: Progress | None = None
    ) -> None:
        self.lab = lab
        self.trainee = trainee
        self.connection = connection or Connection()
        self.host = Host(self.connection)
        self.owners = Ownership(trainee)
        self.progress: Progress = progress or (lambda _msg: None)

    # -- names and places handed to the lab --------------------------------

    @property
    def uri(self) -> str:
        return self.connection.uri

    @cached_property
    def params(self) -> Params:
        return self.lab.params(self)

    def name(self, base: str) -> str:
        return self.trainee.object_name(base)

    @property
    def lab_dir(self) -> Path:
        return paths.labs_dir() / self.trainee.name / self.lab.id

    def path(self, filename: str) -> Path:
        return self.lab_dir / filename

    @cached_property
    def verdict(self) -> accel.Verdict:
        if self.connection.is_test:
            return accel.Verdict("tcg", "libvirt test driver: no guest runs", "test")
        return accel.decide()

    @property
    def guest_files(self) -> GuestFiles:
        return guest_files().require()

    # -- making owned things (only inside start/solve, under the lock) ------

    def claim(self, kind: str, name: str) -> Owned:
        return sandbox.claim(self.owners, self.connection, kind, name, self.lab.id)

    def expect(self, kind: str, name: str | Path) -> Owned:
        """Hand a name to the trainee: they create it, finish removes it."""
        return sandbox.claim(self.owners, self.connection, kind, str(name), self.lab.id, state="expected")

    def make_dir(self, path: Path | None = None) -> Path:
        """The lab's own directory (owned); its parents are shared and never owned."""
        path = path or self.lab_dir
        paths.ensure_dir(path.parent)
        obj = self.claim("dir", str(path))
        paths.ensure_dir(path)
        self.owners.confirm(obj)
        return path

    def make_overlay(self, path: Path, backing: Path, backing_format: str = "raw") -> Path:
        obj = self.claim("file", str(path))
        if not path.exists():
            run(["qemu-img", "create", "-q", "-f", "qcow2", "-b", str(backing), "-F", backing_format, str(path)])
        self.owners.confirm(obj)
        return path

    def make_copy(self, path: Path, source: Path, fmt: str = "qcow2") -> Path:
        """An owned, standalone copy of an image (qemu-img convert): no backing file, the source never written."""
        obj = self.claim("file", str(path))
        if not path.exists():
            partial = path.with_name(path.name + ".partial")
            try:
                run(["qemu-img", "convert", "-q", "-O", fmt, str(source), str(partial)])
                partial.chmod(0o644)  # a copy of a read-only image is the trainee's to change
                partial.replace(path)
            finally:
                partial.unlink(missing_ok=True)
        self.owners.confirm(obj)
        return path

    def write_file(self, path: Path, text: str) -> Path:
        """An owned file with this content (e.g. XML handed to the trainee); a later start keeps their edits."""
        obj = self.claim("file", str(path))
        if not path.exists():
            path.write_text(text)
        self.owners.confirm(obj)
        return path

    def define_domain(self, xml: str) -> libvirt.virDomain:
        name = DomainXML.from_xml(xml).name or ""
        obj = self.claim("domain", name)
        dom: libvirt.virDomain | None = sandbox.find_libvirt(self.connection.conn, "domain", name, obj.uuid)
        if dom is None:
            dom = self.connection.conn.defineXML(xml)
        self.owners.confirm(obj, dom.UUIDString())
        return dom

    def define_network(self, xml: str) -> libvirt.virNetwork:
        name = NetworkXML.from_xml(xml).name or ""
        obj = self.claim("network", name)
        net: libvirt.virNetwork | None = sandbox.find_libvirt(self.connection.conn, "network", name, obj.uuid)
        if net is None:
            net = self.connection.conn.networkDefineXML(xml)
        self.owners.confirm(obj, net.UUIDString())
        return net

    def define_pool(self, xml: str) -> libvirt.virStoragePool:
        name = PoolXML.from_xml(xml).name or ""
        obj = self.claim("pool", name)
        pool: libvirt.virStoragePool | None = sandbox.find_libvirt(self.connection.conn, "pool", name, obj.uuid)
        if pool is None:
            pool = self.connection.conn.storagePoolDefineXML(xml, 0)
        self.owners.confirm(obj, pool.UUIDString())
        return pool

    # -- per-trainee variants (kvmlab.variants) --------------------------------

    @property
    def canonical(self) -> bool:
        """The default trainee outside a class gets each lab's canonical values (the seed's)."""
        return self.trainee.is_default and variants.class_seed() is None

    def variant(self, key: str, choices: Sequence[T]) -> T:
        """This trainee's pick among ``choices`` (``choices[0]`` when canonical)."""
        return variants.choose(self.trainee.name, self.lab.id, key, choices, self.canonical)

    def mac(self, key: str, canonical: str) -> str:
        return canonical if self.canonical else variants.mac(self.trainee.name, self.lab.id, key)

    def subnet(self, key: str, canonical: str) -> str:
        """An IPv4 /24 for an isolated network that no other trainee's network on this host overlaps."""
        if self.canonical:
            return canonical
        from kvmlab.labs.registry import all_labs

        reserved = [net for lab in all_labs() for net in lab.canonical_subnets]
        return variants.subnet(f"{self.trainee.name}/{self.lab.id}/{key}", reserved)

    def ifname(self, base: str) -> str:
        """A host interface name (bridge, tap) for this trainee: Linux allows 15 bytes.

        The default trainee keeps the seed's names (br0); others get a short,
        stable hash of their name in front, since a 12-letter trainee name
        plus the base would not fit.
        """
        if self.trainee.is_default:
            return base[:15]
        tag = hashlib.sha256(self.trainee.name.encode()).hexdigest()[:4]
        return f"k{tag}{base}"[:15]

    def make_bridge(self, name: str) -> str:
        """An owned Linux bridge, up, with no ports and no address: it routes nothing."""
        obj = self.claim("bridge", name)
        if not (SYS_NET / name).exists():
            run(["ip", "link", "add", "name", name, "type", "bridge"])
            run(["ip", "link", "set", "dev", name, "up"])
        self.owners.confirm(obj)
        return name

    def guest_spec(self, base: str = "vm", **overrides: Any) -> GuestSpec:
        name = self.name(base)
        return GuestSpec(
            name=name,
            domain_type=self.verdict.domain_type,
            disk=self.path(f"{name}.qcow2"),
            console_log=self.path(f"{name}.console.log"),
            trainee=self.trainee.name,
            lab=self.lab.id,
            **overrides,
        )

    def lab_guest(self, spec: GuestSpec, running: bool = True) -> Domain:
        """The lab's tiny guest: overlay disk, definition, started and ready. Idempotent."""
        files = self.guest_files
        self.make_dir()
        self.make_overlay(spec.disk, files.disk)
        log = self.claim("file", str(spec.console_log))
        self.owners.confirm(log)
        dom = self.define_domain(lab_guest_xml(spec, files))
        if running and not dom.isActive():
            self.progress(f"starting guest {spec.name} ({self.verdict.accel})")
            self.boot(dom, spec.console_log)
        return self.host.domain(spec.name)

    def boot(self, dom: libvirt.virDomain, console_log: Path) -> float:
        """Start a domain and wait for the tiny guest's readiness line."""
        ensure_memory_for(dom.name(), dom.info()[2] // 1024)
        if console_log.exists():
            console_log.unlink()  # append='off' truncates too, but only once QEMU opens it
        started = time.monotonic()
        dom.create()
        waited = wait_for_marker(console_log, GUEST_BOOT_TIMEOUT, alive=lambda: dom.isActive() == 1)
        if waited is None:
            raise GuestTimeout(
                f"guest {dom.name()} did not report ready within {GUEST_BOOT_TIMEOUT:.0f} s",
                f"look at its console log ({console_log}); `kvmlab doctor` checks the host",
            )
        self.progress(f"guest {dom.name()} ready in {time.monotonic() - started:.1f} s")
        return time.monotonic() - started

    def wait_ready(self, name: str, timeout: float = GUEST_BOOT_TIMEOUT) -> float:
        """Wait for a lab guest someone else started (``virsh start`` after a restart): readiness line, then agent.

        The console log of a lab guest is opened with append='off', so once
        ``virsh start`` has returned it holds only the new boot's output.
        """
        dom = self.host.domain(name).handle
        if dom is None or not dom.isActive():
            raise GuestTimeout(f"guest {name} is not running", f"start it first: virsh start {name}")
        started = time.monotonic()
        console_log = self.path(f"{name}.console.log")
        if wait_for_marker(console_log, timeout, alive=lambda: dom.isActive() == 1) is None:
            raise GuestTimeout(
                f"guest {name} did not report ready within {timeout:.0f} s",
                f"look at its console log ({console_log}); is it still running? virsh domstate {name}",
            )
        # Graders ask the guest agent, which answers about a second after the readiness line.
        GuestAgent(dom).wait(max(1.0, timeout - (time.monotonic() - started)))
        self.progress(f"guest {name} ready in {time.monotonic() - started:.1f} s")
        return time.monotonic() - started

    def virsh(self, *args: str) -> str:
        return run(["virsh", "-q", "-c", self.uri, *args]).stdout

    # -- the lab contract --------------------------------------------------

    def _require(self) -> None:
        """Refuse early, before anything is made, when the host cannot run this lab."""
        _ = self.connection.conn  # raises LibvirtUnavailable with what to do
        if "guest" in self.lab.requires:
            self.guest_files  # noqa: B018 - raises GuestNotBuilt with what to do
        unmet = unmet_requirements(self.lab.requires, self.connection.is_session)
        if unmet:
            message, hint = unmet[0]
            raise HostCannot(f"lab {self.lab.id} {message}", hint)

    def start(self) -> None:
        self._require()
        with self.owners.locked():
            sandbox.reconcile(self.owners, self.connection)
            before = {o.key for o in self.owners.record.objects}
            first = self.lab.id not in self.owners.record.labs
            self.owners.lab_started(self.lab.id, self.uri)
            try:
                self.lab.start(self)
            except BaseException:
                # Leave nothing half-made: undo what *this* start added.
                self._rollback(before, first)
                raise

    def _rollback(self, before: set[tuple[str, str, str | None]], first: bool) -> None:
        for obj in self.owners.record.removal_order(self.lab.id):
            if obj.key not in before:
                try:
                    sandbox.remove(self.connection, obj, self.trainee.name)
                    self.owners.drop(obj)
                except (KvmlabError, libvirt.libvirtError, OSError):
                    continue  # stays in the record; the next finish retries it
        if first and not self.owners.record.of_lab(self.lab.id):
            self.owners.lab_finished(self.lab.id)
            variants.release(f"{self.trainee.name}/{self.lab.id}/")
        self._tidy_trainee_dir()

    def solve(self) -> None:
        self.start()
        with self.owners.locked():
            self.lab.solve(self)

    def check(self) -> Report:
        _ = self.connection.conn  # an unreachable libvirtd is an error, not a failed grade
        report = collect(self.lab.id, self.trainee.name, lambda: self.lab.checks(self.host, self.params))
        if self.lab.id not in self.owners.load().labs:
            report.checks.insert(
                0,
                check(
                    "lab-started",
                    "the lab has been started",
                    False,
                    expected="started",
                    actual="not started",
                    hint=f"run: kvmlab lab start {self.lab.id}",
                ),
            )
        elif not report.passed:
            report.checks[:0] = self._guest_health()
            # Mistakes feed the review: this lab's quiz questions come due again.
            Store().lab_failed(self.lab.id)
        return report

    def _guest_health(self) -> list[Check]:
        """Say it plainly when a lab's guest died or vanished, instead of a wall of red rows."""
        rows = []
        for obj in self.owners.load().of_lab(self.lab.id):
            if obj.kind != "domain" or obj.state != "created" or obj.uri != self.uri:
                continue
            dom = sandbox.find_libvirt(self.connection.conn, "domain", obj.name, obj.uuid)
            if dom is None and self.lab.guests_migrate:
                continue  # it may have migrated to another host: the lab's checks say where it is
            if dom is None:
                rows.append(
                    check(
                        "guest-present",
                        f"guest {obj.name} exists",
                        False,
                        expected="defined",
                        actual="gone",
                        hint=f"kvmlab lab reset {self.lab.id} builds it again",
                    )
                )
                continue
            state, reason = dom.state()
            if state == libvirt.VIR_DOMAIN_SHUTOFF and reason == libvirt.VIR_DOMAIN_SHUTOFF_CRASHED:
                rows.append(
                    check(
                        "guest-crashed",
                        f"guest {obj.name} is alive",
                        False,
                        expected="running",
                        actual="crashed: its QEMU process died",
                        hint=f"kvmlab lab start {self.lab.id} starts it again (persistent changes are kept); "
                        f"why it died: /var/log/libvirt/qemu/{obj.name}.log",
                    )
                )
        return rows

    def finish(self) -> list[str]:
        """Remove everything this lab owns. Returns notes about things left on purpose."""
        notes: list[str] = []
        with self.owners.locked():
            sandbox.reconcile(self.owners, self.connection)
            for obj in self.owners.record.removal_order(self.lab.id):
                note = sandbox.remove(self.connection, obj, self.trainee.name)
                if note:
                    notes.append(note)
                self.owners.drop(obj)
            self.owners.lab_finished(self.lab.id)
            variants.release(f"{self.trainee.name}/{self.lab.id}/")
        self._tidy_trainee_dir()
        return notes

    def _tidy_trainee_dir(self) -> None:
        """The trainee's directory is shared by their labs: removed once the last one empties it."""
        trainee_dir = self.lab_dir.parent
        if trainee_dir.is_dir() and not any(trainee_dir.iterdir()):
            trainee_dir.rmdir()

    def reset(self) -> list[str]:
        notes = self.finish()
        self.start()
        return notes

    def status(self) -> list[ObjectStatus]:
        record = self.owners.load()
        return [
            ObjectStatus(o.kind, o.name, o.lab, o.state, sandbox.exists(self.connection, o.kind, o.name))
            for o in record.objects
        ]
