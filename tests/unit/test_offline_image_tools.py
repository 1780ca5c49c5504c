"""The pieces the offline-password and template graders stand on.

libvirt's run log (a recorded real log), crypt(3) verification, reading
files out of a real ext4 image with debugfs, and libguestfs's environment.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from kvmlab import guestfs, shadow
from kvmlab.guest.disk import sha512_crypt
from kvmlab.resources import runlog
from kvmlab.resources.imagefs import ImageUnreadable, image_files
from kvmlab.resources.shadowfile import ImageShadow
from tests.helpers import DATA

UUID = "c34e40ef-57f5-429e-a35d-5d4cb387aa09"
OTHER = "0b7f8a2e-1111-4222-8333-944455556666"


def _at(stamp: str) -> float:
    return datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S.%f").replace(tzinfo=UTC).timestamp()


# -- libvirt's log of a domain's QEMU runs -------------------------------------


def test_runlog_reads_start_stop_reason_and_uuid_of_each_run() -> None:
    runs = runlog.parse((DATA / "libvirt-qemu-domain.log").read_text())
    assert [(r.uuid, r.reason) for r in runs] == [(UUID, "shutdown"), (UUID, "destroyed"), (OTHER, None)]
    assert runs[0].started == _at("2026-11-25 19:11:05.870")
    assert runs[0].stopped == _at("2026-11-25 19:11:49.015")
    assert runs[2].stopped is None  # still running


def test_runlog_run_covers_times_inside_it_and_an_open_run_covers_until_now() -> None:
    first, _, running = runlog.parse((DATA / "libvirt-qemu-domain.log").read_text())
    now = _at("2026-11-25 19:45:00.000")
    assert first.covers(_at("2026-11-25 19:11:30.000"), now)
    assert not first.covers(_at("2026-11-25 19:12:30.000"), now)
    assert first.covers(_at("2026-11-25 19:11:50.000"), now, slack=2)
    assert running.covers(_at("2026-11-25 19:44:00.000"), now)


def test_runlog_keeps_a_run_without_stop_line_until_the_next_start() -> None:
    text = (DATA / "libvirt-qemu-domain.log").read_text()
    cut = "\n".join(line for line in text.splitlines() if "reason=shutdown" not in line)
    runs = runlog.parse(cut)
    assert runs[0].reason is None and runs[0].stopped == runs[1].started


def test_runlog_of_a_missing_log_is_none(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert runlog.runs("qemu:///session", "no-such-guest") is None
    assert runlog.log_path("qemu:///session", "vm") == tmp_path / "libvirt/qemu/log/vm.log"
    assert runlog.log_path("qemu:///system", "vm") == Path("/var/log/libvirt/qemu/vm.log")


# -- /etc/shadow and crypt(3) ---------------------------------------------------

YESCRYPT = "$y$j9T$8wP/1YD.tWtK.2PEW2DT1tWp$euwXYfNZ4y25qy4q7sjWEgtssXkfl.y4b6yPpVUNMND"  # virt-customize, "Secret123"


def test_shadow_verifies_yescrypt_written_by_libguestfs() -> None:
    assert shadow.verify("Secret123", YESCRYPT)
    assert not shadow.verify("secret123", YESCRYPT)


def test_shadow_verifies_sha512_crypt_of_the_golden_image() -> None:
    hashed = sha512_crypt("kvmlab")
    assert shadow.verify("kvmlab", hashed) and not shadow.verify("kvmlab2", hashed)


@pytest.mark.parametrize("locked", ["!", "*", "!!", "", "!$6$abc$def", "$6$"])
def test_shadow_locked_empty_or_malformed_hashes_never_match(locked: str) -> None:
    assert not shadow.verify("", locked)
    assert not shadow.verify("kvmlab", locked)


def test_shadow_entry_finds_the_user_and_names_the_scheme() -> None:
    text = f"daemon:*:19700:0:99999:7:::\nroot:{YESCRYPT}:19700:0:99999:7:::\n"
    entry = shadow.entry(text, "root")
    assert entry is not None and entry.hash == YESCRYPT and entry.scheme == "yescrypt"
    assert shadow.entry(text, "nobody") is None


# -- files inside an image, without booting or mounting -------------------------


@pytest.fixture(scope="module")
def ext4_image(tmp_path_factory: pytest.TempPathFactory) -> Path:
    mkfs = shutil.which("mkfs.ext4") or "/sbin/mkfs.ext4"
    tmp = tmp_path_factory.mktemp("imagefs")
    root = tmp / "root"
    (root / "etc" / "ssh").mkdir(parents=True)
    (root / "etc" / "hostname").write_text("golden\n")
    (root / "etc" / "machine-id").write_text("")
    (root / "etc" / "ssh" / "ssh_host_ed25519_key").write_text("key\n")
    raw = tmp / "disk.raw"
    subprocess.run([mkfs, "-q", "-F", "-d", str(root), str(raw), "8M"], check=True)
    qcow2 = tmp / "disk.qcow2"
    subprocess.run(["qemu-img", "convert", "-O", "qcow2", str(raw), str(qcow2)], check=True)
    return qcow2


def test_imagefs_reads_files_lists_directories_and_tells_missing_from_empty(ext4_image: Path) -> None:
    with image_files(ext4_image) as fs:
        assert fs.read("/etc/hostname") == "golden\n"
        assert fs.read("/etc/machine-id") == ""
        assert fs.read("/etc/no-such-file") is None
        assert fs.listdir("/etc/ssh") == ["ssh_host_ed25519_key"]
        assert fs.listdir("/no/such/dir") is None
        times = fs.times("/etc/hostname")
        assert times is not None and times.ctime > 1_600_000_000


def test_imagefs_refuses_what_is_not_a_plain_absolute_path(ext4_image: Path) -> None:
    with image_files(ext4_image) as fs, pytest.raises(ValueError, match="plain absolute path"):
        fs.read("/etc/hostname' ; rm -rf /")


def test_imagefs_says_clearly_when_an_image_holds_no_ext4(tmp_path: Path) -> None:
    blank = tmp_path / "blank.raw"
    blank.write_bytes(b"\0" * 1024 * 1024)
    with pytest.raises(ImageUnreadable, match="ext4"), image_files(blank):
        pass
    with pytest.raises(ImageUnreadable, match="no image"), image_files(tmp_path / "missing.qcow2"):
        pass


def test_the_shadow_file_of_an_image_accepts_its_password_and_says_when_it_changed(tmp_path: Path) -> None:
    mkfs = shutil.which("mkfs.ext4") or "/sbin/mkfs.ext4"
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "shadow").write_text(f"root:{sha512_crypt('N3w-kvmlab-pw')}:19700:0:99999:7:::\n")
    raw = tmp_path / "disk.raw"
    subprocess.run([mkfs, "-q", "-F", "-d", str(root), str(raw), "8M"], check=True)
    found = ImageShadow(raw).read()
    assert found.accepts("root", "N3w-kvmlab-pw") and not found.accepts("root", "kvmlab")
    assert not found.accepts("nobody", "N3w-kvmlab-pw")
    entry = found.entry("root")
    assert entry is not None and entry.scheme == "sha512-crypt"
    assert found.changed is not None and found.changed > 1_600_000_000


def test_an_image_without_a_shadow_file_accepts_nobody(ext4_image: Path) -> None:
    found = ImageShadow(ext4_image).read()
    assert found.text is None and found.changed is None and not found.accepts("root", "")


# -- libguestfs's environment ---------------------------------------------------


def test_guestfs_env_forces_tcg_only_when_the_verdict_is_tcg() -> None:
    assert guestfs.env("tcg") == {"LIBGUESTFS_BACKEND": "direct", "LIBGUESTFS_BACKEND_SETTINGS": "force_tcg"}
    assert guestfs.env("kvm") == {"LIBGUESTFS_BACKEND": "direct"}


def test_guestfs_prepare_drops_a_stale_force_tcg_when_kvm_works(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIBGUESTFS_BACKEND_SETTINGS", "force_tcg")
    monkeypatch.delenv("LIBGUESTFS_BACKEND", raising=False)  # so that monkeypatch restores it afterwards
    assert "LIBGUESTFS_BACKEND_SETTINGS" not in guestfs.tool_env("kvm")
    guestfs.prepare("kvm")
    assert "LIBGUESTFS_BACKEND_SETTINGS" not in os.environ
    assert os.environ["LIBGUESTFS_BACKEND"] == "direct"
