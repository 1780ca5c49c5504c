"""How this host handles guest memory, as host facts: KSM, transparent and explicit huge pages, page-table mode.

Read from the kernel's own files (``/sys/kernel/mm/ksm``,
``/sys/kernel/mm/transparent_hugepage``, ``/proc/meminfo``,
``/proc/PID/ksm_merging_pages``), the files a trainee reads with ``cat``.

KSM's knobs are host-wide and shared by every trainee on the host. A lab that
lets trainees turn KSM on holds a *lease*: the first holder records the
knobs' values, every holder is listed, and the last one to let go writes the
recorded values back (see :func:`acquire_ksm` and :func:`release_ksm`), so two
trainees working at the same time never switch KSM off under each other and
the host ends up exactly as it was.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kvmlab import paths
from kvmlab.sharedstate import locked_json

KSM_DIR = Path("/sys/kernel/mm/ksm")
THP_ENABLED = Path("/sys/kernel/mm/transparent_hugepage/enabled")
PROC_MEMINFO = Path("/proc/meminfo")
PROC = Path("/proc")
SYS_MODULE = Path("/sys/module")

# The knobs a lab may let trainees change, restored by the last lease holder.
KSM_KNOBS = ("run", "pages_to_scan", "sleep_millisecs")
PAGE_KIB = 4  # KSM merges base pages (4 KiB on x86_64)


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def _int(path: Path) -> int | None:
    text = _read(path)
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


# -- KSM -------------------------------------------------------------------------


@dataclass(frozen=True)
class Ksm:
    """/sys/kernel/mm/ksm as it is now."""

    available: bool  # the kernel was built with KSM (the directory exists)
    run: int | None  # 0 stopped, 1 running, 2 stopped and everything unmerged
    pages_shared: int | None  # KSM pages in use (each stands for several identical pages)
    pages_sharing: int | None  # how many more places use them: the pages saved
    pages_to_scan: int | None
    sleep_millisecs: int | None
    full_scans: int | None
    writable: bool  # this process may change run (root, on a host that lets it)

    @property
    def saved_kib(self) -> int | None:
        return None if self.pages_sharing is None else self.pages_sharing * PAGE_KIB

    @property
    def measurable(self) -> bool:
        """Merging can be seen here: KSM runs already, or this process may start it."""
        return self.available and (self.run == 1 or self.writable)


def ksm(root: Path = KSM_DIR) -> Ksm:
    run_file = root / "run"
    return Ksm(
        available=run_file.exists(),
        run=_int(run_file),
        pages_shared=_int(root / "pages_shared"),
        pages_sharing=_int(root / "pages_sharing"),
        pages_to_scan=_int(root / "pages_to_scan"),
        sleep_millisecs=_int(root / "sleep_millisecs"),
        full_scans=_int(root / "full_scans"),
        writable=run_file.exists() and os.access(run_file, os.W_OK),
    )


def ksm_mode(root: Path = KSM_DIR) -> str:
    """``measure`` (merging can be seen here), ``read-only`` (KSM is off and only root may start it) or ``absent``."""
    state = ksm(root)
    if not state.available:
        return "absent"
    return "measure" if state.measurable else "read-only"


def merging_pages(pid: int, proc: Path = PROC) -> int | None:
    """Pages of this process that KSM has merged (``/proc/PID/ksm_merging_pages``, Linux 5.19+); None if unreadable."""
    return _int(proc / str(pid) / "ksm_merging_pages")


def qemu_pid(uuid: str, proc: Path = PROC) -> int | None:
    """The QEMU process running the domain with this UUID (its command line carries ``-uuid UUID``)."""
    for entry in proc.iterdir() if proc.is_dir() else []:
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and "qemu" in Path(argv[0].decode(errors="replace")).name:
            for i, arg in enumerate(argv[:-1]):
                if arg == b"-uuid" and argv[i + 1].decode(errors="replace") == uuid:
                    return int(entry.name)
    return None


def mem_merge_off(pid: int, proc: Path = PROC) -> bool:
    """QEMU was started with ``mem-merge=off`` (libvirt's ``<nosharepages/>``): KSM never sees its RAM."""
    try:
        cmdline = (proc / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ")
    except OSError:
        return False
    return b"mem-merge=off" in cmdline


# -- the KSM lease ------------------------------------------------------------------


def _lease_path() -> Path:
    return paths.host_dir() / "ksm-lease.json"


def _lease() -> contextlib.AbstractContextManager[dict[str, Any]]:
    """The host-wide KSM lease: who changed KSM and what to restore (the file goes once nobody holds it)."""
    return locked_json(_lease_path())


def ksm_lease_held(holder: str) -> bool:
    try:
        data = json.loads(_lease_path().read_text())
    except (OSError, ValueError):
        return False
    return holder in data.get("holders", [])


def acquire_ksm(holder: str, root: Path = KSM_DIR) -> dict[str, str]:
    """Hold KSM's knobs for ``holder`` ("trainee/lab"); the first holder records their values. Returns them."""
    with _lease() as data:
        if not data.get("holders"):
            state = ksm(root)
            data["root"] = str(root)
            data["previous"] = {k: v for k in KSM_KNOBS if (v := _read(root / k)) is not None}
            # Merged pages left by someone before us are theirs: we only undo our own.
            data["pages_sharing_before"] = state.pages_sharing or 0
            data["holders"] = []
        if holder not in data["holders"]:
            data["holders"].append(holder)
        return dict(data["previous"])


def release_ksm(holder: str) -> str | None:
    """Let go of the lease; the last holder writes the recorded values back. Returns a note if it could not."""
    with _lease() as data:
        holders = data.get("holders", [])
        if holder not in holders:
            return None
        holders.remove(holder)
        if holders:
            return None
        root = Path(data.get("root", str(KSM_DIR)))
        previous: dict[str, str] = data.get("previous", {})
        pages_before = data.get("pages_sharing_before", 0)
        data.clear()  # the last holder is gone: the lease file goes with it
        try:
            if previous.get("run") == "0" and pages_before == 0:
                # KSM was off with nothing merged: unmerge what it merged for us (run=2), then stop it (run=0).
                (root / "run").write_text("2")
            for knob in ("pages_to_scan", "sleep_millisecs", "run"):
                if knob in previous and _read(root / knob) != previous[knob]:
                    (root / knob).write_text(previous[knob])
        except OSError as err:
            return f"could not restore KSM's settings in {root} ({err.strerror}): they were {previous}"
        return None


# -- huge pages and page tables ------------------------------------------------


def thp_mode(path: Path = THP_ENABLED) -> str | None:
    """The bracketed choice of ``always [madvise] never``; None where the kernel has no THP."""
    text = _read(path)
    match = re.search(r"\[(\w+)\]", text or "")
    return match.group(1) if match else None


def meminfo_kib(path: Path = PROC_MEMINFO) -> dict[str, int]:
    """/proc/meminfo as numbers: kB values in KiB, the HugePages_* counters as page counts."""
    info: dict[str, int] = {}
    for line in (_read(path) or "").splitlines():
        key, _, rest = line.partition(":")
        words = rest.split()
        if words and words[0].isdigit():
            info[key.strip()] = int(words[0])
    return info


def memory_translation(accel: str, sys_module: Path = SYS_MODULE) -> str:
    """How guest-virtual addresses become host-physical here: ``ept``, ``npt``, ``shadow`` or ``softmmu``.

    Under TCG, QEMU's softmmu translates every guest access in software (its
    TLB), whatever the CPU offers. Under KVM, EPT (Intel) or NPT (AMD) when the
    KVM module uses them, otherwise KVM's shadow page tables (as kvm_pvm does
    for guests nested in a VM without EPT).
    """
    if accel != "kvm":
        return "softmmu"
    if (_read(sys_module / "kvm_intel" / "parameters" / "ept") or "").upper() in ("Y", "1"):
        return "ept"
    if (_read(sys_module / "kvm_amd" / "parameters" / "npt") or "").upper() in ("Y", "1"):
        return "npt"
    return "shadow"


class HostMemory:
    """How this host handles guest memory, as graders see it (``host.memory``): KSM, huge pages, page tables."""

    def __init__(self, ksm_root: Path = KSM_DIR, proc: Path = PROC) -> None:
        self.ksm_root = ksm_root
        self.proc = proc

    @property
    def ksm(self) -> Ksm:
        """/sys/kernel/mm/ksm now: run, pages_shared, pages_sharing, full_scans..."""
        return ksm(self.ksm_root)

    @property
    def thp_mode(self) -> str | None:
        return thp_mode()

    def meminfo(self) -> dict[str, int]:
        """/proc/meminfo as numbers (HugePages_Total, Hugepagesize in KiB...)."""
        return meminfo_kib()

    @staticmethod
    def translation(accel: str) -> str:
        """How guest addresses become host-physical ones here: ept, npt, shadow or softmmu (TCG)."""
        return memory_translation(accel)

    def readings(self, accel: str) -> dict[str, Any]:
        """What a trainee reads about this host's guest memory, by the names the memory-virt lab records them."""
        info = self.meminfo()
        return {
            "translation": self.translation(accel),
            "thp_enabled": self.thp_mode,
            "hugepages_total": info.get("HugePages_Total"),
            "hugepage_size_kib": info.get("Hugepagesize"),
        }

    def qemu_pid(self, uuid: str | None) -> int | None:
        """The QEMU process running the domain with this UUID."""
        return qemu_pid(uuid, self.proc) if uuid else None

    def merging_pages(self, uuid: str | None) -> int | None:
        """Pages of the QEMU running the domain with this UUID that KSM merged; None when it does not run."""
        pid = self.qemu_pid(uuid)
        return merging_pages(pid, self.proc) if pid else None
