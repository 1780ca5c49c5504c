from __future__ import annotations

from collections.abc import Callable

from kvmlab.labs._restart import restart
from kvmlab.procs import run
from kvmlab.toolkit import Toolkit
from tests.integration.wrong import Wrong

LAB = "hotadd-disk"


def _disk(
    fmt: str = "qcow2",
    size_delta: int = 0,
    target: str = "vdb",
    subdriver: str | None = "same",
    flags: tuple[str, ...] = ("--live", "--config"),
) -> Callable[[Toolkit], None]:
    def apply(s: Toolkit) -> None:
        p = s.params
        size = f"{p.size_gib + size_delta}G"  # type: ignore[attr-defined]
        run(["qemu-img", "create", "-f", fmt, p.image, size])  # type: ignore[attr-defined]
        _attach(s, target, subdriver if subdriver != "same" else fmt, flags)

    return apply


def _attach(s: Toolkit, target: str, subdriver: str | None, flags: tuple[str, ...]) -> None:
    p = s.params
    driver = ["--driver", "qemu", "--subdriver", subdriver] if subdriver else []
    s.virsh("attach-disk", p.domain, p.image, target, *driver, "--targetbus", "virtio", *flags)  # type: ignore[attr-defined]


def _cold_plug(s: Toolkit) -> None:
    """The disk written to the definition only, then the guest restarted: it has the disk, cold-plugged."""
    _disk(flags=("--config",))(s)
    restart(s, s.params.domain)  # type: ignore[attr-defined]


def _crash_then_start(s: Toolkit) -> None:
    """The definition edited, then the guest killed and brought back by `lab start` (a fresh QEMU)."""
    _disk(flags=("--config",))(s)
    s.virsh("destroy", s.params.domain)  # type: ignore[attr-defined]
    s.lab.start(s)


def _format_given_to_one_view_only(s: Toolkit) -> None:
    """--subdriver for the running guest, but the definition written without it (read as raw after a boot)."""
    p = s.params
    run(["qemu-img", "create", "-f", "qcow2", p.image, f"{p.size_gib}G"])  # type: ignore[attr-defined]
    _attach(s, "vdb", "qcow2", ("--live",))
    _attach(s, "vdb", None, ("--config",))


WRONG = [
    Wrong("live-only", _disk(flags=("--live",)), frozenset({"disk-config"})),
    Wrong("config-only", _disk(flags=("--config",)), frozenset({"disk-live", "disk-hotplugged", "guest-sees-disk"})),
    Wrong("raw-instead-of-qcow2", _disk(fmt="raw"), frozenset({"image-format", "disk-driver"})),
    Wrong("wrong-size", _disk(size_delta=1), frozenset({"image-size", "guest-sees-disk"})),
    Wrong(
        "wrong-target",
        _disk(target="vdc"),
        frozenset({"disk-live", "disk-config", "disk-driver", "disk-hotplugged"}),
    ),
    Wrong("qcow2-attached-without-subdriver", _disk(subdriver=None), frozenset({"disk-driver", "guest-sees-disk"})),
    Wrong("cold-plug-by-restart", _cold_plug, frozenset({"disk-hotplugged"})),
    Wrong("cold-plug-by-crash-and-lab-start", _crash_then_start, frozenset({"disk-hotplugged"})),
    Wrong("format-given-to-the-running-guest-only", _format_given_to_one_view_only, frozenset({"disk-driver"})),
]
