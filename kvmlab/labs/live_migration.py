"""Lab: live migration, by hand with QEMU and with libvirt (migration; nearest seed question 14).

Two migrations of a running guest whose counter must keep counting:

* QEMU by hand: ``start`` runs the source QEMU (QMP, agent socket, pid file,
  and a trace of its migration commands, see kvmlab.resources.migration);
  the trainee starts the target QEMU with the same devices and the same disk
  and ``-incoming defer``, sets capabilities and parameters, migrates over
  127.0.0.1, switches to post-copy and quits the source.
* libvirt: ``start`` boots a guest on the system libvirtd and a second
  libvirtd ("the target host") in namespaces of its own, joined to this host
  by a veth pair on a private /24 (kvmlab.resources.libvirtd explains what
  it takes on one host); the trainee runs ``virsh migrate --live
  --persistent --undefinesource``.

Both source QEMUs trace their migrations (kvmlab.resources.migration): the
hand-run one into its trace file, libvirt's into libvirt's log of the domain
(start switches tracing on over its monitor). The trace says whether the
guest still ran when ``migrate`` was issued: a migration of a guest stopped
first (``virsh migrate`` without ``--live``, QMP ``stop`` then ``migrate``)
arrives too, with its counter, after a pause as long as the whole copy.

``start`` starts the counter in both guests and writes what it saw (boot id,
counter) to the baseline file: the grader compares the target's guest with
it. Everything is owned: the processes by pid file, the second daemon by its
directory, the namespace and the veth by name; ``finish`` stops the target
daemon's guests before the daemon itself.
"""

from __future__ import annotations

import ipaddress
import json
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kvmlab.capacity import ensure_memory_for
from kvmlab.connection import Connection
from kvmlab.errors import CommandFailed, GuestTimeout, HostCannot, KvmlabError
from kvmlab.guest.boot import GUEST_BOOT_TIMEOUT, bare_qemu_argv, wait_for_marker
from kvmlab.guest.build import KERNEL_CMDLINE, guest_files
from kvmlab.host import Host
from kvmlab.labs.base import Lab, Params, lab
from kvmlab.procs import run
from kvmlab.resources.agent import GuestAgent, poll
from kvmlab.resources.libvirtd import PrivateLibvirtd
from kvmlab.resources.migration import TRACE_EVENTS
from kvmlab.resources.netns import NetNamespace, Veth
from kvmlab.resources.process import PidFileProcess
from kvmlab.resources.qga import SocketAgent
from kvmlab.resources.qmp import QmpSocket
from kvmlab.toolkit import Toolkit

CANONICAL_SUBNET = "192.168.24.0/24"  # lab 24; clear of the seed's subnets and of kvmlab's variant pool
COUNTER_FILE = "/run/counter"
BOOT_ID = "/proc/sys/kernel/random/boot_id"
# The guest's workload: one line a second, in tmpfs, so a reboot would start it again from nothing.
# Written to a new file and renamed over the old one: `echo > /run/counter` truncates first, and a
# reader in that instant (the grader, right after a migration) saw an empty counter.
COUNTER = "i=0; while :; do i=$((i+1)); echo $i > /run/counter.new && mv /run/counter.new /run/counter; sleep 1; done"


