"""SR-IOV and IOMMU facts of this host, read from sysfs (read-only: kvmlab never writes sriov_numvfs)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

SYS_NET = Path("/sys/class/net")
SYS_IOMMU_GROUPS = Path("/sys/kernel/iommu_groups")


@dataclass(frozen=True)
class SriovPf:
    """A NIC's physical function that can spawn virtual functions."""

    name: str  # the host interface, e.g. ens1f0
    pci: str  # its PCI address, e.g. 0000:3b:00.0
    total_vfs: int  # sriov_totalvfs: what the hardware can do
    num_vfs: int  # sriov_numvfs: how many VFs exist now


def _read_int(path: Path) -> int:
    try:
        text = path.read_text().strip()
    except OSError:
        return 0
    return int(text) if text.isdigit() else 0


def sriov_pfs(sys_net: Path = SYS_NET) -> list[SriovPf]:
    """NICs whose PCI device reports sriov_totalvfs > 0, by interface name."""
    found = []
    for nic in sorted(sys_net.iterdir()) if sys_net.is_dir() else []:
        device = nic / "device"
        total = _read_int(device / "sriov_totalvfs")
        if total > 0:
            found.append(SriovPf(nic.name, device.resolve().name, total, _read_int(device / "sriov_numvfs")))
    return found


def iommu_groups(root: Path = SYS_IOMMU_GROUPS) -> int:
    """How many IOMMU groups the kernel made: 0 means no usable IOMMU (VT-d/AMD-Vi off or absent)."""
    return sum(1 for group in root.iterdir() if group.is_dir()) if root.is_dir() else 0
