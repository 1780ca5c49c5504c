"""Checks of the memory-virt lab: the trainee's readings against the host, two guests, KSM where it runs."""

from __future__ import annotations

from typing import Any

from kvmlab.grading import Check, Checks, check, step
from kvmlab.host import Host
from kvmlab.labs.memory_virt import MemVirtParams

HOST_KEYS = ("translation", "thp_enabled", "hugepages_total", "hugepage_size_kib", "ksm_available", "ksm_run_at_start")
KSM_KEYS = ("pages_sharing", "saved_mib")
PAGE_KIB = 4  # KSM merges base pages: 4 KiB on x86_64
# How far a pages_sharing reading may be from the host's own at check time. KSM keeps working while the guests run:
# a guest's write breaks a merged page (copy-on-write) and the next scans merge others, so a reading taken once
# merging has settled drifts by a few percent; the counter is host-wide, so other guests on the host add to it and
# go away. Below: the trainee's two guests alone save at least (their merged pages - pages_shared), since each KSM
# page keeps one mapping that is not "sharing"; 80 % of that allows the drift. Above: 150 % of KSM's pages_sharing
# now allows others' guests to have gone. pages_shared (how many KSM pages hold the merged ones) is far below.
LOW, HIGH = 0.8, 1.5


def _facts(host: Host, path: str) -> dict[str, Any] | str:
    """The trainee's readings, or why there are none."""
    data, why = host.trainee_file(path).json_object()
    return data if data is not None else ("no facts file" if why == "no file" else why)


def _fact(facts: dict[str, Any] | str, key: str) -> Any:
    return facts.get(key, "missing") if isinstance(facts, dict) else facts


def _same(
    facts: dict[str, Any] | str,
    truth: dict[str, Any],
    key: str,
    what: str,
    hint: str,
    id: str = "",
    *,
    what_zh: str,
    hint_zh: str,
) -> Check:
    return check(
        id or key,
        f"{what}: your reading matches the host",
        _fact(facts, key) == truth[key],
        expected=truth[key],
        actual=_fact(facts, key),
        hint=hint,
        zh=f"{what_zh}：你的读数与宿主机一致",
        hint_zh=hint_zh,
    )


