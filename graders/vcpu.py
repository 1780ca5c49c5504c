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
    )


@step(
    2,
    "Power-cycle the guest so QEMU starts with the new maximum",
    hints=(
        "QEMU creates the slots for hot-pluggable vCPUs when it starts: a new maximum takes effect only in a new "
        "QEMU process. A reboot inside the guest keeps the same process.",
        "virsh shutdown DOMAIN, wait until virsh domstate says shut off, then virsh start DOMAIN",
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
    )
    yield check(
        "vcpus-config",
        f"the persistent definition starts the guest with {p.vcpus} vCPUs",
        config_count == p.vcpus,
        expected=p.vcpus,
        actual=_shown(config_count, "no persistent definition"),
        hint="a change made only to the running guest is gone after the next boot: the persistent definition is a "
        "separate copy (and virsh has no --persistent option for setvcpus)",
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
    )
