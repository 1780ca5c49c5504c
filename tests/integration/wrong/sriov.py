from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from kvmlab.host import Host
from kvmlab.labs.sriov import SriovParams, hostdev_network_xml
from kvmlab.toolkit import Toolkit
from tests.integration.wrong import Wrong

LAB = "sriov"


def _solve(
    pf: str | None = "same",
    managed: str = "yes",
    verdict: Callable[[Host, SriovParams], dict[str, object]] = lambda host, _p: host.sriov().verdict(),
    iface: tuple[str, ...] = ("network", "same"),
) -> Callable[[Toolkit], None]:
    def apply(s: Toolkit) -> None:
        p = s.params
        assert isinstance(p, SriovParams)
        Path(p.verdict_file).write_text(json.dumps(verdict(s.host, p)) + "\n")
        Path(p.network_xml).write_text(hostdev_network_xml(p.network, p.pf if pf == "same" else pf, managed))
        s.virsh("net-define", p.network_xml)
        kind, source = iface
        s.virsh("attach-interface", p.domain, kind, p.network if source == "same" else source, "--config")

    return apply


def _assumed(host: Host, p: SriovParams) -> dict[str, object]:
    """The seed's reading, "the NIC supports virtualization", taken on faith: the opposite of what the host has."""
    truth = host.sriov().verdict()
    return {**truth, "sriov_pfs": [] if truth["sriov_pfs"] else [p.pf]}


def _iommu_assumed(host: Host, p: SriovParams) -> dict[str, object]:
    """The IOMMU taken for granted from the CPU's VT-x flag (or denied on a host that has one): not counted."""
    truth = host.sriov()
    return {**truth.verdict(), "iommu_groups": 0 if truth.iommu_groups else 1}


def _iommu_as_text(host: Host, p: SriovParams) -> dict[str, object]:
    """The right count, as the text a shell pipeline prints ("0\n"), not a number."""
    truth = host.sriov()
    return {**truth.verdict(), "iommu_groups": f"{truth.iommu_groups}\n"}


WRONG = [
    Wrong("hostdev-network-without-pf", _solve(pf=None), frozenset({"forward-pf"})),
    Wrong("vfs-not-managed", _solve(managed="no"), frozenset({"forward-managed"})),
    Wrong("verdict-assumed-not-looked-up", _solve(verdict=_assumed), frozenset({"verdict-sriov"})),
    Wrong("iommu-assumed-not-counted", _solve(verdict=_iommu_assumed), frozenset({"verdict-iommu"})),
    Wrong("iommu-groups-as-text", _solve(verdict=_iommu_as_text), frozenset({"verdict-iommu"})),
    # A bridge NIC is a software path through the host: not a VF. Config only, the bridge need not exist.
    Wrong("interface-on-a-bridge", _solve(iface=("bridge", "br0")), frozenset({"iface-config"})),
]
