"""Checks of the memory lab (seed question 18)."""

from __future__ import annotations

from dataclasses import dataclass

from kvmlab.grading import AgentUnavailable, Checks, GuestTimeout, check, step, wait_until
from kvmlab.host import Host
from kvmlab.labs.memory import MemoryParams


def _mib(kib: int | None, absent: str) -> str:
    if kib is None:
        return absent
    return f"{kib // 1024} MiB" if kib % 1024 == 0 else f"{kib / 1024:.1f} MiB"


@dataclass(frozen=True)
class GuestMemory:
    balloon_kib: int
    mem_total_kib: int
    deflated_kib: int  # given back to the guest by its balloon since it booted


@step(
    1,
    "Raise the maximum memory in the persistent definition",
    hints=(
        "A guest has a maximum memory (<memory>) and a current one (<currentMemory>, where the balloon leaves it); "
        "QEMU sizes the guest's RAM from the maximum when it starts, so a new maximum goes into the persistent "
        "definition, which virsh can change while the guest runs. And virsh reads a bare number as KiB.",
        "virsh setmaxmem DOMAIN SIZE-with-a-unit, plus the option that writes the definition",
    ),
    zh="在持久化配置中提高最大内存",
    hints_zh=(
        "虚拟机有最大内存（<memory>）和当前内存（<currentMemory>，气球停留的位置）；"
        "QEMU 启动时按最大内存给虚拟机分配 RAM，"
        "所以新的最大值要写进持久化配置——虚拟机运行时 virsh 也能改它。另外，virsh 把不带单位的数字当作 KiB。",
        "virsh setmaxmem DOMAIN SIZE（要带单位），再加上写入持久化配置的那个选项",
    ),
)
def maximum(host: Host, p: MemoryParams) -> Checks:
    config = host.domain(p.domain).config
    config_max = config.memory_kib if config else None
    yield check(
        "max-config",
        f"the persistent definition allows up to {p.max_mib} MiB",
        config_max == p.max_kib,
        expected=_mib(p.max_kib, ""),
        actual=_mib(config_max, "no persistent definition"),
        hint="the maximum (<memory>) of the definition is what the next start gets: the running guest's own "
        "maximum cannot change, the definition's can; mind the unit (a bare number is KiB)",
        zh=f"持久化配置允许的最大内存为 {p.max_mib} MiB",
        hint_zh="下次启动用的是持久化配置里的最大内存（<memory>）：运行中虚拟机自己的最大值改不了，"
        "持久化配置里的可以改；"
        "注意单位（不带单位的数字是 KiB）",
    )


@step(
    2,
    "Power-cycle the guest so QEMU starts with the new maximum",
    hints=(
        "QEMU gives the guest its RAM when it starts: a new maximum takes effect only in a new QEMU process. "
        "A reboot inside the guest keeps the same process.",
        "virsh shutdown DOMAIN, wait until virsh domstate says shut off, then virsh start DOMAIN",
    ),
    zh="给虚拟机断电重启，让 QEMU 以新的最大内存启动",
    hints_zh=(
        "QEMU 在启动时给虚拟机分配 RAM：新的最大内存只在新的 QEMU 进程里生效。在客户机里面重启，用的还是同一个进程。",
        "virsh shutdown DOMAIN，等到 virsh domstate 显示 shut off，再 virsh start DOMAIN",
    ),
)
def power_cycle(host: Host, p: MemoryParams) -> Checks:
    live = host.domain(p.domain).live
    live_max = live.memory_kib if live else None
    yield check(
        "max-live",
        f"the running guest was started with that maximum ({p.max_mib} MiB)",
        live_max == p.max_kib,
        expected=_mib(p.max_kib, ""),
        actual=_mib(live_max, "guest not running"),
        hint="a running guest's maximum cannot change (libvirt refuses it live): the guest must be powered off and "
        "started again (a reboot inside the guest is not enough)",
        zh=f"运行中的虚拟机是以这个最大内存（{p.max_mib} MiB）启动的",
        hint_zh="运行中虚拟机的最大内存不能改（libvirt 拒绝在线修改）：必须先关机再启动（在客户机里面重启不够）",
    )


