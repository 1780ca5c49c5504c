"""Checks of the vcpu lab (seed question 17)."""

from __future__ import annotations

from collections.abc import Iterator

from kvmlab.errors import GuestTimeout
from kvmlab.grading import Check, check
from kvmlab.host import Host
from kvmlab.labs.vcpu import VcpuParams
from kvmlab.resources.agent import AgentUnavailable, poll


def _shown(n: int | None, absent: str) -> str:
    return absent if n is None else str(n)


def checks(host: Host, p: VcpuParams) -> Iterator[Check]:
    vm = host.domain(p.domain)
    live, config = vm.live, vm.config
    config_max = config.vcpu_max if config else None
    live_max = live.vcpu_max if live else None
    live_count = live.vcpu_current if live else None
    config_count = config.vcpu_current if config else None

    yield check(
        "max-config",
        f"the persistent definition allows up to {p.max_vcpus} vCPUs",
        config_max == p.max_vcpus,
        expected=p.max_vcpus,
        actual=_shown(config_max, "no persistent definition"),
        hint=f"virsh setvcpus {p.domain} {p.max_vcpus} --maximum --config "
        "(the maximum exists only in the config: --maximum needs --config)",
    )
    yield check(
        "max-live",
        f"the running guest was started with that maximum ({p.max_vcpus})",
        live_max == p.max_vcpus,
        expected=p.max_vcpus,
        actual=_shown(live_max, "guest not running"),
        hint="QEMU reads the maximum only when it starts: virsh shutdown, wait for 'shut off', "
        "then virsh start (a reboot inside the guest is not enough)",
    )
    yield check(
        "vcpus-live",
        f"the running guest has {p.vcpus} vCPUs",
        live_count == p.vcpus,
        expected=p.vcpus,
        actual=_shown(live_count, "guest not running"),
        hint=f"virsh setvcpus {p.domain} {p.vcpus} --live --config; the live count cannot exceed the "
        "live maximum, and lowering it live (unplug) is not part of this lab",
    )
    yield check(
        "vcpus-config",
        f"the persistent definition starts the guest with {p.vcpus} vCPUs",
        config_count == p.vcpus,
        expected=p.vcpus,
        actual=_shown(config_count, "no persistent definition"),
        hint="--live alone is lost at the next boot; --config is the persistent half "
        "(virsh has no --persistent option for setvcpus)",
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
    seen = poll(online, lambda n: n == p.vcpus, seconds=5 if live_count == p.vcpus else 0)
    yield check(
        "guest-online",
        f"the guest kernel has {p.vcpus} CPUs online",
        seen == p.vcpus,
        expected=p.vcpus,
        actual=seen,
        hint=f"a hot-added CPU must be onlined in the guest: virsh setvcpus {p.domain} {p.vcpus} --guest, "
        "or echo 1 > /sys/devices/system/cpu/cpuN/online inside it (udev rules do it on a full distribution)",
    )
