"""Lab: memory virtualization on this host: page tables, KSM, huge pages (seed question 18's neighbour).

Two identical tiny guests run; the second was defined with
``<memoryBacking><nosharepages/>`` (QEMU ``mem-merge=off``), so KSM never looks
at its RAM. The trainee reads how this host translates guest memory (EPT/NPT,
shadow page tables, or TCG's softmmu), its transparent and explicit huge
pages and its KSM state, lets the second guest's memory be shared again
(a definition change QEMU applies only when it starts), turns KSM on where
the host allows it and measures what it saves, and records the readings in
a JSON file the grader compares with the host.

KSM's knobs are host-wide. Where this process may write them, start takes a
lease on them (kvmlab.resources.hostmem): their values are recorded, and the
last lab to let go (finish) writes them back exactly, unmerging what KSM
merged if nothing was merged before. Where KSM is absent, or off and not
writable (an unprivileged user), the lab says so and the trainee records
that it cannot be measured here; the grader checks that answer instead.
"""

from __future__ import annotations

import json
import re
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from kvmlab.errors import GuestTimeout
from kvmlab.labs._restart import restart
from kvmlab.labs.base import Lab, Params, lab
from kvmlab.resources import hostmem
from kvmlab.toolkit import Toolkit
from kvmlab.xmlviews import parse

MERGE_TIMEOUT = 300.0  # ksmd scans every mergeable page on the host (other guests too) before it merges ours
SCAN_PAGES = 1000  # pages per wake-up while we watch (the default, 100, takes minutes on a busy host)
SETTLED = 0.01  # merging has settled when neither guest's merged pages moved by more than this between two scans


@dataclass(frozen=True)
class MemVirtParams(Params):
    domain1: str  # shares its memory (QEMU's default, mem-merge=on)
    domain2: str  # starts with <nosharepages/>: the trainee lets it share
    memory_mib: int  # both guests: identical
    facts: str  # the trainee's readings, JSON
    xml: str  # where to dump and edit domain2's definition
    accel: str  # kvm or tcg (kvmlab doctor's verdict)
    ksm_dir: str
    ksm_mode: str  # measure | read-only | absent (at start)
    ksm_available: bool  # at start
    ksm_run_at_start: int | None
    uri: str

    # The notebook prints your guests and files, not the readings you are asked to make.
    hidden: ClassVar[tuple[str, ...]] = ("accel", "ksm_dir", "ksm_mode", "ksm_available", "ksm_run_at_start")


def host_at_start(kit: Toolkit) -> dict[str, Any]:
    """What the lab saw when it started (recorded then): KSM's state before anybody changed it."""
    try:
        data: dict[str, Any] = json.loads(kit.path("host-at-start.json").read_text())
        return data
    except (OSError, ValueError):
        state = hostmem.ksm()
        return {"ksm_available": state.available, "ksm_run": state.run, "ksm_mode": hostmem.ksm_mode()}


def without_nosharepages(xml: str) -> str:
    """The domain XML with <nosharepages/> removed (and its <memoryBacking> if nothing else is in it)."""
    xml = re.sub(r"\s*<nosharepages/>", "", xml)
    return re.sub(r"\s*<memoryBacking>\s*</memoryBacking>", "", xml)


