"""Checks of the performance lab (seed question 21)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import libvirt

from kvmlab import accel
from kvmlab.grading import Check, check
from kvmlab.host import Host
from kvmlab.labs.performance import PREALLOCATION, PerfParams, plausible_seconds
from kvmlab.resources import hugepages
from kvmlab.resources.cpus import format_cpuset, online_cpus, parse_cpuset, thread_affinity, thread_group
from kvmlab.resources.domain import Domain
from kvmlab.resources.filesystem import nearest_existing, supports_o_direct
from kvmlab.resources.trainee_files import read_json_object
from kvmlab.xmlviews import ControllerXML, DiskXML, DomainXML

CACHE_MODES = ("none", "writethrough", "writeback", "directsync", "unsafe", "default")
IO_MODES = ("native", "threads", "io_uring")
DIRECT_CACHE = ("none", "directsync")  # the cache modes that open the image with O_DIRECT


def _results(path: str) -> tuple[dict[str, Any] | None, str]:
    data, why = read_json_object(path)
    if data is None:
        return None, why
    if not isinstance(data.get("runs"), list):
        return None, 'not an object with a "runs" list'
    return data, ""


def _runs(data: dict[str, Any] | None) -> list[dict[str, Any]]:
    return [r for r in (data or {}).get("runs", []) if isinstance(r, dict)]


def _run_ok(host: Host, run: dict[str, Any], lab_dir: Path) -> bool:
    """A figure, and the image it was measured on is there, in the lab's directory, in the format the row claims."""
    image = run.get("image")
    return (
        plausible_seconds(run.get("seconds"))
        and isinstance(image, str)
        and Path(image).parent == lab_dir
        and host.image(image).format == run.get("format")
    )


def _describe_runs(runs: list[dict[str, Any]], why: str) -> str:
    if not runs:
        return why or "no runs"
    return "; ".join(f"{r.get('format')}/{r.get('preallocation')}: {r.get('seconds')} s" for r in runs)


def _cpuset(text: str | None) -> set[int] | None:
    """A cpuset from XML, or None when it is missing or not a CPU list."""
    if not text:
        return None
    try:
        return parse_cpuset(text)
    except ValueError:
        return None


def _valid_pin(text: str | None, host_cpus: set[int]) -> bool:
    cpus = _cpuset(text)
    return cpus is not None and bool(cpus) and cpus <= host_cpus


def _pins(xml: DomainXML | None) -> str:
    if xml is None:
        return "not defined"
    pins = xml.vcpupins()
    return ", ".join(f"vCPU {v} -> {c}" for v, c in sorted(pins.items())) or "no <vcpupin>"


def _data_disk(xml: DomainXML | None, target: str) -> DiskXML | None:
    return xml.disk(target) if xml else None


def _scsi(xml: DomainXML | None) -> ControllerXML | None:
    return next((c for c in xml.controllers("scsi") if c.model == "virtio-scsi"), None) if xml else None


def _qmp(vm: Domain, command: str, arguments: dict[str, Any] | None = None) -> Any:
    """QEMU's answer, or None when it has none (no such device path, guest stopped meanwhile)."""
    try:
        return vm.qmp(command, arguments)
    except libvirt.libvirtError:
        return None


def _vcpu_threads(vm: Domain) -> dict[int, int]:
    """vCPU index -> host thread id, from QEMU itself (query-cpus-fast)."""
    cpus = _qmp(vm, "query-cpus-fast") or []
    return {int(c["cpu-index"]): int(c["thread-id"]) for c in cpus if "thread-id" in c}


def _live_pins(vm: Domain, live: DomainXML | None, host_cpus: set[int]) -> tuple[bool, str]:
    """Every vCPU thread and the emulator really run where the live XML pins them, all within the host's CPUs."""
    if live is None:
        return False, f"not running ({vm.state})"
    threads = _vcpu_threads(vm)
    pins, notes, ok = live.vcpupins(), [], True
    for vcpu in range(live.vcpu_current or 0):
        asked = _cpuset(pins.get(vcpu))
        real = thread_affinity(threads[vcpu]) if vcpu in threads else None
        ok = ok and asked is not None and real == asked and asked <= host_cpus
        notes.append(f"vCPU {vcpu}: pinned {pins.get(vcpu, 'nowhere')}, runs on {format_cpuset(real or ())}")
    main = thread_group(next(iter(threads.values()))) if threads else None
    asked = _cpuset(live.emulatorpin())
    real = thread_affinity(main) if main else None
    ok = ok and asked is not None and real == asked and asked <= host_cpus
    notes.append(f"emulator: pinned {live.emulatorpin() or 'nowhere'}, runs on {format_cpuset(real or ())}")
    return ok, "; ".join(notes)


def _disk_desc(disk: DiskXML | None) -> str:
    if disk is None:
        return "no such disk"
    return f"cache={disk.cache or 'default'} io={disk.io or 'default'} iothread={disk.iothread or 'none'}"


