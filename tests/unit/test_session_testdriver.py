"""The lab contract's bookkeeping on libvirt's test driver: claim, record, roll back, finish."""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

import pytest

from kvmlab.connection import Connection
from kvmlab.errors import NotOwned
from kvmlab.grading import Check, Step, check
from kvmlab.host import Host
from kvmlab.labs.base import Lab, Params
from kvmlab.ownership import Owned
from kvmlab.session import LabSession
from kvmlab.toolkit import Toolkit
from kvmlab.trainee import Trainee

DOMAIN_XML = """<domain type='test'><name>{name}</name><memory>65536</memory><vcpu>1</vcpu>
<os><type>hvm</type></os></domain>"""
NETWORK_XML = "<network><name>{name}</name><ip address='192.168.144.1' netmask='255.255.255.0'/></network>"


class DefineOnly(Lab):
    """A lab whose start defines a domain and a network (no guest: test driver)."""

    id: ClassVar[str] = "define-only"
    title: ClassVar[str] = "test lab"
    topic: ClassVar[str] = "test"
    seed_questions: ClassVar[tuple[int, ...]] = ()
    notebook: ClassVar[str] = ""
    grader: ClassVar[str] = ""
    requires: ClassVar[tuple[str, ...]] = ("libvirt",)
    fail_after_define = False

    def params(self, kit: Toolkit) -> Params:
        return Params()

    def start(self, kit: Toolkit) -> None:
        kit.define_domain(DOMAIN_XML.format(name=kit.name("vm")))
        kit.define_network(NETWORK_XML.format(name=kit.name("net")))
        kit.expect("domain", kit.name("made-by-trainee"))
        if self.fail_after_define:
            raise RuntimeError("interrupted half-way")

    def solve(self, kit: Toolkit) -> None:
        return None

    def steps(self) -> list[Step]:
        return [Step(1, "define the guest", (), _vm_exists)]


def _vm_exists(host: Host, params: Params) -> Iterable[Check]:
    yield check("vm", "vm exists", host.domain("alice-vm").exists)


@pytest.fixture
def session(test_host: Connection) -> LabSession:
    return LabSession(DefineOnly(), Trainee("alice"), test_host)


def _names(conn: Connection) -> tuple[list[str], list[str]]:
    return (sorted(d.name() for d in conn.conn.listAllDomains()), sorted(n.name() for n in conn.conn.listAllNetworks()))


def test_start_records_uuid_and_finish_removes_only_owned(session: LabSession, test_host: Connection) -> None:
    session.start()
    record = session.owners.load()
    vm = record.find("domain", "alice-vm", test_host.uri)
    assert vm is not None and vm.state == "created" and vm.uuid
    assert _names(test_host) == (["alice-vm", "foreign-vm"], ["alice-net", "foreign-net"])
    session.finish()
    assert _names(test_host) == (["foreign-vm"], ["foreign-net"])
    assert session.owners.load().objects == []


def test_start_is_idempotent(session: LabSession, test_host: Connection) -> None:
    session.start()
    uuid = test_host.conn.lookupByName("alice-vm").UUIDString()
    session.start()
    assert test_host.conn.lookupByName("alice-vm").UUIDString() == uuid
    assert len(session.owners.load().objects) == 3


def test_start_refuses_a_name_held_by_a_foreign_object(test_host: Connection) -> None:
    test_host.conn.defineXML(DOMAIN_XML.format(name="alice-vm"))
    s = LabSession(DefineOnly(), Trainee("alice"), test_host)
    with pytest.raises(NotOwned, match="already exists and kvmlab did not make it"):
        s.start()
    # nothing half-made: the network was never created, the record is empty
    assert _names(test_host) == (["alice-vm", "foreign-vm"], ["foreign-net"])
    assert s.owners.load().objects == [] and s.owners.load().labs == {}


def test_failed_start_rolls_back_what_it_made(test_host: Connection) -> None:
    lab = DefineOnly()
    lab.fail_after_define = True
    s = LabSession(lab, Trainee("alice"), test_host)
    with pytest.raises(RuntimeError):
        s.start()
    assert _names(test_host) == (["foreign-vm"], ["foreign-net"])
    assert s.owners.load().objects == []


def test_finish_finds_owned_domain_by_uuid_not_name(session: LabSession, test_host: Connection) -> None:
    session.start()
    ours = test_host.conn.lookupByName("alice-vm")
    ours.undefine()  # someone removes our domain...
    foreign = test_host.conn.lookupByName("foreign-vm")
    foreign.destroy()
    foreign.rename("alice-vm", 0)  # ...and a foreign one takes its name
    session.finish()
    assert _names(test_host)[0] == ["alice-vm"]  # the impostor survives


def test_finish_leaves_an_expected_name_marked_as_another_trainees(session: LabSession, test_host: Connection) -> None:
    session.start()
    xml = DOMAIN_XML.format(name="alice-made-by-trainee").replace(
        "</domain>",
        "<metadata><o:owner xmlns:o='https://kvmlab.dev/xmlns/owner/1' trainee='mallory'/></metadata></domain>",
    )
    test_host.conn.defineXML(xml)
    session.finish()
    assert "alice-made-by-trainee" in _names(test_host)[0]


def test_interrupted_creation_is_reconciled(session: LabSession, test_host: Connection) -> None:
    with session.owners.locked():
        session.owners.add(Owned("domain", "alice-vm", "define-only", uri=test_host.uri))  # pending, then crash
        session.owners.add(Owned("domain", "alice-ghost", "define-only", uri=test_host.uri))  # never created
    test_host.conn.defineXML(DOMAIN_XML.format(name="alice-vm"))
    session.start()
    record = session.owners.load()
    assert record.find("domain", "alice-ghost", test_host.uri) is None
    vm = record.find("domain", "alice-vm", test_host.uri)
    assert vm is not None and vm.state == "created" and vm.uuid


def test_check_before_start_says_to_start(session: LabSession) -> None:
    report = session.check()
    assert not report.passed
    assert [c.id for c in report.checks] == ["lab-started"]  # one row, not the grader's red column
    assert "kvmlab lab start define-only" in report.checks[0].hint
    assert report.max_score == 1
