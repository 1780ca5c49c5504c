"""break-fix's fault choice (per trainee, the instructor's override, the recorded fault) and what it prints."""

from __future__ import annotations

import pytest

from graders import break_fix as grader
from kvmlab.connection import Connection
from kvmlab.errors import UsageError
from kvmlab.host import Host
from kvmlab.labs import registry
from kvmlab.labs.break_fix import FAULT_ENV, FAULTS, BreakFixParams
from kvmlab.labs.memory_virt import MemVirtParams, without_nosharepages
from kvmlab.session import LabSession
from kvmlab.trainee import Trainee


def _params(conn: Connection, trainee: str = "alice") -> BreakFixParams:
    p = LabSession(registry.get("break-fix"), Trainee(trainee), conn).params
    assert isinstance(p, BreakFixParams)
    return p


def test_the_fault_varies_by_trainee_and_every_fault_is_drawn(
    test_host: Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(FAULT_ENV, raising=False)
    monkeypatch.setenv("KVMLAB_CLASS_SEED", "spring")
    drawn = {_params(test_host, f"t{n}").fault for n in range(60)}
    assert drawn == set(FAULTS)
    assert _params(test_host, "t1").fault == _params(test_host, "t1").fault  # stable


def test_the_default_trainee_gets_the_first_fault(test_host: Connection, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(FAULT_ENV, raising=False)
    monkeypatch.delenv("KVMLAB_CLASS_SEED", raising=False)
    assert _params(test_host, "default").fault == FAULTS[0]


def test_an_instructor_forces_a_fault_and_the_recorded_one_wins_later(
    test_host: Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(FAULT_ENV, "pool")
    p = _params(test_host)
    assert p.fault == "pool"
    record = LabSession(registry.get("break-fix"), Trainee("alice"), test_host).toolkit.path("fault")
    record.parent.mkdir(parents=True)
    record.write_text("bridge\n")  # what start injected
    assert _params(test_host).fault == "bridge"
    monkeypatch.setenv(FAULT_ENV, "nonsense")
    assert _params(test_host).fault == "bridge"
    record.unlink()
    with pytest.raises(UsageError, match="nonsense"):
        _params(test_host)


def test_printed_parameters_say_where_to_look_not_what_is_wrong(test_host: Connection) -> None:
    shown = _params(test_host).as_dict()
    assert set(shown) == {"domain", "image", "log", "xml", "uri", "bridge"}  # every fault's guest is on the bridge
    assert shown["log"] == "/var/log/libvirt/qemu/alice-vm-fix.log"


def test_memory_virt_hides_the_readings_it_asks_for(test_host: Connection) -> None:
    p = LabSession(registry.get("memory-virt"), Trainee("alice"), test_host).params
    assert isinstance(p, MemVirtParams)
    assert not {"accel", "ksm_mode", "ksm_run_at_start", "ksm_available"} & set(p.as_dict())
    assert p.domain1 == "alice-vm-ksm1" and p.domain2 == "alice-vm-ksm2"


def test_nosharepages_is_removed_with_its_empty_memory_backing() -> None:
    xml = (
        "<domain>\n  <memory unit='KiB'>196608</memory>\n  <memoryBacking>\n    <nosharepages/>\n"
        "  </memoryBacking>\n  <vcpu>1</vcpu>\n</domain>"
    )
    assert without_nosharepages(xml) == "<domain>\n  <memory unit='KiB'>196608</memory>\n  <vcpu>1</vcpu>\n</domain>"
    kept = "<domain><memoryBacking><nosharepages/><hugepages/></memoryBacking></domain>"
    assert without_nosharepages(kept) == "<domain><memoryBacking><hugepages/></memoryBacking></domain>"


@pytest.mark.parametrize("fault", FAULTS)
def test_before_the_guest_runs_the_rows_about_the_cause_do_not_name_the_fault(
    test_host: Connection, monkeypatch: pytest.MonkeyPatch, fault: str
) -> None:
    monkeypatch.setenv(FAULT_ENV, fault)
    p = _params(test_host)
    rows = list(grader.cause.rows(Host(test_host), p))  # the guest is not defined here: it does not run
    assert rows and all(r.title == grader.SEALED_TITLE and not r.hint for r in rows)
    # The Chinese edition is sealed too: its titles would otherwise name the fault.
    assert all(r.title_zh == grader.SEALED_TITLE_ZH and not r.hint_zh for r in rows)
    words = {"backing", "permission", "pool", "emulator", "bridge", "space", "policy", "mode", "volume"}
    said = " ".join(f"{r.title} {r.expected} {r.actual}" for r in rows).lower()
    assert not {w for w in words if w in said}, said
