"""Helpers shared by unit and integration tests (no fakes: real libvirt only)."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

DATA = Path(__file__).parent / "data"
REPO = Path(__file__).parent.parent


def lab_trainee(lab_id: str) -> str:
    """The trainee every real-host test of one lab works as: its contract, its known-wrong solutions, the
    practice edition run as it is, and both notebook editions nbval runs.

    One trainee means one definition per guest, so only the first start of a lab in a run boots its guests:
    every later one restores them from their saved ready states (kvmlab.guest.ready), as a trainee's own
    second start does. The tests of a lab share one xdist group (conftest.py): they run in order on one
    worker, each beginning with a finish.
    """
    import hashlib

    return "c" + hashlib.sha256(lab_id.encode()).hexdigest()[:8]


def private_test_host() -> str:
    """A private test-driver host per connection: state never leaks between tests."""
    return f"test://{DATA / 'host.xml'}"


def kvmlab(*args: str, env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run the real CLI in a subprocess, as a user would."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "kvmlab", *args], capture_output=True, text=True, env=full_env, timeout=timeout
    )


def kvmlab_in_process(*args: str) -> subprocess.CompletedProcess[str]:
    """The CLI's own main() in this process, its output captured: what a user sees, without a new interpreter."""
    import contextlib
    import io
    import signal

    from kvmlab.cli import main

    out, err = io.StringIO(), io.StringIO()
    term = signal.getsignal(signal.SIGTERM)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(list(args))
            except SystemExit as exit:  # argparse refuses bad arguments this way
                code = exit.code if isinstance(exit.code, int) else 2
    finally:
        signal.signal(signal.SIGTERM, term)  # main() routes SIGTERM to Ctrl-C for its own run only
    return subprocess.CompletedProcess(["kvmlab", *args], code, out.getvalue(), err.getvalue())


UNPRIVILEGED = 65534  # nobody:nogroup


def binder_venv() -> Path:
    """Debian's Python with binder's requirements, usable by an ordinary user (root's pyenv is not reachable).

    What repo2docker installs before postBuild. Kept between runs, keyed on the
    requirements and the interpreter (pip is the slow part); made once at a time.
    """
    import fcntl
    import hashlib
    import shutil

    requirements = REPO / "binder" / "requirements.txt"
    python = subprocess.run(["/usr/bin/python3", "-VV"], capture_output=True, check=True).stdout
    key = hashlib.sha256(requirements.read_bytes() + python).hexdigest()[:12]
    venv = Path(f"/var/tmp/kvmlab-binder-venv-{key}")
    with Path("/var/tmp/kvmlab-binder-venv.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (venv / ".complete").is_file():
            for old in Path("/var/tmp").glob("kvmlab-binder-venv-*"):
                if old.is_dir():
                    shutil.rmtree(old, ignore_errors=True)
            subprocess.run(["/usr/bin/python3", "-m", "venv", str(venv)], check=True)
            pip = [str(venv / "bin" / "pip"), "install", "-q", "-r", str(requirements)]
            subprocess.run(pip, check=True, timeout=900)
            (venv / ".complete").write_text(key + "\n")
            # postBuild installs kvmlab into it as the user
            subprocess.run(["chown", "-R", f"{UNPRIVILEGED}:{UNPRIVILEGED}", str(venv)], check=True)
    return venv


_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")


def run_in_pty(args: list[str], answers: list[str], env: dict[str, str], timeout: float = 60, width: int = 80) -> str:
    """Run kvmlab on a real pseudo-terminal ``width`` columns wide, typing answers as prompts appear."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, width, 0, 0))
    proc = subprocess.Popen(
        [sys.executable, "-m", "kvmlab", *args],
        stdin=follower,
        stdout=follower,
        stderr=follower,
        env={**env, "TERM": "xterm-256color", "COLUMNS": str(width)},
        close_fds=True,
    )
    os.close(follower)
    out = b""
    pending = list(answers)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([leader], [], [], 0.2)
        if ready:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            out += chunk
            if pending and out.rstrip().endswith(b">"):
                os.write(leader, pending.pop(0).encode() + b"\n")
        elif proc.poll() is not None:
            break
    proc.kill()
    proc.wait()
    os.close(leader)
    return _ANSI.sub("", out.decode(errors="replace")).replace("\r", "")
