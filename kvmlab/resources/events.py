"""libvirt's event loop: one per process, for everything in it that wants events."""

from __future__ import annotations

import threading

import libvirt

_loop_lock = threading.Lock()
_loop_running = False


def run_event_loop() -> None:
    """libvirt's default event loop in a daemon thread, once per process.

    It must be registered before the connection that wants events is
    opened, and it must keep running: it also answers libvirtd's keepalives.
    Registering it twice in one process is an error libvirt does not forgive,
    so the libvirt-api lab's recorder and the live guest panel share this one.
    """
    global _loop_running
    with _loop_lock:
        if _loop_running:
            return
        libvirt.virEventRegisterDefaultImpl()

        def loop() -> None:
            while True:
                libvirt.virEventRunDefaultImpl()

        threading.Thread(target=loop, name="libvirt-events", daemon=True).start()
        _loop_running = True
