"""Booting the tiny guest with bare qemu-system-x86_64 (no libvirt).

Used twice: by the accelerator probe (does a guest boot under KVM here?) and
by the benchmark (how long does the bare boot take, as the baseline for
``lab start``). Also: waiting for the readiness line in a console log.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from kvmlab.guest.build import KERNEL_CMDLINE, GuestFiles
from kvmlab.procs import which
from kvmlab.resources.console import READY_MARKER

GUEST_BOOT_TIMEOUT = 120.0  # TCG on a busy 2-core host; a KVM boot takes ~1 s


@dataclass
class BootResult:
    ready: bool
    seconds: float
    console: str
    exit_note: str = ""


def wait_for_marker(log: Path, timeout: float, marker: bytes = READY_MARKER, alive: object = None) -> float | None:
    """Seconds until ``marker`` shows up in ``log``; None on timeout.

    ``alive`` is an optional zero-argument callable; when it returns False the
    wait ends early (the guest died, no point in waiting for it).
    """
    start = time.monotonic()
    deadline = start + timeout
    while time.monotonic() < deadline:
        try:
            if marker in log.read_bytes():
                return time.monotonic() - start
        except FileNotFoundError:
            pass
        if callable(alive) and not alive():
            return None
        time.sleep(0.02)
    return None


def bare_qemu_argv(
    files: GuestFiles, accel: str, console: Path, overlay: Path | None, agent_sock: Path | None, memory_mib: int = 256
) -> list[str]:
    argv = [
        which("qemu-system-x86_64", "qemu-system-x86"),
        "-accel",
        accel,
        "-machine",
        "pc",
        "-m",
        str(memory_mib),
        "-nodefaults",
        "-no-user-config",
        "-display",
        "none",
        "-no-reboot",
        "-kernel",
        str(files.kernel),
        "-initrd",
        str(files.initrd),
        "-append",
        KERNEL_CMDLINE,
        "-serial",
        f"file:{console}",
    ]
    if overlay is not None:
        argv += ["-drive", f"file={overlay},if=virtio,format=qcow2"]
    if agent_sock is not None:
        argv += [
            "-device",
            "virtio-serial",
            "-chardev",
            f"socket,id=qga0,path={agent_sock},server=on,wait=off",
            "-device",
            "virtserialport,chardev=qga0,name=org.qemu.guest_agent.0",
        ]
    return argv


def boot_bare(files: GuestFiles, accel: str, timeout: float, with_devices: bool = True) -> BootResult:
    """Boot the guest with qemu alone and wait for its readiness line, then stop it."""
    with tempfile.TemporaryDirectory(prefix="kvmlab-boot-") as tmp:
        console = Path(tmp) / "console.log"
        overlay = agent = None
        if with_devices:
            overlay, agent = Path(tmp) / "overlay.qcow2", Path(tmp) / "qga.sock"
            subprocess.run(
                ["qemu-img", "create", "-q", "-f", "qcow2", "-b", str(files.disk), "-F", "raw", str(overlay)],
                check=True,
            )
        argv = bare_qemu_argv(files, accel, console, overlay, agent)
        started = time.monotonic()
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
        try:
            waited = wait_for_marker(console, timeout, alive=lambda: proc.poll() is None)
            elapsed = time.monotonic() - started
            exited_by_itself = proc.poll() is not None
        finally:
            _stop(proc)
        note = ""
        if proc.stderr:
            err = proc.stderr.read().decode(errors="replace").strip()
            proc.stderr.close()
            # What QEMU printed matters only if it died on its own (not killed by us).
            note = err if waited is None and exited_by_itself else ""
        text = console.read_text(errors="replace") if console.exists() else ""
        return BootResult(ready=waited is not None, seconds=elapsed, console=text, exit_note=note)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Stop a qemu we started: SIGTERM, then SIGKILL (a guest hung in KVM may ignore the first)."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=3)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait(timeout=10)
