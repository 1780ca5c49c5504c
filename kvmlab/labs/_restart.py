"""Restarting a lab guest the way a trainee does: `virsh shutdown`, wait, `virsh start`.

A new vCPU or memory *maximum* is read by QEMU only when it starts, so the
vCPU and memory labs need a real power cycle (a guest reboot keeps the same
QEMU process and changes nothing). Not a lab module: the leading underscore
keeps it out of the registry.
"""

from __future__ import annotations

from kvmlab.errors import GuestTimeout
from kvmlab.procs import run
from kvmlab.resources.agent import poll
from kvmlab.toolkit import Toolkit

SHUTDOWN_TIMEOUT = 60.0  # the tiny guest powers off in ~1 s; TCG on a busy host is slower


def shut_down(kit: Toolkit, domain: str, timeout: float = SHUTDOWN_TIMEOUT) -> None:
    """`virsh shutdown` (graceful: the guest agent or the ACPI power button), then wait until it is off.

    With the agent, virsh asks it first; the tiny guest can power off before
    the agent's answer arrives, and virsh then says "domain is not running"
    although the shutdown worked. So virsh's exit status is not the verdict:
    the domain's state is.
    """
    vm = kit.host.domain(domain)
    if not vm.is_running:
        return
    run(["virsh", "-q", "-c", kit.uri, "shutdown", domain], check=False)
    if poll(lambda: vm.is_running, lambda running: not running, seconds=timeout, interval=0.25):
        raise GuestTimeout(
            f"guest {domain} did not shut down within {timeout:.0f} s of `virsh shutdown`",
            f"look at `virsh domstate {domain} --reason`; as a last resort `virsh destroy {domain}` pulls the "
            "plug (a hard power-off: the filesystem then replays its journal)",
        )


def restart(kit: Toolkit, domain: str) -> None:
    """Power-cycle the guest so QEMU starts again with the persistent definition."""
    shut_down(kit, domain)
    kit.virsh("start", domain)
    kit.wait_ready(domain)