@dataclass(frozen=True)
class MigrationParams(Params):
    # QEMU by hand: both QEMUs use the same disk; each has its own sockets, console and pid file
    accel: str
    kernel: str  # the lab guest's kernel, initramfs and command line: what both QEMUs boot
    initrd: str
    cmdline: str
    memory_mib: int
    disk: str
    source_pid: str
    source_qmp: str
    source_agent: str
    source_console: str
    source_trace: str  # the source QEMU's own trace of its migration commands and states
    target_pid: str
    target_qmp: str
    target_agent: str
    target_console: str
    port: int  # the target QEMU listens on tcp:127.0.0.1:PORT
    downtime_ms: int  # downtime-limit to set
    bandwidth_mib: int  # max-bandwidth to set, MiB/s
    # libvirt: the system daemon is the source, a second libvirtd in its own namespaces the target
    domain: str
    uri: str
    target_uri: str
    target_dir: str
    target_hostname: str
    netns: str
    veth: str  # this host's end of the pair
    veth_peer: str  # its other end, inside the namespace
    subnet: str
    source_addr: str
    target_addr: str
    migrate_port: int  # libvirt's first incoming migration port, inside the namespace
    baseline: str  # what start saw in both guests before any migration (JSON)
    counter_file: str  # in the guest: the counter, one line a second, in tmpfs
    boot_id_file: str  # in the guest: new at every boot

    @property
    def incoming_uri(self) -> str:
        return f"tcp:127.0.0.1:{self.port}"

    @property
    def bandwidth_bytes(self) -> int:
        return self.bandwidth_mib * 1024 * 1024

    @property
    def migrate_uri(self) -> str:
        """What --migrateuri gets: where the target's QEMU listens, on the namespace's address."""
        return f"tcp://{self.target_addr}:{self.migrate_port}"


def qemu_argv(p: MigrationParams, side: str) -> list[str]:
    """The hand-run guest on ``side`` ("source" or "target"): same machine, same devices, same disk.

    Only what must differ differs: the QMP and agent sockets, the console
    log and the pid file. The source also keeps a trace of its migration.
    """
    if side not in ("source", "target"):
        raise ValueError(side)
    get = p.as_dict()
    argv = bare_qemu_argv(
        guest_files().require(),
        p.accel,
        Path(get[f"{side}_console"]),
        overlay=Path(p.disk),
        agent_sock=Path(get[f"{side}_agent"]),
        memory_mib=p.memory_mib,
    )
    argv += ["-qmp", f"unix:{get[f'{side}_qmp']},server=on,wait=off", "-pidfile", get[f"{side}_pid"], "-daemonize"]
    if side == "source":
        argv += ["-D", p.source_trace]
        for event in TRACE_EVENTS:
            argv += ["-trace", event]
    return argv


def trace_migrations(kit: Toolkit, domain: str) -> None:
    """Have libvirt's QEMU of ``domain`` trace its migrations into libvirt's log of it, as the hand-run one does.

    HMP ``log trace:EVENT`` turns trace events on in a running QEMU; they go to
    its stderr, which libvirt writes to /var/log/libvirt/qemu/DOMAIN.log.
    libvirt marks the domain tainted (custom-monitor) for it.
    """
    events = ",".join(f"trace:{event}" for event in TRACE_EVENTS)
    kit.virsh("qemu-monitor-command", domain, "--hmp", f"log {events}")


def read_counter(agent: GuestAgent) -> int | None:
    text = agent.read(COUNTER_FILE).strip()
    return int(text) if text.isdigit() else None


def start_counter(agent: GuestAgent) -> None:
    """Run the counter in the background (guest-exec returns at once; the loop outlives its shell)."""
    agent.command("guest-exec", {"path": "/bin/sh", "arg": ["-c", f"({COUNTER}) </dev/null >/dev/null 2>&1 &"]})


def load_baseline(path: str) -> dict[str, Any]:
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def target_host(p: MigrationParams) -> Host:
    """The second libvirtd, as graders see a host (connecting raises LibvirtUnavailable when it is down)."""
    return Host(Connection(p.target_uri))


