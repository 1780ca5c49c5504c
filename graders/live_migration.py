"""Checks of the live-migration lab (topic migration; nearest seed question 14)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from kvmlab.errors import KvmlabError
from kvmlab.grading import Check, check
from kvmlab.host import Host
from kvmlab.labs.live_migration import (
    BOOT_ID,
    COUNTER_FILE,
    MigrationParams,
    load_baseline,
    read_counter,
    target_host,
)
from kvmlab.resources import runlog
from kvmlab.resources.agent import AgentUnavailable, GuestAgent, poll
from kvmlab.resources.migration import Attempt, MigrationTrace
from kvmlab.resources.qga import SocketAgent
from kvmlab.resources.qmp import QmpUnavailable

AGENT_WAIT = 5.0
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


@dataclass
class GuestNow:
    """What the migrated guest says about itself, or why it says nothing."""

    boot_id: str | None = None
    counter: int | None = None
    why: str = "not running"


def _ask(agent: GuestAgent | None, wait: float) -> GuestNow:
    if agent is None:
        return GuestNow()
    if not poll(agent.ping, bool, wait):
        return GuestNow(why="its guest agent does not answer")
    try:
        return GuestNow(agent.read(BOOT_ID).strip() or None, read_counter(agent), "")
    except (AgentUnavailable, KvmlabError) as err:
        return GuestNow(why=str(err.message))


def _same_boot(prefix: str, where: str, now: GuestNow, before: dict[str, Any]) -> Check:
    want = before.get("boot_id")
    return check(
        f"{prefix}-same-boot",
        f"the guest {where} is still the boot that start recorded: migrated, not restarted",
        now.boot_id is not None and now.boot_id == want,
        expected=f"boot id {want}",
        actual=f"boot id {now.boot_id}" if now.boot_id else now.why,
        hint=f"{BOOT_ID} changes at every boot: a guest booted on the target from the same disk "
        "is a restart, not a migration (its RAM, processes and counter are gone)",
    )


def _counter(prefix: str, where: str, now: GuestNow, before: dict[str, Any]) -> Check:
    was = before.get("counter")
    return check(
        f"{prefix}-counter",
        f"the counter {where} kept counting past {was} (its value before the migration)",
        was is not None and now.counter is not None and now.counter > was,
        expected=f"{COUNTER_FILE} > {was}",
        actual=f"{COUNTER_FILE} = {now.counter}" if now.counter is not None else now.why or f"no {COUNTER_FILE}",
        hint="the counter lives in the guest's RAM and tmpfs: only a live migration carries it over",
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


def _param_checks(p: MigrationParams, attempt: Attempt | None) -> Iterator[Check]:
    none = "no migrate command in the source's trace"

    def shown(name: str, unit: float, label: str) -> str:
        if attempt is None:
            return none
        value = attempt.value(name)
        return f"{value / unit:g} {label}" + ("" if attempt.was_set(name) else " (QEMU's default: never set)")

    downtime = attempt.value("downtime-limit") if attempt else None
    yield check(
        "qemu-downtime-limit",
        f"downtime-limit was {p.downtime_ms} ms when migrate started",
        downtime == p.downtime_ms,
        expected=f"{p.downtime_ms} ms",
        actual=shown("downtime-limit", 1, "ms"),
        hint=f'on the source, before migrate: migrate-set-parameters {{"downtime-limit": {p.downtime_ms}}} '
        "(milliseconds; QEMU's default is 300)",
    )
    bandwidth = attempt.value("max-bandwidth") if attempt else None
    yield check(
        "qemu-max-bandwidth",
        f"max-bandwidth was {p.bandwidth_mib} MiB/s when migrate started",
        bandwidth == p.bandwidth_bytes,
        expected=f"{p.bandwidth_mib} MiB/s ({p.bandwidth_bytes} bytes/s)",
        actual=shown("max-bandwidth", 1024 * 1024, "MiB/s"),
        hint=f'max-bandwidth is in bytes per second: {{"max-bandwidth": {p.bandwidth_bytes}}}',
    )
    converge = attempt.capabilities.get("auto-converge") if attempt else None
    yield check(
        "qemu-auto-converge",
        "the auto-converge capability was on when migrate started",
        converge is True,
        expected="auto-converge: true",
        actual=none if attempt is None else f"auto-converge: {str(bool(converge)).lower()}",
        hint='migrate-set-capabilities {"capabilities": [{"capability": "auto-converge", "state": true}]} '
        "on the source, before migrate",
    )
    states = attempt.states if attempt else []
    yield check(
        "qemu-postcopy",
        "the migration switched to post-copy (postcopy-ram on both QEMUs, then migrate-start-postcopy)",
        "postcopy-active" in states,
        expected="states ... active, postcopy-active, completed",
        actual=", ".join(states) or none,
        hint="set the postcopy-ram capability on the target and on the source before migrate, "
        "then send migrate-start-postcopy to the source while the migration is active",
    )


def _qemu_checks(host: Host, p: MigrationParams, before: dict[str, Any]) -> Iterator[Check]:
    source = host.process(p.source_pid)
    yield check(
        "qemu-source-gone",
        "the source QEMU has stopped",
        not source.is_running,
        expected="no process for source.pid",
        actual=f"pid {source.pid} still runs" if source.is_running else "stopped",
        hint="after `completed` the source waits, paused, in state postmigrate: send it QMP quit "
        "(never `cont`: two running copies of one guest on one disk corrupt it)",
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
        hint="start the target with the same devices and disk plus -incoming defer (then migrate-incoming) "
        "or -incoming tcp:127.0.0.1:PORT; without it the target boots a new guest",
    )
    yield check(
        "qemu-target-running",
        "the guest runs on the target QEMU",
        ours and status.get("status") == "running",
        expected="query-status: running",
        actual=f"query-status: {status.get('status')}" if ours else why,
        hint="after a completed migration the target runs by itself; if it is paused, "
        "it was started with -S or the migration has not finished",
    )

    now = _ask(SocketAgent(p.target_agent) if ours else None, AGENT_WAIT)
    yield _same_boot("qemu", "on the target QEMU", now, before)
    yield _counter("qemu", "on the target QEMU", now, before)

    attempt = MigrationTrace(p.source_trace).last()
    address, port = _loopback_port(attempt.uri) if attempt else ("", None)
    yield check(
        "qemu-migrated",
        f"the source migrated to {p.incoming_uri} and QEMU reported completed",
        attempt is not None and attempt.completed and address in LOOPBACK and port == p.port,
        expected=f"migrate {p.incoming_uri}: completed",
        actual=f"migrate {attempt.uri}: {attempt.final_state}"
        if attempt
        else "no migrate command in the source's trace",
        hint=f'on the source: migrate {{"uri": "{p.incoming_uri}"}}, then query-migrate until "completed"',
    )
    yield from _param_checks(p, attempt)


# -- libvirt --------------------------------------------------------------------


def _libvirt_checks(host: Host, p: MigrationParams, before: dict[str, Any]) -> Iterator[Check]:
    target = target_host(p)
    try:
        yield from _on_target(host, target, p, before)
    finally:
        target.connection.close()


def _on_target(host: Host, target: Host, p: MigrationParams, before: dict[str, Any]) -> Iterator[Check]:
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
        hint=f"virsh migrate --live ... {p.domain} '{p.target_uri}' --migrateuri {p.migrate_uri}",
    )
    yield check(
        "libvirt-target-persistent",
        f"{p.domain} is defined on the target, not only running there (--persistent)",
        persistent,
        expected="persistent",
        actual="persistent" if persistent else ("transient" if running else target_state),
        hint="without --persistent the target only runs it: it is gone from the target at its next shutdown",
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
        hint="without --undefinesource the source keeps a shut-off definition: "
        "a `virsh start` there would run the guest twice on one disk",
    )
    uuid = before.get("uuid")
    runs = runlog.runs(host.uri, p.domain, uuid) if uuid else None
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
        hint=f"libvirt's log of the source ({runlog.log_path(host.uri, p.domain)}) says why its QEMU stopped: "
        "destroy + define + start on the target is a cold move, not a live migration",
    )
    now = _ask(agent, AGENT_WAIT) if running else GuestNow(why=why or f"not running on the target ({target_state})")
    yield _same_boot("libvirt", "on the target libvirtd", now, before)
    yield _counter("libvirt", "on the target libvirtd", now, before)


def checks(host: Host, p: MigrationParams) -> Iterator[Check]:
    before = load_baseline(p.baseline)
    yield from _qemu_checks(host, p, before.get("qemu", {}))
    yield from _libvirt_checks(host, p, before.get("libvirt", {}))
