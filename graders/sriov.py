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
    zh="记录你的结论：宿主机的 SR-IOV 网卡（PF）和 IOMMU 组",
    hints_zh=(
        "要实际去看，不要想当然：网卡的 PCI 设备报告了它能创建多少个虚拟功能（sriov_totalvfs > 0），它才是 SR-IOV "
        "物理功能；只有 IOMMU（VT-d、AMD-Vi）可用时，内核才会建立 IOMMU 组。在很多笔记本和云主机上，"
        "如实的答案是没有 PF、零个组。",
        "读取 /sys/class/net/*/device/sriov_totalvfs，数一数 /sys/kernel/iommu_groups/* 有多少个，然后把 "
        '{"sriov_pfs": [NAMES], "iommu_groups": N} 写入结论文件',
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
        zh="你的结论写出了宿主机的 SR-IOV 网卡（PF），或者写明没有",
        hint_zh="要实际去看，不要想当然：SR-IOV 网卡的 PCI 设备会在 sysfs 中报告它能创建多少个虚拟功能（libvirt "
        "的节点设备 XML 中显示为 virt_functions）；virtio 网卡一个也没有",
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
        zh="你的结论数对了宿主机的 IOMMU 组",
        hint_zh="数一数内核建立了多少个组（写数字，不要写成文本）；一个都没有，说明没有可用的 IOMMU：VT-d/AMD-Vi "
        "被关闭或者根本没有，或者没有在内核命令行中启用",
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
    zh="在 PF 上定义一个 hostdev 网络，不要启动它",
    hints_zh=(
        "libvirt 网络可以把一个 PF 的虚拟功能当作池来管理：在 hostdev 模式下，接入该网络的每块虚拟机网卡都通过 "
        "PCI 直通获得一个 VF；由 libvirt 管理的 VF 会自动从宿主机驱动上解绑，再绑定到 vfio-pci；这个池用 PF "
        "来指定。只定义它：没有 VF，它是启动不了的。",
        "把 <network><name>NAME</name><forward mode='MODE' managed='...'><pf dev='PF'/></forward></network> "
        "写进一个文件，然后 virsh net-define FILE",
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
        zh=f"网络 {p.network} 已定义，且没有启动",
        hint_zh="网络必须已定义（持久化），并保持停止状态：一旦启动，它就会分发 VF",
    )
    yield check(
        "forward-hostdev",
        "it forwards in hostdev mode (VFs passed through to guests)",
        config is not None and config.forward_mode == "hostdev",
        expected="<forward mode='hostdev'>",
        actual=shown,
        hint="hostdev mode is PCI passthrough of a VF; 'bridge' or 'passthrough' are macvtap modes, "
        "where the host's kernel stays in the data path",
        zh="它以 hostdev 模式转发（把 VF 直通给虚拟机）",
        hint_zh="hostdev 模式就是对 VF 做 PCI 直通；'bridge' 和 'passthrough' 是 macvtap 的模式，"
        "宿主机内核仍在数据通路上",
    )
    yield check(
        "forward-managed",
        "libvirt manages the VFs (detaches them from the host driver, binds vfio-pci)",
        config is not None and config.forward_managed is True,
        expected="managed='yes'",
        actual=shown,
        hint="unless the network says libvirt manages its VFs, binding each VF to vfio-pci (and back) is left to you",
        zh="由 libvirt 管理 VF（把它们从宿主机驱动上解绑，绑定到 vfio-pci）",
        hint_zh="除非网络声明由 libvirt 管理它的 VF，否则把每个 VF 绑定到 vfio-pci（以及再绑回去）都得你自己来做",
    )
    yield check(
        "forward-pf",
        f"its pool of VFs is the physical function {p.pf}",
        pfs == [p.pf],
        expected=f"<pf dev='{p.pf}'/>",
        actual=shown,
        hint="the pool is named by its physical function, inside <forward>: libvirt lists that PF's VFs from sysfs "
        "when the network starts",
        zh=f"它的 VF 池来自物理功能 {p.pf}",
        hint_zh="这个池用它的物理功能来指定，写在 <forward> 里面：网络启动时，libvirt 从 sysfs 中列出该 PF 的所有 VF",
    )


@step(
    3,
    "Give the guest an interface on that network, in its definition",
    hints=(
        "For the guest it is an ordinary interface on a libvirt network. Neither the guest nor the network runs, "
        "so only the persistent definition can get it.",
        "virsh attach-interface DOMAIN network NETWORK plus the option that changes the definition only",
    ),
    zh="在虚拟机的定义中，给它加一块连到该网络的网卡",
    hints_zh=(
        "对虚拟机来说，这只是 libvirt 网络上的一块普通网卡。虚拟机和网络都没有运行，所以只能改持久化定义。",
        "virsh attach-interface DOMAIN network NETWORK，再加上只修改定义的那个选项",
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
        zh=f"{p.domain} 的持久化定义中有一块连到 {p.network} 的网卡",
        hint_zh="网卡类型为 network，连到这个 hostdev 网络，写在虚拟机的持久化定义中（bridge "
        "类型的网卡走的是经过宿主机的软件通路，不是 VF）；虚拟机保持关机",
    )