@lab(
    "live-migration",
    "Live migration: QEMU by hand (pre-copy, post-copy) and virsh migrate between two libvirtds",
    seed=(14,),
    requires=("libvirt", "guest", "root"),
    canonical_subnets=(CANONICAL_SUBNET,),
    guests_migrate=True,
)
class LiveMigration(Lab):
    def params(self, kit: Toolkit) -> MigrationParams:
        subnet = ipaddress.ip_network(kit.subnet("target", CANONICAL_SUBNET))
        path = kit.path
        return MigrationParams(
            accel=kit.verdict.accel,
            kernel=str(guest_files().kernel),
            initrd=str(guest_files().initrd),
            cmdline=KERNEL_CMDLINE,
            memory_mib=256,
            disk=str(path("hand-guest.qcow2")),
            source_pid=str(path("source.pid")),
            source_qmp=str(path("source-qmp.sock")),
            source_agent=str(path("source-agent.sock")),
            source_console=str(path("source.console.log")),
            source_trace=str(path("source-trace.log")),
            target_pid=str(path("target.pid")),
            target_qmp=str(path("target-qmp.sock")),
            target_agent=str(path("target-agent.sock")),
            target_console=str(path("target.console.log")),
            port=kit.variant("port", tuple(range(4444, 4544))),
            downtime_ms=kit.variant("downtime", (500, 400, 600, 700, 800)),
            bandwidth_mib=kit.variant("bandwidth", (8, 10, 12, 16)),
            domain=kit.name("vm-mig"),
            uri=kit.uri,
            target_uri=PrivateLibvirtd(path("target-libvirtd")).uri,
            target_dir=str(path("target-libvirtd")),
            target_hostname="kvmlab-target",
            netns=kit.name("migtarget"),
            veth=kit.ifname("migveth"),
            veth_peer="eth0",
            subnet=str(subnet),
            source_addr=str(subnet.network_address + 1),
            target_addr=str(subnet.network_address + 2),
            migrate_port=49152,
            baseline=str(path("baseline.json")),
            counter_file=COUNTER_FILE,
            boot_id_file=BOOT_ID,
        )

    # -- start -------------------------------------------------------------

    def start(self, kit: Toolkit) -> None:
        p = self.params(kit)
        kit.make_dir()
        self._target_host(kit, p)
        # What the trainee's target QEMU makes; finish stops it and removes them.
        kit.expect("process", p.target_pid)
        for path in (p.target_qmp, p.target_agent, p.target_console):
            kit.expect("file", path)
        baseline = load_baseline(p.baseline)
        baseline_file = kit.claim("file", p.baseline)
        fresh: dict[str, GuestAgent] = {}
        hand = self._needs_hand_source(p, baseline.get("qemu"))
        if hand:  # QEMU daemonizes at once: both guests boot at the same time
            self._launch_hand_source(kit, p)
        if self._needs_libvirt_source(kit, p, baseline.get("libvirt")):
            vm = kit.lab_guest(kit.guest_spec("vm-mig"))
            assert vm.handle is not None
            trace_migrations(kit, p.domain)
            fresh["libvirt"] = GuestAgent(vm.handle)
        if hand:
            fresh["qemu"] = self._wait_hand_source(p)
        for agent in fresh.values():
            agent.wait(GUEST_BOOT_TIMEOUT)
            start_counter(agent)
        for key, agent in fresh.items():
            baseline[key] = {
                "boot_id": agent.read(BOOT_ID).strip(),
                "counter": _first_count(agent),
                "time": time.time(),
            }
        if "libvirt" in fresh:
            baseline["libvirt"]["uuid"] = kit.host.domain(p.domain).uuid
        if fresh or not Path(p.baseline).exists():
            Path(p.baseline).write_text(json.dumps(baseline, indent=1) + "\n")
        kit.owners.confirm(baseline_file)

    def _target_host(self, kit: Toolkit, p: MigrationParams) -> None:
        """The "other host": a network namespace, a veth pair into it, a second libvirtd inside."""
        obj = kit.claim("netns", p.netns)
        if not NetNamespace(p.netns).exists:
            run(["ip", "netns", "add", p.netns])
        kit.owners.confirm(obj)

        obj = kit.claim("veth", p.veth)
        if not Veth(p.veth).exists:
            _refuse_routed(p.subnet)
            prefix = ipaddress.ip_network(p.subnet).prefixlen
            run(["ip", "link", "add", p.veth, "type", "veth", "peer", "name", p.veth_peer, "netns", p.netns])
            run(["ip", "address", "add", f"{p.source_addr}/{prefix}", "dev", p.veth])
            run(["ip", "link", "set", "dev", p.veth, "up"])
            run(["ip", "-n", p.netns, "address", "add", f"{p.target_addr}/{prefix}", "dev", p.veth_peer])
            run(["ip", "-n", p.netns, "link", "set", "dev", p.veth_peer, "up"])
            run(["ip", "-n", p.netns, "link", "set", "dev", "lo", "up"])
        kit.owners.confirm(obj)

        daemon = PrivateLibvirtd(p.target_dir)
        obj = kit.claim("libvirtd", p.target_dir)
        if not daemon.is_running:
            kit.progress(f"starting the target libvirtd ({p.target_hostname}, network namespace {p.netns})")
            host_uuid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"kvmlab:{kit.trainee.name}:{p.netns}"))
            daemon.prepare(host_uuid, p.target_addr)
            daemon.launch(p.netns, p.target_hostname)
        kit.owners.confirm(obj)

    @staticmethod
    def _needs_hand_source(p: MigrationParams, seen: dict[str, Any] | None) -> bool:
        """A new source unless one was recorded and its guest still runs (here or, migrated, on the target)."""
        if not seen:
            return True
        if PidFileProcess(p.source_pid).is_running:
            return False
        # Migrated: the target runs the guest (a target still waiting with -incoming does not answer).
        return not (PidFileProcess(p.target_pid).is_running and SocketAgent(p.target_agent).ping())

    @staticmethod
    def _needs_libvirt_source(kit: Toolkit, p: MigrationParams, seen: dict[str, Any] | None) -> bool:
        if not seen:
            return True
        if kit.host.domain(p.domain).is_running:
            return False
        try:
            return not target_host(p).domain(p.domain).is_running
        except KvmlabError:
            return True

    def _launch_hand_source(self, kit: Toolkit, p: MigrationParams) -> None:
        kit.make_overlay(Path(p.disk), kit.guest_files.disk)
        made = [kit.claim("process", p.source_pid)]
        made += [kit.claim("file", f) for f in (p.source_qmp, p.source_agent, p.source_console, p.source_trace)]
        if not PidFileProcess(p.source_pid).is_running:
            ensure_memory_for("the hand-run source guest", 256)
            kit.progress(f"starting the source QEMU by hand ({p.accel})")
            Path(p.source_console).unlink(missing_ok=True)
            run(qemu_argv(p, "source"))
        for obj in made:
            kit.owners.confirm(obj)

    @staticmethod
    def _wait_hand_source(p: MigrationParams) -> GuestAgent:
        alive = PidFileProcess(p.source_pid)
        if wait_for_marker(Path(p.source_console), GUEST_BOOT_TIMEOUT, alive=lambda: alive.is_running) is None:
            raise GuestTimeout(
                f"the hand-run source guest did not boot within {GUEST_BOOT_TIMEOUT:.0f} s", f"read {p.source_console}"
            )
        return SocketAgent(p.source_agent)

    # -- the reference solution ---------------------------------------------

    def solve(self, kit: Toolkit) -> None:
        p = self.params(kit)
        if not PidFileProcess(p.target_pid).is_running:
            migrate_by_hand(p)
        if kit.host.domain(p.domain).exists:
            migrate_with_virsh(kit, p)


