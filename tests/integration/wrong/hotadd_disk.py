from __future__ import annotations

from collections.abc import Callable

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
        driver = ["--driver", "qemu", "--subdriver", fmt if subdriver == "same" else subdriver] if subdriver else []
        s.virsh("attach-disk", p.domain, p.image, target, *driver, "--targetbus", "virtio", *flags)  # type: ignore[attr-defined]

    return apply


WRONG = [
    Wrong("live-only", _disk(flags=("--live",)), frozenset({"disk-config"})),
    Wrong("config-only", _disk(flags=("--config",)), frozenset({"disk-live", "disk-driver", "guest-sees-disk"})),
    Wrong("raw-instead-of-qcow2", _disk(fmt="raw"), frozenset({"image-format", "disk-driver"})),
    Wrong("wrong-size", _disk(size_delta=1), frozenset({"image-size", "guest-sees-disk"})),
    Wrong("wrong-target", _disk(target="vdc"), frozenset({"disk-live", "disk-config", "disk-driver"})),
    Wrong("qcow2-attached-without-subdriver", _disk(subdriver=None), frozenset({"disk-driver", "guest-sees-disk"})),
]
