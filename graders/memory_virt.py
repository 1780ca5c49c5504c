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


def _same(facts: dict[str, Any] | str, truth: dict[str, Any], key: str, what: str, hint: str, id: str = "") -> Check:
    return check(
        id or key,
        f"{what}: your reading matches the host",
        _fact(facts, key) == truth[key],
        expected=truth[key],
        actual=_fact(facts, key),
        hint=hint,
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
    )
    truth = host.memory.readings(p.accel)
    yield _same(
        facts,
        truth,
        "translation",
        "how this host translates guest memory (ept, npt, shadow or softmmu)",
        "under TCG QEMU's softmmu translates every access in software (its own TLB), whatever the CPU has; "
        "under KVM: EPT/NPT when the KVM module's ept (kvm_amd: npt) parameter says Y, else shadow pages",
    )
    yield _same(
        facts,
        truth,
        "thp_enabled",
        "the transparent huge page mode",
        "the THP mode in force is the one in [brackets]; the other words are the choices on offer",
        id="thp",
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
    )
    yield check(
        "ksm-state",
        "KSM on this host when the lab started: present? running?",
        (_fact(facts, "ksm_available"), _fact(facts, "ksm_run_at_start")) == (p.ksm_available, p.ksm_run_at_start),
        expected=f"available {p.ksm_available}, run {p.ksm_run_at_start}",
        actual=f"available {_fact(facts, 'ksm_available')}, run {_fact(facts, 'ksm_run_at_start')}",
        hint="no /sys/kernel/mm/ksm means a kernel without KSM; its run file says 0 stopped, 1 running, "
        "2 stopped and unmerged: read it before you change it",
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
    )
