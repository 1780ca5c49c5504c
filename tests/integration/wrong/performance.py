from __future__ import annotations

from collections.abc import Callable

from kvmlab import accel
from kvmlab.labs.performance import PerfParams, bench, tune, write_results
from kvmlab.procs import run
from kvmlab.resources.cpus import online_cpus
from kvmlab.toolkit import Toolkit
from tests.integration.wrong import Wrong

LAB = "performance"


def _params(s: Toolkit) -> PerfParams:
    p = s.params
    assert isinstance(p, PerfParams)
    return p


def _solve(
    runs: tuple[str, ...] | None = None,
    queues: Callable[[PerfParams], int] | None = None,
    disk_iothread: int | None = -1,
    pin_to: tuple[str, ...] = ("--live", "--config"),
) -> Callable[[Toolkit], None]:
    def apply(s: Toolkit) -> None:
        p = _params(s)
        write_results(p, [bench(p, *spec.split(":")) for spec in runs or p.bench_runs])
        tune(s, p, queues=queues(p) if queues else None, disk_iothread=disk_iothread, pin_to=pin_to)

    return apply


def _pin_to_missing_cpu(s: Toolkit) -> None:
    """Right live, then "fixed" for the next boot with a CPU this host does not have.

    virsh vcpupin refuses a CPU beyond the host's count, but an edited
    definition (virt-xml, virsh edit) is accepted, and the next start fails.
    """
    _solve()(s)
    p = _params(s)
    missing = max(online_cpus()) + 5
    run(["virt-xml", "--connect", p.uri, p.domain, "--edit", "--cputune", f"vcpupin1.vcpu=1,vcpupin1.cpuset={missing}"])


WRONG = [
    Wrong(
        "bench-missing-qcow2",
        _solve(runs=("raw:off", "raw:full")),
        frozenset({"bench-raw-qcow2", "bench-preallocation"}),
    ),
    Wrong("vcpupin-config-to-missing-cpu", _pin_to_missing_cpu, frozenset({"vcpupin"})),
    Wrong("scsi-queues-exceed-vcpus", _solve(queues=lambda p: p.vcpus * 2), frozenset({"scsi-multiqueue"})),
    Wrong("data-disk-not-on-the-iothread", _solve(disk_iothread=None), frozenset({"iothreads"})),
]
if accel.decide().accel != "kvm":  # under KVM the host-passthrough cold restart applies the pins anyway
    # Pinned in the definition only: the running guest's threads still run anywhere until the next start.
    WRONG.append(Wrong("pinned-in-the-definition-only", _solve(pin_to=("--config",)), frozenset({"pins-live"})))