@step(
    1,
    "Record how the host translates and backs guest memory",
    hints=(
        "Under KVM the CPU walks the guest's page tables and a second set the hypervisor owns (EPT on Intel, NPT on "
        "AMD) unless the KVM module keeps shadow page tables; under TCG, QEMU's softmmu translates every access "
        "itself. Transparent huge pages come and go by themselves; explicit ones (hugetlbfs) are reserved; KSM "
        "is a kernel thread whose state is in sysfs. Read each on the host, before you change anything.",
        "kvmlab doctor's verdict, /sys/module/kvm_intel/parameters/ept (kvm_amd: npt), "
        "/sys/kernel/mm/transparent_hugepage/enabled (the [bracketed] word), grep -i huge /proc/meminfo, "
        "/sys/kernel/mm/ksm/run; then json.dump the readings into the facts file",
    ),
    zh="记录宿主机如何转换和承载虚拟机内存",
    hints_zh=(
        "在 KVM 下，CPU 会遍历客户机的页表，以及 hypervisor 掌管的第二套页表（Intel 上是 EPT，AMD 上是 NPT），"
        "除非 KVM 模块用的是影子页表；在 TCG 下，由 QEMU 的 softmmu 自己转换每一次访问。透明大页由内核自动分配、"
        "自动回收；显式大页（hugetlbfs）需要预留；KSM 是一个内核线程，它的状态在 sysfs 里。"
        "在改动任何东西之前，逐项在宿主机上读出来。",
        "kvmlab doctor 的结论、/sys/module/kvm_intel/parameters/ept（kvm_amd 为 npt）、"
        "/sys/kernel/mm/transparent_hugepage/enabled（方括号里的那个词）、grep -i huge /proc/meminfo、"
        "/sys/kernel/mm/ksm/run；然后用 json.dump 把读数写进 facts 文件",
    ),
)
def readings(host: Host, p: MemVirtParams) -> Checks:
    facts = _facts(host, p.facts)
    missing = [k for k in HOST_KEYS if k not in facts] if isinstance(facts, dict) else list(HOST_KEYS)
    yield check(
        "facts-file",
        f"your readings are in {p.facts}",
        isinstance(facts, dict) and not missing,
        expected="a JSON object with " + ", ".join(HOST_KEYS),
        actual=facts if isinstance(facts, str) else ("complete" if not missing else "missing " + ", ".join(missing)),
        hint="the readings go into one JSON object, one key per reading, written to the facts file",
        zh=f"你的读数已写入 {p.facts}",
        hint_zh="所有读数放进一个 JSON 对象，每项读数一个键，写入 facts 文件",
    )
    truth = host.memory.readings(p.accel)
    yield _same(
        facts,
        truth,
        "translation",
        "how this host translates guest memory (ept, npt, shadow or softmmu)",
        "under TCG QEMU's softmmu translates every access in software (its own TLB), whatever the CPU has; "
        "under KVM: EPT/NPT when the KVM module's ept (kvm_amd: npt) parameter says Y, else shadow pages",
        what_zh="宿主机如何转换虚拟机内存（ept、npt、shadow 或 softmmu）",
        hint_zh="在 TCG 下，不管 CPU 支持什么，都由 QEMU 的 softmmu 在软件里转换每一次访问（用它自己的 TLB）；"
        "在 KVM 下：KVM 模块的 ept 参数（kvm_amd 为 npt）是 Y 时为 EPT/NPT，否则为影子页表",
    )
    yield _same(
        facts,
        truth,
        "thp_enabled",
        "the transparent huge page mode",
        "the THP mode in force is the one in [brackets]; the other words are the choices on offer",
        id="thp",
        what_zh="透明大页模式",
        hint_zh="当前生效的 THP 模式是方括号里的那个；其余的词只是可选项",
    )
    yield check(
        "hugepages",
        "reserved huge pages and their size, as /proc/meminfo says",
        (_fact(facts, "hugepages_total"), _fact(facts, "hugepage_size_kib"))
        == (truth["hugepages_total"], truth["hugepage_size_kib"]),
        expected=f"HugePages_Total {truth['hugepages_total']}, Hugepagesize {truth['hugepage_size_kib']} KiB",
        actual=f"HugePages_Total {_fact(facts, 'hugepages_total')}, "
        f"Hugepagesize {_fact(facts, 'hugepage_size_kib')} KiB",
        hint="HugePages_Total counts reserved (hugetlbfs) pages; AnonHugePages is THP, another thing; "
        "Hugepagesize is in kB (2048 = 2 MiB)",
        zh="预留大页的数量和大小，与 /proc/meminfo 一致",
        hint_zh="HugePages_Total 统计的是预留的（hugetlbfs）大页；AnonHugePages 是 THP，是另一回事；"
        "Hugepagesize 的单位是 kB（2048 = 2 MiB）",
    )
    yield check(
        "ksm-state",
        "KSM on this host when the lab started: present? running?",
        (_fact(facts, "ksm_available"), _fact(facts, "ksm_run_at_start")) == (p.ksm_available, p.ksm_run_at_start),
        expected=f"available {p.ksm_available}, run {p.ksm_run_at_start}",
        actual=f"available {_fact(facts, 'ksm_available')}, run {_fact(facts, 'ksm_run_at_start')}",
        hint="no /sys/kernel/mm/ksm means a kernel without KSM; its run file says 0 stopped, 1 running, "
        "2 stopped and unmerged: read it before you change it",
        zh="实验开始时宿主机上的 KSM：有没有？在不在运行？",
        hint_zh="没有 /sys/kernel/mm/ksm，说明内核不带 KSM；它的 run 文件：0 表示停止，1 表示运行，"
        "2 表示停止并取消全部合并：要在改动之前读取",
    )


