"""Tamper-evident results: each grade is signed with an HMAC key only the instructor can read.

The key lives outside trainees' reach (root-only, 0600, in the data directory
or where KVMLAB_INSTRUCTOR_KEY points). A result whose fields were edited, or
one made up without the key, no longer verifies.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from pathlib import Path
from typing import Any

from kvmlab import paths
from kvmlab.errors import HostCannot


def key_path() -> Path:
    env = os.environ.get("KVMLAB_INSTRUCTOR_KEY")
    return Path(env) if env else paths.data_dir() / "class" / "instructor.key"


def load_key(create: bool = True) -> bytes:
    path = key_path()
    try:
        key = path.read_bytes().strip()
    except FileNotFoundError:
        if not create:
            raise HostCannot(f"no instructor key at {path}", "grade a class first (kvmlab class grade)") from None
        paths.ensure_dir(path.parent, 0o700)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32) + "\n")
        key = path.read_bytes().strip()
    except PermissionError:
        raise HostCannot(f"cannot read the instructor key {path}", "only the instructor (root) can grade") from None
    if path.stat().st_mode & 0o077:
        raise HostCannot(f"the instructor key {path} is readable by others", f"chmod 600 {path}")
    return key


def canonical(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def sign(payload: dict[str, Any], key: bytes) -> str:
    return hmac.new(key, canonical(payload), hashlib.sha256).hexdigest()


def verify(payload: dict[str, Any], signature: str, key: bytes) -> bool:
    return hmac.compare_digest(sign(payload, key), signature)
