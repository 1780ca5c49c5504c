"""What a lab builds with: owned objects, the trainee's names and variants, the lab guest.

A lab's ``start`` and ``solve`` get a :class:`Toolkit`. Every object made
through it is claimed in the trainee's ownership record *before* it exists
and confirmed after, so ``finish`` can remove it and nothing else. The
toolkit is used only inside the contract (kvmlab.session), under the
trainee's lock.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import time
import uuid
from collections.abc import Callable, Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import libvirt

from kvmlab import paths, variants
from kvmlab.connection import Connection
from kvmlab.errors import GuestTimeout
from kvmlab.host import Host
from kvmlab.kinds import SYS_NET, libvirt_kind
from kvmlab.labs.base import Lab, Params
from kvmlab.ownership import Owned, Ownership
from kvmlab.procs import run
from kvmlab.sandbox import claim
from kvmlab.trainee import Trainee
from kvmlab.xmlviews import DomainXML, NetworkXML, PoolXML

if TYPE_CHECKING:
    from kvmlab.accel import Verdict
    from kvmlab.guest.build import GuestFiles
    from kvmlab.guest.ready import Entry
    from kvmlab.guestxml import GuestSpec
    from kvmlab.resources.domain import Domain

# The guest, accelerator and capacity modules are imported where they are used: `lab check`
# builds a toolkit too (for the trainee's parameters) and boots nothing.

Progress = Callable[[str], None]
T = TypeVar("T")


class Toolkit:
    def __init__(
        self, lab: Lab, trainee: Trainee, connection: Connection, owners: Ownership, progress: Progress
    ) -> None:
        self.lab = lab
        self.trainee = trainee
        self.connection = connection
        self.host = Host(connection)
        self.owners = owners
        self.progress = progress

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
    def verdict(self) -> Verdict:
        from kvmlab import accel

        if self.connection.is_test:
            return accel.Verdict("tcg", "libvirt test driver: no guest runs", "test")
        return accel.decide()

    @property
    def guest_files(self) -> GuestFiles:
        from kvmlab.guest.build import guest_files

        return guest_files().require()

    def virsh(self, *args: str) -> str:
        return run(["virsh", "-q", "-c", self.uri, *args]).stdout

    # -- making owned things --------------------------------------------------

    def claim(self, kind: str, name: str) -> Owned:
        return claim(self.owners, self.connection, kind, name, self.lab.id)

    def expect(self, kind: str, name: str | Path) -> Owned:
        """Hand a name to the trainee: they create it, finish removes it."""
        return claim(self.owners, self.connection, kind, str(name), self.lab.id, state="expected")

    def make(self, kind: str, name: str | Path, create: Callable[[], object], exists: Callable[[], bool]) -> None:
        """Claim, create unless it is already there, confirm: the one road for everything but libvirt objects."""
        obj = self.claim(kind, str(name))
        if not exists():
            create()
        self.owners.confirm(obj)

    def make_dir(self, path: Path | None = None) -> Path:
        """The lab's own directory (owned); its parents are shared and never owned."""
        path = path or self.lab_dir
        paths.ensure_dir(path.parent)
        self.make("dir", path, lambda: paths.ensure_dir(path), lambda: False)  # mkdir is idempotent
        return path

    def make_overlay(self, path: Path, backing: Path, backing_format: str = "raw") -> Path:
        argv = ["qemu-img", "create", "-q", "-f", "qcow2", "-b", str(backing), "-F", backing_format, str(path)]
        self.make("file", path, lambda: run(argv), path.exists)
        return path

    def make_copy(self, path: Path, source: Path, fmt: str = "qcow2") -> Path:
        """An owned, standalone copy of an image (qemu-img convert): no backing file, the source never written."""

        def convert() -> None:
            partial = path.with_name(path.name + ".partial")
            try:
                run(["qemu-img", "convert", "-q", "-O", fmt, str(source), str(partial)])
                partial.chmod(0o644)  # a copy of a read-only image is the trainee's to change
                partial.replace(path)
            finally:
                partial.unlink(missing_ok=True)

        self.make("file", path, convert, path.exists)
        return path

    def write_file(self, path: Path, text: str) -> Path:
        """An owned file with this content (e.g. XML handed to the trainee); a later start keeps their edits."""
        self.make("file", path, lambda: path.write_text(text), path.exists)
        return path

    def make_bridge(self, name: str) -> str:
        """An owned Linux bridge, up, with no ports and no address: it routes nothing."""

        def create() -> None:
            run(["ip", "link", "add", "name", name, "type", "bridge"])
            run(["ip", "link", "set", "dev", name, "up"])

        self.make("bridge", name, create, (SYS_NET / name).exists)
        return name

    def _define(self, kind: str, name: str, define: Callable[[], Any]) -> Any:
        """A libvirt object: claimed, found again by UUID on a second start, else defined; confirmed with its UUID."""
        obj = self.claim(kind, name)
        handle = libvirt_kind(kind).find(self.connection.conn, name, obj.uuid)
        if handle is None:
            handle = define()
        self.owners.confirm(obj, handle.UUIDString())
        return handle

    def define_domain(self, xml: str) -> libvirt.virDomain:
        name = DomainXML.from_xml(xml).name or ""
        dom: libvirt.virDomain = self._define("domain", name, lambda: self.connection.conn.defineXML(xml))
        return dom

    def define_network(self, xml: str) -> libvirt.virNetwork:
        name = NetworkXML.from_xml(xml).name or ""
        net: libvirt.virNetwork = self._define("network", name, lambda: self.connection.conn.networkDefineXML(xml))
        return net

    def define_pool(self, xml: str) -> libvirt.virStoragePool:
        name = PoolXML.from_xml(xml).name or ""
        define = lambda: self.connection.conn.storagePoolDefineXML(xml, 0)  # noqa: E731
        pool: libvirt.virStoragePool = self._define("pool", name, define)
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
        from kvmlab.labs.registry import canonical_subnets  # every lab's: imported only here

        return variants.subnet(f"{self.trainee.name}/{self.lab.id}/{key}", canonical_subnets())

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

    # -- the lab guest ---------------------------------------------------------

    def guest_spec(self, base: str = "vm", **overrides: Any) -> GuestSpec:
        from kvmlab.guestxml import GuestSpec

        name = self.name(base)
        stable = uuid.uuid5(uuid.NAMESPACE_URL, f"kvmlab:{paths.data_dir()}:{self.uri}:{self.lab.id}:{name}")
        return GuestSpec(
            name=name,
            uuid=str(stable),
            domain_type=self.verdict.domain_type,
            disk=self.path(f"{name}.qcow2"),
            console_log=self.path(f"{name}.console.log"),
            trainee=self.trainee.name,
            lab=self.lab.id,
            **overrides,
        )

    def lab_guest(self, spec: GuestSpec, running: bool = True, edit: Callable[[str], str] | None = None) -> Domain:
        """The lab's tiny guest: overlay disk, definition, started and ready. Idempotent.

        ``edit`` changes the definition before it is defined (a lab's own twist on the guest).
        """
        from kvmlab.guestxml import lab_guest_xml

        files = self.guest_files
        self.make_dir()
        pristine = not spec.disk.exists() and not self.owners.record.find("domain", spec.name, self.uri)
        self.make_overlay(spec.disk, files.disk)
        self.owners.confirm(self.claim("file", str(spec.console_log)))
        xml = lab_guest_xml(spec, files)
        dom = self.define_domain(edit(xml) if edit else xml)
        if running and not dom.isActive():
            if pristine and spec.uuid:
                self.boot_ready(dom, spec.disk, spec.console_log)
            else:  # the trainee has used this guest: boot it, never put a saved disk over their work
                self.progress(f"starting guest {spec.name} ({self.verdict.accel})")
                self.boot(dom, spec.console_log)
        return self.host.domain(spec.name)

    def boot_ready(self, dom: libvirt.virDomain, disk: Path, console_log: Path) -> None:
        """A guest just made by this start: restored from its saved ready state, or booted and saved once.

        See kvmlab.guest.ready. Any failure of the saved state falls back to a boot.
        """
        from kvmlab.accel import cache_key
        from kvmlab.capacity import ensure_memory_for
        from kvmlab.guest import ready
        from kvmlab.resources.agent import GuestAgent

        manifest = json.dumps(self.guest_files.manifest(), sort_keys=True)
        xml = dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
        cache = ready.key(xml, manifest, cache_key(), self.verdict.accel)
        found = ready.entry(cache)
        if found.complete and ready.limit_bytes():
            ensure_memory_for(dom.name(), dom.info()[2] // 1024)
            started = time.monotonic()
            try:
                self._resume_ready(dom, found, disk, console_log, xml)
            except (libvirt.libvirtError, OSError, subprocess.CalledProcessError, GuestTimeout) as err:
                ready.forget(cache)  # QEMU or the guest changed under it: boot instead
                self.progress(f"saved state of {dom.name()} unusable ({err}): booting it")
                if dom.isActive():
                    dom.destroy()
            else:
                self.progress(
                    f"guest {dom.name()} restored from its saved ready state in {time.monotonic() - started:.1f} s"
                )
                return
        self.progress(f"starting guest {dom.name()} ({self.verdict.accel})")
        self.boot(dom, console_log)
        if not ready.limit_bytes():
            return
        # The agent answers about a second after the readiness line: save after it, so restored guests answer at once.
        GuestAgent(dom).wait(30)
        try:
            saved = ready.save(dom, cache, disk, console_log)
        except (libvirt.libvirtError, OSError, subprocess.CalledProcessError) as err:
            ready.forget(cache)
            self.progress(f"could not save the ready state of {dom.name()} ({err}): it boots next time too")
            if not dom.isActive():  # the save had stopped it: start it again the long way
                self.boot(dom, console_log)
            return
        if saved is not None:  # the save stopped the guest: resume it from what was just saved
            self._resume_ready(dom, saved, disk, console_log, xml)
            self.progress(f"guest {dom.name()} saved in its ready state: its next start takes a second")

    def _resume_ready(self, dom: libvirt.virDomain, saved: Entry, disk: Path, log: Path, xml: str) -> None:
        """Restore a saved ready state; return once the guest's agent answers, as it did when it was saved."""
        from kvmlab.guest import ready
        from kvmlab.guestxml import AGENT_CHANNEL
        from kvmlab.resources.agent import GuestAgent

        ready.restore(self.connection.conn, saved, disk, log)
        if AGENT_CHANNEL in xml:
            # libvirt sees the agent's port open only once the restored guest runs: a command
            # typed at once (virsh shutdown --mode agent) must not find it "not connected".
            GuestAgent(dom).wait(30)

    def boot(self, dom: libvirt.virDomain, console_log: Path) -> float:
        """Start a domain and wait for the tiny guest's readiness line."""
        from kvmlab.capacity import ensure_memory_for
        from kvmlab.guest.boot import GUEST_BOOT_TIMEOUT, wait_for_marker

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

    def wait_ready(self, name: str, timeout: float | None = None) -> float:
        """Wait for a lab guest someone else started (``virsh start`` after a restart): readiness line, then agent.

        The console log of a lab guest is opened with append='off', so once
        ``virsh start`` has returned it holds only the new boot's output.
        """
        from kvmlab.guest.boot import GUEST_BOOT_TIMEOUT, wait_for_marker
        from kvmlab.resources.agent import GuestAgent

        timeout = GUEST_BOOT_TIMEOUT if timeout is None else timeout
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
