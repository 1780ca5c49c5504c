"""Checks of the vcpu lab (seed question 17)."""

from __future__ import annotations

from kvmlab.grading import AgentUnavailable, Checks, GuestTimeout, check, step, wait_until
from kvmlab.host import Host
from kvmlab.labs.vcpu import VcpuParams


def _shown(n: int | None, absent: str) -> str:
    return absent if n is None else str(n)


@step(
    1,
    "Raise the maximum in the persistent definition",
    hints=(
        "A guest has a maximum number of vCPUs and a current one; the live count can never exceed the maximum, "
        "and QEMU fixes the maximum when it starts, so a new maximum can only go into the persistent definition.",
        "virsh setvcpus DOMAIN COUNT with the option that sets the maximum and the one that writes the definition "
        "(virsh has no --persistent option for setvcpus)",
    ),
    zh="在持久化配置中提高最大值",
    hints_zh=(
        "虚拟机有一个 vCPU 最大值和一个当前值；运行时的数量永远不能超过最大值，而 QEMU 启动时就定下了最大值，"
        "所以新的最大值只能写进持久化配置。",
        "virsh setvcpus DOMAIN COUNT，加上设置最大值的选项和写入持久化配置的选项"
        "（virsh 的 setvcpus 没有 --persistent 选项）",
    ),
)
def maximum(host: Host, p: VcpuParams) -> Checks:
    config = host.domain(p.domain).config
    config_max = config.vcpu_max if config else None
    yield check(
        "max-config",
        f"the persistent definition allows up to {p.max_vcpus} vCPUs",
        config_max == p.max_vcpus,
        expected=p.max_vcpus,
        actual=_shown(config_max, "no persistent definition"),
        hint="the maximum (<vcpu>N</vcpu>) lives in the persistent definition: a running QEMU cannot change it, "
        "so virsh accepts a new maximum only for the definition",
        zh=f"持久化配置允许最多 {p.max_vcpus} 个 vCPU",
        hint_zh="最大值（<vcpu>N</vcpu>）保存在持久化配置里：运行中的 QEMU 改不了它，"
        "所以 virsh 只接受为持久化配置设置新的最大值",
    )


@step(
    2,
    "Power-cycle the guest so QEMU starts with the new maximum",
    hints=(
        "QEMU creates the slots for hot-pluggable vCPUs when it starts: a new maximum takes effect only in a new "
        "QEMU process. A reboot inside the guest keeps the same process.",
        "virsh shutdown DOMAIN, wait until virsh domstate says shut off, then virsh start DOMAIN",
    ),
    zh="给虚拟机断电重启，让 QEMU 以新的最大值启动",
    hints_zh=(
        "QEMU 在启动时创建可热插拔 vCPU 的插槽：新的最大值只在新的 QEMU 进程里生效。"
        "在客户机内部重启，进程还是原来那个。",
        "virsh shutdown DOMAIN，等到 virsh domstate 显示 shut off，再执行 virsh start DOMAIN",
    ),
)
def power_cycle(host: Host, p: VcpuParams) -> Checks:
    live = host.domain(p.domain).live
    live_max = live.vcpu_max if live else None
    yield check(
        "max-live",
        f"the running guest was started with that maximum ({p.max_vcpus})",
        live_max == p.max_vcpus,
        expected=p.max_vcpus,
        actual=_shown(live_max, "guest not running"),
        hint="QEMU reads the maximum only when it starts: the guest must be powered off and started again "
        "(a reboot inside the guest is not enough)",
        zh=f"运行中的虚拟机是以这个最大值（{p.max_vcpus}）启动的",
        hint_zh="QEMU 只在启动时读取最大值：必须先把虚拟机关掉，再重新启动（在客户机内部重启不够）",
    )