@step(
    3,
    "Balloon the running guest to the asked size, live and persistent",
    hints=(
        "The virtio balloon moves a running guest's memory anywhere up to its maximum without a restart: libvirt can "
        "move it in the running guest, write the new size into the persistent definition (a separate copy), or "
        "both. QEMU's HMP balloon command moves it behind libvirt's back, in the running guest only.",
        "virsh setmem DOMAIN SIZE-with-a-unit, plus the option that changes the running guest and the one that "
        "writes the definition",
    ),
    zh="用气球把运行中的虚拟机调到指定大小，在线生效并持久化",
    hints_zh=(
        "virtio 气球可以不重启就把运行中虚拟机的内存调到最大值以内的任意大小：libvirt 可以调运行中的虚拟机，"
        "可以把新的大小写进持久化配置（那是另一份独立的副本），也可以两者都做。QEMU 的 HMP balloon 命令绕过 libvirt，"
        "只改运行中的虚拟机。",
        "virsh setmem DOMAIN SIZE（要带单位），再加上修改运行中虚拟机的选项和写入持久化配置的选项",
    ),
)
def balloon(host: Host, p: MemoryParams) -> Checks:
    vm = host.domain(p.domain)
    vm.settle_balloon(p.current_kib)
    live, config = vm.live, vm.config
    live_current = live.current_memory_kib if live else None
    config_current = config.current_memory_kib if config else None
    yield check(
        "current-live",
        f"the running guest has {p.current_mib} MiB (its balloon target)",
        live_current == p.current_kib,
        expected=_mib(p.current_kib, ""),
        actual=_mib(live_current, "guest not running"),
        hint="the running guest (virsh dominfo, Used memory) is not at that size: a change meant for it has to say "
        "so, and a bare number is KiB, not MiB",
        zh=f"运行中的虚拟机有 {p.current_mib} MiB 内存（气球的目标值）",
        hint_zh="运行中的虚拟机（virsh dominfo 的 Used memory）不是这个大小：要改运行中的虚拟机，命令里就得明确说出来；"
        "而且不带单位的数字是 KiB，不是 MiB",
    )
    yield check(
        "current-config",
        f"the persistent definition starts the guest with {p.current_mib} MiB",
        config_current == p.current_kib,
        expected=_mib(p.current_kib, ""),
        actual=_mib(config_current, "no persistent definition"),
        hint="a change made only to the running guest (QEMU's HMP balloon command included) is gone after the next "
        "boot: the persistent definition (<currentMemory> in virsh dumpxml --inactive) is a separate copy",
        zh=f"持久化配置让虚拟机以 {p.current_mib} MiB 内存启动",
        hint_zh="只对运行中虚拟机做的修改（包括 QEMU 的 HMP balloon 命令）在下次启动后就没了：持久化配置"
        "（virsh dumpxml --inactive 中的 <currentMemory>）是另一份独立的副本",
    )

    actual = vm.memory_stats().get("actual")
    yield check(
        "balloon-actual",
        f"the balloon leaves the guest {p.current_mib} MiB (dommemstat 'actual')",
        actual == p.current_kib,
        expected=_mib(p.current_kib, ""),
        actual=_mib(actual, "guest not running"),
        hint="virsh dommemstat shows where the balloon is ('actual', in KiB); the guest needs its virtio_balloon "
        "driver to move it",
        zh=f"气球给虚拟机留下 {p.current_mib} MiB（dommemstat 的 actual）",
        hint_zh="virsh dommemstat 显示气球的位置（actual，单位 KiB）；客户机要有 virtio_balloon 驱动，气球才能调节",
    )

    guest = vm.guest
    held_kib = p.max_kib - p.current_kib  # what the balloon must take from the guest
    given_kib = p.current_kib - p.start_kib  # what a live change from the starting size gives back

    def seen() -> GuestMemory | str:
        if guest is None:
            return "guest not running"
        try:
            counters = guest.balloon_counters()
            return GuestMemory(counters.held_kib, guest.meminfo_kib().get("MemTotal", 0), counters.deflated_kib)
        except (AgentUnavailable, GuestTimeout) as err:
            # e.g. `setmem VM 384` (KiB): the squeezed guest's OOM killer took the agent.
            return f"the guest agent does not answer ({err.message})"

    def right(m: GuestMemory | str) -> bool:
        return isinstance(m, GuestMemory) and m.balloon_kib == held_kib and m.mem_total_kib <= p.current_kib

    # The guest counts its balloon pages a moment before QEMU's 'actual' shows them.
    mem = wait_until(seen, right, seconds=3 if actual == p.current_kib else 0)
    # QEMU keeps no history of balloon targets, and libvirt sets one right after every start too: the guest's
    # own counters since boot are what tell a guest given memory while it ran (its balloon deflated) from
    # one restarted with a new <currentMemory> (its balloon only ever inflated).
    deflated = mem.deflated_kib if isinstance(mem, GuestMemory) else None
    yield check(
        "balloon-live",
        f"the running guest was given the memory without a restart (its balloon gave back {_mib(given_kib, '')} "
        "since it booted)",
        deflated is not None and deflated >= given_kib,
        expected=f"at least {_mib(given_kib, '')} deflated since boot",
        actual=f"{_mib(deflated, '')} deflated since boot" if deflated is not None else mem,
        hint="a guest started with the new size was never given memory while it ran (its balloon only inflated "
        "at boot: /proc/vmstat balloon_inflate, balloon_deflate): the lab is about growing it without a restart",
        zh=f"运行中的虚拟机不重启就拿到了内存（开机以来，它的气球归还了 {_mib(given_kib, '')}）",
        hint_zh="以新大小启动的虚拟机从没在运行时被加过内存（它的气球只在开机时充过气："
        "见 /proc/vmstat 的 balloon_inflate、"
        "balloon_deflate）：本实验要的是不重启就把内存加上去",
    )
    yield check(
        "guest-memory",
        f"inside the guest, the balloon holds {_mib(held_kib, '')} and MemTotal is at most {p.current_mib} MiB",
        right(mem),
        expected=f"balloon {_mib(held_kib, '')}, MemTotal <= {_mib(p.current_kib, '')}",
        actual=f"balloon {_mib(mem.balloon_kib, '')}, MemTotal {_mib(mem.mem_total_kib, '')}"
        if isinstance(mem, GuestMemory)
        else mem,
        hint="the guest's /proc/meminfo MemTotal shrinks as the balloon inflates (/proc/vmstat balloon_inflate); "
        "the kernel keeps some memory for itself, so MemTotal is a little below what libvirt shows",
        zh=f"客户机内部：气球占住 {_mib(held_kib, '')}，MemTotal 不超过 {p.current_mib} MiB",
        hint_zh="气球充气时，客户机 /proc/meminfo 里的 MemTotal 随之变小（/proc/vmstat 的 balloon_inflate）；"
        "内核自己要留一部分内存，所以 MemTotal 比 libvirt 显示的略小",
    )
