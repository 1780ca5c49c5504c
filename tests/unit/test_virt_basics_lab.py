"""virt-basics grades the trainee's verdict against the *cached* one: a check never boots a guest to decide."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from graders import virt_basics
from kvmlab import accel, paths
from kvmlab.connection import Connection
from kvmlab.grading import Check
from kvmlab.host import Host
from kvmlab.labs.virt_basics import BasicsParams


def _params(tmp_path: Path) -> BasicsParams:
    return BasicsParams(
        pv_domain="alice-vm-pv",
        emu_domain="alice-vm-emu",
        network="alice-basicsnet",
        emu_disk=str(tmp_path / "emu.qcow2"),
        emu_console_log=str(tmp_path / "emu.console.log"),
        emu_xml=str(tmp_path / "emu.xml"),
        verdict_file=str(tmp_path / "accel-verdict.txt"),
        uri="test:///default",
    )


def _verdict_row(test_host: Connection, p: BasicsParams) -> Check:
    (row,) = virt_basics.verdict.rows(Host(test_host), p)
    return row


def test_without_a_cached_verdict_the_check_says_to_run_the_doctor(test_host: Connection, tmp_path: Path) -> None:
    p = _params(tmp_path)
    Path(p.verdict_file).write_text("tcg\n")
    row = _verdict_row(test_host, p)
    assert not row.passed
    assert "kvmlab doctor" in row.expected and "kvmlab doctor" in row.hint
    assert not (paths.cache_dir() / "accel.json").exists(), "grading must not decide (boot a guest) by itself"


def test_the_trainees_word_is_compared_with_the_cached_verdict(test_host: Connection, tmp_path: Path) -> None:
    paths.ensure_dir(paths.cache_dir())
    cached = accel.Verdict("tcg", "test: /dev/kvm hangs guests", accel.cache_key())
    (paths.cache_dir() / "accel.json").write_text(json.dumps(asdict(cached)))
    p = _params(tmp_path)
    Path(p.verdict_file).write_text("  TCG\n")
    assert _verdict_row(test_host, p).passed
    Path(p.verdict_file).write_text("kvm\n")
    row = _verdict_row(test_host, p)
    assert not row.passed and row.expected == "tcg" and row.actual == "kvm"
