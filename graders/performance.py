"""Checks of the performance lab (seed question 21)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from kvmlab.grading import Checks, check, step
from kvmlab.host import ControllerXML, DiskXML, Domain, DomainXML, Host
from kvmlab.labs.performance import PerfParams

CACHE_MODES = ("none", "writethrough", "writeback", "directsync", "unsafe", "default")
IO_MODES = ("native", "threads", "io_uring")
DIRECT_CACHE = ("none", "directsync")  # the cache modes that open the image with O_DIRECT
MAX_BENCH_SECONDS = 600  # a bench of 20000 4k writes that took ten minutes measured a stuck host, not an image


def plausible_seconds(value: object) -> bool:
    """A bench figure a real run can produce: a finite number of seconds, more than 0, less than 10 minutes."""
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and 0 < value < MAX_BENCH_SECONDS
    )


# -- step 1: the figures -----------------------------------------------------------------


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


@step(
    1,
    "Measure raw and qcow2, and each preallocation mode, with qemu-img bench",
    hints=(
        "Measure before you tune: qemu-img bench drives QEMU's block layer without a guest. Each run needs a fresh "
        "image (a qcow2 already written has its clusters allocated), and preallocation decides what the first "
        "writes cost: nothing reserved (off), the tables written (metadata), the space reserved (falloc) or "
        "written (full).",
        "for each format:mode in p.bench_runs: qemu-img create -f FORMAT -o preallocation=MODE IMAGE SIZE, then "
        "qemu-img bench -w -c COUNT -s BLOCK -t CACHE -i AIO -f FORMAT IMAGE; record the seconds it prints in "
        "the results JSON",
    ),
)
def bench(host: Host, p: PerfParams) -> Checks:
    data, why = host.trainee_file(p.results).json_object()
    if data is not None and not isinstance(data.get("runs"), list):
        data, why = None, 'not an object with a "runs" list'
    runs = [r for r in (data or {}).get("runs", []) if isinstance(r, dict)]
    count_ok = data is not None and data.get("count") == p.bench_count
    lab_dir = Path(p.results).parent
    good = {(r.get("format"), r.get("preallocation")) for r in runs if _run_ok(host, r, lab_dir)}
    formats = {fmt for fmt, _ in good}
    yield check(
        "bench-raw-qcow2",
        f"bench figures for raw and qcow2 ({p.bench_count} x {p.bench_block} writes) are recorded",
        count_ok and {"raw", "qcow2"} <= formats,
        expected=f"{p.results}: count {p.bench_count}, seconds for raw and qcow2, images in the lab directory",
        actual=f"count {data.get('count') if data else None}; {_describe_runs(runs, why)}",
        hint="a figure counts when the image it was measured on is still there, in the format the row claims: "
        "bench a fresh raw and a fresh qcow2 image and record the seconds qemu-img bench reports",
    )
    asked = [spec.split(":", 1) for spec in p.bench_runs]
    modes = [mode for fmt, mode in asked if fmt == "qcow2"]
    yield check(
        "bench-preallocation",
        f"qcow2 was measured with each preallocation mode ({', '.join(modes)})",
        count_ok and {("qcow2", mode) for mode in modes} <= good,
        expected="qcow2 with " + ", ".join(modes),
        actual="qcow2 with " + (", ".join(sorted(str(m) for f, m in good if f == "qcow2")) or "nothing"),
        hint="preallocation is chosen when an image is created: one fresh image per mode, each benched on its own",
    )


# -- step 2: CPU ---------------------------------------------------------------------------


def _pins(xml: DomainXML | None) -> str:
    if xml is None:
        return "not defined"
    pins = xml.vcpupins()
    return ", ".join(f"vCPU {v} -> {c}" for v, c in sorted(pins.items())) or "no <vcpupin>"


def _valid_pin(host: Host, text: str | None) -> bool:
    cpus = host.cpus.parse(text)
    return cpus is not None and bool(cpus) and cpus <= host.cpus.online


def _live_pins(host: Host, vm: Domain, live: DomainXML | None) -> tuple[bool, str]:
    """Every vCPU thread and the emulator really run where the live XML pins them, all within the host's CPUs."""
    if live is None:
        return False, f"not running ({vm.state})"
    cpus = host.cpus
    online = cpus.online
    # vCPU index -> host thread id, from QEMU itself
    threads = {int(c["cpu-index"]): int(c["thread-id"]) for c in vm.query("query-cpus-fast") or [] if "thread-id" in c}
    pins, notes, ok = live.vcpupins(), [], True
    for vcpu in range(live.vcpu_current or 0):
        asked = cpus.parse(pins.get(vcpu))
        real = cpus.affinity(threads[vcpu]) if vcpu in threads else None
        ok = ok and asked is not None and real == asked and asked <= online
        notes.append(f"vCPU {vcpu}: pinned {pins.get(vcpu, 'nowhere')}, runs on {cpus.format(real or ())}")
    main = cpus.process_of(next(iter(threads.values()))) if threads else None
    asked = cpus.parse(live.emulatorpin())
    real = cpus.affinity(main) if main else None
    ok = ok and asked is not None and real == asked and asked <= online
    notes.append(f"emulator: pinned {live.emulatorpin() or 'nowhere'}, runs on {cpus.format(real or ())}")
    return ok, "; ".join(notes)


