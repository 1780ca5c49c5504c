"""Plain host facts for the doctor: CPU flags, KVM device and module, tool versions."""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from kvmlab.procs import version_line

KVM_MODULES = ("kvm_intel", "kvm_amd", "kvm_pvm")


@dataclass
class CpuInfo:
    vendor: str
    model: str
    flags: set[str] = field(default_factory=set)

    @property
    def virt_flags(self) -> list[str]:
        """vmx = Intel VT-x, svm = AMD-V; 'hypervisor' means we are a guest ourselves."""
        return sorted(self.flags & {"vmx", "svm", "hypervisor", "ept", "npt"})


def cpu_info(cpuinfo: Path = Path("/proc/cpuinfo")) -> CpuInfo:
    vendor = model = ""
    flags: set[str] = set()
    for line in cpuinfo.read_text().splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "vendor_id" and not vendor:
            vendor = value.strip()
        elif key == "model name" and not model:
            model = value.strip()
        elif key == "flags" and not flags:
            flags = set(value.split())
    return CpuInfo(vendor, model, flags)


@dataclass
class KvmInfo:
    device_exists: bool
    accessible: bool
    modules: list[str]

    @property
    def flavour(self) -> str:
        """kvm_intel, kvm_amd, kvm_pvm, or none."""
        return self.modules[0] if self.modules else "none"


def kvm_info(dev: Path = Path("/dev/kvm"), sys_module: Path = Path("/sys/module")) -> KvmInfo:
    modules = [m for m in KVM_MODULES if (sys_module / m).exists()]
    exists = dev.exists()
    return KvmInfo(exists, exists and os.access(dev, os.R_OK | os.W_OK), modules)


def qemu_binary() -> str | None:
    return shutil.which("qemu-system-x86_64")


def _version(argv: list[str]) -> str | None:
    line = version_line(argv)
    match = re.search(r"(\d+\.\d+(\.\d+)?)", line or "")
    return match.group(1) if match else None


def qemu_version() -> str | None:
    binary = qemu_binary()
    return _version([binary, "--version"]) if binary else None


def qemu_img_version() -> str | None:
    return _version(["qemu-img", "--version"]) if shutil.which("qemu-img") else None
