"""Recorded starting definitions and what changed since (kvmlab.resources.definitions)."""

from __future__ import annotations

import json
from pathlib import Path

from kvmlab.resources.definitions import RecordedDefinitions, differences, flatten
from kvmlab.xmlviews import NetworkXML, PoolXML, parse

MYNET = """<network>
  <name>mynet</name>
  <uuid>f713b1e5-4fc4-475d-8978-67d26b34e116</uuid>
  <bridge name='br-mynet' stp='on' delay='0'/>
  <mac address='52:54:00:cb:02:b4'/>
  <ip address='192.168.100.1' netmask='255.255.255.0'>
    <dhcp><range start='192.168.100.2' end='192.168.100.254'/></dhcp>
  </ip>
</network>"""


def _edited(text: str, *replacements: tuple[str, str]) -> NetworkXML:
    for old, new in replacements:
        assert old in text
        text = text.replace(old, new)
    return NetworkXML.from_xml(text)


def test_flatten_names_texts_attributes_empty_elements_and_repeated_siblings() -> None:
    flat = flatten(parse("<d><memory unit='KiB'>1</memory><features><acpi/></features><disk/><disk dev='b'/></d>"))
    assert flat == {
        "memory": "1",
        "memory@unit": "KiB",
        "features": "",
        "features/acpi": "",
        "disk[1]": "",
        "disk[2]@dev": "b",
    }


def test_namespaces_are_left_out_of_paths_so_a_prefix_change_is_no_change() -> None:
    a = parse("<d xmlns:k='urn:x'><metadata><k:owner who='a'/></metadata></d>")
    b = parse("<d xmlns:ns0='urn:x'><metadata><ns0:owner who='a'/></metadata></d>")
    assert differences(a, b) == ()


def test_the_asked_edit_alone_is_no_difference() -> None:
    before = parse(MYNET)
    after = _edited(MYNET, ("192.168.100.2'", "192.168.100.100'"), ("192.168.100.254'", "192.168.100.200'"))
    assert differences(before, after.node, asked=("ip/dhcp/range",)) == ()


def test_a_renamed_bridge_besides_the_asked_edit_is_reported() -> None:
    after = _edited(MYNET, ("192.168.100.2'", "192.168.100.100'"), ("br-mynet", "br-other"))
    found = differences(parse(MYNET), after.node, asked=("ip/dhcp/range",))
    assert found == ("bridge@name: 'br-mynet' -> 'br-other'",)


def test_added_and_removed_elements_are_reported() -> None:
    after = _edited(MYNET, ("<mac address='52:54:00:cb:02:b4'/>", "<forward mode='nat'/>"))
    found = differences(parse(MYNET), after.node)
    assert "added forward@mode = 'nat'" in found
    assert "removed mac@address (was '52:54:00:cb:02:b4')" in found


POOL_ASKED = "<pool type='dir'><name>p</name><target><path>/d/p</path></target></pool>"
POOL_NOW = """<pool type='dir'><name>p</name><uuid>43c3</uuid><capacity unit='bytes'>9</capacity>
<allocation unit='bytes'>1</allocation><available unit='bytes'>8</available><source>
</source><target><path>/d/p</path><permissions><mode>{mode}</mode><owner>0</owner><group>0</group></permissions>
</target></pool>"""
FILLED = ("uuid", "capacity", "allocation", "available", "source", "target/permissions")


def _owner_only(mode: str) -> bool:
    return not int(mode, 8) & 0o022


def test_what_libvirt_fills_in_is_no_difference_and_a_rule_judges_a_value_inside_it() -> None:
    def diff(mode: str) -> tuple[str, ...]:
        now = PoolXML.from_xml(POOL_NOW.format(mode=mode))
        return differences(parse(POOL_ASKED), now.node, filled=FILLED, accept={"target/permissions/mode": _owner_only})

    assert diff("0711") == () and diff("0755") == ()
    assert diff("0777") == ("added target/permissions/mode = '0777'",)


def test_a_broken_or_missing_record_is_a_reason_not_an_exception(tmp_path: Path) -> None:
    record = tmp_path / "start.json"
    now = NetworkXML.from_xml(MYNET)
    missing = RecordedDefinitions(record).changes("network", now)
    assert not missing.unchanged and "no file" in missing.summary()
    record.write_text("{not json")
    broken = RecordedDefinitions(record).changes("network", now)
    assert not broken.unchanged and "not JSON" in broken.summary()
    record.write_text(json.dumps({"network": "<network><name>"}))
    bad_xml = RecordedDefinitions(record).changes("network", now)
    assert not bad_xml.unchanged and "not well-formed" in bad_xml.summary()
    record.write_text(json.dumps({"domain": "<domain/>"}))
    assert "no network definition" in RecordedDefinitions(record).changes("network", now).summary()


def test_a_record_written_and_read_back_compares_unchanged(tmp_path: Path) -> None:
    record = RecordedDefinitions(tmp_path / "start.json")
    record.write({"network": MYNET})
    assert record.changes("network", NetworkXML.from_xml(MYNET)).unchanged
    assert record.changes("network", None).summary() == "no network to compare"