@step(
    2,
    "Pin the vCPUs and the emulator threads, and choose the CPU model the accelerator allows",
    hints=(
        "Each vCPU is a thread of the QEMU process, and the emulator threads are others: pinning keeps them on "
        "chosen host CPUs, which must exist on this host. The running guest and its definition are separate "
        "copies. host-passthrough hands the guest the host CPU itself: only KVM runs guest code on it, TCG "
        "emulates a CPU.",
        "virsh vcpupin DOMAIN VCPU CPULIST and virsh emulatorpin DOMAIN CPULIST, each with the options for the "
        "running guest and the definition; under KVM only: <cpu mode='host-passthrough'/> in the definition "
        "(virt-xml --edit --cpu host-passthrough), then a cold restart",
    ),
)
def cpu(host: Host, p: PerfParams) -> Checks:
    online = host.cpus.online
    host_cpu_text = host.cpus.format(online)
    vm = host.domain(p.domain)
    config, live = vm.config, vm.live
    vcpus = (config.vcpu_max or 0) if config else 0
    pins = config.vcpupins() if config else {}
    yield check(
        "vcpupin",
        f"every vCPU is pinned (persistent) to CPUs this host has ({host_cpu_text})",
        config is not None and vcpus > 0 and all(_valid_pin(host, pins.get(v)) for v in range(vcpus)),
        expected=f"vCPU 0..{vcpus - 1} each -> a subset of {host_cpu_text}",
        actual=_pins(config),
        hint="each vCPU needs a pin in the definition, to CPUs the host has online (virsh nodeinfo, lscpu): "
        "an edited definition naming a CPU that is not there is accepted, and the next start fails",
    )
    emulator = config.emulatorpin() if config else None
    yield check(
        "emulatorpin",
        f"the emulator threads are pinned (persistent) to CPUs this host has ({host_cpu_text})",
        _valid_pin(host, emulator),
        expected=f"a subset of {host_cpu_text}",
        actual=emulator or "no <emulatorpin>",
        hint="the emulator threads (QEMU's main loop, its I/O workers) are pinned on their own, apart from the vCPUs",
    )
    pins_ok, pins_seen = _live_pins(host, vm, live)
    yield check(
        "pins-live",
        "the running guest's vCPU and emulator threads really run where they are pinned",
        pins_ok,
        expected="each thread's Cpus_allowed_list equals its live pin",
        actual=pins_seen,
        hint="a pin written only to the definition waits for the next start: the running guest must be pinned "
        "too; the kernel's affinity is in /proc/PID/task/TID/status",
    )

    decided = host.accel  # cached: deciding boots a guest, never done in the middle of a check
    mode = config.cpu_mode if config else None
    if decided is None:
        cpu_ok, wanted = False, "no verdict on this host yet: run `kvmlab doctor` (it decides by booting a guest)"
    elif decided.accel == "kvm":
        live_mode = live.cpu_mode if live else None
        cpu_ok, wanted = mode == "host-passthrough" and live_mode == mode, "host-passthrough, live and persistent"
    else:
        cpu_ok = config is not None and mode != "host-passthrough"
        wanted = "not host-passthrough (TCG emulates the CPU)"
    yield check(
        "cpu-mode",
        f"the CPU model fits this host's accelerator ({decided.accel if decided else 'undecided'})",
        cpu_ok,
        expected=wanted,
        actual=f"cpu mode {mode or 'default'}" + (f", running {live.cpu_mode or 'default'}" if live else "")
        if config
        else "not defined",
        hint="host-passthrough needs KVM (libvirt's domain capabilities say supported='no' under TCG), and the "
        "running guest gets a new CPU model only at a cold start"
        if decided
        else "there is no accelerator verdict to compare with: run kvmlab doctor once, then check again",
    )


# -- step 3: an IOThread and a data disk on it ---------------------------------------------


def _disk_desc(disk: DiskXML | None) -> str:
    if disk is None:
        return "no such disk"
    return f"cache={disk.cache or 'default'} io={disk.io or 'default'} iothread={disk.iothread or 'none'}"