def _first_count(agent: GuestAgent) -> int:
    counter = poll(lambda: read_counter(agent), lambda n: n is not None, 10)
    if counter is None:
        raise GuestTimeout("the counter did not start in the guest", "kvmlab lab reset live-migration")
    return counter


def _refuse_routed(subnet: str) -> None:
    """The lab's /24 must be nobody else's: refuse a subnet this host already routes."""
    net = ipaddress.ip_network(subnet)
    out = run(["ip", "-4", "-j", "route", "show"]).stdout
    for route in json.loads(out or "[]"):
        dst = route.get("dst", "default")
        if dst != "default" and ipaddress.ip_network(dst, strict=False).overlaps(net):
            raise HostCannot(
                f"this host already routes {dst} (dev {route.get('dev')}), which overlaps the lab's {subnet}",
                "finish the lab that uses it, or run this lab as another trainee (--trainee NAME)",
            )


def _wait_migration(qmp: Any, until: set[str], timeout: float = 180) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        info: dict[str, Any] = qmp.execute("query-migrate")
        status = info.get("status", "")
        if status in until:
            return info
        if status in ("failed", "cancelled"):
            raise CommandFailed(f"the migration {status}: {info.get('error-desc', '')}")
        if time.monotonic() > deadline:
            raise CommandFailed(f"the migration is still {status} after {timeout:.0f} s")
        time.sleep(0.3)


