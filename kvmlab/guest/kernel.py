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


# The compressed payload of a bzImage, told by its first bytes -> how to undo it.
_PAYLOADS: tuple[tuple[bytes, str], ...] = (
    (b"\x1f\x8b", "gzip"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"\x02\x21\x4c\x18", "lz4"),  # lz4's legacy frame, what the kernel's Makefile writes
    (b"\x28\xb5\x2f\xfd", "zstd"),
)
XEN_ELFNOTE_PHYS32_ENTRY = 18  # the ELF note that says "this kernel boots through PVH"


def extract_vmlinux(bzimage: bytes) -> bytes | None:
    """The uncompressed kernel (an ELF) inside a bzImage, if it boots through PVH; None otherwise.

    QEMU boots such an ELF directly (``-kernel vmlinux``, the PVH entry point): no
    real-mode set-up, no decompression in the guest (0.3 s of a 3.3 s boot under
    TCG), and QEMU does not keep a copy of the whole kernel file in its memory for
    the firmware, as it does for a bzImage (13.5 MiB of every guest's QEMU).
    The payload's place is in the boot protocol's header (payload_offset and
    payload_length, protocol 2.08+).
    """
    version = int.from_bytes(bzimage[0x206:0x208], "little")
    if len(bzimage) < 0x250 or bzimage[0x202:0x206] != b"HdrS" or version < 0x208:
        return None
    setup_sects = bzimage[0x1F1] or 4
    offset = int.from_bytes(bzimage[0x248:0x24C], "little")
    length = int.from_bytes(bzimage[0x24C:0x250], "little")
    start = (setup_sects + 1) * 512 + offset
    payload = bzimage[start : start + length]
    kind = next((name for magic, name in _PAYLOADS if payload.startswith(magic)), None)
    try:
        if kind == "gzip":
            import zlib

            elf = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(payload)
        elif kind == "xz":
            elf = lzma.LZMADecompressor().decompress(payload)
        elif kind in ("lz4", "zstd") and shutil.which(kind):
            # The kernel appends the uncompressed size after the frame: the tools read the frame and stop.
            elf = subprocess.run([kind, "-dc"], input=payload, capture_output=True, check=False).stdout
        else:
            return None
    except (lzma.LZMAError, OSError, ValueError):
        return None
    return elf if _has_pvh_note(elf) else None


def _has_pvh_note(elf: bytes) -> bool:
    """An ELF64 little-endian executable with Xen's PHYS32_ENTRY note in a PT_NOTE segment."""
    if elf[:4] != b"\x7fELF" or elf[4] != 2 or elf[5] != 1:
        return False
    phoff = int.from_bytes(elf[0x20:0x28], "little")
    phentsize = int.from_bytes(elf[0x36:0x38], "little")
    phnum = int.from_bytes(elf[0x38:0x3A], "little")
    for i in range(phnum):
        ph = elf[phoff + i * phentsize : phoff + (i + 1) * phentsize]
        if int.from_bytes(ph[0:4], "little") != 4:  # PT_NOTE
            continue
        pos = int.from_bytes(ph[8:16], "little")
        end = pos + int.from_bytes(ph[32:40], "little")
        while pos + 12 <= end:
            namesz, descsz, kind = (int.from_bytes(elf[pos + k : pos + k + 4], "little") for k in (0, 4, 8))
            name = elf[pos + 12 : pos + 12 + namesz].rstrip(b"\0")
            if name == b"Xen" and kind == XEN_ELFNOTE_PHYS32_ENTRY:
                return True
            pos += 12 + (namesz + 3) // 4 * 4 + (descsz + 3) // 4 * 4
    return False
