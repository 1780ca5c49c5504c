"""Checks of the SR-IOV lab (seed question 8).

The trainee's verdict is compared with the host's own sysfs, read at grading
time (host.sriov()): on a host with no SR-IOV NIC and no IOMMU, "none" is the
right answer. The network and the guest are defined, never started.
"""

from __future__ import annotations

from kvmlab.grading import Checks, check, step
from kvmlab.host import Host
from kvmlab.labs.sriov import SriovParams


@step(
    1,
    "Record your verdict: the host's SR-IOV NICs (PFs) and IOMMU groups",
    hints=(
        "Look, do not assume: a NIC is an SR-IOV physical function when its PCI device reports how many virtual "
        "functions it can make (sriov_totalvfs > 0); the kernel makes IOMMU groups only when an IOMMU (VT-d, "
        "AMD-Vi) is usable. On many laptops and cloud VMs the honest answer is none and zero.",
        "read /sys/class/net/*/device/sriov_totalvfs and count /sys/kernel/iommu_groups/*, then write "
        '{"sriov_pfs": [NAMES], "iommu_groups": N} to the verdict file',
    ),
)
def verdict(host: Host, p: SriovParams) -> Checks:
    truth = host.sriov()
    written, why = host.trainee_file(p.verdict_file).json_object()
    claimed_pfs = written.get("sriov_pfs") if written is not None else None
    yield check(
        "verdict-sriov",
        "your verdict names the host's SR-IOV NICs (PFs), or none",
        isinstance(claimed_pfs, list) and sorted(map(str, claimed_pfs)) == truth.pf_names,
        expected=f"sriov_pfs: {truth.pf_names}",
        actual=f"sriov_pfs: {claimed_pfs}" if written is not None else why,
        hint="look, do not assume: an SR-IOV NIC's PCI device reports in sysfs how many virtual functions it can "
        "make (libvirt's node device XML shows them as virt_functions); a virtio NIC has none",
    )
    claimed_groups = written.get("iommu_groups") if written is not None else None
    yield check(
        "verdict-iommu",
        "your verdict counts the host's IOMMU groups",
        type(claimed_groups) is int and claimed_groups == truth.iommu_groups,
        expected=f"iommu_groups: {truth.iommu_groups}",
        actual=f"iommu_groups: {claimed_groups!r}" if written is not None else why,
        hint="count the groups the kernel made (a number, not text); none means no usable IOMMU: VT-d/AMD-Vi off "
        "or absent, or not enabled on the kernel command line",
    )


@step(
    2,
    "Define a hostdev network on the PF, and do not start it",
    hints=(
        "A libvirt network can hold a PF's virtual functions as a pool: in hostdev mode each guest interface on "
        "it gets a VF by PCI passthrough, libvirt-managed VFs are detached from the host driver and bound to "
        "vfio-pci for you, and the PF names the pool. Define it only: without VFs it cannot start.",
        "<network><name>NAME</name><forward mode='MODE' managed='...'><pf dev='PF'/></forward></network> in a file, "
        "then virsh net-define FILE",
    ),
)
def network(host: Host, p: SriovParams) -> Checks:
    net = host.network(p.network)
    config = net.config
    pfs = config.forward_pfs() if config is not None else []
    if config is None:
        shown = "not defined"
    elif not config.has_forward:
        shown = "no <forward>"
    else:
        managed = "yes" if config.forward_managed else "no"
        shown = f"<forward mode='{config.forward_mode}' managed='{managed}'> " + (
            f"pf {', '.join(pfs)}" if pfs else "without <pf>"
        )
    yield check(
        "network-defined",
        f"network {p.network} is defined, and not started",
        config is not None and net.is_persistent and not net.is_active,
        expected="defined (persistent), inactive",
        actual="not defined"
        if config is None
        else f"{'persistent' if net.is_persistent else 'transient'}, {'ACTIVE' if net.is_active else 'inactive'}",
        hint="the network has to be defined (persistent) and left stopped: started, it would hand out VFs",
    )
    yield check(
        "forward-hostdev",
        "it forwards in hostdev mode (VFs passed through to guests)",
        config is not None and config.forward_mode == "hostdev",
        expected="<forward mode='hostdev'>",
        actual=shown,
        hint="hostdev mode is PCI passthrough of a VF; 'bridge' or 'passthrough' are macvtap modes, "
        "where the host's kernel stays in the data path",
    )
    yield check(
        "forward-managed",
        "libvirt manages the VFs (detaches them from the host driver, binds vfio-pci)",
        config is not None and config.forward_managed is True,
        expected="managed='yes'",
        actual=shown,
        hint="unless the network says libvirt manages its VFs, binding each VF to vfio-pci (and back) is left to you",
    )
    yield check(
        "forward-pf",
        f"its pool of VFs is the physical function {p.pf}",
        pfs == [p.pf],
        expected=f"<pf dev='{p.pf}'/>",
        actual=shown,
        hint="the pool is named by its physical function, inside <forward>: libvirt lists that PF's VFs from sysfs "
        "when the network starts",
    )


@step(
    3,
    "Give the guest an interface on that network, in its definition",
    hints=(
        "For the guest it is an ordinary interface on a libvirt network. Neither the guest nor the network runs, "
        "so only the persistent definition can get it.",
        "virsh attach-interface DOMAIN network NETWORK plus the option that changes the definition only",
    ),
)
def interface(host: Host, p: SriovParams) -> Checks:
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
        hint="the interface is of type network, on the hostdev network, in the guest's persistent definition "
        "(a bridge interface is a software path through the host, not a VF); the guest stays shut off",
    )
