"""Lab: KVM performance testing and tuning (seed question 21).

Measure first: ``qemu-img bench`` on raw and qcow2 images with each
preallocation mode, figures recorded in a JSON file. Then tune a running
two-vCPU guest, live and persistent: vCPU and emulator pinning within this
host's CPUs, an IOThread, a data disk with cache=none/io=native on that
IOThread, a multiqueue virtio-scsi controller. Hugepages are defined in a
second guest that is never started: backing a running guest with them needs
host huge pages reserved (vm.nr_hugepages), and kvmlab does not change that
on a shared host. host-passthrough is asked only where KVM works: under TCG
the guest CPU is emulated and libvirt refuses the mode.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kvmlab.errors import CommandFailed
from kvmlab.labs.base import Lab, Params, lab
from kvmlab.procs import run
from kvmlab.toolkit import Toolkit

# format:preallocation; qcow2 with every mode it has (raw has no "metadata": it has none)
BENCH_RUNS = ("raw:off", "raw:full", "qcow2:off", "qcow2:metadata", "qcow2:falloc", "qcow2:full")
_COMPLETED = re.compile(r"Run completed in ([0-9.]+) seconds")


@dataclass(frozen=True)
class PerfParams(Params):
    domain: str  # the running guest to tune (2 vCPUs where the host has 2 CPUs)
    console_log: str
    accel: str  # kvm or tcg: host-passthrough only makes sense under kvm
    host_cpus: str  # this host's online CPUs, e.g. 0-1
    vcpus: int
    vcpu_pins: tuple[str, ...]  # suggested cpuset for vCPU 0, 1, ...
    emulator_cpuset: str
    iothread: int  # the IOThread id to add and put the data disk on
    data_disk: str
    data_disk_xml: str
    data_target: str
    data_size_gib: int
    disk_cache: str  # none where the lab directory's filesystem does O_DIRECT, else writeback
    disk_io: str  # native with cache=none, else threads
    scsi_queues: int
    scsi_xml: str
    huge_domain: str  # defined with <memoryBacking><hugepages/>, never started
    huge_xml: str
    huge_page_kib: int
    bench_count: int
    bench_block: str
    bench_image_size: str
    bench_runs: tuple[str, ...]  # "format:preallocation"
    results: str  # JSON file of the bench figures
    uri: str

    def bench_image(self, fmt: str, preallocation: str) -> str:
        return str(Path(self.results).parent / f"bench-{fmt}-{preallocation}.img")


def pinning(cpus: list[int], vcpus: int) -> tuple[tuple[str, ...], str]:
    """vCPU i -> one host CPU each; the emulator on a CPU of its own when one is left.

    With more CPUs than vCPUs, CPU 0 (where the host's own work lands) is kept
    for the emulator threads and the vCPUs get the others; with as many CPUs
    as vCPUs (2 and 2 here) they share, and the notebook says so.
    """
    spare = cpus[1:] if len(cpus) > vcpus else cpus
    return tuple(str(spare[i % len(spare)]) for i in range(vcpus)), str(cpus[0])


def completed_seconds(output: str) -> float:
    """The figure ``qemu-img bench`` ends with: ``Run completed in 0.815 seconds.``"""
    match = _COMPLETED.search(output)
    if match is None:
        raise CommandFailed(
            "qemu-img bench printed no 'Run completed in N seconds' line", f"its output was: {output.strip()[-300:]}"
        )
    return float(match.group(1))


def bench(p: PerfParams, fmt: str, preallocation: str) -> dict[str, Any]:
    """Create a fresh image and write to it with qemu-img bench (a used image would measure nothing new)."""
    image = p.bench_image(fmt, preallocation)
    run(["qemu-img", "create", "-q", "-f", fmt, "-o", f"preallocation={preallocation}", image, p.bench_image_size])
    argv = ["qemu-img", "bench", "-w", "-c", str(p.bench_count), "-s", p.bench_block]
    argv += ["-t", p.disk_cache, "-i", p.disk_io, "-f", fmt, image]
    seconds = completed_seconds(run(argv, timeout=300).stdout)
    return {"format": fmt, "preallocation": preallocation, "seconds": seconds, "image": image}


def write_results(p: PerfParams, runs: list[dict[str, Any]]) -> None:
    doc = {"count": p.bench_count, "block": p.bench_block, "cache": p.disk_cache, "io": p.disk_io, "runs": runs}
    Path(p.results).write_text(json.dumps(doc, indent=1) + "\n")


def disk_xml(p: PerfParams, cache: str | None = None, io: str | None = None, iothread: int | None = -1) -> str:
    """The data disk: qcow2, cache/io as the host allows, on the IOThread (``iothread=None`` leaves it off)."""
    disk = ET.Element("disk", type="file", device="disk")
    driver = {"name": "qemu", "type": "qcow2", "cache": cache or p.disk_cache, "io": io or p.disk_io}
    if iothread is not None:
        driver["iothread"] = str(p.iothread if iothread == -1 else iothread)
    ET.SubElement(disk, "driver", driver)
    ET.SubElement(disk, "source", file=p.data_disk)
    ET.SubElement(disk, "target", dev=p.data_target, bus="virtio")
    ET.indent(disk)
    return ET.tostring(disk, encoding="unicode")


def scsi_xml(queues: int) -> str:
    controller = ET.Element("controller", type="scsi", model="virtio-scsi")
    ET.SubElement(controller, "driver", queues=str(queues))
    ET.indent(controller)
    return ET.tostring(controller, encoding="unicode")


def hugepage_guest_xml(p: PerfParams, domain_type: str) -> str:
    """A small guest backed by huge pages: defined, never started here."""
    dom = ET.Element("domain", type=domain_type)
    ET.SubElement(dom, "name").text = p.huge_domain
    ET.SubElement(dom, "memory", unit="MiB").text = "256"
    backing = ET.SubElement(dom, "memoryBacking")
    pages = ET.SubElement(backing, "hugepages")
    ET.SubElement(pages, "page", size=str(p.huge_page_kib), unit="KiB")
    ET.SubElement(dom, "vcpu").text = "1"
    os_el = ET.SubElement(dom, "os")
    ET.SubElement(os_el, "type", arch="x86_64", machine="pc").text = "hvm"
    ET.indent(dom)
    return ET.tostring(dom, encoding="unicode")


@lab("performance", "Performance: qemu-img bench, pinning, IOThreads, cache/io, multiqueue, hugepages", seed=(21,))
class Performance(Lab):
    def params(self, kit: Toolkit) -> PerfParams:
        host = kit.host
        cpus = sorted(host.cpus.online)
        vcpus = min(2, len(cpus))
        pins, emulator = pinning(cpus, vcpus)
        o_direct = host.filesystem(kit.lab_dir).supports_o_direct
        domain = kit.name("vm-perf")
        return PerfParams(
            domain=domain,
            console_log=str(kit.path(f"{domain}.console.log")),
            accel=kit.verdict.accel,
            host_cpus=host.cpus.format(cpus),
            vcpus=vcpus,
            vcpu_pins=pins,
            emulator_cpuset=emulator,
            iothread=1,
            data_disk=str(kit.path("data.qcow2")),
            data_disk_xml=str(kit.path("data-disk.xml")),
            data_target="vdb",
            data_size_gib=1,
            disk_cache="none" if o_direct else "writeback",
            disk_io="native" if o_direct else "threads",
            scsi_queues=vcpus,
            scsi_xml=str(kit.path("virtio-scsi.xml")),
            huge_domain=kit.name("vm-huge"),
            huge_xml=str(kit.path("vm-huge.xml")),
            huge_page_kib=host.hugepages.default_size_kib or 2048,
            bench_count=20000,
            bench_block="4k",
            bench_image_size="128M",
            bench_runs=BENCH_RUNS,
            results=str(kit.path("bench.json")),
            uri=kit.uri,
        )

    def start(self, kit: Toolkit) -> None:
        p = self.params(kit)
        kit.lab_guest(kit.guest_spec("vm-perf", vcpus=p.vcpus))
        for path in (p.data_disk, p.data_disk_xml, p.scsi_xml, p.huge_xml, p.results):
            kit.expect("file", path)
        for spec in p.bench_runs:
            kit.expect("file", p.bench_image(*spec.split(":")))
        kit.expect("domain", p.huge_domain)

    def solve(self, kit: Toolkit) -> None:
        p = self.params(kit)
        write_results(p, [bench(p, *spec.split(":")) for spec in p.bench_runs])
        tune(kit, p)


def tune(
    kit: Toolkit,
    p: PerfParams,
    pins: tuple[str, ...] | None = None,
    queues: int | None = None,
    disk_iothread: int | None = -1,
    pin_to: tuple[str, ...] = ("--live", "--config"),
) -> None:
    """The reference tuning, live and persistent; the arguments exist for the known-wrong solutions."""
    for vcpu, cpuset in enumerate(pins or p.vcpu_pins):
        kit.virsh("vcpupin", p.domain, str(vcpu), cpuset, *pin_to)
    kit.virsh("emulatorpin", p.domain, p.emulator_cpuset, *pin_to)
    kit.virsh("iothreadadd", p.domain, str(p.iothread), "--live", "--config")
    run(["qemu-img", "create", "-q", "-f", "qcow2", "-o", "preallocation=metadata", p.data_disk, f"{p.data_size_gib}G"])
    Path(p.data_disk_xml).write_text(disk_xml(p, iothread=disk_iothread) + "\n")
    kit.virsh("attach-device", p.domain, p.data_disk_xml, "--live", "--config")
    Path(p.scsi_xml).write_text(scsi_xml(queues or p.scsi_queues) + "\n")
    kit.virsh("attach-device", p.domain, p.scsi_xml, "--live", "--config")
    Path(p.huge_xml).write_text(hugepage_guest_xml(p, kit.verdict.domain_type) + "\n")
    kit.virsh("define", p.huge_xml)
    if p.accel == "kvm":
        # host-passthrough changes the CPU the guest boots with: persistent, then a cold restart.
        run(["virt-xml", "--connect", p.uri, p.domain, "--edit", "--cpu", "host-passthrough"])
        kit.virsh("destroy", p.domain)
        kit.boot(kit.connection.conn.lookupByName(p.domain), Path(p.console_log))
