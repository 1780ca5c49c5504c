"""Checks of the SR-IOV lab (seed question 8)."""

from __future__ import annotations

from collections.abc import Iterator

from kvmlab.grading import Check, check
from kvmlab.host import Host
from kvmlab.labs.sriov import SriovParams, host_verdict
from kvmlab.resources.trainee_files import read_json_object
from kvmlab.xmlviews import NetworkXML


def _forward(xml: NetworkXML | None) -> str:
    if xml is None:
        return "not defined"
    if not xml.has_forward:
        return "no <forward>"
    pfs = xml.forward_pfs()
    return f"<forward mode='{xml.forward_mode}' managed='{'yes' if xml.forward_managed else 'no'}'> " + (
        f"pf {', '.join(pfs)}" if pfs else "without <pf>"
    )


def checks(host: Host, p: SriovParams) -> Iterator[Check]:
    net = host.network(p.network)
    config = net.config
    yield check(
        "network-defined",
        f"network {p.network} is defined, and not started",
        config is not None and net.is_persistent and not net.is_active,
        expected="defined (persistent), inactive",
        actual="not defined"
        if config is None
        else f"{'persistent' if net.is_persistent else 'transient'}, {'ACTIVE' if net.is_active else 'inactive'}",
        hint=f"virsh net-define {p.network_xml}; never net-start it here: there are no VFs to hand out",
    )
    yield check(
        "forward-hostdev",
        "it forwards in hostdev mode (VFs passed through to guests)",
        config is not None and config.forward_mode == "hostdev",
        expected="<forward mode='hostdev'>",
        actual=_forward(config),
        hint="mode='hostdev' is PCI passthrough of a VF; 'bridge' or 'passthrough' are macvtap modes",
    )
    yield check(
        "forward-managed",
        "libvirt manages the VFs (detaches them from the host driver, binds vfio-pci)",
        config is not None and config.forward_managed is True,
        expected="managed='yes'",
        actual=_forward(config),
        hint="<forward mode='hostdev' managed='yes'>: without it you must bind each VF to vfio-pci by hand",
    )
    pfs = config.forward_pfs() if config is not None else []
    yield check(
        "forward-pf",
        f"its pool of VFs is the physical function {p.pf}",
        pfs == [p.pf],
        expected=f"<pf dev='{p.pf}'/>",
        actual=_forward(config),
        hint=f"<pf dev='{p.pf}'/> inside <forward>: libvirt lists the PF's VFs from sysfs when the network starts",
    )

    vm = host.domain(p.domain)
    dom = vm.config
    ifaces = [i for i in dom.interfaces() if i.type == "network" and i.source_network == p.network] if dom else []
    seen = (
        ", ".join(f"{i.type}:{i.source_network or i.source_bridge or i.source_dev or '?'}" for i in dom.interfaces())
        if dom
        else ""
    )
    yield check(
        "iface-config",
        f"{p.domain}'s persistent definition has an interface on {p.network}",
        bool(ifaces) and not vm.is_running,
        expected=f"<interface type='network'><source network='{p.network}'/>, guest not running",
        actual=(
            "guest not defined"
            if dom is None
            else f"interfaces: {seen or 'none'}" + ("; guest RUNNING" if vm.is_running else "")
        ),
        hint=f"virsh attach-interface {p.domain} network {p.network} --config (no --live: the network is not running)",
    )

    truth = host_verdict()
    written, why = read_json_object(p.verdict_file)
    claimed_pfs = written.get("sriov_pfs") if written is not None else None
    yield check(
        "verdict-sriov",
        "your verdict names this host's SR-IOV NICs (PFs), or none",
        isinstance(claimed_pfs, list) and sorted(map(str, claimed_pfs)) == truth["sriov_pfs"],
        expected=f"sriov_pfs: {truth['sriov_pfs']}",
        actual=f"sriov_pfs: {claimed_pfs}" if written is not None else why,
        hint="look, do not assume: cat /sys/class/net/*/device/sriov_totalvfs; virsh nodedev-dumpxml shows "
        "<capability type='virt_functions'> on a PF",
    )
    claimed_groups = written.get("iommu_groups") if written is not None else None
    yield check(
        "verdict-iommu",
        "your verdict counts this host's IOMMU groups",
        type(claimed_groups) is int and claimed_groups == truth["iommu_groups"],
        expected=f"iommu_groups: {truth['iommu_groups']}",
        actual=f"iommu_groups: {claimed_groups}" if written is not None else why,
        hint="ls /sys/kernel/iommu_groups | wc -l (0 means no IOMMU: VT-d/AMD-Vi off, or intel_iommu=on missing)",
    )
