"""Checks of the memory lab (seed question 18)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

from kvmlab.errors import GuestTimeout
from kvmlab.grading import Check, check
from kvmlab.host import Host
from kvmlab.labs.memory import MemoryParams
from kvmlab.resources.agent import AgentUnavailable, poll
from kvmlab.resources.domain import Domain

BALLOON_WAIT = 20.0  # the guest moves the balloon 1 MiB at a time; under TCG 128 MiB can take seconds
BALLOON_STILL = 2.0  # a balloon that has not moved for this long has arrived where it is going


def _mib(kib: int | None, absent: str) -> str:
    if kib is None:
        return absent
    return f"{kib // 1024} MiB" if kib % 1024 == 0 else f"{kib / 1024:.1f} MiB"


@dataclass(frozen=True)
class GuestMemory:
    balloon_kib: int
    mem_total_kib: int


def _settle(vm: Domain, target_kib: int) -> None:
    """Let a moving balloon arrive before grading it.

    libvirt's live <currentMemory> follows the balloon as it moves (QEMU's
    BALLOON_CHANGE events), so right after `setmem` it still shows the old
    size. Wait until the balloon is at the target, or has stopped moving.
    """
    deadline = time.monotonic() + BALLOON_WAIT
    last, still_since = None, time.monotonic()
    while time.monotonic() < deadline:
        live = vm.live
        now = (vm.memory_stats().get("actual"), live.current_memory_kib if live else None)
        if now == (target_kib, target_kib):
            return
        if now != last:
            last, still_since = now, time.monotonic()
        elif time.monotonic() - still_since > BALLOON_STILL:
            return  # it rests somewhere else: grade that
        time.sleep(0.2)


def checks(host: Host, p: MemoryParams) -> Iterator[Check]:
    vm = host.domain(p.domain)
    if vm.is_running:
        _settle(vm, p.current_kib)
    live, config = vm.live, vm.config
    config_max = config.memory_kib if config else None
    live_max = live.memory_kib if live else None
    live_current = live.current_memory_kib if live else None
    config_current = config.current_memory_kib if config else None

    yield check(
        "max-config",
        f"the persistent definition allows up to {p.max_mib} MiB",
        config_max == p.max_kib,
        expected=_mib(p.max_kib, ""),
        actual=_mib(config_max, "no persistent definition"),
        hint=f"virsh setmaxmem {p.domain} {p.max_mib}M --config (mind the M: without a unit it is KiB)",
    )
    yield check(
        "max-live",
        f"the running guest was started with that maximum ({p.max_mib} MiB)",
        live_max == p.max_kib,
        expected=_mib(p.max_kib, ""),
        actual=_mib(live_max, "guest not running"),
        hint="the maximum cannot change on a running guest (setmaxmem --live is refused): "
        "virsh shutdown, wait for 'shut off', then virsh start",
    )
    yield check(
        "current-live",
        f"the running guest has {p.current_mib} MiB (its balloon target)",
        live_current == p.current_kib,
        expected=_mib(p.current_kib, ""),
        actual=_mib(live_current, "guest not running"),
        hint=f"virsh setmem {p.domain} {p.current_mib}M --live --config; a bare number is KiB "
        f"(setmem {p.current_mib} would leave the guest {p.current_mib} KiB)",
    )
    yield check(
        "current-config",
        f"the persistent definition starts the guest with {p.current_mib} MiB",
        config_current == p.current_kib,
        expected=_mib(p.current_kib, ""),
        actual=_mib(config_current, "no persistent definition"),
        hint="--live alone, and QEMU's HMP balloon command, change only the running guest: add --config",
    )

    actual = vm.memory_stats().get("actual")
    yield check(
        "balloon-actual",
        f"the balloon leaves the guest {p.current_mib} MiB (dommemstat 'actual')",
        actual == p.current_kib,
        expected=_mib(p.current_kib, ""),
        actual=_mib(actual, "guest not running"),
        hint=f"virsh dommemstat {p.domain} shows 'actual' in KiB; the guest needs its virtio_balloon "
        "driver to move the balloon",
    )

    guest = vm.guest
    held_kib = p.max_kib - p.current_kib  # what the balloon must take from the guest

    def seen() -> GuestMemory | str:
        if guest is None:
            return "guest not running"
        try:
            return GuestMemory(guest.balloon_kib(), guest.meminfo_kib().get("MemTotal", 0))
        except (AgentUnavailable, GuestTimeout) as err:
            # e.g. `setmem VM 384` (KiB): the squeezed guest's OOM killer took the agent.
            return f"the guest agent does not answer ({err.message})"

    def right(m: GuestMemory | str) -> bool:
        return isinstance(m, GuestMemory) and m.balloon_kib == held_kib and m.mem_total_kib <= p.current_kib

    # The guest counts its balloon pages a moment before QEMU's 'actual' shows them.
    mem = poll(seen, right, seconds=3 if actual == p.current_kib else 0)
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
    )
