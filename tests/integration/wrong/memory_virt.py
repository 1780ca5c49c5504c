"""Known-wrong work in the memory-virt lab: misread host facts, a guest still opted out of KSM, KSM never on.

Each is the reference solution with one mistake a trainee makes. Which
checks fail depends on what the host allows for KSM (measured where it runs
or may be started, as on the build hosts, where the tests run as root).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kvmlab.labs.memory_virt import (
    SCAN_PAGES,
    MemVirtParams,
    restart,
    wait_for_merging,
    without_nosharepages,
)
from kvmlab.resources import hostmem
from kvmlab.toolkit import Toolkit
from tests.integration.wrong import Wrong

LAB = "memory-virt"
MEASURE = hostmem.ksm_mode() == "measure"
KSM = {"ksm-merging"} if MEASURE else set()

Facts = Callable[[dict[str, Any]], None]


def _work(
    share: str = "restart", ksm_on: bool = True, facts: Facts = lambda f: None, counter: str = "pages_sharing"
) -> Callable[[Toolkit], None]:
    """The solution, except: ``share`` none / config (no power cycle) / restart; KSM left off; facts misread;
    ``counter``: the KSM counter read for pages_sharing."""

    def apply(s: Toolkit) -> None:
        p = s.params
        assert isinstance(p, MemVirtParams)
        if share != "none":
            Path(p.xml).write_text(without_nosharepages(s.virsh("dumpxml", "--inactive", p.domain2)))
            s.virsh("define", p.xml)
        if share == "restart":
            restart(s, p.domain2)
        found: dict[str, Any] = s.host.memory.readings(p.accel)
        found.update(ksm_available=p.ksm_available, ksm_run_at_start=p.ksm_run_at_start)
        found.update(pages_sharing=None, saved_mib=None)
        if p.ksm_mode == "measure":
            state = hostmem.ksm()
            if ksm_on and state.writable:
                (Path(p.ksm_dir) / "pages_to_scan").write_text(f"{SCAN_PAGES}\n")
                (Path(p.ksm_dir) / "run").write_text("1\n")
            if ksm_on:
                # Only the guest that may share is waited for: the other one never merges.
                wait_for_merging(s, (p.domain1, p.domain2) if share == "restart" else (p.domain1,))
            sharing = (getattr(hostmem.ksm(), counter) or 0) if ksm_on else 0
            found.update(pages_sharing=sharing, saved_mib=round(sharing * 4 / 1024, 1))
        facts(found)
        Path(p.facts).write_text(json.dumps(found, indent=1) + "\n")

    return apply


def _thp_first_word(f: dict[str, Any]) -> None:
    """`always [madvise] never`: the first word is a choice on offer, the bracketed one is in force."""
    words = hostmem.THP_ENABLED.read_text().split()
    f["thp_enabled"] = next(w for w in words if not w.startswith("["))


def _hugepage_size_in_mib(f: dict[str, Any]) -> None:
    f["hugepage_size_kib"] = f["hugepage_size_kib"] // 1024


def _ept_everywhere(f: dict[str, Any]) -> None:
    """ "KVM uses EPT" learnt by heart, on a host that has none (or runs TCG)."""
    f["translation"] = "ept" if f["translation"] != "ept" else "shadow"


WRONG = [
    Wrong("thp-mode-misread", _work(facts=_thp_first_word), frozenset({"thp"})),
    Wrong("hugepage-size-in-mib", _work(facts=_hugepage_size_in_mib), frozenset({"hugepages"})),
    Wrong("ept-assumed", _work(facts=_ept_everywhere), frozenset({"translation"})),
    Wrong("nosharepages-kept", _work(share="none"), frozenset({"share-pages"} | KSM)),
    # mem-merge=off is a QEMU start option: the running guest keeps it until it is power-cycled.
    Wrong("nosharepages-removed-without-restart", _work(share="config"), frozenset({"share-pages"} | KSM)),
]
if MEASURE:
    # pages_shared is how many KSM pages hold the merged ones; the pages saved are pages_sharing (the hint's point).
    WRONG.append(Wrong("pages-shared-recorded", _work(counter="pages_shared"), frozenset({"ksm-measured"})))
if MEASURE and hostmem.ksm().run != 1:  # where KSM already runs, leaving it alone is not a mistake
    WRONG.append(Wrong("ksm-never-turned-on", _work(ksm_on=False), frozenset({"ksm-merging", "ksm-measured"})))
