from __future__ import annotations

from collections.abc import Callable

from kvmlab.labs._restart import restart
from kvmlab.procs import run
from kvmlab.resources.agent import poll
from kvmlab.toolkit import Toolkit
from tests.integration.wrong import Wrong

LAB = "vcpu"

Step = Callable[[Toolkit], None]


def _virsh(*args: str) -> Step:
    """A virsh command as typed; a refused one changes nothing (as for the trainee)."""

    def apply(s: Toolkit) -> None:
        argv = [a.format(**s.params.as_dict()) for a in args]
        run(["virsh", "-q", "-c", s.uri, *argv], check=False)

    return apply


def _restart(s: Toolkit) -> None:
    restart(s, s.params.domain)  # type: ignore[attr-defined]


def _all_online(s: Toolkit) -> None:
    """Let the guest's uevent helper online the hot-added vCPU before the next step."""
    guest = s.host.domain(s.params.domain).guest  # type: ignore[attr-defined]
    assert guest is not None
    poll(guest.online_cpus, lambda n: n == s.params.vcpus, seconds=10)  # type: ignore[attr-defined]


def _steps(*steps: Step) -> Step:
    def apply(s: Toolkit) -> None:
        for step in steps:
            step(s)

    return apply


RAISE_MAX = _virsh("setvcpus", "{domain}", "{max_vcpus}", "--maximum", "--config")

WRONG = [
    Wrong(
        "live-only",
        _steps(RAISE_MAX, _restart, _virsh("setvcpus", "{domain}", "{vcpus}", "--live")),
        frozenset({"vcpus-config"}),
    ),
    Wrong(
        "config-only",
        _steps(RAISE_MAX, _restart, _virsh("setvcpus", "{domain}", "{vcpus}", "--config")),
        frozenset({"vcpus-live", "guest-online"}),
    ),
    # The maximum is raised in the config but the guest is never power-cycled:
    # --config works, --live is refused (2 > 1).
    Wrong(
        "maximum-not-applied-without-restart",
        _steps(RAISE_MAX, _virsh("setvcpus", "{domain}", "{vcpus}", "--live", "--config")),
        frozenset({"max-live", "vcpus-live", "vcpus-config", "guest-online"}),
    ),
    # The seed's answer: virsh rejects --persistent, so nothing changes at all.
    Wrong(
        "seed-persistent-option",
        _steps(RAISE_MAX, _restart, _virsh("setvcpus", "{domain}", "{vcpus}", "--live", "--config", "--persistent")),
        frozenset({"vcpus-live", "vcpus-config", "guest-online"}),
    ),
    # Hot-added, then taken offline again inside the guest (not an unplug: QEMU keeps the vCPU).
    Wrong(
        "offline-in-guest",
        _steps(
            RAISE_MAX,
            _restart,
            _virsh("setvcpus", "{domain}", "{vcpus}", "--live", "--config"),
            _all_online,
            _virsh("setvcpus", "{domain}", "{start_vcpus}", "--guest"),
        ),
        frozenset({"guest-online"}),
    ),
]
