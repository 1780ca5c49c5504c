"""Host memory facts (KSM, THP, huge pages, page-table mode) and the KSM lease, on sysfs-shaped directories."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from kvmlab import paths
from kvmlab.connection import Connection
from kvmlab.ownership import Owned
from kvmlab.resources import hostmem
from kvmlab.sandbox import exists, remove


def _ksm_dir(root: Path, run: str = "0", sharing: str = "0", to_scan: str = "100", sleep: str = "20") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    values = {
        "run": run,
        "pages_shared": "0",
        "pages_sharing": sharing,
        "pages_to_scan": to_scan,
        "sleep_millisecs": sleep,
        "full_scans": "3",
    }
    for name, value in values.items():
        (root / name).write_text(value + "\n")
    return root


def _knobs(root: Path) -> dict[str, str]:
    return {k: (root / k).read_text().strip() for k in hostmem.KSM_KNOBS}


def test_ksm_is_read_from_its_sysfs_directory(tmp_path: Path) -> None:
    root = _ksm_dir(tmp_path / "ksm", run="1", sharing="2560")
    state = hostmem.ksm(root)
    assert state.available and state.run == 1 and state.pages_sharing == 2560
    assert state.saved_kib == 2560 * 4 and state.full_scans == 3
    assert hostmem.ksm_mode(root) == "measure"  # running: merging can be seen, written or not


def test_a_kernel_without_ksm_is_absent(tmp_path: Path) -> None:
    state = hostmem.ksm(tmp_path / "no-ksm")
    assert not state.available and state.run is None and not state.measurable
    assert hostmem.ksm_mode(tmp_path / "no-ksm") == "absent"


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write a read-only file")
def test_ksm_off_and_not_writable_cannot_be_measured(tmp_path: Path) -> None:
    root = _ksm_dir(tmp_path / "ksm")
    (root / "run").chmod(0o444)
    assert hostmem.ksm_mode(root) == "read-only"


def test_the_last_lease_holder_restores_the_knobs_and_unmerges(tmp_path: Path) -> None:
    root = _ksm_dir(tmp_path / "ksm")
    assert hostmem.acquire_ksm("alice/memory-virt", root) == {
        "run": "0",
        "pages_to_scan": "100",
        "sleep_millisecs": "20",
    }
    (root / "run").write_text("1")  # what the trainee does
    (root / "pages_to_scan").write_text("1000")
    hostmem.acquire_ksm("bob/memory-virt", root)
    assert hostmem.ksm_lease_held("alice/memory-virt") and hostmem.ksm_lease_held("bob/memory-virt")

    assert hostmem.release_ksm("alice/memory-virt") is None
    assert _knobs(root) == {"run": "1", "pages_to_scan": "1000", "sleep_millisecs": "20"}, "bob still measures"

    assert hostmem.release_ksm("bob/memory-virt") is None
    assert _knobs(root) == {"run": "0", "pages_to_scan": "100", "sleep_millisecs": "20"}
    assert not (paths.host_dir() / "ksm-lease.json").exists()
    assert hostmem.release_ksm("bob/memory-virt") is None  # a second release is a no-op


def test_a_lease_taken_while_ksm_ran_leaves_it_running(tmp_path: Path) -> None:
    root = _ksm_dir(tmp_path / "ksm", run="1", sharing="500", to_scan="250")
    hostmem.acquire_ksm("alice/memory-virt", root)
    (root / "pages_to_scan").write_text("1000")
    hostmem.release_ksm("alice/memory-virt")
    assert _knobs(root) == {"run": "1", "pages_to_scan": "250", "sleep_millisecs": "20"}


def test_pages_merged_before_the_lease_are_not_unmerged(tmp_path: Path) -> None:
    root = _ksm_dir(tmp_path / "ksm", run="0", sharing="700")
    hostmem.acquire_ksm("alice/memory-virt", root)
    (root / "run").write_text("1")
    data = json.loads((paths.host_dir() / "ksm-lease.json").read_text())
    assert data["pages_sharing_before"] == 700
    hostmem.release_ksm("alice/memory-virt")
    assert (root / "run").read_text() == "0"  # stopped again, but never run=2: those merges were someone else's


def test_finish_lets_go_of_the_lease_through_the_sandbox(tmp_path: Path, test_host: Connection) -> None:
    root = _ksm_dir(tmp_path / "ksm")
    hostmem.acquire_ksm("alice/memory-virt", root)
    (root / "run").write_text("1")
    assert exists(test_host, "ksm-lease", "alice/memory-virt")
    assert remove(test_host, Owned("ksm-lease", "alice/memory-virt", "memory-virt"), "alice") is None
    assert not exists(test_host, "ksm-lease", "alice/memory-virt")
    assert (root / "run").read_text() == "0"


def test_thp_mode_is_the_bracketed_word(tmp_path: Path) -> None:
    enabled = tmp_path / "enabled"
    enabled.write_text("always [madvise] never\n")
    assert hostmem.thp_mode(enabled) == "madvise"
    enabled.write_text("[always] madvise never\n")
    assert hostmem.thp_mode(enabled) == "always"
    assert hostmem.thp_mode(tmp_path / "absent") is None


def test_meminfo_counts_huge_pages_and_sizes(tmp_path: Path) -> None:
    meminfo = tmp_path / "meminfo"
    meminfo.write_text(
        "MemTotal:       24684092 kB\nAnonHugePages:    507904 kB\nHugePages_Total:       4\n"
        "Hugepagesize:       2048 kB\n"
    )
    info = hostmem.meminfo_kib(meminfo)
    assert info["HugePages_Total"] == 4 and info["Hugepagesize"] == 2048 and info["AnonHugePages"] == 507904


@pytest.mark.parametrize(
    ("accel", "module", "value", "expected"),
    [
        ("tcg", "kvm_intel/parameters/ept", "Y", "softmmu"),
        ("kvm", "kvm_intel/parameters/ept", "Y", "ept"),
        ("kvm", "kvm_intel/parameters/ept", "N", "shadow"),
        ("kvm", "kvm_amd/parameters/npt", "1", "npt"),
        ("kvm", "kvm_pvm/parameters/force", "0", "shadow"),
    ],
)
def test_memory_translation_follows_the_accelerator_and_the_kvm_module(
    tmp_path: Path, accel: str, module: str, value: str, expected: str
) -> None:
    (tmp_path / module).parent.mkdir(parents=True)
    (tmp_path / module).write_text(value + "\n")
    assert hostmem.memory_translation(accel, tmp_path) == expected


def test_qemu_is_found_by_the_uuid_on_its_command_line(tmp_path: Path) -> None:
    uuid = "5f0c1d52-7d6f-4a5e-9d55-0b4f4f2a9c11"
    for pid, argv in {
        "100": ["/usr/bin/qemu-system-x86_64", "-name", "guest=a", "-uuid", uuid, "-machine", "pc,mem-merge=off"],
        "101": ["/bin/sh", "-c", f"echo -uuid {uuid}"],
        "102": ["/usr/bin/qemu-system-x86_64", "-uuid", "00000000-0000-0000-0000-000000000000"],
    }.items():
        (tmp_path / pid).mkdir()
        (tmp_path / pid / "cmdline").write_bytes(b"\0".join(a.encode() for a in argv) + b"\0")
    (tmp_path / "100" / "ksm_merging_pages").write_text("1234\n")
    assert hostmem.qemu_pid(uuid, tmp_path) == 100
    assert hostmem.merging_pages(100, tmp_path) == 1234 and hostmem.merging_pages(102, tmp_path) is None
    assert hostmem.mem_merge_off(100, tmp_path) and not hostmem.mem_merge_off(102, tmp_path)
