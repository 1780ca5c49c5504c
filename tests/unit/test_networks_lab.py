"""The networks lab's subnet logic on libvirt's test driver: which subnets another network holds.

The subnet facts live behind Host (kvmlab.resources.subnets, kvmlab.resources.netstate); the lab and its
grader reach them through host.subnets() and host.network_state().
"""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path

from kvmlab.connection import Connection
from kvmlab.grading import Report, collect
from kvmlab.host import Host
from kvmlab.labs import registry
from kvmlab.labs.networks import NetworksParams, network_xml
from kvmlab.resources.subnets import Clash, subnet_of
from kvmlab.session import LabSession
from kvmlab.trainee import Trainee
from kvmlab.xmlviews import NetworkXML

DEFAULT = """<network><name>default</name><forward mode='nat'/><bridge name='virbr0'/>
<ip address='192.168.122.1' netmask='255.255.255.0'/></network>"""
OTHER_133 = "<network><name>bob-net133</name><bridge name='kb133'/><ip address='192.168.133.1' prefix='24'/></network>"


def clashes(host: Host, p: NetworksParams) -> list[Clash]:
    return host.subnets().clashes(p.wanted, p.default_network)


def _params(conn: Connection) -> NetworksParams:
    session = LabSession(registry.get("networks"), Trainee("default"), conn)  # the seed subnets
    params = session.params
    assert isinstance(params, NetworksParams)
    return params


def test_subnet_of_reads_netmask_or_prefix_and_ignores_ipv6() -> None:
    assert subnet_of(NetworkXML.from_xml(DEFAULT)) == ipaddress.IPv4Network("192.168.122.0/24")
    assert subnet_of(NetworkXML.from_xml(OTHER_133)) == ipaddress.IPv4Network("192.168.133.0/24")
    v6 = "<network><name>v6</name><ip family='ipv6' address='fd00::1' prefix='64'/></network>"
    assert subnet_of(NetworkXML.from_xml(v6)) is None
    assert subnet_of(NetworkXML.from_xml("<network><name>bare</name></network>")) is None


def test_network_xml_is_isolated_and_as_asked(test_host: Connection) -> None:
    for n in _params(test_host).nets:
        view = NetworkXML.from_xml(network_xml(n))
        assert not view.has_forward
        assert (view.name, view.bridge, view.ip_address) == (n.name, n.bridge, n.gateway)
        assert [(r.start, r.end) for r in view.dhcp_ranges()] == [(n.dhcp_start, n.dhcp_end)]
        assert subnet_of(view) == n.network


def test_default_network_holds_its_subnet_even_when_stopped(test_host: Connection) -> None:
    test_host.conn.networkDefineXML(DEFAULT)  # defined, never started
    p = _params(test_host)
    held = clashes(Host(test_host), p)
    assert [(str(c.wanted), c.network, c.holder) for c in held] == [("192.168.122.0/24", p.net("122").name, "default")]


def test_another_network_holds_a_subnet_only_while_running(test_host: Connection) -> None:
    net = test_host.conn.networkDefineXML(OTHER_133)
    p = _params(test_host)
    assert clashes(Host(test_host), p) == []  # foreign-net (192.168.200.0/24) and a stopped 133 hold nothing
    net.create()
    assert [(str(c.wanted), c.holder) for c in clashes(Host(test_host), p)] == [("192.168.133.0/24", "bob-net133")]


def test_the_trainees_own_networks_never_clash_with_themselves(test_host: Connection) -> None:
    p = _params(test_host)
    for n in p.nets:
        test_host.conn.networkDefineXML(network_xml(n)).create()
    assert clashes(Host(test_host), p) == []


def _graded(conn: Connection, p: NetworksParams) -> Report:
    lab = registry.get("networks")
    return collect(lab.id, "default", lambda: lab.checks(Host(conn), p))


def test_the_default_snapshot_compares_definition_state_and_autostart(test_host: Connection) -> None:
    net = test_host.conn.networkDefineXML(DEFAULT)
    p = _params(test_host)
    Path(p.default_snapshot).parent.mkdir(parents=True, exist_ok=True)
    Path(p.default_snapshot).write_text(json.dumps(Host(test_host).network_state("default").as_dict()))
    assert _graded(test_host, p).by_id("default-untouched").passed
    net.setAutostart(1)
    row = _graded(test_host, p).by_id("default-untouched")
    assert not row.passed and row.actual == "changed: autostart"


def test_a_broken_default_snapshot_is_a_failed_check_that_says_so_not_a_grader_error(test_host: Connection) -> None:
    test_host.conn.networkDefineXML(DEFAULT)
    p = _params(test_host)
    snapshot = Path(p.default_snapshot)
    snapshot.parent.mkdir(parents=True, exist_ok=True)
    for content, why in (("{not json", "not JSON"), ("[1, 2]", "not a JSON object"), ("x" * (2 << 20), "larger")):
        snapshot.write_text(content)
        report = _graded(test_host, p)
        assert "grader-error" not in report.failed_ids()
        row = report.by_id("default-untouched")
        assert not row.passed and why in row.actual and str(snapshot) in row.actual
    snapshot.unlink()
    row = _graded(test_host, p).by_id("default-untouched")
    assert not row.passed and "no file" in row.actual


def test_a_snapshot_missing_a_field_counts_that_field_as_changed(test_host: Connection) -> None:
    test_host.conn.networkDefineXML(DEFAULT)
    state = Host(test_host).network_state("default")
    recorded = state.as_dict()
    del recorded["xml"]
    assert state.changed_since(recorded) == ["xml"]
    assert state.changed_since(state.as_dict()) == []
