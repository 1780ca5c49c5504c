from __future__ import annotations

from collections.abc import Callable

from kvmlab.labs._restart import shut_down
from kvmlab.procs import run
from kvmlab.toolkit import Toolkit
from tests.integration.wrong import Wrong

LAB = "memory"

Step = Callable[[Toolkit], None]


def _virsh(*args: str) -> Step:
    """A virsh command as typed; a refused one changes nothing (as for the trainee)."""

    def apply(s: Toolkit) -> None:
        argv = [a.format(**s.params.as_dict()) for a in args]
        run(["virsh", "-q", "-c", s.uri, *argv], check=False)

    return apply


def _restart(s: Toolkit) -> None:
    """virsh shutdown, wait, virsh start: a start QEMU refuses (512 KiB of RAM) leaves the guest off."""
    domain: str = s.params.domain  # type: ignore[attr-defined]
    shut_down(s, domain)
    if run(["virsh", "-q", "-c", s.uri, "start", domain], check=False).returncode == 0:
        s.wait_ready(domain)


def _crash_then_lab_start(s: Toolkit) -> None:
    """The guest killed and brought back by `lab start`: a fresh QEMU from the persistent definition."""
    s.virsh("destroy", s.params.domain)  # type: ignore[attr-defined]
    s.lab.start(s)


def _steps(*steps: Step) -> Step:
    def apply(s: Toolkit) -> None:
        for step in steps:
            step(s)

    return apply


RAISE_MAX = _steps(_virsh("setmaxmem", "{domain}", "{max_mib}M", "--config"), _restart)
# The running guest never got the memory (balloon-live: its balloon gave nothing back since it booted).
GUEST_SIDE = {"current-live", "balloon-actual", "balloon-live", "guest-memory"}
# Maximum and size both written to the definition, then a fresh QEMU: the guest has the size, but it booted
# with it, and nothing was given to it while it ran.
COLD = (
    _virsh("setmaxmem", "{domain}", "{max_mib}M", "--config"),
    _virsh("setmem", "{domain}", "{current_mib}M", "--config"),
)

WRONG = [
    Wrong(
        "live-only",
        _steps(RAISE_MAX, _virsh("setmem", "{domain}", "{current_mib}M", "--live")),
        frozenset({"current-config"}),
    ),
    Wrong(
        "config-only",
        _steps(RAISE_MAX, _virsh("setmem", "{domain}", "{current_mib}M", "--config")),
        frozenset(GUEST_SIDE),
    ),
    # The seed's answer: HMP's balloon (MiB) moves the running guest only.
    Wrong(
        "seed-hmp-balloon-only",
        _steps(RAISE_MAX, _virsh("qemu-monitor-command", "{domain}", "--hmp", "--cmd", "balloon", "{current_mib}")),
        frozenset({"current-config"}),
    ),
    # Maximum raised in the config, guest never power-cycled: setmem --live --config is refused as a whole.
    Wrong(
        "maximum-not-applied-without-restart",
        _steps(
            _virsh("setmaxmem", "{domain}", "{max_mib}M", "--config"),
            _virsh("setmem", "{domain}", "{current_mib}M", "--live", "--config"),
        ),
        frozenset({"max-live", "current-config"} | GUEST_SIDE),
    ),
    # The classic trap: a bare number is KiB. The balloon squeezes the guest to almost nothing.
    Wrong(
        "setmem-without-unit",
        _steps(RAISE_MAX, _virsh("setmem", "{domain}", "{current_mib}", "--live", "--config")),
        frozenset({"current-config"} | GUEST_SIDE),
    ),
    # 512 KiB of RAM: libvirt accepts it (and lowers <currentMemory> to match), QEMU then refuses to start.
    Wrong(
        "maximum-without-unit",
        _steps(_virsh("setmaxmem", "{domain}", "{max_mib}", "--config"), _restart),
        frozenset({"max-config", "max-live", "current-config"} | GUEST_SIDE),
    ),
    Wrong("cold-plug-by-restart", _steps(*COLD, _restart), frozenset({"balloon-live"})),
    Wrong("cold-plug-by-crash-and-lab-start", _steps(*COLD, _crash_then_lab_start), frozenset({"balloon-live"})),
]
