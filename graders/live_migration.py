"""Checks of the live-migration lab (topic migration; nearest seed question 14).

A guest stopped before ``migrate`` arrives too, with its boot and its
counter: the copy is just made while it stands still (for as long as the
whole copy takes). What tells a live migration from that is the source
QEMU's own trace of its vCPUs (``vm_state_notify``): running when
``migrate`` was issued, stopped only at the switch-over. The hand-run QEMU
writes it to its trace file; libvirt's QEMU to libvirt's log of the domain.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from kvmlab.grading import AgentUnavailable, Checks, KvmlabError, QmpUnavailable, check, step, wait_until
from kvmlab.host import GuestAgent, Host
from kvmlab.labs.live_migration import MigrationParams

AGENT_WAIT = 5.0
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


@dataclass
class GuestNow:
    """What the migrated guest says about itself, or why it says nothing."""

    boot_id: str | None = None
    counter: int | None = None
    why: str = "not running"


def _ask(agent: GuestAgent | None, p: MigrationParams, wait: float) -> GuestNow:
    if agent is None:
        return GuestNow()
    if not wait_until(agent.ping, bool, wait):
        return GuestNow(why="its guest agent does not answer")
    try:
        counter = agent.read(p.counter_file).strip()
        return GuestNow(agent.read(p.boot_id_file).strip() or None, int(counter) if counter.isdigit() else None, "")
    except (AgentUnavailable, KvmlabError) as err:
        return GuestNow(why=str(err.message))


def _baseline(host: Host, p: MigrationParams, part: str) -> dict[str, Any]:
    """What start saw in the guest of ``part`` ("qemu" or "libvirt") before any migration."""
    data, _ = host.trainee_file(p.baseline).json_object()
    seen = (data or {}).get(part)
    return seen if isinstance(seen, dict) else {}


def _same_boot(prefix: str, where: str, now: GuestNow, before: dict[str, Any], p: MigrationParams) -> Checks:
    want = before.get("boot_id")
    yield check(
        f"{prefix}-same-boot",
        f"the guest {where} is still the boot that start recorded: migrated, not restarted",
        now.boot_id is not None and now.boot_id == want,
        expected=f"boot id {want}",
        actual=f"boot id {now.boot_id}" if now.boot_id else now.why,
        hint=f"{p.boot_id_file} changes at every boot: a guest booted on the target from the same disk "
        "is a restart, not a migration (its RAM, processes and counter are gone)",
    )
    was = before.get("counter")
    yield check(
        f"{prefix}-counter",
        f"the counter {where} kept counting past {was} (its value before the migration)",
        was is not None and now.counter is not None and now.counter > was,
        expected=f"{p.counter_file} > {was}",
        actual=f"{p.counter_file} = {now.counter}" if now.counter is not None else now.why or f"no {p.counter_file}",
        hint="the counter lives in the guest's RAM and tmpfs: only a migration carries it over",
    )


# -- QEMU by hand ---------------------------------------------------------------


def _loopback_port(uri: str) -> tuple[str, int | None]:
    """("127.0.0.1", 4444) from tcp:127.0.0.1:4444 (QEMU's URIs have no //)."""
    scheme, _, rest = uri.partition(":")
    if scheme != "tcp":
        return "", None
    parts = urlsplit(f"//{rest}")
    try:
        return parts.hostname or "", parts.port
    except ValueError:
        return parts.hostname or "", None


NO_MIGRATE = "no migrate command in the source's trace"


@step(
    1,
    "Start the target QEMU, waiting, and prepare both sides",
    hints=(
        "Migration sends RAM and device state, not the hardware: the target runs the same machine with the same "
        "devices in the same order and the same (shared) disk, and waits for the stream (-incoming) instead of "
        "booting. Capabilities are on/off features (some on both sides, like postcopy-ram); parameters are values "
        "(downtime-limit in ms, max-bandwidth in bytes/s). Both are in force only if set before migrate.",
        "qemu-system-x86_64 with the source's options, the target's own sockets, console and pid file, plus "
        "-incoming defer; QMP on the target: migrate-set-capabilities, migrate-incoming URI; on the source: "
        "migrate-set-capabilities (auto-converge, postcopy-ram), migrate-set-parameters",
    ),
)
def prepare(host: Host, p: MigrationParams) -> Checks:
    attempt = host.migration_trace(p.source_trace).last()

    def shown(name: str, unit: float, label: str) -> str:
        if attempt is None:
            return NO_MIGRATE
        value = attempt.value(name)
        return f"{value / unit:g} {label}" + ("" if attempt.was_set(name) else " (QEMU's default: never set)")

    downtime = attempt.value("downtime-limit") if attempt else None
    yield check(
        "qemu-downtime-limit",
        f"downtime-limit was {p.downtime_ms} ms when migrate started",
        downtime == p.downtime_ms,
        expected=f"{p.downtime_ms} ms",
        actual=shown("downtime-limit", 1, "ms"),
        hint="a migration parameter set on the source before migrate; it is in milliseconds, and QEMU's default is 300",
    )
    bandwidth = attempt.value("max-bandwidth") if attempt else None
    yield check(
        "qemu-max-bandwidth",
        f"max-bandwidth was {p.bandwidth_mib} MiB/s when migrate started",
        bandwidth == p.bandwidth_bytes,
        expected=f"{p.bandwidth_mib} MiB/s ({p.bandwidth_bytes} bytes/s)",
        actual=shown("max-bandwidth", 1024 * 1024, "MiB/s"),
        hint="max-bandwidth is in bytes per second, not MiB/s",
    )
    converge = attempt.capabilities.get("auto-converge") if attempt else None
    yield check(
        "qemu-auto-converge",
        "the auto-converge capability was on when migrate started",
        converge is True,
        expected="auto-converge: true",
        actual=NO_MIGRATE if attempt is None else f"auto-converge: {str(bool(converge)).lower()}",
        hint="auto-converge is a capability of the source (it throttles the guest's vCPUs when it dirties memory "
        "faster than the copy goes), set before migrate",
    )


@step(
    2,
    "Migrate live over 127.0.0.1, and switch to post-copy",
    hints=(
        "Pre-copy sends the RAM while the guest runs and sends again what it dirties, round after round; the "
        "guest stops only at the switch-over, for about the downtime limit. Stopping it first makes the whole "
        "copy a pause. Post-copy resumes the guest on the target and pulls the pages it has not got yet.",
        'on the source: migrate {"uri": "tcp:127.0.0.1:PORT"}; query-migrate while it is active; '
        "migrate-start-postcopy; query-migrate until completed",
    ),
)
def migrate(host: Host, p: MigrationParams) -> Checks:
    attempt = host.migration_trace(p.source_trace).last()
    address, port = _loopback_port(attempt.uri) if attempt else ("", None)
    yield check(
        "qemu-migrated",
        f"the source migrated to {p.incoming_uri} and QEMU reported completed",
        attempt is not None and attempt.completed and address in LOOPBACK and port == p.port,
        expected=f"migrate {p.incoming_uri}: completed",
        actual=f"migrate {attempt.uri}: {attempt.final_state}" if attempt else NO_MIGRATE,
        hint="the migration goes to the address the target listens on (p.incoming_uri); query-migrate on the "
        "source says how far it is",
    )
    yield check(
        "qemu-live",
        "the guest kept running while its RAM was copied (it was not stopped before migrate)",
        attempt is not None and attempt.live,
        expected="vCPUs running when migrate was issued (vm_state_notify in the source's trace)",
        actual=NO_MIGRATE
        if attempt is None
        else "running when migrate was issued"
        if attempt.live
        else "stopped before migrate: the guest stood still for the whole copy",
        hint="a migration of a stopped guest arrives too, but it is not live: the pause lasts the whole copy "
        "instead of the downtime limit",
    )
    states = attempt.states if attempt else []
    yield check(
        "qemu-postcopy",
        "the migration switched to post-copy (postcopy-ram on both QEMUs, then migrate-start-postcopy)",
        "postcopy-active" in states,
        expected="states ... active, postcopy-active, completed",
        actual=", ".join(states) or NO_MIGRATE,
        hint="post-copy needs the postcopy-ram capability on the target and on the source before migrate, "
        "then the switch, asked of the source while the migration is active",
    )

    target = host.process(p.target_pid)
    argv = target.argv()
    status: dict[str, Any] = {}
    incoming: dict[str, Any] = {}
    peer, why = None, "no QEMU answers on target-qmp.sock"
    try:
        with host.qmp(p.target_qmp).session() as qmp:
            peer = qmp.peer_pid
            status = qmp.execute("query-status")
            incoming = qmp.execute("query-migrate")
    except QmpUnavailable as err:
        why = err.message
    ours = peer is not None and peer == target.pid and target.is_running
    received = "-incoming" in argv and incoming.get("status") == "completed"
    yield check(
        "qemu-target-incoming",
        "the target QEMU was started with -incoming and received the migration",
        ours and received,
        expected="-incoming on its command line; query-migrate: completed",
        actual=(
            f"-incoming {'given' if '-incoming' in argv else 'missing'}; query-migrate: {incoming.get('status')}"
            if ours
            else why
        ),
        hint="a target started without -incoming boots a new guest from the disk instead of waiting for the "
        "migration stream",
    )
    yield check(
        "qemu-target-running",
        "the guest runs on the target QEMU",
        ours and status.get("status") == "running",
        expected="query-status: running",
        actual=f"query-status: {status.get('status')}" if ours else why,
        hint="after a completed migration the target runs by itself; if it is paused, it was started with -S, "
        "the migration has not finished, or the guest was already stopped on the source",
    )


@step(
    3,
    "Quit the source; the guest lives on in the target",
    hints=(
        "After completed, the source waits, paused, in state postmigrate: it still holds the guest's memory, but "
        "the target owns the disk now. Two running copies of one guest on one disk corrupt it: the source is quit, "
        "never continued. The guest on the target is the same boot, its counter still counting.",
        "on the source: query-status (postmigrate), then quit; then ask the target's guest agent for the counter "
        "and the boot id",
    ),
)
def handover(host: Host, p: MigrationParams) -> Checks:
    source = host.process(p.source_pid)
    yield check(
        "qemu-source-gone",
        "the source QEMU has stopped",
        not source.is_running,
        expected="no process for source.pid",
        actual=f"pid {source.pid} still runs" if source.is_running else "stopped",
        hint="after completed the source waits, paused, in state postmigrate: it is quit, never continued "
        "(two running copies of one guest on one disk corrupt it)",
    )
    target = host.process(p.target_pid)
    answering = target.is_running and host.qmp(p.target_qmp).exists
    now = _ask(host.agent_socket(p.target_agent) if answering else None, p, AGENT_WAIT)
    yield from _same_boot("qemu", "on the target QEMU", now, _baseline(host, p, "qemu"), p)


# -- libvirt --------------------------------------------------------------------


@step(
    4,
    "Migrate the libvirt guest live to the other libvirtd",
    hints=(
        "virsh migrate moves a running guest between libvirtds: the guest's RAM is copied while it runs only when "
        "asked to (otherwise libvirt pauses it for the whole copy). The target only runs it unless it is also "
        "defined there, and the source keeps its definition unless told to drop it. The second argument is the "
        "target's control URI; where the data goes is the migration URI.",
        "virsh migrate --live, plus the options that define it on the target and undefine it on the source, and "
        "--unsafe (one host, shared disk), DOMAIN TARGET_URI --migrateuri tcp://TARGET_ADDR:PORT",
    ),
)
def with_libvirt(host: Host, p: MigrationParams) -> Checks:
    target = host.libvirtd(p.target_uri)
    try:
        yield from _on_target(host, target, p)
    finally:
        target.connection.close()


def _on_target(host: Host, target: Host, p: MigrationParams) -> Checks:
    before = _baseline(host, p, "libvirt")
    target_state, persistent, agent, why = "absent", False, None, ""
    try:
        vm = target.domain(p.domain)
        target_state, persistent = vm.state, vm.is_persistent
        agent = vm.guest
    except KvmlabError as err:
        target_state = why = f"the target libvirtd does not answer: {err.message}"
    running = target_state == "running"
    yield check(
        "libvirt-target-running",
        f"{p.domain} runs on the target libvirtd ({p.target_hostname})",
        running,
        expected="running",
        actual=target_state,
        hint="the guest moves to the target libvirtd's URI (p.target_uri); its data goes to the migration URI "
        "(p.migrate_uri): the target's host name resolves nowhere here",
    )
    yield check(
        "libvirt-target-persistent",
        f"{p.domain} is defined on the target, not only running there (--persistent)",
        persistent,
        expected="persistent",
        actual="persistent" if persistent else ("transient" if running else target_state),
        hint="a migrated guest is only running on the target unless it is defined there too: it is gone from the "
        "target at its next shutdown",
    )
    source = host.domain(p.domain)
    yield check(
        "libvirt-source-undefined",
        f"{p.domain} is no longer defined on the source libvirtd (--undefinesource)",
        not source.exists,
        expected="absent",
        actual=f"{source.state}, {'persistent' if source.is_persistent else 'transient'}"
        if source.exists
        else "absent",
        hint="the source keeps a shut-off definition unless the migration drops it: a start there would run "
        "the guest twice on one disk",
    )
    uuid = before.get("uuid")
    runs = host.domain_runs(p.domain, uuid) if uuid else None
    last = runs[-1] if runs else None
    ended = (
        "no run in libvirt's log" if last is None else (f"reason={last.reason}" if last.stopped else "still running")
    )
    yield check(
        "libvirt-migrated",
        "libvirt stopped the source QEMU because the guest migrated",
        last is not None and last.reason == "migrated",
        expected="shutting down, reason=migrated",
        actual=ended,
        hint=f"libvirt's log of the source ({host.domain_log(p.domain)}) says why its QEMU stopped: "
        "destroy + define + start on the target is a cold move, not a migration",
    )
    attempt = host.domain_log_trace(p.domain, uuid).last() if uuid else None
    yield check(
        "libvirt-live",
        "the guest kept running while libvirt copied its RAM (a live migration, not a paused copy)",
        attempt is not None and attempt.live,
        expected="vCPUs running when libvirt issued migrate (the source QEMU's trace in libvirt's log)",
        actual="no migration in the source QEMU's trace"
        if attempt is None
        else "running when migrate was issued"
        if attempt.live
        else "libvirt stopped the guest before migrate: it stood still for the whole copy",
        hint="without being asked for a live migration, libvirt pauses the guest first and copies its RAM while "
        "it stands still: it arrives, but after a pause as long as the whole copy",
    )
    now = _ask(agent, p, AGENT_WAIT) if running else GuestNow(why=why or f"not running on the target ({target_state})")
    yield from _same_boot("libvirt", "on the target libvirtd", now, before, p)
