"""The sriov lab's verdict against the host's own sysfs (host.sriov()), graded on libvirt's test driver."""

from __future__ import annotations

import json
from pathlib import Path

from kvmlab.connection import Connection
from kvmlab.grading import Report, collect
from kvmlab.host import Host
from kvmlab.labs import registry
from kvmlab.labs.sriov import SriovParams
from kvmlab.resources.pci import SriovPf
from kvmlab.resources.sriov import SriovFacts
from kvmlab.session import LabSession
from kvmlab.trainee import Trainee


def _params(conn: Connection) -> SriovParams:
    params = LabSession(registry.get("sriov"), Trainee("default"), conn).params
    assert isinstance(params, SriovParams)
    Path(params.verdict_file).parent.mkdir(parents=True, exist_ok=True)
    return params


def _verdict_rows(conn: Connection, p: SriovParams) -> Report:
    lab = registry.get("sriov")
    step = next(s for s in lab.steps() if s.number == 1)
    return collect(lab.id, "default", lambda: step.rows(Host(conn), p))


def test_the_verdict_is_the_pf_names_sorted_and_the_group_count() -> None:
    facts = SriovFacts((SriovPf("ens2f0", "0000:3b:00.1", 64, 0), SriovPf("ens1f0", "0000:3b:00.0", 64, 8)), 42)
    assert facts.verdict() == {"sriov_pfs": ["ens1f0", "ens2f0"], "iommu_groups": 42}


def test_a_verdict_that_looked_passes(test_host: Connection) -> None:
    p = _params(test_host)
    Path(p.verdict_file).write_text(json.dumps(Host(test_host).sriov().verdict()))
    report = _verdict_rows(test_host, p)
    assert report.passed, [(c.id, c.actual) for c in report.checks]


def test_a_count_written_as_text_or_a_broken_file_fails_and_says_why(test_host: Connection) -> None:
    p = _params(test_host)
    truth = Host(test_host).sriov().verdict()
    Path(p.verdict_file).write_text(json.dumps({**truth, "iommu_groups": str(truth["iommu_groups"])}))
    assert _verdict_rows(test_host, p).failed_ids() == ["verdict-iommu"]
    Path(p.verdict_file).write_text("{not json")
    report = _verdict_rows(test_host, p)
    assert report.failed_ids() == ["verdict-sriov", "verdict-iommu"]
    assert all("not JSON" in c.actual for c in report.checks)


def test_no_parameter_gives_the_verdict_away(test_host: Connection) -> None:
    shown = _params(test_host).as_dict()
    assert not {"host_has_sriov", "sriov_pfs", "iommu_groups"} & shown.keys()
