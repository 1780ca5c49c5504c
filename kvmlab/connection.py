"""The libvirt connection: which URI, opened once, errors made readable.

``qemu:///system`` as root, ``qemu:///session`` otherwise; ``KVMLAB_URI``
overrides both. libvirt's default error handler prints every error to stderr
even when we handle it, so it is silenced once, here.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from typing import TypeVar

import libvirt

from kvmlab.errors import LibvirtUnavailable
from kvmlab.paths import is_root

T = TypeVar("T")

_silenced = False


def _silence_libvirt() -> None:
    global _silenced
    if not _silenced:
        libvirt.registerErrorHandler(lambda _ctx, _err: None, None)
        _silenced = True


def default_uri() -> str:
    return os.environ.get("KVMLAB_URI") or ("qemu:///system" if is_root() else "qemu:///session")


def is_test_driver(uri: str) -> bool:
    return uri.startswith("test://")


def open_connection(uri: str | None = None) -> libvirt.virConnect:
    _silence_libvirt()
    uri = uri or default_uri()
    try:
        return libvirt.open(uri)
    except libvirt.libvirtError as err:
        hint = (
            "start libvirtd: run `make setup` (it starts virtlogd and libvirtd), "
            "or by hand: mkdir -p /var/log/libvirt /var/run/libvirt && virtlogd -d && libvirtd -d"
            if uri.startswith("qemu:///system")
            else f"check that libvirt answers at {uri} (virsh -c {uri} version)"
        )
        raise LibvirtUnavailable(f"cannot connect to libvirt at {uri}: {err.get_error_message()}", hint) from err


def error_code(err: libvirt.libvirtError) -> int:
    return int(err.get_error_code() or 0)


NOT_FOUND = frozenset(
    {
        libvirt.VIR_ERR_NO_DOMAIN,
        libvirt.VIR_ERR_NO_NETWORK,
        libvirt.VIR_ERR_NO_STORAGE_POOL,
        libvirt.VIR_ERR_NO_STORAGE_VOL,
    }
)


def lookup(fn: Callable[[], T]) -> T | None:
    """Call a libvirt lookup; None when the object does not exist."""
    try:
        return fn()
    except libvirt.libvirtError as err:
        if error_code(err) in NOT_FOUND:
            return None
        raise


class Connection:
    """A lazily opened, self-healing connection.

    If libvirtd restarts under us (a trainee restarts it, a class host
    reboots its daemon), the next call reconnects instead of failing forever.
    """

    def __init__(self, uri: str | None = None) -> None:
        self.uri = uri or default_uri()
        self._conn: libvirt.virConnect | None = None

    @property
    def conn(self) -> libvirt.virConnect:
        if self._conn is not None:
            # isAlive() alone is not enough: with no event loop running, the
            # client notices a restarted daemon only when it next writes, so a
            # dead socket still reports alive. One round trip (~0.1 ms on the
            # local socket; a check takes a handful) proves it.
            try:
                alive = bool(self._conn.isAlive()) and self._conn.getLibVersion() > 0
            except libvirt.libvirtError:
                alive = False
            if alive:
                return self._conn
            with contextlib.suppress(libvirt.libvirtError):
                self._conn.close()
            self._conn = None
        self._conn = open_connection(self.uri)
        return self._conn

    @property
    def is_session(self) -> bool:
        return "/session" in self.uri

    @property
    def is_test(self) -> bool:
        return is_test_driver(self.uri)

    def close(self) -> None:
        if self._conn is not None:
            # Closing a connection whose daemon is gone fails; there is nothing left to release.
            with contextlib.suppress(libvirt.libvirtError):
                self._conn.close()
            self._conn = None
