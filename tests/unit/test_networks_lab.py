"""The networks lab's subnet logic on libvirt's test driver: which subnets another network holds."""

from __future__ import annotations

import ipaddress

from kvmlab.connection import Connection
from kvmlab.host import Host
from kvmlab.labs import registry
from kvmlab.labs.networks import NetworksParams, clashes, network_xml, subnet_of
from kvmlab.session import LabSession
from kvmlab.trainee import Trainee
from kvmlab.xmlviews import NetworkXML

DEFAULT = """<network><name>default</name><forward mode='nat'/><bridge name='virbr0'/>
<ip address='192.168.122.1' netmask='255.255.255.0'/></network>"""
OTHER_133 = "<network><name>bob-net133</name><bridge name='kb133'/><ip address='192.168.133.1' prefix='24'/></network>"


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
    assert [(c.net.subnet, c.holder) for c in held] == [("192.168.122.0/24", "default")]


def test_another_network_holds_a_subnet_only_while_running(test_host: Connection) -> None:
    net = test_host.conn.networkDefineXML(OTHER_133)
    p = _params(test_host)
    assert clashes(Host(test_host), p) == []  # foreign-net (192.168.200.0/24) and a stopped 133 hold nothing
    net.create()
    assert [(c.net.subnet, c.holder) for c in clashes(Host(test_host), p)] == [("192.168.133.0/24", "bob-net133")]


def test_the_trainees_own_networks_never_clash_with_themselves(test_host: Connection) -> None:
    p = _params(test_host)
    for n in p.nets:
        test_host.conn.networkDefineXML(network_xml(n)).create()
    assert clashes(Host(test_host), p) == []
