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
_WHERE_ZH = {"qemu": "目的端 QEMU 上", "libvirt": "目的端 libvirtd 上"}  # where, by prefix, in the zh edition


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
    where_zh = _WHERE_ZH.get(prefix, where)
    yield check(
        f"{prefix}-same-boot",
        f"the guest {where} is still the boot that start recorded: migrated, not restarted",
        now.boot_id is not None and now.boot_id == want,
        expected=f"boot id {want}",
        actual=f"boot id {now.boot_id}" if now.boot_id else now.why,
        hint=f"{p.boot_id_file} changes at every boot: a guest booted on the target from the same disk "
        "is a restart, not a migration (its RAM, processes and counter are gone)",
        zh=f"{where_zh}的虚拟机仍是实验开始时记录的那次启动：是迁移过来的，不是重启",
        hint_zh=f"{p.boot_id_file} 每次启动都会变：在目的端用同一块磁盘重新启动虚拟机，那是重启，不是迁移（内存、"
        "进程和计数器都没了）",
    )
    was = before.get("counter")
    yield check(
        f"{prefix}-counter",
        f"the counter {where} kept counting past {was} (its value before the migration)",
        was is not None and now.counter is not None and now.counter > was,
        expected=f"{p.counter_file} > {was}",
        actual=f"{p.counter_file} = {now.counter}" if now.counter is not None else now.why or f"no {p.counter_file}",
        hint="the counter lives in the guest's RAM and tmpfs: only a migration carries it over",
        zh=f"{where_zh}的计数器越过了 {was}（迁移前的值），还在继续计数",
        hint_zh="计数器存在虚拟机的内存和 tmpfs 里：只有迁移才能把它带过去",
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
    zh="启动等待迁移的目的端 QEMU，并做好两端的准备",
    hints_zh=(
        "迁移传送的是内存和设备状态，而不是硬件：目的端要用同样的机器、同样顺序的同样设备和同一块（共享）"
        "磁盘运行，并且不自行启动，而是等待迁移数据流（-incoming）。能力（capabilities）"
        "是开关型特性（有些要两端都开，比如 postcopy-ram）；参数（parameters）是数值（downtime-limit 单位是毫秒，"
        "max-bandwidth 单位是字节/秒）。两者都必须在 migrate 之前设置才会生效。",
        "qemu-system-x86_64 加上源端的选项、目的端自己的套接字、串口日志和 pid 文件，再加 -incoming defer；"
        "目的端的 QMP：migrate-set-capabilities、migrate-incoming URI；源端："
        "migrate-set-capabilities（auto-converge、postcopy-ram）、migrate-set-parameters",
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
        zh=f"migrate 开始时，downtime-limit 是 {p.downtime_ms} ms",
        hint_zh="这是在 migrate 之前于源端设置的迁移参数；单位是毫秒，QEMU 的默认值是 300",
    )
    bandwidth = attempt.value("max-bandwidth") if attempt else None
    yield check(
        "qemu-max-bandwidth",
        f"max-bandwidth was {p.bandwidth_mib} MiB/s when migrate started",
        bandwidth == p.bandwidth_bytes,
        expected=f"{p.bandwidth_mib} MiB/s ({p.bandwidth_bytes} bytes/s)",
        actual=shown("max-bandwidth", 1024 * 1024, "MiB/s"),
        hint="max-bandwidth is in bytes per second, not MiB/s",
        zh=f"migrate 开始时，max-bandwidth 是 {p.bandwidth_mib} MiB/s",
        hint_zh="max-bandwidth 的单位是字节/秒，不是 MiB/s",
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
        zh="migrate 开始时，auto-converge 能力已开启",
        hint_zh="auto-converge 是源端的能力（虚拟机弄脏内存的速度超过复制速度时，它会给虚拟机的 vCPU 限速），"
        "要在 migrate 之前设置",
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
    zh="经由 127.0.0.1 热迁移，并切换到后拷贝",
    hints_zh=(
        "预拷贝在虚拟机运行时发送内存，并把被弄脏的页再发一遍，一轮接一轮；虚拟机只在切换时停下，"
        "停顿时间大约就是停机时间上限。如果先把虚拟机停掉，整个复制过程就都成了停顿。"
        "后拷贝则先在目的端恢复虚拟机，再去拉取它还没有的页。",
        '在源端：migrate {"uri": "tcp:127.0.0.1:PORT"}；迁移处于 active 状态时执行 query-migrate；然后 '
        "migrate-start-postcopy；再反复 query-migrate，直到 completed",
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
        zh=f"源端已迁移到 {p.incoming_uri}，QEMU 报告 completed",
        hint_zh="迁移要发往目的端监听的地址（p.incoming_uri）；在源端执行 query-migrate 可以看到进度",
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
        zh="复制内存期间虚拟机一直在运行（migrate 之前没有被停下）",
        hint_zh="停下的虚拟机也能迁移过去，但那不是热迁移：停顿会持续整个复制过程，而不只是停机时间上限",
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
        zh="迁移切换到了后拷贝（两个 QEMU 都开启 postcopy-ram，然后执行 migrate-start-postcopy）",
        hint_zh="后拷贝要求在 migrate 之前，目的端和源端都开启 postcopy-ram 能力；然后在迁移进行中，向源端发出切换请求",
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
        zh="目的端 QEMU 以 -incoming 启动，并接收了迁移",
        hint_zh="不带 -incoming 启动的目的端会从磁盘启动一台新的虚拟机，而不是等待迁移数据流",
    )
    yield check(
        "qemu-target-running",
        "the guest runs on the target QEMU",
        ours and status.get("status") == "running",
        expected="query-status: running",
        actual=f"query-status: {status.get('status')}" if ours else why,
        hint="after a completed migration the target runs by itself; if it is paused, it was started with -S, "
        "the migration has not finished, or the guest was already stopped on the source",
        zh="虚拟机在目的端 QEMU 上运行",
        hint_zh="迁移完成后，目的端会自己运行起来；如果它处于暂停状态，要么它是用 -S 启动的，要么迁移还没完成，"
        "要么虚拟机在源端就已经停下了",
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
    zh="退出源端；虚拟机在目的端继续运行",
    hints_zh=(
        "迁移 completed 之后，源端暂停在 postmigrate 状态等待：它仍然持有虚拟机的内存，但磁盘现在归目的端了。"
        "同一台虚拟机的两个运行副本共用一块磁盘，会把磁盘弄坏：源端只能退出，绝不能继续运行。"
        "目的端上的虚拟机还是同一次启动，计数器仍在计数。",
        "在源端：query-status（postmigrate），然后 quit；再向目的端虚拟机的客户机代理查询计数器和 boot id",
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
        zh="源端 QEMU 已经退出",
        hint_zh="迁移 completed 之后，源端暂停在 postmigrate 状态等待：应该退出它，"
        "绝不能让它继续运行（同一台虚拟机的两个运行副本共用一块磁盘，会把磁盘弄坏）",
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
    zh="把 libvirt 管理的虚拟机热迁移到另一个 libvirtd",
    hints_zh=(
        "virsh migrate 在 libvirtd 之间迁移运行中的虚拟机：只有明确要求，才会在虚拟机运行的同时复制内存（否则 "
        "libvirt 会在整个复制过程中暂停它）。除非也在目的端定义，否则虚拟机在目的端只是运行着；除非要求删除，"
        "否则源端会保留它的定义。第二个参数是目的端的控制 URI；数据发往哪里由迁移 URI 决定。",
        "virsh migrate --live，加上在目的端定义、在源端取消定义的选项，再加 --unsafe（同一台宿主机、共享磁盘），"
        "DOMAIN TARGET_URI --migrateuri tcp://TARGET_ADDR:PORT",
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
        zh=f"{p.domain} 在目的端 libvirtd（{p.target_hostname}）上运行",
        hint_zh="虚拟机迁往目的端 libvirtd 的 URI（p.target_uri）；数据发往迁移 URI（p.migrate_uri）："
        "目的端的主机名在这里解析不了",
    )
    yield check(
        "libvirt-target-persistent",
        f"{p.domain} is defined on the target, not only running there (--persistent)",
        persistent,
        expected="persistent",
        actual="persistent" if persistent else ("transient" if running else target_state),
        hint="a migrated guest is only running on the target unless it is defined there too: it is gone from the "
        "target at its next shutdown",
        zh=f"{p.domain} 在目的端有定义，而不只是在那里运行（--persistent）",
        hint_zh="迁移过去的虚拟机如果没有在目的端定义，就只是在那里运行着：下次关机后，它就从目的端消失了",
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
        zh=f"源端 libvirtd 上已经没有 {p.domain} 的定义（--undefinesource）",
        hint_zh="除非迁移时删除，否则源端会保留一份关机状态的定义：在那边一 start，"
        "同一台虚拟机就会在同一块磁盘上跑两份",
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
        zh="libvirt 是因为虚拟机迁移走了才停掉源端 QEMU 的",
        hint_zh=f"源端 libvirt 的日志（{host.domain_log(p.domain)}）写明了它的 QEMU 为什么停止：先 destroy，"
        "再在目的端 define + start，那是关机搬家，不是迁移",
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
        zh="libvirt 复制内存期间虚拟机一直在运行（是热迁移，而不是暂停后复制）",
        hint_zh="如果没有要求热迁移，libvirt 会先暂停虚拟机，在它静止时复制内存：虚拟机照样能到达，"
        "但暂停时间和整个复制过程一样长",
    )
    now = _ask(agent, p, AGENT_WAIT) if running else GuestNow(why=why or f"not running on the target ({target_state})")
    yield from _same_boot("libvirt", "on the target libvirtd", now, before, p)
