"""Find Debian's cloud kernel and the virtio modules the tiny guest needs.

The kernel comes from local packages only: an installed ``linux-image-*-cloud-amd64``
or its ``.deb`` in apt's archive cache (``make setup`` downloads it there with
``apt-get install --download-only``). Nothing is fetched at build time.
"""

from __future__ import annotations

import lzma
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from kvmlab.errors import GuestNotBuilt

APT_ARCHIVES = Path("/var/cache/apt/archives")

# What the labs need, in the guest's words. Dependencies are resolved from the
# modules themselves, so this list names only what we want, not how to get it.
WANTED_MODULES = (
    "virtio_pci",
    "virtio_blk",  # disks (vda, hot-added vdb...)
    "virtio_net",  # NICs
    "virtio_balloon",  # memory lab
    "virtio_console",  # serial ports: the guest agent's channel
    "virtio_scsi",  # performance lab: virtio-scsi multiqueue
    "sd_mod",
    "ata_piix",  # the "emulated devices" guest: IDE disk
    "virtio_rng",
    "button",  # ACPI power button: virsh shutdown --mode acpi
    "evdev",
    "bridge",  # so trainees can see a bridge from inside, too
    "tun",
)

_DEPENDS = re.compile(rb"(?:^|\x00)depends=([^\x00]*)\x00")


@dataclass
class KernelSource:
    """A kernel image plus the directory holding ``lib/modules/<release>``."""

    release: str
    vmlinuz: Path
    modules_root: Path  # .../lib/modules/<release>
    origin: str  # "installed" or the .deb it came from
    _tmp: tempfile.TemporaryDirectory[str] | None = field(default=None, repr=False)

    def cleanup(self) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()


def _release_of(vmlinuz: Path) -> str:
    return vmlinuz.name.removeprefix("vmlinuz-")


def _version_key(path: Path) -> list[int]:
    return [int(n) for n in re.findall(r"\d+", path.name)]


def find_kernel() -> KernelSource:
    """The newest cloud kernel available locally, installed or as a .deb."""
    override = os.environ.get("KVMLAB_KERNEL_DEB")
    debs = (
        [Path(override)] if override else sorted(APT_ARCHIVES.glob("linux-image-*-cloud-amd64_*.deb"), key=_version_key)
    )
    installed = sorted(Path("/boot").glob("vmlinuz-*-cloud-amd64"), key=_version_key)
    for vmlinuz in reversed(installed):
        modules = Path("/lib/modules") / _release_of(vmlinuz)
        if modules.is_dir() and os.access(vmlinuz, os.R_OK) and not override:
            return KernelSource(_release_of(vmlinuz), vmlinuz, modules, "installed")
    debs = [d for d in debs if d.is_file() and not d.name.startswith("linux-image-cloud-amd64_")]
    if not debs:
        raise GuestNotBuilt(
            "Debian's cloud kernel is not available locally (no /boot/vmlinuz-*-cloud-amd64, "
            f"no linux-image-*-cloud-amd64 .deb in {APT_ARCHIVES})",
            "run `make setup`, or `apt-get install --download-only linux-image-cloud-amd64`",
        )
    deb = debs[-1]
    tmp = tempfile.TemporaryDirectory(prefix="kvmlab-kernel-")
    subprocess.run(["dpkg-deb", "-x", str(deb), tmp.name], check=True)
    root = Path(tmp.name)
    vmlinuz = next((root / "boot").glob("vmlinuz-*"))
    release = _release_of(vmlinuz)
    return KernelSource(release, vmlinuz, root / "lib" / "modules" / release, deb.name, tmp)


def _module_index(modules_root: Path) -> dict[str, Path]:
    index: dict[str, Path] = {}
    for ko in modules_root.joinpath("kernel").rglob("*.ko*"):
        name = ko.name.split(".ko")[0].replace("-", "_")
        index[name] = ko
    return index


def _read_module(path: Path) -> bytes:
    data = path.read_bytes()
    if path.name.endswith(".ko.xz"):
        return lzma.decompress(data)
    if path.name.endswith(".ko"):
        return data
    raise GuestNotBuilt(f"unsupported module compression: {path.name}", "use a kernel with .ko or .ko.xz modules")


@dataclass
class ModuleSet:
    order: list[str]  # load order: every module after its dependencies
    files: dict[str, bytes]  # relative path under lib/modules/<release> -> content
    deps: dict[str, list[str]]  # relative path -> relative paths it needs


def resolve_modules(modules_root: Path, wanted: tuple[str, ...] = WANTED_MODULES) -> ModuleSet:
    """The wanted modules and all they depend on, in load order.

    Built-in options (=y) have no .ko and are simply skipped, so the same list
    works on kernels configured differently.
    """
    index = _module_index(modules_root)
    content: dict[str, bytes] = {}
    depends: dict[str, list[str]] = {}
    order: list[str] = []

    def visit(name: str, stack: tuple[str, ...]) -> None:
        if name in order or name not in index or name in stack:
            return
        data = _read_module(index[name])
        match = _DEPENDS.search(data)
        needs = [d.decode() for d in match.group(1).split(b",") if d] if match else []
        for dep in needs:
            visit(dep.replace("-", "_"), (*stack, name))
        content[name] = data
        depends[name] = [d.replace("-", "_") for d in needs if d.replace("-", "_") in index]
        order.append(name)

    for name in wanted:
        visit(name, ())

    def rel(name: str) -> str:
        return str(index[name].relative_to(modules_root)).split(".ko")[0] + ".ko"

    def closure(name: str) -> list[str]:
        seen: list[str] = []
        for dep in depends[name]:
            for sub in [*closure(dep), dep]:
                if sub not in seen:
                    seen.append(sub)
        return seen

    files = {rel(n): content[n] for n in order}
    deps = {rel(n): [rel(d) for d in reversed(closure(n))] for n in order}
    return ModuleSet(order=order, files=files, deps=deps)


def modules_dep_text(mods: ModuleSet) -> str:
    """A modules.dep for busybox modprobe, covering just the copied subset."""
    return "".join(f"{path}: {' '.join(needs)}\n".replace(": \n", ":\n") for path, needs in mods.deps.items())


def copy_kernel(src: KernelSource, dest: Path) -> None:
    shutil.copyfile(src.vmlinuz, dest)
    dest.chmod(0o644)
