"""The cpio writer, read back by a real cpio (busybox's)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from kvmlab.guest.initramfs import Tree, cpio_newc


@pytest.fixture
def archive(tmp_path: Path) -> Path:
    tree = Tree()
    tree.file("/init", "#!/bin/sh\necho hi\n", 0o755)
    tree.file("/etc/deep/nested/file", b"abc")
    tree.symlink("/bin/sh", "/bin/busybox")
    tree.chardev("/dev/console", 5, 1)
    path = tmp_path / "initrd.cpio"
    path.write_bytes(cpio_newc(tree))
    return path


def test_real_cpio_lists_every_entry_and_parent(archive: Path) -> None:
    busybox = shutil.which("busybox")
    if busybox is None:
        pytest.skip("busybox-static is installed by make setup")
    out = subprocess.run(
        [busybox, "cpio", "-t"], stdin=archive.open("rb"), capture_output=True, text=True, check=True
    ).stdout.split()
    assert out == sorted(out)  # parents before children
    for name in ("init", "etc", "etc/deep", "etc/deep/nested", "etc/deep/nested/file", "bin/sh", "dev/console"):
        assert name in out


def test_real_cpio_extracts_content_and_modes(archive: Path, tmp_path: Path) -> None:
    busybox = shutil.which("busybox")
    if busybox is None:
        pytest.skip("busybox-static is installed by make setup")
    dest = tmp_path / "x"
    dest.mkdir()
    cpio = subprocess.run(
        [busybox, "cpio", "-id", "init", "etc/deep/nested/file", "bin/sh"],
        stdin=archive.open("rb"),
        cwd=dest,
        capture_output=True,
        check=False,
    )
    assert cpio.returncode == 0, cpio.stderr
    assert (dest / "init").read_text() == "#!/bin/sh\necho hi\n"
    assert (dest / "init").stat().st_mode & 0o777 == 0o755
    assert (dest / "etc/deep/nested/file").read_bytes() == b"abc"
    assert (dest / "bin/sh").readlink() == Path("/bin/busybox")