@lab("memory-virt", "Memory virtualization: EPT/NPT vs shadow pages vs softmmu, KSM and huge pages", seed=(18,))
class MemoryVirt(Lab):
    def params(self, kit: Toolkit) -> MemVirtParams:
        at_start = host_at_start(kit)
        return MemVirtParams(
            domain1=kit.name("vm-ksm1"),
            domain2=kit.name("vm-ksm2"),
            memory_mib=192,
            facts=str(kit.path("facts.json")),
            xml=str(kit.path(f"{kit.name('vm-ksm2')}.xml")),
            accel=kit.verdict.accel,
            ksm_dir=str(hostmem.KSM_DIR),
            ksm_mode=str(at_start["ksm_mode"]),
            ksm_available=bool(at_start["ksm_available"]),
            ksm_run_at_start=at_start["ksm_run"],
            uri=kit.uri,
        )

    def start(self, kit: Toolkit) -> None:
        kit.make_dir()
        record = kit.path("host-at-start.json")
        kit.write_file(record, json.dumps(host_at_start(kit)) + "\n")  # kept by a second start
        p = self.params(kit)
        if hostmem.ksm().writable:
            # KSM's knobs are the host's: hold them, so finish puts back exactly what was there.
            holder = f"{kit.trainee.name}/{self.id}"
            lease = kit.claim("ksm-lease", holder)
            hostmem.acquire_ksm(holder)
            kit.owners.confirm(lease)
        kit.expect("file", p.facts)
        kit.expect("file", p.xml)
        kit.lab_guest(kit.guest_spec("vm-ksm1", memory_mib=p.memory_mib))
        self._unshared_guest(kit, p)

    def _unshared_guest(self, kit: Toolkit, p: MemVirtParams) -> None:
        kit.lab_guest(kit.guest_spec("vm-ksm2", memory_mib=p.memory_mib), edit=_with_nosharepages)

    def solve(self, kit: Toolkit) -> None:
        p = self.params(kit)
        # 1. Let the second guest share: edit the definition, then a power cycle (mem-merge is a QEMU start option).
        Path(p.xml).write_text(without_nosharepages(kit.virsh("dumpxml", "--inactive", p.domain2)))
        kit.virsh("define", p.xml)
        live = kit.host.domain(p.domain2).live
        if live is None or live.nosharepages:
            restart(kit, p.domain2)  # QEMU reads <nosharepages/> (mem-merge) only when it starts
        # 2. The host's readings, KSM as the lab found it at start.
        facts: dict[str, Any] = kit.host.memory.readings(p.accel)
        facts.update(ksm_available=p.ksm_available, ksm_run_at_start=p.ksm_run_at_start)
        facts.update(pages_sharing=None, saved_mib=None)
        # 3. Where KSM can run here: on, scanning faster while we watch, until merging settled in both guests.
        if p.ksm_mode == "measure":
            ksm = Path(p.ksm_dir)
            state = hostmem.ksm()
            if state.writable and (state.pages_to_scan or 0) < SCAN_PAGES:
                (ksm / "pages_to_scan").write_text(f"{SCAN_PAGES}\n")
            if state.writable and state.run != 1:
                (ksm / "run").write_text("1\n")
            wait_for_merging(kit, (p.domain1, p.domain2))
            sharing = kit.host.memory.ksm.pages_sharing or 0
            facts.update(pages_sharing=sharing, saved_mib=round(sharing * hostmem.PAGE_KIB / 1024, 1))
        # 4. The readings, for the grader.
        Path(p.facts).write_text(json.dumps(facts, indent=1) + "\n")


def _with_nosharepages(xml: str) -> str:
    root = parse(xml, "the lab guest's XML")
    backing = ET.Element("memoryBacking")
    ET.SubElement(backing, "nosharepages")
    names = [child.tag for child in root]
    root.insert(names.index("currentMemory") + 1, backing)
    return _tostring(root)


def _tostring(root: ET.Element) -> str:
    ET.indent(root)
    return ET.tostring(root, encoding="unicode")


def merging_pages(kit: Toolkit, domain: str) -> int | None:
    """Pages of this guest's QEMU that KSM merged; None when the guest does not run."""
    vm = kit.host.domain(domain)
    return kit.host.memory.merging_pages(vm.uuid) if vm.is_running else None


def _settled(before: dict[str, int], now: dict[str, int]) -> bool:
    return all(abs(now[d] - before[d]) <= max(SETTLED * before[d], 16) for d in now)


def wait_for_merging(kit: Toolkit, domains: tuple[str, ...], timeout: float = MERGE_TIMEOUT) -> dict[str, int]:
    """Wait until KSM has merged pages of every one of ``domains``, and a full scan later merges no more.

    A reading taken while ksmd is still merging (it merges a page only on its
    second sight of it) is below what the same counters say a minute later.
    """
    deadline = time.monotonic() + timeout
    before: dict[str, int] = {}
    scans = -1
    while True:
        merged = {d: merging_pages(kit, d) or 0 for d in domains}
        full_scans = kit.host.memory.ksm.full_scans or 0
        if all(merged.values()) and before and full_scans > scans and _settled(before, merged):
            return merged
        if full_scans > scans or not all(merged.values()):
            before, scans = merged, full_scans
        if time.monotonic() > deadline:
            idle = [d for d, n in merged.items() if not n]
            raise GuestTimeout(
                f"KSM merged no pages of {', '.join(idle)} within {timeout:.0f} s"
                if idle
                else f"KSM was still merging pages of {', '.join(domains)} after {timeout:.0f} s",
                "is KSM running (cat /sys/kernel/mm/ksm/run)? Does the guest run with <nosharepages/>? "
                "On a host with much mergeable memory, raise pages_to_scan and wait longer",
            )
        time.sleep(1)
