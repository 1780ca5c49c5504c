"""Reading /etc/shadow and checking a password against it, as login(1) does.

The hash may be yescrypt (``$y$``, what libguestfs 1.48 writes), SHA-512
(``$6$``, what busybox mkpasswd wrote into the golden image) or any other
scheme the host's libcrypt knows. Python's ``crypt`` module is deprecated
(and gone in 3.13), so crypt(3) is called from libxcrypt directly.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from dataclasses import dataclass
from functools import cache

from kvmlab.errors import HostCannot


@dataclass(frozen=True)
class ShadowEntry:
    user: str
    hash: str  # "!" or "*" when the account is locked, "" when it has no password

    @property
    def scheme(self) -> str:
        """The hash scheme by its prefix: yescrypt, sha512-crypt, ..."""
        names = {"$y$": "yescrypt", "$6$": "sha512-crypt", "$5$": "sha256-crypt", "$1$": "md5-crypt"}
        if self.hash.startswith("$2"):
            return "bcrypt"
        return next((name for prefix, name in names.items() if self.hash.startswith(prefix)), "none or locked")


def entry(shadow_text: str, user: str) -> ShadowEntry | None:
    for line in shadow_text.splitlines():
        fields = line.split(":")
        if len(fields) >= 2 and fields[0] == user:
            return ShadowEntry(user, fields[1])
    return None


@cache
def _libcrypt() -> ctypes.CDLL:
    name = ctypes.util.find_library("crypt") or "libcrypt.so.1"
    try:
        lib = ctypes.CDLL(name)
    except OSError as err:
        raise HostCannot("libcrypt (libxcrypt) is not installed", "install the Debian package libcrypt1") from err
    lib.crypt.restype = ctypes.c_char_p
    lib.crypt.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
    return lib


def verify(password: str, hashed: str) -> bool:
    """True when ``password`` hashes to ``hashed`` (a shadow hash field); locked accounts never match."""
    if not hashed.startswith("$"):
        return False  # "!", "*", "!!" (locked) or "" (no password): nothing to match
    out = _libcrypt().crypt(password.encode(), hashed.encode())
    # libxcrypt returns a "*0"/"*1" failure token for a malformed setting.
    return out is not None and not out.startswith(b"*") and out.decode() == hashed
