"""The guest's small ext4 disk, made with ``mkfs.ext4 -d`` (no mounting, no root).

It carries just enough of an OS for libguestfs inspection and for the labs
that seal, template, convert or edit disks: /bin, /etc/fstab, os-release,
hostname, machine-id, shadow, SSH host keys, logs and a dpkg status file.
"""

from __future__ import annotations

import secrets
import shutil
import tempfile
import uuid
from pathlib import Path

from kvmlab.procs import run, which

DISK_SIZE = "64M"
DEFAULT_ROOT_PASSWORD = "kvmlab"  # noqa: S105 - the lab guest's documented password


def sha512_crypt(password: str, salt: str | None = None) -> str:
    """crypt(3) SHA-512 hash, as /etc/shadow stores it (busybox mkpasswd)."""
    argv = [which("busybox", "busybox-static"), "mkpasswd", "-m", "sha512", password]
    if salt:
        argv.append(salt)
    return run(argv).stdout.strip()


def _write(root: Path, rel: str, text: str, mode: int = 0o644) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)


def _ssh_host_keys(etc_ssh: Path) -> None:
    etc_ssh.mkdir(parents=True, exist_ok=True)
    keygen = shutil.which("ssh-keygen")
    for kind in ("ed25519", "rsa"):
        key = etc_ssh / f"ssh_host_{kind}_key"
        if keygen:
            bits = ["-b", "2048"] if kind == "rsa" else []
            run([keygen, "-q", "-t", kind, *bits, "-N", "", "-C", "root@golden", "-f", str(key)])
        else:  # still a file a sealing step must remove
            key.write_text(f"placeholder {kind} host key {secrets.token_hex(16)}\n")
        key.chmod(0o600)


def build_disk(dest: Path) -> None:
    mkfs = which("mkfs.ext4", "e2fsprogs")
    with tempfile.TemporaryDirectory(prefix="kvmlab-disk-") as tmp:
        root = Path(tmp)
        for d in ("bin", "sbin", "usr/bin", "usr/sbin", "lib", "root", "tmp", "var/log", "var/tmp", "home", "srv"):
            (root / d).mkdir(parents=True, exist_ok=True)
        (root / "root").chmod(0o700)
        (root / "tmp").chmod(0o1777)
        shutil.copyfile(which("busybox", "busybox-static"), root / "bin" / "busybox")
        (root / "bin" / "busybox").chmod(0o755)
        (root / "bin" / "sh").symlink_to("busybox")
        _write(
            root,
            "etc/os-release",
            'PRETTY_NAME="kvmlab golden image (Debian 12 based)"\nNAME="Debian GNU/Linux"\n'
            'VERSION_ID="12"\nVERSION="12 (bookworm)"\nVERSION_CODENAME=bookworm\nID=debian\n',
        )
        _write(root, "etc/debian_version", "12.0\n")
        _write(root, "etc/hostname", "golden\n")
        _write(root, "etc/hosts", "127.0.0.1 localhost\n127.0.1.1 golden\n")
        _write(root, "etc/machine-id", uuid.uuid4().hex + "\n", 0o444)
        _write(root, "etc/fstab", "LABEL=kvmlab-root / ext4 defaults 0 1\n")
        _write(root, "etc/passwd", "root:x:0:0:root:/root:/bin/sh\n")
        _write(root, "etc/group", "root:x:0:\n")
        _write(root, "etc/shadow", f"root:{sha512_crypt(DEFAULT_ROOT_PASSWORD)}:19700:0:99999:7:::\n", 0o640)
        _write(
            root,
            "var/lib/dpkg/status",
            "Package: base-files\nStatus: install ok installed\nVersion: 12.4\n"
            "Architecture: amd64\n\nPackage: busybox-static\nStatus: install ok installed\nVersion: 1:1.35.0\n"
            "Architecture: amd64\n\n",
        )
        _write(root, "var/log/messages", "golden: first boot of the template image\n")
        _write(root, "root/.bash_history", "echo this history must not reach a clone\n", 0o600)
        _ssh_host_keys(root / "etc" / "ssh")
        partial = dest.with_suffix(".partial")
        run([mkfs, "-q", "-F", "-L", "kvmlab-root", "-d", str(root), str(partial), DISK_SIZE])
        partial.replace(dest)
