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
    zh="用 qemu-img bench 测量 raw 和 qcow2，以及每种预分配模式",
    hints_zh=(
        "先测量，再调优：qemu-img bench 不需要虚拟机，直接驱动 QEMU 的块层。每次运行都要用全新的镜像（写过的 qcow2 "
        "已经分配好了 cluster），而预分配方式决定了首次写入的开销：什么都不预留（off）、写好元数据表（metadata）、"
        "预留空间（falloc）或者把空间写满（full）。",
        "对 p.bench_runs 里的每个 format:mode：qemu-img create -f FORMAT -o preallocation=MODE IMAGE SIZE，然后 "
        "qemu-img bench -w -c COUNT -s BLOCK -t CACHE -i AIO -f FORMAT IMAGE；把它输出的秒数记到结果 JSON 里",
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
        zh=f"已记录 raw 和 qcow2 的基准测试数据（{p.bench_count} 次 {p.bench_block} 写入）",
        hint_zh="只有测量所用的镜像还在、格式也和记录一致时，这条数据才算数："
        "分别对一个全新的 raw 镜像和一个全新的 qcow2 "
        "镜像做基准测试，记下 qemu-img bench 报告的秒数",
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
        zh=f"qcow2 的每种预分配模式都测过了（{'、'.join(modes)}）",
        hint_zh="预分配方式在创建镜像时选定：每种模式用一个全新的镜像，分别做基准测试",
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
    zh="绑定 vCPU 和模拟器线程，并选择加速器允许的 CPU 型号",
    hints_zh=(
        "每个 vCPU 都是 QEMU 进程里的一个线程，模拟器线程则是另外几个线程：绑定让它们待在选定的宿主机 CPU 上，"
        "而这些 CPU 必须在这台宿主机上存在。运行中的虚拟机和它的持久化定义是两份独立的副本。"
        "host-passthrough 把宿主机的 "
        "CPU 本身交给虚拟机：只有 KVM 让客户机代码直接在它上面运行，TCG 则是模拟出一个 CPU。",
        "virsh vcpupin DOMAIN VCPU CPULIST 和 virsh emulatorpin DOMAIN CPULIST，各自加上针对运行中虚拟机和持久化定义的"
        "选项；仅限 KVM：在持久化定义里写 <cpu mode='host-passthrough'/>（virt-xml --edit --cpu host-passthrough），"
        "然后冷重启",
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
        zh=f"每个 vCPU 都（持久化地）绑定到了这台宿主机上存在的 CPU（{host_cpu_text}）",
        hint_zh="每个 vCPU 都要在持久化定义里有绑定，而且要绑定到宿主机在线的 CPU 上（virsh nodeinfo、lscpu）："
        "手工编辑的"
        "定义里写了不存在的 CPU 也会被接受，但下次启动会失败",
    )
    emulator = config.emulatorpin() if config else None
    yield check(
        "emulatorpin",
        f"the emulator threads are pinned (persistent) to CPUs this host has ({host_cpu_text})",
        _valid_pin(host, emulator),
        expected=f"a subset of {host_cpu_text}",
        actual=emulator or "no <emulatorpin>",
        hint="the emulator threads (QEMU's main loop, its I/O workers) are pinned on their own, apart from the vCPUs",
        zh=f"模拟器线程（持久化地）绑定到了这台宿主机上存在的 CPU（{host_cpu_text}）",
        hint_zh="模拟器线程（QEMU 的主循环和 I/O 工作线程）要单独绑定，和 vCPU 分开",
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
        zh="运行中虚拟机的 vCPU 线程和模拟器线程确实运行在绑定的位置上",
        hint_zh="只写进持久化定义的绑定要等下次启动才生效：运行中的虚拟机也要绑定；内核看到的亲和性在 "
        "/proc/PID/task/TID/status 里",
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
        zh=f"CPU 型号与这台宿主机的加速器相符（{decided.accel if decided else '尚未判定'}）",
        hint_zh="host-passthrough 需要 KVM（在 TCG 下，libvirt 的 domain capabilities 显示 supported='no'），"
        "而运行中的虚拟机只有冷启动时才会换上新的 CPU 型号"
        if decided
        else "没有可以对照的加速器判定结果：先运行一次 kvmlab doctor，再检查一次",
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
    zh="添加一个 IOThread 和挂在它上面的数据盘，使用这个文件系统允许的缓存模式和 AIO 模式",
    hints_zh=(
        "IOThread 在 QEMU 主循环之外处理一块磁盘的 I/O。cache=none 以 O_DIRECT 打开镜像（不经过宿主机页缓存），"
        "这需要文件系统支持；io=native（Linux AIO）需要 O_DIRECT。p.disk_cache 和 p.disk_io 是本实验在你的文件系统上"
        "试出来可用的值。",
        "virsh iothreadadd DOMAIN ID（运行中的虚拟机和持久化定义）；用 qemu-img create 创建数据盘；写一个 <disk> XML，"
        "其中 <driver name='qemu' type='qcow2' cache=… io=… iothread=…/>；virsh attach-device DOMAIN FILE，"
        "同样针对运行中的虚拟机和持久化定义",
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
        zh=f"有一个 IOThread，并且 {p.data_target} 由它服务",
        hint_zh="IOThread 只服务于在 <driver> 中指定了它的磁盘：只添加线程本身什么也不会改变",
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
        zh=f"{p.data_target} 使用 cache={p.disk_cache} io={p.disk_io}，在这个文件系统上合法",
        hint_zh="io=native 需要 cache=none 或 directsync（O_DIRECT）；cache=none 需要支持 O_DIRECT 的文件系统",
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
        zh=f"运行中的虚拟机里的 {p.data_target} 与定义一致，QEMU 也确认了缓存模式和 IOThread",
        hint_zh="运行中的虚拟机和持久化定义是两份独立的副本：磁盘要同时挂到两者上，驱动设置也要相同",
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
    zh="添加一个多队列 virtio-scsi 控制器",
    hints_zh=(
        "每个 vCPU 一个请求队列，各个 vCPU 提交 I/O 时就不必争用同一个共享队列；队列比 vCPU 多只会增加中断。",
        "一个 <controller type='scsi' model='virtio-scsi'> XML，带 <driver queues=…/>；virsh attach-device DOMAIN "
        "FILE，针对运行中的虚拟机和持久化定义",
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
        zh=f"一个带 {low if low == vcpus_live else f'{low}..{vcpus_live}'} 个队列的 virtio-scsi 控制器"
        "（最多每个 vCPU 一个）",
        hint_zh="queues = vCPU 数：队列比 vCPU 多只会增加中断",
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
        zh="运行中的虚拟机有这个控制器，QEMU 也以这些队列运行它",
        hint_zh="运行中的虚拟机和持久化定义是两份独立的副本：控制器要同时挂到两者上",
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
    zh="定义一台用大页做内存后端的虚拟机（只定义，不启动）",
    hints_zh=(
        "<memoryBacking><hugepages/> 让客户机内存使用大页，而宿主机必须事先预留好这些大页（hugetlbfs）；页大小必须是"
        "宿主机支持的，内存大小必须是页大小的整数倍。",
        "一个带 <memoryBacking><hugepages><page size=… unit='KiB'/></hugepages></memoryBacking> 的域 XML；"
        "virsh define FILE（不要 start）",
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
        zh=f"{p.huge_domain} 已定义，内存由大页支撑，页大小是这台宿主机支持的",
        hint_zh="这台虚拟机只用你的 XML 文件定义，页大小要选宿主机支持的"
        + (
            "；不要启动它：这台宿主机没有预留大页（vm.nr_hugepages = 0）"
            if reserved == 0
            else f"；宿主机预留了 {reserved} 个大页"
        ),
    )
