"""Checks of the memory-virt lab: the trainee's readings against the host, two guests, KSM where it runs."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from kvmlab.grading import Check, check
from kvmlab.host import Host
from kvmlab.labs.memory_virt import FACT_KEYS, MemVirtParams, facts_of_host
from kvmlab.resources import hostmem
from kvmlab.resources.trainee_files import read_json_object


def _facts(path: str) -> dict[str, Any] | str:
    """The trainee's readings, or why there are none."""
    data, why = read_json_object(path)
    return data if data is not None else ("no facts file" if why == "no file" else why)


def _fact(facts: dict[str, Any] | str, key: str) -> Any:
    return facts.get(key, "missing") if isinstance(facts, dict) else facts


def checks(host: Host, p: MemVirtParams) -> Iterator[Check]:
    facts = _facts(p.facts)
    missing = [k for k in FACT_KEYS if k not in facts] if isinstance(facts, dict) else list(FACT_KEYS)
    yield check(
        "facts-file",
        f"your readings are in {p.facts}",
        isinstance(facts, dict) and not missing,
        expected="a JSON object with " + ", ".join(FACT_KEYS),
        actual=facts if isinstance(facts, str) else ("complete" if not missing else "missing " + ", ".join(missing)),
        hint="run the notebook's 'Record your readings' cell (json.dump of the dict)",
    )
    truth = facts_of_host(p)
    yield _same(
        facts,
        truth,
        "translation",
        "how this host translates guest memory (ept, npt, shadow or softmmu)",
        "under TCG QEMU's softmmu translates every access in software (its own TLB), whatever the CPU has; "
        "under KVM: EPT/NPT when /sys/module/kvm_intel/parameters/ept (kvm_amd: npt) says Y, else shadow pages",
    )
    yield _same(
        facts,
        truth,
        "thp_enabled",
        "the transparent huge page mode",
        "cat /sys/kernel/mm/transparent_hugepage/enabled: the mode in force is the one in [brackets]",
        check_id="thp",
    )
    yield check(
        "hugepages",
        "reserved huge pages and their size, as /proc/meminfo says",
        (_fact(facts, "hugepages_total"), _fact(facts, "hugepage_size_kib"))
        == (truth["hugepages_total"], truth["hugepage_size_kib"]),
        expected=f"HugePages_Total {truth['hugepages_total']}, Hugepagesize {truth['hugepage_size_kib']} KiB",
        actual=f"HugePages_Total {_fact(facts, 'hugepages_total')}, "
        f"Hugepagesize {_fact(facts, 'hugepage_size_kib')} KiB",
        hint="grep -i huge /proc/meminfo: HugePages_Total counts reserved (hugetlbfs) pages; AnonHugePages is THP, "
        "another thing; Hugepagesize is in kB (2048 = 2 MiB)",
    )
    yield check(
        "ksm-state",
        "KSM on this host when the lab started: present? running?",
        (_fact(facts, "ksm_available"), _fact(facts, "ksm_run_at_start")) == (p.ksm_available, p.ksm_run_at_start),
        expected=f"available {p.ksm_available}, run {p.ksm_run_at_start}",
        actual=f"available {_fact(facts, 'ksm_available')}, run {_fact(facts, 'ksm_run_at_start')}",
        hint="ls /sys/kernel/mm/ksm (absent: the kernel has no KSM); cat /sys/kernel/mm/ksm/run before you change "
        "it (0 stopped, 1 running, 2 stopped and unmerged)",
    )

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
        hint="virsh start the one that is off; KSM merges identical pages, identical guests have the most",
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
        hint=f"remove <memoryBacking><nosharepages/></memoryBacking> from {p.domain2} (virsh edit, or dumpxml / "
        "edit / define), then power-cycle it: QEMU reads it (mem-merge=off) only when it starts",
    )

    if p.ksm_mode == "measure":
        merged = {vm.name: _merging(vm.uuid) for vm in vms}
        yield check(
            "ksm-merging",
            "KSM has merged pages of both guests (/proc/PID/ksm_merging_pages of each QEMU)",
            all(merged.values()),
            expected="> 0 for each guest",
            actual=", ".join(f"{name}: {n if n is not None else 'not running'}" for name, n in merged.items()),
            hint="echo 1 > /sys/kernel/mm/ksm/run, then wait: ksmd merges a page only after seeing it unchanged "
            "on two scans of every mergeable page on the host (raise pages_to_scan to go faster)",
        )
    yield _measured(facts, p)


def _merging(uuid: str | None) -> int | None:
    pid = hostmem.qemu_pid(uuid) if uuid else None
    return hostmem.merging_pages(pid) if pid else None


def _same(
    facts: dict[str, Any] | str, truth: dict[str, Any], key: str, what: str, hint: str, check_id: str | None = None
) -> Check:
    return check(
        check_id or key,
        f"{what}: your reading matches the host",
        _fact(facts, key) == truth[key],
        expected=truth[key],
        actual=_fact(facts, key),
        hint=hint,
    )


def _measured(facts: dict[str, Any] | str, p: MemVirtParams) -> Check:
    sharing, saved = _fact(facts, "pages_sharing"), _fact(facts, "saved_mib")
    if p.ksm_mode == "measure":
        counted = isinstance(sharing, int) and not isinstance(sharing, bool) and sharing > 0
        arithmetic = counted and isinstance(saved, int | float) and abs(saved - sharing * 4 / 1024) <= 1
        return check(
            "ksm-measured",
            "you measured what KSM saves: pages_sharing and the memory it stands for",
            arithmetic,
            expected="pages_sharing > 0 and saved_mib = pages_sharing x 4 KiB",
            actual=f"pages_sharing {sharing}, saved_mib {saved}",
            hint="pages_sharing counts the page mappings that point at a shared page instead of their own copy: "
            "that many 4 KiB pages saved (pages_shared is how many shared pages hold them)",
        )
    return check(
        "ksm-measured",
        f"you recorded that KSM cannot be measured on this host ({p.ksm_mode})",
        sharing is None and saved is None,
        expected="pages_sharing null, saved_mib null",
        actual=f"pages_sharing {sharing}, saved_mib {saved}",
        hint="KSM is absent here, or off and only root may start it: nothing was merged, so there is nothing to "
        "measure. Record null, not a number",
    )
