from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import cast

from kvmlab.labs.dumpxml import DumpXmlParams, dump, make_volume, save, solve_domain, solve_network, solve_pool
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
]
