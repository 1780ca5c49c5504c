from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import cast

from kvmlab.labs.dumpxml import (
    DumpXmlParams,
    child,
    dump,
    make_volume,
    save,
    solve_domain,
    solve_network,
    solve_pool,
)
from kvmlab.toolkit import Toolkit
from tests.integration.wrong import Wrong

LAB = "dumpxml"

Part = Callable[[Toolkit, DumpXmlParams], None]


def _with(
    domain: Part = solve_domain, network: Part = solve_network, pool: Part = solve_pool
) -> Callable[[Toolkit], None]:
    """The reference solution with one part done the wrong way."""

    def apply(s: Toolkit) -> None:
        p = cast(DumpXmlParams, s.params)
        domain(s, p)
        network(s, p)
        pool(s, p)

    return apply


def _domain_by_commands(setmem: bool = True, vcpus_current: bool = True) -> Part:
    """No XML editing: the virsh commands that change the persistent definition, one of them forgotten."""

    def apply(s: Toolkit, p: DumpXmlParams) -> None:
        s.virsh("setmaxmem", p.domain, f"{p.memory_mib}M", "--config")
        if setmem:
            s.virsh("setmem", p.domain, f"{p.memory_mib}M", "--config")
        s.virsh("setvcpus", p.domain, str(p.vcpus), "--maximum", "--config")
        if vcpus_current:
            s.virsh("setvcpus", p.domain, str(p.vcpus), "--config")
        s.virsh("desc", p.domain, "--config", p.description)

    return apply


def _network_edited_not_defined(s: Toolkit, p: DumpXmlParams) -> None:
    root = dump(s, "net-dumpxml", p.network, p.network_xml)
    rng = root.find("ip/dhcp/range")
    assert rng is not None
    rng.set("start", p.dhcp_start)
    rng.set("end", p.dhcp_end)
    save(root, p.network_xml)  # the file changes; libvirt never hears of it


def _transient_pool(s: Toolkit, p: DumpXmlParams) -> None:
    Path(p.pool_xml).write_text(s.virsh("pool-define-as", p.pool, "dir", "--target", p.pool_path, "--print-xml"))
    s.virsh("pool-create", p.pool_xml, "--build")
    make_volume(s, p)


def _raw_volume(s: Toolkit, p: DumpXmlParams) -> None:
    Path(p.pool_xml).write_text(s.virsh("pool-define-as", p.pool, "dir", "--target", p.pool_path, "--print-xml"))
    s.virsh("pool-define", p.pool_xml)
    s.virsh("pool-build", p.pool)
    s.virsh("pool-start", p.pool)
    s.virsh("vol-create-as", p.pool, p.volume, f"{p.volume_size_gib}G")


def _network_and_renamed_bridge(s: Toolkit, p: DumpXmlParams) -> None:
    """The asked range, and the bridge renamed on the way: every guest on the old bridge name loses its network."""
    solve_network(s, p)
    root = dump(s, "net-dumpxml", p.network, p.network_xml)
    child(root, "bridge").set("name", "kvmlabrenamed0")
    save(root, p.network_xml)
    s.virsh("net-define", p.network_xml)


def _domain_and_disk_cache(s: Toolkit, p: DumpXmlParams) -> None:
    """The asked edits, plus a disk cache mode nobody asked for."""
    solve_domain(s, p)
    root = dump(s, "dumpxml", p.domain, p.domain_xml)
    child(root, "devices/disk/driver").set("cache", "unsafe")
    save(root, p.domain_xml)
    s.virsh("define", p.domain_xml)


def _domain_from_live_xml(s: Toolkit, p: DumpXmlParams) -> None:
    """The guest started, its *live* XML dumped, edited and defined: runtime details end up in the definition."""
    s.virsh("start", p.domain)
    try:
        root = dump(s, "dumpxml", p.domain, p.domain_xml)
        for tag in ("memory", "currentMemory"):
            el = child(root, tag)
            el.set("unit", "MiB")
            el.text = str(p.memory_mib)
        child(root, "vcpu").text = str(p.vcpus)
        child(root, "description").text = p.description
        save(root, p.domain_xml)
        s.virsh("define", p.domain_xml)
    finally:
        s.virsh("destroy", p.domain)


def _pool_elsewhere(s: Toolkit, p: DumpXmlParams) -> None:
    """A dir pool, persistent and running, with its volume: in another directory than the one asked."""
    elsewhere = str(s.path("otherpool"))
    s.expect("dir", elsewhere)
    s.expect("file", str(Path(elsewhere) / p.volume))
    Path(p.pool_xml).write_text(s.virsh("pool-define-as", p.pool, "dir", "--target", elsewhere, "--print-xml"))
    s.virsh("pool-define", p.pool_xml)
    s.virsh("pool-build", p.pool)
    s.virsh("pool-start", p.pool)
    make_volume(s, p)


def _pool_open_to_all(s: Toolkit, p: DumpXmlParams) -> None:
    """The asked pool, with a directory mode nobody asked for: every user of the host may write its images."""
    xml = s.virsh("pool-define-as", p.pool, "dir", "--target", p.pool_path, "--print-xml")
    root = ET.fromstring(xml)
    child(root, "target/permissions/mode").text = "0777"
    Path(p.pool_xml).write_text(ET.tostring(root, encoding="unicode"))
    s.virsh("pool-define", p.pool_xml)
    s.virsh("pool-build", p.pool)
    s.virsh("pool-start", p.pool)
    make_volume(s, p)


WRONG = [
    Wrong(
        "setmaxmem-without-setmem",
        _with(domain=_domain_by_commands(setmem=False)),
        frozenset({"domain-current-memory"}),
    ),
    Wrong("setvcpus-maximum-only", _with(domain=_domain_by_commands(vcpus_current=False)), frozenset({"domain-vcpus"})),
    Wrong("net-xml-edited-not-defined", _with(network=_network_edited_not_defined), frozenset({"network-dhcp-range"})),
    Wrong("transient-pool", _with(pool=_transient_pool), frozenset({"pool-persistent"})),
    Wrong("volume-without-format", _with(pool=_raw_volume), frozenset({"volume-format"})),
    Wrong(
        "range-narrowed-and-bridge-renamed",
        _with(network=_network_and_renamed_bridge),
        frozenset({"network-unchanged"}),
    ),
    Wrong(
        "domain-edited-and-disk-cache-changed", _with(domain=_domain_and_disk_cache), frozenset({"domain-unchanged"})
    ),
    Wrong("live-xml-of-a-running-guest-defined", _with(domain=_domain_from_live_xml), frozenset({"domain-unchanged"})),
    Wrong("pool-in-another-directory", _with(pool=_pool_elsewhere), frozenset({"pool-defined"})),
    Wrong("pool-directory-writable-by-all", _with(pool=_pool_open_to_all), frozenset({"pool-unchanged"})),
]