def checks(host: Host, p: PerfParams) -> Iterator[Check]:
    data, why = _results(p.results)
    runs = _runs(data)
    count_ok = data is not None and data.get("count") == p.bench_count
    good = {(r.get("format"), r.get("preallocation")) for r in runs if _run_ok(host, r, Path(p.results).parent)}
    formats = {fmt for fmt, _ in good}
    yield check(
        "bench-raw-qcow2",
        f"bench figures for raw and qcow2 ({p.bench_count} x {p.bench_block} writes) are recorded",
        count_ok and {"raw", "qcow2"} <= formats,
        expected=f"{p.results}: count {p.bench_count}, seconds for raw and qcow2, images in the lab directory",
        actual=f"count {data.get('count') if data else None}; {_describe_runs(runs, why)}",
        hint="run qemu-img bench on a fresh raw and a fresh qcow2 image and record 'Run completed in N seconds'",
    )
    modes = {("qcow2", mode) for mode in PREALLOCATION["qcow2"]}
    yield check(
        "bench-preallocation",
        "qcow2 was measured with each preallocation mode (off, metadata, falloc, full)",
        count_ok and modes <= good,
        expected="qcow2 with " + ", ".join(PREALLOCATION["qcow2"]),
        actual="qcow2 with " + (", ".join(sorted(str(m) for f, m in good if f == "qcow2")) or "nothing"),
        hint="qemu-img create -f qcow2 -o preallocation=MODE IMG SIZE, then bench each on its own fresh image",
    )

    host_cpus = set(online_cpus())
    host_cpu_text = format_cpuset(host_cpus)
    vm = host.domain(p.domain)
    config, live = vm.config, vm.live
    vcpus = (config.vcpu_max or 0) if config else 0
    pins = config.vcpupins() if config else {}
    yield check(
        "vcpupin",
        f"every vCPU is pinned (persistent) to CPUs this host has ({host_cpu_text})",
        config is not None and vcpus > 0 and all(_valid_pin(pins.get(v), host_cpus) for v in range(vcpus)),
        expected=f"vCPU 0..{vcpus - 1} each -> a subset of {host_cpu_text}",
        actual=_pins(config),
        hint=f"virsh vcpupin {p.domain} VCPU CPULIST --live --config, with CPUs from `virsh nodeinfo` / lscpu",
    )
    emulator = config.emulatorpin() if config else None
    yield check(
        "emulatorpin",
        f"the emulator threads are pinned (persistent) to CPUs this host has ({host_cpu_text})",
        _valid_pin(emulator, host_cpus),
        expected=f"a subset of {host_cpu_text}",
        actual=emulator or "no <emulatorpin>",
        hint=f"virsh emulatorpin {p.domain} CPULIST --live --config",
    )
    pins_ok, pins_seen = _live_pins(vm, live, host_cpus)
    yield check(
        "pins-live",
        "the running guest's vCPU and emulator threads really run where they are pinned",
        pins_ok,
        expected="each thread's Cpus_allowed_list equals its live pin",
        actual=pins_seen,
        hint="pin with --live as well as --config; the kernel's affinity is in /proc/PID/task/TID/status",
    )

    disk = _data_disk(config, p.data_target)
    ids = config.iothread_ids() if config else []
    yield check(
        "iothreads",
        f"an IOThread exists and {p.data_target} is served by it",
        disk is not None and disk.iothread is not None and disk.iothread in ids,
        expected=f"<iothreads> >= 1, {p.data_target} <driver iothread='N'/> with N among them",
        actual=f"iothreads {ids or 'none'}; {p.data_target}: {_disk_desc(disk)}",
        hint=f"virsh iothreadadd {p.domain} 1 --live --config; then the disk's <driver ... iothread='1'/>",
    )

    o_direct = supports_o_direct(nearest_existing(Path(p.data_disk).parent))
    cache, io = (disk.cache, disk.io) if disk else (None, None)
    legal = (
        cache in CACHE_MODES
        and io in IO_MODES
        and (io != "native" or cache in DIRECT_CACHE)
        and (cache not in DIRECT_CACHE or o_direct)
    )
    yield check(
        "disk-cache-io",
        f"{p.data_target} uses cache={p.disk_cache} io={p.disk_io}, legal on this filesystem",
        disk is not None and legal and (cache, io) == (p.disk_cache, p.disk_io),
        expected=f"cache={p.disk_cache} io={p.disk_io} (O_DIRECT {'works' if o_direct else 'does not work'} here)",
        actual=_disk_desc(disk),
        hint="io=native needs cache=none or directsync (O_DIRECT); cache=none needs a filesystem with O_DIRECT",
    )

    live_disk = _data_disk(live, p.data_target)
    direct = iothread = None
    if live_disk is not None and live_disk.alias:
        qdev = f"/machine/peripheral/{live_disk.alias}"
        block = next((b for b in _qmp(vm, "query-block") or [] if b.get("qdev", "").startswith(qdev + "/")), None)
        direct = (block or {}).get("inserted", {}).get("cache", {}).get("direct")
        iothread = _qmp(vm, "qom-get", {"path": qdev, "property": "iothread"})
    want_thread = f"/objects/iothread{disk.iothread}" if disk and disk.iothread else None
    yield check(
        "disk-live",
        f"the running guest has {p.data_target} as defined, and QEMU confirms cache and IOThread",
        live_disk is not None
        and disk is not None
        and _disk_desc(live_disk) == _disk_desc(disk)
        and direct == (disk.cache in DIRECT_CACHE)
        and (iothread or None) == want_thread,
        expected=f"{_disk_desc(disk)}; QEMU: O_DIRECT {disk.cache in DIRECT_CACHE}, iothread {want_thread or 'none'}"
        if disk
        else f"{p.data_target} in the live and the persistent definition",
        actual=f"{_disk_desc(live_disk)}; QEMU: O_DIRECT {direct}, iothread {iothread or 'none'}"
        if live_disk
        else (f"not running ({vm.state})" if live is None else f"no {p.data_target} in the running guest"),
        hint="attach it with --live --config (virsh attach-device VM disk.xml --live --config)",
    )

    scsi = _scsi(config)
    vcpus_live = (config.vcpu_current or vcpus) if config else 0
    low = min(2, vcpus_live)
    queues = scsi.queues if scsi else None
    yield check(
        "scsi-multiqueue",
        f"a virtio-scsi controller with {low if low == vcpus_live else f'{low}..{vcpus_live}'} queues "
        "(one per vCPU at most)",
        queues is not None and low <= queues <= vcpus_live,
        expected=f"<controller type='scsi' model='virtio-scsi'><driver queues='{p.scsi_queues}'/>",
        actual=f"virtio-scsi, queues {queues}" if scsi else "no virtio-scsi controller",
        hint="queues = number of vCPUs: more queues than vCPUs only adds interrupts",
    )
    live_scsi = _scsi(live)
    real_queues = (
        _qmp(vm, "qom-get", {"path": f"/machine/peripheral/{live_scsi.alias}", "property": "num_queues"})
        if live_scsi and live_scsi.alias
        else None
    )
    yield check(
        "scsi-live",
        "the running guest has that controller, and QEMU runs it with those queues",
        live_scsi is not None and queues is not None and live_scsi.queues == queues and real_queues == queues,
        expected=f"queues {queues}" if queues is not None else "a virtio-scsi controller, live and persistent",
        actual=f"live XML queues {live_scsi.queues}, QEMU num_queues {real_queues}"
        if live_scsi
        else (f"not running ({vm.state})" if live is None else "no virtio-scsi controller in the running guest"),
        hint="attach it with --live --config (virsh attach-device VM scsi.xml --live --config)",
    )

    huge = host.domain(p.huge_domain).config
    sizes = huge.hugepage_sizes_kib() if huge else []
    pools = hugepages.pools()
    supported = [pool.size_kib for pool in pools]
    reserved = sum(pool.total for pool in pools)
    memory = huge.memory_kib if huge else None
    yield check(
        "hugepages-defined",
        f"{p.huge_domain} is defined with hugepage-backed memory, in a page size this host supports",
        huge is not None
        and huge.hugepages
        and all(s in supported for s in sizes)
        and memory is not None
        and all(memory % s == 0 for s in sizes or [p.huge_page_kib]),
        expected=f"<memoryBacking><hugepages><page size='{p.huge_page_kib}' unit='KiB'/>; "
        f"sizes here: {', '.join(f'{s} KiB' for s in supported) or 'none'}",
        actual="not defined"
        if huge is None
        else f"hugepages {'yes' if huge.hugepages else 'no'}, page sizes {sizes or 'default'} KiB, memory {memory} KiB",
        hint=f"virsh define {p.huge_xml}"
        + (
            "; do not start it: this host has no huge pages reserved (vm.nr_hugepages = 0)"
            if reserved == 0
            else f"; the host has {reserved} huge pages reserved"
        ),
    )

    verdict = accel.decide()
    mode = config.cpu_mode if config else None
    if verdict.accel == "kvm":
        live_mode = live.cpu_mode if live else None
        cpu_ok, wanted = mode == "host-passthrough" and live_mode == mode, "host-passthrough, live and persistent"
    else:
        cpu_ok = config is not None and mode != "host-passthrough"
        wanted = "not host-passthrough (TCG emulates the CPU)"
    yield check(
        "cpu-mode",
        f"the CPU model fits this host's accelerator ({verdict.accel})",
        cpu_ok,
        expected=wanted,
        actual=f"cpu mode {mode or 'default'}" if config else "not defined",
        hint="host-passthrough needs KVM (virsh domcapabilities --virttype qemu says supported='no' under TCG)",
    )