@step(
    3,
    "Hot-add the vCPUs, live and persistent",
    hints=(
        "Adding vCPUs can change the running guest (QEMU plugs new vCPU devices, the guest kernel onlines them), "
        "the persistent definition (a separate copy, read at the next boot), or both.",
        "virsh setvcpus DOMAIN COUNT, plus the option that changes the running guest and the one that writes "
        "the definition",
    ),
    zh="热添加 vCPU，运行时和持久化配置都要改",
    hints_zh=(
        "添加 vCPU 可以只改运行中的虚拟机（QEMU 插入新的 vCPU 设备，客户机内核把它们上线），"
        "也可以只改持久化配置（另一份独立的副本，下次启动时读取），或者两者都改。",
        "virsh setvcpus DOMAIN COUNT，再加上修改运行中虚拟机的选项和写入持久化配置的选项",
    ),
)
def hot_add(host: Host, p: VcpuParams) -> Checks:
    vm = host.domain(p.domain)
    live, config = vm.live, vm.config
    live_count = live.vcpu_current if live else None
    config_count = config.vcpu_current if config else None
    yield check(
        "vcpus-live",
        f"the running guest has {p.vcpus} vCPUs",
        live_count == p.vcpus,
        expected=p.vcpus,
        actual=_shown(live_count, "guest not running"),
        hint="the running guest (virsh vcpucount, the live rows) does not have them: a change meant for it has to "
        "say so, and the live count cannot exceed the live maximum (lowering it live, an unplug, is not part of "
        "this lab)",
        zh=f"运行中的虚拟机有 {p.vcpus} 个 vCPU",
        hint_zh="运行中的虚拟机（virsh vcpucount 的 live 行）没有这么多 vCPU：要改运行中的虚拟机，命令里就得明确说明；"
        "而且运行时的数量不能超过运行时的最大值（在线减少，也就是拔除 vCPU，不在本实验范围内）",
    )
    yield check(
        "vcpus-config",
        f"the persistent definition starts the guest with {p.vcpus} vCPUs",
        config_count == p.vcpus,
        expected=p.vcpus,
        actual=_shown(config_count, "no persistent definition"),
        hint="a change made only to the running guest is gone after the next boot: the persistent definition is a "
        "separate copy (and virsh has no --persistent option for setvcpus)",
        zh=f"持久化配置让虚拟机以 {p.vcpus} 个 vCPU 启动",
        hint_zh="只改了运行中虚拟机的修改，下次启动后就没了：持久化配置是另一份独立的副本"
        "（而且 virsh 的 setvcpus 没有 --persistent 选项）",
    )
    marks = vm.hotplugged_vcpus()
    added = p.vcpus - p.start_vcpus
    hot = sum(marks) if marks is not None else 0
    yield check(
        "vcpus-hotplugged",
        f"{added} of them were plugged into the running guest (a hot-add, not a restart with a new definition)",
        marks is not None and hot >= added,
        expected=f"at least {added} vCPU(s) hot-plugged into the running QEMU",
        actual="guest not running"
        if marks is None
        else f"{hot} hot-plugged, {len(marks) - hot} present since the guest started",
        hint="QEMU marks vCPUs added at run time; vCPUs written to the definition and picked up by a restart were "
        "there from the start (a cold plug): the lab is about adding them without stopping the guest",
        zh=f"其中 {added} 个是热插入运行中虚拟机的（热添加，而不是改定义后重启）",
        hint_zh="QEMU 会标记运行时加入的 vCPU；写进持久化配置、靠重启才生效的 vCPU 从一开始就在（冷插拔）："
        "本实验要的是不停机添加",
    )

    guest = vm.guest

    def online() -> int | str:
        if guest is None:
            return "guest not running"
        try:
            return guest.online_cpus()
        except (AgentUnavailable, GuestTimeout) as err:
            return f"the guest agent does not answer ({err.message})"

    # A hot-added vCPU reaches the guest kernel, and is onlined there, a moment
    # after libvirt reports it: wait for that rather than report a false red.
    seen = wait_until(online, lambda n: n == p.vcpus, seconds=5 if live_count == p.vcpus else 0)
    yield check(
        "guest-online",
        f"the guest kernel has {p.vcpus} CPUs online",
        seen == p.vcpus,
        expected=p.vcpus,
        actual=seen,
        hint="a hot-added CPU is used only once the guest kernel onlines it (/sys/devices/system/cpu/cpuN/online; "
        "a udev rule does it on a full distribution, the guest agent can do it too)",
        zh=f"客户机内核有 {p.vcpus} 个 CPU 在线",
        hint_zh="热添加的 CPU 只有被客户机内核上线之后才会被使用（/sys/devices/system/cpu/cpuN/online；"
        "完整的发行版里由 udev 规则完成，guest agent 也能做到）",
    )