@step(
    3,
    "Add an IOThread and a data disk on it, with the cache and AIO modes this filesystem allows",
    hints=(
        "An IOThread serves a disk's I/O outside QEMU's main loop. cache=none opens the image with O_DIRECT "
        "(no host page cache), which the filesystem must support; io=native (Linux AIO) needs O_DIRECT. "
        "p.disk_cache and p.disk_io are what the lab found works on your filesystem.",
        "virsh iothreadadd DOMAIN ID (running guest and definition); qemu-img create the data disk; a <disk> XML "
        "with <driver name='qemu' type='qcow2' cache=… io=… iothread=…/>; virsh attach-device DOMAIN FILE, "
        "for the running guest and the definition",
    ),
)
def iothread(host: Host, p: PerfParams) -> Checks:
    vm = host.domain(p.domain)
    config, live = vm.config, vm.live
    disk = config.disk(p.data_target) if config else None
    ids = config.iothread_ids() if config else []
    yield check(
        "iothreads",
        f"an IOThread exists and {p.data_target} is served by it",
        disk is not None and disk.iothread is not None and disk.iothread in ids,
        expected=f"<iothreads> >= 1, {p.data_target} <driver iothread='N'/> with N among them",
        actual=f"iothreads {ids or 'none'}; {p.data_target}: {_disk_desc(disk)}",
        hint="an IOThread serves only the disks that name it in their <driver>: adding the thread alone changes "
        "nothing",
    )

    o_direct = host.filesystem(p.data_disk).supports_o_direct
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

    live_disk = live.disk(p.data_target) if live else None
    direct = thread = None
    if live_disk is not None and live_disk.alias:
        qdev = f"/machine/peripheral/{live_disk.alias}"
        block = next((b for b in vm.query("query-block") or [] if b.get("qdev", "").startswith(qdev + "/")), None)
        direct = (block or {}).get("inserted", {}).get("cache", {}).get("direct")
        thread = vm.query("qom-get", {"path": qdev, "property": "iothread"})
    want_thread = f"/objects/iothread{disk.iothread}" if disk and disk.iothread else None
    yield check(
        "disk-live",
        f"the running guest has {p.data_target} as defined, and QEMU confirms cache and IOThread",
        live_disk is not None
        and disk is not None
        and _disk_desc(live_disk) == _disk_desc(disk)
        and direct == (disk.cache in DIRECT_CACHE)
        and (thread or None) == want_thread,
        expected=f"{_disk_desc(disk)}; QEMU: O_DIRECT {disk.cache in DIRECT_CACHE}, iothread {want_thread or 'none'}"
        if disk
        else f"{p.data_target} in the live and the persistent definition",
        actual=f"{_disk_desc(live_disk)}; QEMU: O_DIRECT {direct}, iothread {thread or 'none'}"
        if live_disk
        else (f"not running ({vm.state})" if live is None else f"no {p.data_target} in the running guest"),
        hint="the running guest and the definition are separate copies: the disk must be attached to both, "
        "with the same driver settings",
    )


# -- step 4: a multiqueue virtio-scsi controller ---------------------------------------------


def _scsi(xml: DomainXML | None) -> ControllerXML | None:
    return next((c for c in xml.controllers("scsi") if c.model == "virtio-scsi"), None) if xml else None


@step(
    4,
    "Add a multiqueue virtio-scsi controller",
    hints=(
        "One request queue per vCPU lets each vCPU submit I/O without contending for a shared queue; more queues "
        "than vCPUs only add interrupts.",
        "a <controller type='scsi' model='virtio-scsi'> XML with <driver queues=…/>; virsh attach-device DOMAIN "
        "FILE, for the running guest and the definition",
    ),
)
def scsi(host: Host, p: PerfParams) -> Checks:
    vm = host.domain(p.domain)
    config, live = vm.config, vm.live
    controller = _scsi(config)
    vcpus_live = (config.vcpu_current or config.vcpu_max or 0) if config else 0
    low = min(2, vcpus_live)
    queues = controller.queues if controller else None
    yield check(
        "scsi-multiqueue",
        f"a virtio-scsi controller with {low if low == vcpus_live else f'{low}..{vcpus_live}'} queues "
        "(one per vCPU at most)",
        queues is not None and low <= queues <= vcpus_live,
        expected=f"<controller type='scsi' model='virtio-scsi'><driver queues='{p.scsi_queues}'/>",
        actual=f"virtio-scsi, queues {queues}" if controller else "no virtio-scsi controller",
        hint="queues = number of vCPUs: more queues than vCPUs only adds interrupts",
    )
    live_scsi = _scsi(live)
    real_queues = (
        vm.query("qom-get", {"path": f"/machine/peripheral/{live_scsi.alias}", "property": "num_queues"})
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
        hint="the running guest and the definition are separate copies: the controller must be attached to both",
    )


# -- step 5: huge pages ---------------------------------------------------------------------


@step(
    5,
    "Define a guest backed by huge pages (defined, not started)",
    hints=(
        "<memoryBacking><hugepages/> backs guest RAM with huge pages, which the host must have reserved first "
        "(hugetlbfs); the page size must be one the host supports, and the memory a whole number of pages.",
        "a domain XML with <memoryBacking><hugepages><page size=… unit='KiB'/></hugepages></memoryBacking>; "
        "virsh define FILE (not start)",
    ),
)
def huge(host: Host, p: PerfParams) -> Checks:
    huge = host.domain(p.huge_domain).config
    sizes = huge.hugepage_sizes_kib() if huge else []
    pages = host.hugepages
    supported = pages.sizes_kib
    reserved = pages.reserved
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
        hint="the guest is only defined, from your XML file, with a page size the host supports"
        + (
            "; do not start it: this host has no huge pages reserved (vm.nr_hugepages = 0)"
            if reserved == 0
            else f"; the host has {reserved} huge pages reserved"
        ),
    )
