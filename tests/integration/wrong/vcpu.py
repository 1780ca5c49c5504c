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


def _crash_then_lab_start(s: Toolkit) -> None:
    """The guest killed and brought back by `lab start`: a fresh QEMU from the persistent definition."""
    s.virsh("destroy", s.params.domain)  # type: ignore[attr-defined]
    s.lab.start(s)


def _all_online(s: Toolkit) -> None:
    """Let the guest's uevent helper online the hot-added vCPU before the next step."""
    guest = s.host.domain(s.params.domain).guest  # type: ignore[attr-defined]
    assert guest is not None
    poll(guest.online_cpus, lambda n: n == s.params.vcpus, seconds=10)  # type: ignore[attr-defined]


def _offline_in_guest(s: Toolkit) -> None:
    """`virsh setvcpus --guest` as typed; retried once if the agent was too busy to take it (a loaded host)."""
    guest = s.host.domain(s.params.domain).guest  # type: ignore[attr-defined]
    assert guest is not None
    for _ in range(2):
        _virsh("setvcpus", "{domain}", "{start_vcpus}", "--guest")(s)
        if poll(guest.online_cpus, lambda n: n == s.params.start_vcpus, seconds=5) == s.params.start_vcpus:  # type: ignore[attr-defined]
            return
    raise AssertionError("the guest agent did not take the vCPUs offline: the wrong solution was not applied")


def _steps(*steps: Step) -> Step:
    def apply(s: Toolkit) -> None:
        for step in steps:
            step(s)

    return apply


RAISE_MAX = _virsh("setvcpus", "{domain}", "{max_vcpus}", "--maximum", "--config")
NOT_HOT = {"vcpus-live", "vcpus-hotplugged", "guest-online"}  # the running guest never got the vCPUs

WRONG = [
    Wrong(
        "live-only",
        _steps(RAISE_MAX, _restart, _virsh("setvcpus", "{domain}", "{vcpus}", "--live")),
        frozenset({"vcpus-config"}),
    ),
    Wrong(
        "config-only",
        _steps(RAISE_MAX, _restart, _virsh("setvcpus", "{domain}", "{vcpus}", "--config")),
        frozenset(NOT_HOT),
    ),
    # The maximum is raised in the config but the guest is never power-cycled:
    # setvcpus --live --config is refused as a whole (2 > the live maximum of 1).
    Wrong(
        "maximum-not-applied-without-restart",
        _steps(RAISE_MAX, _virsh("setvcpus", "{domain}", "{vcpus}", "--live", "--config")),
        frozenset({"max-live", "vcpus-config"} | NOT_HOT),
    ),
    # The seed's answer: virsh rejects --persistent, so nothing changes at all.
    Wrong(
        "seed-persistent-option",
        _steps(RAISE_MAX, _restart, _virsh("setvcpus", "{domain}", "{vcpus}", "--live", "--config", "--persistent")),
        frozenset({"vcpus-config"} | NOT_HOT),
    ),
    # Hot-added, then taken offline again inside the guest (not an unplug: QEMU keeps the vCPU).
    Wrong(
        "offline-in-guest",
        _steps(
            RAISE_MAX,
            _restart,
            _virsh("setvcpus", "{domain}", "{vcpus}", "--live", "--config"),
            _all_online,
            _offline_in_guest,
        ),
        frozenset({"guest-online"}),
    ),
    # Maximum and count both written to the definition, then one restart: the guest has the vCPUs,
    # but QEMU started with them (a cold plug), nothing was hot-added.
    Wrong(
        "cold-plug-by-restart",
        _steps(RAISE_MAX, _virsh("setvcpus", "{domain}", "{vcpus}", "--config"), _restart),
        frozenset({"vcpus-hotplugged"}),
    ),
    Wrong(
        "cold-plug-by-crash-and-lab-start",
        _steps(RAISE_MAX, _virsh("setvcpus", "{domain}", "{vcpus}", "--config"), _crash_then_lab_start),
        frozenset({"vcpus-hotplugged"}),
    ),
]
