from __future__ import annotations

import pytest

from kvmlab.errors import XMLRejected
from kvmlab.xmlviews import DomainXML, NetworkXML, parse, to_kib
from tests.helpers import DATA


@pytest.fixture(scope="module")
def live() -> DomainXML:
    return DomainXML.from_xml((DATA / "domain-live.xml").read_text())


def test_domain_basics_come_from_recorded_dumpxml(live: DomainXML) -> None:
    assert live.name == "vm-disk"
    assert live.domain_type == "qemu"
    assert live.memory_kib == 256 * 1024
    assert live.vcpu_max == 1 and live.vcpu_current == 1
    assert live.machine == "pc-i440fx-7.2"


def test_disk_lookup_by_target(live: DomainXML) -> None:
    vdb = live.disk("vdb")
    assert vdb is not None
    assert vdb.format == "qcow2" and vdb.bus == "virtio"
    assert vdb.source is not None and vdb.source.endswith("data.qcow2")
    assert live.disk("vdz") is None


def test_backing_chain_of_overlay_is_read_from_live_xml(live: DomainXML) -> None:
    vda = live.disk("vda")
    assert vda is not None
    assert vda.backing_files() == ["/var/lib/kvmlab/guest/disk.raw"]


def test_owner_metadata_is_found_by_namespace(live: DomainXML) -> None:
    owner = live.metadata("https://kvmlab.dev/xmlns/owner/1")
    assert owner is not None and owner.get("lab") == "hotadd-disk"


def test_config_view_has_no_runtime_ids() -> None:
    config = DomainXML.from_xml((DATA / "domain-config.xml").read_text())
    assert config.node.get("id") is None
    assert config.disk("vdb") is not None


def test_vcpu_current_defaults_to_maximum() -> None:
    dom = DomainXML.from_xml("<domain><vcpu current='2'>4</vcpu></domain>")
    assert (dom.vcpu_max, dom.vcpu_current) == (4, 2)
    assert DomainXML.from_xml("<domain><vcpu>3</vcpu></domain>").vcpu_current == 3


@pytest.mark.parametrize(
    ("value", "unit", "kib"),
    [("1", "GiB", 1048576), ("2048", "MiB", 2097152), ("512", None, 512), ("1073741824", "bytes", 1048576)],
)
def test_memory_units_convert_to_kib(value: str, unit: str | None, kib: int) -> None:
    assert to_kib(value, unit) == kib


def test_network_view_reads_dhcp_ranges() -> None:
    net = NetworkXML.from_xml(
        "<network><name>n</name><bridge name='virbr9'/><ip address='192.168.133.1' "
        "netmask='255.255.255.0'><dhcp><range start='192.168.133.2' end='192.168.133.9'/>"
        "</dhcp></ip></network>"
    )
    assert net.bridge == "virbr9" and not net.has_forward
    assert [(r.start, r.end) for r in net.dhcp_ranges()] == [("192.168.133.2", "192.168.133.9")]


BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>
<domain><name>&lol2;</name></domain>"""

EXTERNAL_ENTITY = """<?xml version="1.0"?>
<!DOCTYPE d [<!ENTITY xxe SYSTEM "file:///etc/shadow">]><domain><name>&xxe;</name></domain>"""


@pytest.mark.parametrize("text", [BILLION_LAUGHS, EXTERNAL_ENTITY], ids=["entity-expansion", "external-entity"])
def test_parser_refuses_dtds_and_entities(text: str) -> None:
    with pytest.raises(XMLRejected, match="DTD or entities"):
        parse(text)


def test_parser_explains_malformed_xml() -> None:
    with pytest.raises(XMLRejected, match="not well-formed") as err:
        parse("<domain><name>x</domain>")
    assert "xmllint" in err.value.hint


def test_parser_refuses_oversized_input() -> None:
    with pytest.raises(XMLRejected, match="larger than 1 MiB"):
        parse("<a>" + "x" * (1 << 20) + "</a>")
