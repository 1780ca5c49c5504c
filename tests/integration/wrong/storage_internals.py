from __future__ import annotations

from collections.abc import Callable

from kvmlab.labs._restart import shut_down
from kvmlab.labs.storage_internals import StorageParams, attach_data, make_thin, trim
from kvmlab.procs import run
from kvmlab.toolkit import Toolkit
from tests.integration.wrong import Wrong

LAB = "storage-internals"


def _params(s: Toolkit) -> StorageParams:
    p = s.params
    assert isinstance(p, StorageParams)
    return p


def _solve(
    cluster_size: int | None = None,
    modes: Callable[[str], str] = lambda mode: mode,
    discard: str | None = "unmap",
    resize_unit: str = "M",
    offline_resize: bool = False,
) -> Callable[[Toolkit], None]:
    def apply(s: Toolkit) -> None:
        p = _params(s)
        make_thin(p, cluster_size)
        for mode in p.prealloc_modes:
            run(["qemu-img", "create", "-q", "-f", "qcow2", "-o", f"preallocation={modes(mode)}",
                 p.prealloc_image(mode), f"{p.prealloc_size_mib}M"])  # fmt: skip
        attach_data(s, p, discard)
        trim(s, p)
        if offline_resize:
            # The guest shut down, the image grown with qemu-img, the guest started again: a resize, not online.
            shut_down(s, p.domain)
            run(["qemu-img", "resize", "-q", "-f", "qcow2", p.data, f"{p.data_resized_mib}M"])
            s.virsh("start", p.domain)
            s.wait_ready(p.domain)
        else:
            s.virsh("blockresize", p.domain, p.data_target, f"{p.data_resized_mib}{resize_unit}")

    return apply


def _swap(a: str, b: str) -> Callable[[str], str]:
    return lambda mode: {a: b, b: a}.get(mode, mode)


WRONG = [
    # No -o cluster_size: QEMU's 64 KiB. The single write still allocates one (64 KiB) cluster.
    Wrong("default-cluster-size", _solve(cluster_size=0), frozenset({"thin-cluster-size"})),
    # falloc and full mixed up: both take the whole size in du, only one of them wrote it.
    Wrong(
        "falloc-and-full-swapped",
        _solve(modes=_swap("falloc", "full")),
        frozenset({"prealloc-falloc", "prealloc-full"}),
    ),
    # off and metadata mixed up: both are tiny in du, only one placed every cluster.
    Wrong(
        "off-and-metadata-swapped",
        _solve(modes=_swap("off", "metadata")),
        frozenset({"prealloc-off", "prealloc-metadata"}),
    ),
    # Attached without discard='unmap': fstrim in the guest succeeds, QEMU ignores it.
    Wrong("attached-without-discard", _solve(discard=None), frozenset({"disk-discard", "discard-reclaimed"})),
    # blockresize VM vdb 256: KiB, not MiB. The disk shrinks under a mounted filesystem.
    Wrong(
        "blockresize-without-a-unit",
        _solve(resize_unit=""),
        frozenset({"disk-resized", "guest-sees-size", "data-intact"}),
    ),
    # Shut down, qemu-img resize, start again: the sizes are right, but the guest was rebooted for it.
    Wrong("resized-offline-with-a-restart", _solve(offline_resize=True), frozenset({"guest-sees-size"})),
]