@step(
    2,
    "Let the second guest share its memory",
    hints=(
        "<memoryBacking><nosharepages/> makes libvirt start QEMU with mem-merge=off: KSM never looks at that "
        "guest's RAM. It is an option QEMU reads only when it starts, so the definition changes and the guest is "
        "power-cycled (a reboot inside the guest keeps the same QEMU).",
        "virsh dumpxml --inactive DOMAIN > FILE; remove the <memoryBacking> element; virsh define FILE; virsh "
        "shutdown DOMAIN, wait until it is shut off, virsh start DOMAIN",
    ),
    zh="让第二台虚拟机共享内存",
    hints_zh=(
        "<memoryBacking><nosharepages/> 会让 libvirt 以 mem-merge=off 启动 QEMU：KSM 根本不会去看这台虚拟机的内存。"
        "QEMU 只在启动时读取这个选项，所以要改定义，再让虚拟机彻底关机、重新开机"
        "（在客户机里重启，用的还是同一个 QEMU 进程）。",
        "virsh dumpxml --inactive DOMAIN > FILE；删掉 <memoryBacking> 元素；virsh define FILE；"
        "virsh shutdown DOMAIN，等它变成 shut off，再 virsh start DOMAIN",
    ),
)
def sharing(host: Host, p: MemVirtParams) -> Checks:
    vms = [host.domain(d) for d in (p.domain1, p.domain2)]
    sizes = [vm.live.memory_kib if vm.live else None for vm in vms]
    yield check(
        "guests-running",
        f"{p.domain1} and {p.domain2} run, with the same memory ({p.memory_mib} MiB)",
        sizes == [p.memory_mib * 1024] * 2,
        expected=f"both running with {p.memory_mib} MiB",
        actual=", ".join(
            f"{vm.name}: {size // 1024} MiB" if size else f"{vm.name}: {vm.state}"
            for vm, size in zip(vms, sizes, strict=True)
        ),
        hint="both guests must run, with the memory they were given: KSM merges identical pages, and identical "
        "guests have the most",
        zh=f"{p.domain1} 和 {p.domain2} 都在运行，内存相同（{p.memory_mib} MiB）",
        hint_zh="两台虚拟机都必须运行，并保持分配给它们的内存：KSM 合并的是内容相同的页，"
        "而一模一样的虚拟机相同的页最多",
    )
    unshared = [
        f"{vm.name} ({where})"
        for vm in vms
        for where, xml in (("definition", vm.config), ("running", vm.live))
        if xml is not None and xml.nosharepages
    ]
    yield check(
        "share-pages",
        "neither guest opts out of page sharing (<nosharepages/>), in its definition or in the running QEMU",
        not unshared and all(vm.config is not None for vm in vms),
        expected="no <nosharepages/>",
        actual="; ".join(unshared) or "both may share",
        hint="the opt-out is in the definition, and QEMU reads it (mem-merge=off) only when it starts: changing "
        "the definition alone leaves the running guest opted out until it is power-cycled",
        zh="两台虚拟机都没有退出页共享（<nosharepages/>），定义里没有，运行中的 QEMU 里也没有",
        hint_zh="退出共享的设置写在定义里，而 QEMU 只在启动时读取它（mem-merge=off）：只改定义的话，"
        "运行中的虚拟机在彻底关机再开机之前，仍然不参与共享",
    )


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@step(
    3,
    "Turn KSM on where the host allows it, and measure what it saves",
    hints=(
        "ksmd merges a page only after seeing it unchanged on two scans; pages_sharing counts the page mappings "
        "that point at a shared KSM page instead of a copy of their own (the pages saved), pages_shared how many "
        "KSM pages hold them; /proc/PID/ksm_merging_pages says how many pages of one QEMU are merged. Where KSM is "
        "absent, or off and only root may start it, there is nothing to measure: record null.",
        "echo 1 > /sys/kernel/mm/ksm/run (root; raise pages_to_scan to go faster); wait until both guests' "
        "ksm_merging_pages stop growing; record pages_sharing and saved_mib = pages_sharing x 4 / 1024",
    ),
    zh="在宿主机允许时开启 KSM，并测量它节省了多少",
    hints_zh=(
        "ksmd 要连续两次扫描都看到某页没变，才会合并它；pages_sharing 统计指向 KSM 共享页、而不是自有副本的页映射数"
        "（即节省的页数），pages_shared 是承载它们的 KSM 页数；/proc/PID/ksm_merging_pages 给出单个 QEMU 被合并的页数。"
        "如果没有 KSM，或者 KSM 关着且只有 root 能开启，就没有什么可测的：记为 null。",
        "echo 1 > /sys/kernel/mm/ksm/run（需要 root；调大 pages_to_scan 会更快）；等两台虚拟机的 ksm_merging_pages "
        "都不再增长；记录 pages_sharing 和 saved_mib = pages_sharing x 4 / 1024",
    ),
)
def measured(host: Host, p: MemVirtParams) -> Checks:
    memory = host.memory
    vms = [host.domain(d) for d in (p.domain1, p.domain2)]
    merged = {vm.name: memory.merging_pages(vm.uuid) for vm in vms}
    if p.ksm_mode == "measure":
        yield check(
            "ksm-merging",
            "KSM has merged pages of both guests (/proc/PID/ksm_merging_pages of each QEMU)",
            all(merged.values()),
            expected="> 0 for each guest",
            actual=", ".join(f"{name}: {n if n is not None else 'not running'}" for name, n in merged.items()),
            hint="KSM runs only when its run file says 1, and merges a page only after two scans of every "
            "mergeable page on the host: raising pages_to_scan makes it go faster",
            zh="KSM 已经合并了两台虚拟机的页（各自 QEMU 的 /proc/PID/ksm_merging_pages）",
            hint_zh="只有 run 文件为 1 时 KSM 才会运行，而且要把宿主机上所有可合并的页扫描两遍，才会合并一页："
            "调大 pages_to_scan 可以加快速度",
        )
    facts = _facts(host, p.facts)
    recorded, saved = _fact(facts, "pages_sharing"), _fact(facts, "saved_mib")
    if p.ksm_mode != "measure":
        yield check(
            "ksm-measured",
            f"you recorded that KSM cannot be measured on this host ({p.ksm_mode})",
            recorded is None and saved is None,
            expected="pages_sharing null, saved_mib null",
            actual=f"pages_sharing {recorded}, saved_mib {saved}",
            hint="KSM is absent here, or off and only root may start it: nothing was merged, so there is nothing "
            "to measure. Record null, not a number",
            zh=f"你记录了这台宿主机上无法测量 KSM（{p.ksm_mode}）",
            hint_zh="这里没有 KSM，或者 KSM 关着且只有 root 能开启：什么都没合并，也就没有什么可测的。"
            "记为 null，不要填数字",
        )
        return
    ksm = memory.ksm
    now_sharing, now_shared = ksm.pages_sharing or 0, ksm.pages_shared or 0
    floor = max(sum(n or 0 for n in merged.values()) - now_shared, 0)
    low, high = int(LOW * floor), int(HIGH * now_sharing)
    in_range = _whole(recorded) and recorded > 0 and low <= recorded <= high
    arithmetic = in_range and isinstance(saved, int | float) and abs(saved - recorded * PAGE_KIB / 1024) <= 1
    yield check(
        "ksm-measured",
        "you measured what KSM saves: pages_sharing, as the host counts it, and the memory it stands for",
        arithmetic,
        expected=f"pages_sharing between {low} and {high} (KSM now: pages_sharing {now_sharing}, pages_shared "
        f"{now_shared}; your guests' merged pages {sum(n or 0 for n in merged.values())}), "
        "and saved_mib = pages_sharing x 4 KiB",
        actual=f"pages_sharing {recorded}, saved_mib {saved}",
        hint="pages_sharing counts the mappings that point at a shared page instead of their own copy: that many "
        "4 KiB pages saved. pages_shared is another counter (how many shared pages hold them). Read it once both "
        f"guests' merged pages stop growing: it must be at least {LOW:.0%} of what your guests alone save and at "
        f"most {HIGH:.0%} of KSM's count now (KSM keeps merging, and other guests on the host come and go)",
        zh="你测出了 KSM 节省的内存：按宿主机口径的 pages_sharing，以及它对应的内存量",
        hint_zh="pages_sharing 统计的是指向共享页、而不是自有副本的映射数：节省的 4 KiB 页就是这么多。"
        "pages_shared 是另一个计数（承载这些映射的共享页数）。等两台虚拟机被合并的页都不再增长后再读："
        f"它至少要达到你的两台虚拟机自身节省量的 {LOW:.0%}，最多为 KSM 当前计数的 {HIGH:.0%}"
        "（KSM 一直在合并，宿主机上别人的虚拟机也来来去去）",
    )
