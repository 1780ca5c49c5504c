"""break-fix on the real host, every fault: broken after start, fixed by solve, nothing left by finish.

The contract test covers the fault its trainee draws; this covers all six,
with the instructor's override (KVMLAB_BREAKFIX_FAULT) that start records.
"""

from __future__ import annotations

import os

import pytest

from kvmlab.labs import registry
from kvmlab.labs.break_fix import FAULT_ENV, FAULTS, BreakFixParams
from kvmlab.resources.bridge import SYS_NET
from kvmlab.session import LabSession
from kvmlab.trainee import Trainee
from tests.integration.conftest import Foreign

COMMON = {"guest-running", "data-intact"}
BROKEN = {  # what start breaks, fault by fault
    "backing": {"guest-running", "data-intact", "base-in-place"},
    "permissions": {"guest-running", "image-permissions"},
    "pool": {"guest-running", "pool-dir", "pool-active", "scratch-volume"},
    "emulator": {"guest-running", "emulator"},
    "bridge": {"guest-running", "nic-bridge", "nic-live"},
    "io-error": {"guest-running", "disk-space"},
}
CHECKS = {
    "backing": COMMON | {"backing-file", "base-in-place"},
    "permissions": COMMON | {"image-permissions"},
    "pool": COMMON | {"pool-dir", "pool-active", "scratch-volume"},
    "emulator": COMMON | {"emulator"},
    "bridge": COMMON | {"nic-bridge", "nic-live"},
    "io-error": COMMON | {"disk-space", "error-policy", "data-disk"},
}


@pytest.mark.parametrize("fault", FAULTS)
def test_each_fault_breaks_the_guest_and_the_solution_fixes_its_cause(
    fault: str, foreign: Foreign, monkeypatch: pytest.MonkeyPatch
) -> None:
    session = LabSession(registry.get("break-fix"), Trainee("tbfix"))
    session.finish()
    monkeypatch.setenv(FAULT_ENV, fault)
    try:
        session.start()
        p = session.params
        assert isinstance(p, BreakFixParams) and p.fault == fault
        monkeypatch.delenv(FAULT_ENV)  # from now on the fault recorded at start decides
        assert LabSession(session.lab, session.trainee).params.fault == fault  # type: ignore[attr-defined]

        report = session.check()
        assert {c.id for c in report.checks} == CHECKS[fault]
        assert set(report.failed_ids()) == BROKEN[fault]
        assert "fault" not in p.as_dict(), "the printed parameters must not give the fault away"

        session.start()  # idempotent: neither fixes nor breaks again
        assert set(session.check().failed_ids()) == BROKEN[fault]

        session.solve()
        assert session.check().failed_ids() == []
        owned = session.owners.load().objects
    finally:
        session.finish()
    for obj in owned:
        if obj.kind == "mount":
            assert not os.path.ismount(obj.name)
        if obj.kind == "bridge":
            assert not (SYS_NET / obj.name).exists()
    assert not session.lab_dir.exists()
    foreign.assert_untouched()