def migrate_by_hand(
    p: MigrationParams,
    *,
    downtime: bool = True,
    postcopy: bool = True,
    quit_source: bool = True,
    stop_first: bool = False,
) -> None:
    """What the notebook does, in one go (the keyword arguments make the known mistakes).

    ``stop_first``: the guest stopped before migrate (the whole copy made while it stands still); the target
    then arrives paused too, and is continued by hand.
    """
    run([*qemu_argv(p, "target"), "-incoming", "defer"])
    caps = [{"capability": "postcopy-ram", "state": True}] if postcopy else []
    with QmpSocket(p.target_qmp).session() as target:
        if caps:
            target.execute("migrate-set-capabilities", {"capabilities": caps})
        target.execute("migrate-incoming", {"uri": p.incoming_uri})
    with QmpSocket(p.source_qmp).session() as source:
        source.execute(
            "migrate-set-capabilities", {"capabilities": [{"capability": "auto-converge", "state": True}, *caps]}
        )
        parameters: dict[str, Any] = {"max-bandwidth": p.bandwidth_bytes}
        if downtime:
            parameters["downtime-limit"] = p.downtime_ms
        source.execute("migrate-set-parameters", parameters)
        if stop_first:
            source.execute("stop")
        source.execute("migrate", {"uri": p.incoming_uri})
        if postcopy:
            _wait_migration(source, {"active", "completed"})
            time.sleep(1.0)  # let pre-copy send a part of the RAM first
            source.execute("migrate-start-postcopy")
        _wait_migration(source, {"completed"})
        source.execute("query-migrate")  # the final statistics, kept in the source's trace
        if quit_source:
            source.execute("quit")
    if quit_source:
        poll(lambda: PidFileProcess(p.source_pid).is_running, lambda up: not up, 10)
    if stop_first:  # the target keeps the run state the guest had on the source: paused
        with QmpSocket(p.target_qmp).session() as target:
            poll(lambda: target.execute("query-status").get("status"), lambda st: st == "paused", 10)
            target.execute("cont")
    SocketAgent(p.target_agent).wait(30)


def restart_on_target(p: MigrationParams) -> None:
    """The classic mistake: stop the source and boot the same disk on the target (a cold restart, not a move)."""
    with QmpSocket(p.source_qmp).session() as source:
        source.execute("quit")
    poll(lambda: PidFileProcess(p.source_pid).is_running, lambda up: not up, 10)
    run(qemu_argv(p, "target"))
    alive = PidFileProcess(p.target_pid)
    wait_for_marker(Path(p.target_console), GUEST_BOOT_TIMEOUT, alive=lambda: alive.is_running)
    SocketAgent(p.target_agent).wait(30)


def migrate_with_virsh(
    kit: Toolkit,
    p: MigrationParams,
    flags: tuple[str, ...] = ("--persistent", "--undefinesource"),
    live: bool = True,
) -> None:
    """virsh migrate --live to the second libvirtd; --unsafe because libvirt cannot see the storage is shared.

    ``live=False``: the known mistake, a migration that pauses the guest for the whole copy.
    """
    mode = ("--live",) if live else ()
    kit.virsh("migrate", *mode, *flags, "--unsafe", p.domain, p.target_uri, "--migrateuri", p.migrate_uri)
    dom = target_host(p).domain(p.domain).handle
    if dom is not None:
        GuestAgent(dom).wait(30)
