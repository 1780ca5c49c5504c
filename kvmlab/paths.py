"""Where kvmlab keeps its data: the guest, the accelerator verdict, trainees' files.

``KVMLAB_HOME`` wins; otherwise a system path as root and the XDG data
directory for everybody else (Binder, JupyterHub users).
"""

from __future__ import annotations

import os
from pathlib import Path


def is_root() -> bool:
    return os.geteuid() == 0


def data_dir() -> Path:
    env = os.environ.get("KVMLAB_HOME")
    if env:
        return Path(env).expanduser().absolute()
    if is_root():
        return Path("/var/lib/kvmlab")
    xdg = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(xdg) / "kvmlab"


def host_dir() -> Path:
    """Where host-wide coordination lives (subnets handed out, the KSM lease): one place for every
    kvmlab on this host, whatever data directory each uses. Root may move it (KVMLAB_HOST_DIR);
    for anyone else it is their data directory (they cannot make networks or touch KSM anyway)."""
    if not is_root():
        return data_dir()
    return Path(os.environ.get("KVMLAB_HOST_DIR") or "/var/lib/kvmlab")


def guest_dir() -> Path:
    return data_dir() / "guest"


def owners_dir() -> Path:
    return data_dir() / "owners"


def labs_dir() -> Path:
    return data_dir() / "labs"


def cache_dir() -> Path:
    return data_dir() / "cache"


def ensure_dir(path: Path, mode: int = 0o755) -> Path:
    """Create ``path`` (and parents) without ever making it world-writable.

    0755 rather than 0700: under qemu:///system QEMU runs as its own user and
    must traverse these directories to open the guest's kernel and images.
    """
    path.mkdir(parents=True, exist_ok=True, mode=mode)
    return path


def repo_dir() -> Path:
    """The kvmlab checkout this package runs from (notebooks, questions): kvmlab is installed editable."""
    return Path(__file__).resolve().parent.parent


def notebooks_dir() -> Path:
    return repo_dir() / "labs"
