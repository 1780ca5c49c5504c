"""A host's SR-IOV and IOMMU facts, read now, in the shape the sriov lab's verdict takes.

sysfs is read by kvmlab.resources.pci (read-only: kvmlab never writes
sriov_numvfs). A physical function (PF) is a NIC whose PCI device reports
``sriov_totalvfs`` > 0; no IOMMU groups means no usable IOMMU (VT-d or
AMD-Vi off, absent, or not enabled on the kernel command line).
"""

from __future__ import annotations

from dataclasses import dataclass

from kvmlab.resources.pci import SriovPf, iommu_groups, sriov_pfs


@dataclass(frozen=True)
class SriovFacts:
    pfs: tuple[SriovPf, ...]  # the host's SR-IOV physical functions, by interface name
    iommu_groups: int

    @classmethod
    def read(cls) -> SriovFacts:
        return cls(tuple(sriov_pfs()), iommu_groups())

    @property
    def pf_names(self) -> list[str]:
        return sorted(pf.name for pf in self.pfs)

    def verdict(self) -> dict[str, object]:
        """What a trainee who looked would write: {"sriov_pfs": [...], "iommu_groups": N}."""
        return {"sriov_pfs": self.pf_names, "iommu_groups": self.iommu_groups}
