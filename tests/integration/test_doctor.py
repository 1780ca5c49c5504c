"""kvmlab doctor and the accelerator verdict, decided by trying on this host."""

from __future__ import annotations

import json
import time

from kvmlab import accel, hostinfo
from tests.helpers import kvmlab


def test_doctor_json_has_the_documented_shape(system: object) -> None:
    proc = kvmlab("doctor", "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    data = json.loads(proc.stdout)
    assert data["accel"] in ("kvm", "tcg") and data["accel_reason"]
    assert {"device", "module", "usable"} <= set(data["kvm"])
    assert data["libvirt"]["uri"] == "qemu:///system" and data["libvirt"]["ok"] is True
    assert data["libvirt"]["version"]
    assert data["guest"]["ready"] is True and data["guest"]["path"]
    assert all({"name", "ok", "detail"} <= set(row) for row in data["checks"])
    assert data["kvm"]["usable"] == (data["accel"] == "kvm")


def test_verdict_is_decided_by_booting_and_then_cached(system: object) -> None:
    verdict = accel.decide(force=True)
    kvm = hostinfo.kvm_info()
    if kvm.accessible:
        assert verdict.tried[0].startswith("kvm:"), "KVM must be tried before falling back"
    if "kvm_pvm" in kvm.modules:
        # On PVM-backed hosts a normal guest kernel hangs under KVM.
        assert verdict.accel == "tcg" and "kvm_pvm" in verdict.reason
    if verdict.accel == "kvm":
        assert verdict.kvm_boot_seconds is not None
    else:
        assert verdict.tcg_boot_seconds is not None
    started = time.monotonic()
    again = accel.decide()
    assert again.cached and again.accel == verdict.accel
    assert time.monotonic() - started < 1.0
