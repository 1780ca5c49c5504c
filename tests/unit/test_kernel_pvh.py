"""The guest boots the uncompressed kernel through PVH: extracted from Debian's bzImage, or not at all."""

from __future__ import annotations

from pathlib import Path

import pytest

from kvmlab.guest import kernel

BZIMAGES = sorted(Path("/boot").glob("vmlinuz-*-cloud-amd64"))
pytestmark = pytest.mark.skipif(not BZIMAGES, reason="make setup installs Debian's cloud kernel")


def test_the_cloud_kernel_yields_an_elf_that_boots_through_pvh() -> None:
    bzimage = BZIMAGES[-1].read_bytes()
    elf = kernel.extract_vmlinux(bzimage)
    assert elf is not None and elf[:4] == b"\x7fELF"
    assert len(elf) > 2 * len(bzimage), "the payload was not decompressed"


def test_anything_else_is_refused_and_the_bzimage_is_booted() -> None:
    bzimage = bytearray(BZIMAGES[-1].read_bytes())
    assert kernel.extract_vmlinux(b"not a kernel") is None
    broken = bytearray(bzimage)
    broken[0x202:0x206] = b"XXXX"  # no boot protocol header
    assert kernel.extract_vmlinux(bytes(broken)) is None
    setup_sects = bzimage[0x1F1] or 4
    start = (setup_sects + 1) * 512 + int.from_bytes(bzimage[0x248:0x24C], "little")
    bzimage[start : start + 4] = b"\0\0\0\0"  # a payload in no known format
    assert kernel.extract_vmlinux(bytes(bzimage)) is None


def test_an_elf_without_the_pvh_note_is_refused() -> None:
    elf = bytearray(kernel.extract_vmlinux(BZIMAGES[-1].read_bytes()) or b"")
    assert kernel._has_pvh_note(bytes(elf))
    at = elf.find(b"Xen\0")
    while at != -1:  # every Xen note renamed: QEMU would refuse to boot it through PVH
        elf[at : at + 3] = b"Nex"
        at = elf.find(b"Xen\0", at + 1)
    assert not kernel._has_pvh_note(bytes(elf))
