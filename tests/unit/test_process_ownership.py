"""Owned processes (kind "process", named by a pid file): finish stops exactly that process.

Real processes, no fakes: a Python interpreter started under QEMU's name with
``-pidfile PATH`` stands in for a hand-run QEMU (same /proc/PID/cmdline
shape), so these tests need no QEMU on the machine.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest

from kvmlab import paths
from kvmlab.connection import Connection
from kvmlab.labs.base import Lab, Params
from kvmlab.ownership import Owned, Ownership
from kvmlab.resources.process import PidFileProcess, argv_of, has_exited
from kvmlab.sandbox import exists, remove
from kvmlab.session import LabSession
from kvmlab.toolkit import Toolkit
from kvmlab.trainee import Trainee

SLEEP = (
    "import signal, sys, time\n"
    "if 'ignore-term' in sys.argv: signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    "time.sleep(60)"
)


def _settled(proc: subprocess.Popen[bytes]) -> subprocess.Popen[bytes]:
    """Wait until the kernel has finished exec: until then /proc/PID/cmdline reads empty."""
    deadline = time.monotonic() + 5
    while not argv_of(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.01)
    return proc


@pytest.fixture
def started() -> Iterator[list[subprocess.Popen[bytes]]]:
    procs: list[subprocess.Popen[bytes]] = []
    yield procs
    for proc in procs:  # whatever a test left running, it started itself
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def _fake_qemu(procs: list[subprocess.Popen[bytes]], pid_file: Path, *extra: str) -> subprocess.Popen[bytes]:
    """A process whose command line looks like `qemu-system-x86_64 ... -pidfile PATH`, and its pid file."""
    proc = subprocess.Popen(
        ["qemu-system-x86_64", "-c", SLEEP, "-pidfile", str(pid_file), *extra], executable=sys.executable
    )
    procs.append(_settled(proc))
    pid_file.parent.mkdir(parents=True, exist_ok=True)
    pid_file.write_text(f"{proc.pid}\n")
    return proc


def _lab_file(name: str) -> Path:
    return paths.labs_dir() / "alice" / "qemu-kvm" / name


def test_remove_stops_the_process_named_by_its_pid_file(
    test_host: Connection, started: list[subprocess.Popen[bytes]]
) -> None:
    pid_file = _lab_file("qemu.pid")
    proc = _fake_qemu(started, pid_file)
    assert PidFileProcess(pid_file).is_running

    note = remove(test_host, Owned("process", str(pid_file), "qemu-kvm"), "alice")

    assert note is None
    assert proc.wait(timeout=5) == -15  # SIGTERM was enough
    assert not pid_file.exists()


def test_a_pid_reused_by_another_program_is_left_alone(
    test_host: Connection, started: list[subprocess.Popen[bytes]]
) -> None:
    stranger = _settled(subprocess.Popen(["sleep", "60"]))
    started.append(stranger)
    pid_file = _lab_file("qemu.pid")
    pid_file.parent.mkdir(parents=True)
    pid_file.write_text(f"{stranger.pid}\n")  # QEMU died; its PID now belongs to `sleep`
    assert not PidFileProcess(pid_file).is_running

    note = remove(test_host, Owned("process", str(pid_file), "qemu-kvm"), "alice")

    assert note is not None and "left alone" in note
    assert stranger.poll() is None
    assert not pid_file.exists()  # the stale pid file itself is ours and goes


def test_a_process_naming_another_pid_file_is_left_alone(
    test_host: Connection, started: list[subprocess.Popen[bytes]]
) -> None:
    other = _fake_qemu(started, _lab_file("other.pid"))
    pid_file = _lab_file("qemu.pid")
    pid_file.write_text(f"{other.pid}\n")

    note = remove(test_host, Owned("process", str(pid_file), "qemu-kvm"), "alice")

    assert note is not None and "left alone" in note
    assert other.poll() is None


def test_a_pid_file_outside_the_data_dir_is_never_acted_on(
    test_host: Connection, started: list[subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    pid_file = tmp_path / "elsewhere" / "qemu.pid"
    proc = _fake_qemu(started, pid_file)

    note = remove(test_host, Owned("process", str(pid_file), "qemu-kvm"), "alice")

    assert note is not None and "outside" in note
    assert proc.poll() is None and pid_file.exists()


def test_a_process_that_ignores_sigterm_is_killed(started: list[subprocess.Popen[bytes]]) -> None:
    pid_file = _lab_file("qemu.pid")
    proc = _fake_qemu(started, pid_file, "ignore-term")
    # The interpreter must have installed its handler before the signal arrives.
    subprocess.run([sys.executable, "-c", "import time; time.sleep(0.5)"], check=True)

    assert PidFileProcess(pid_file).stop(grace=0.5) is None
    assert proc.wait(timeout=5) == -9


def test_a_symlink_at_the_pid_file_path_is_unlinked_never_followed(test_host: Connection, tmp_path: Path) -> None:
    victim = tmp_path / "precious.txt"
    victim.write_text("1\n")  # PID 1, if it were followed and read
    pid_file = _lab_file("qemu.pid")
    pid_file.parent.mkdir(parents=True)
    pid_file.symlink_to(victim)

    assert remove(test_host, Owned("process", str(pid_file), "qemu-kvm"), "alice") is None

    assert not pid_file.is_symlink() and victim.read_text() == "1\n"


def test_processes_are_removed_before_the_files_they_hold_open() -> None:
    owners = Ownership(Trainee("alice"))
    with owners.locked():
        for obj in (
            Owned("dir", "/d/lab", "l"),
            Owned("file", "/d/lab/disk.qcow2", "l"),
            Owned("process", "/d/lab/qemu.pid", "l"),
            Owned("domain", "vm", "l", uri="test:///x"),
        ):
            owners.add(obj)
    assert [o.kind for o in owners.record.removal_order("l")] == ["process", "domain", "file", "dir"]


class HandRunQemu(Lab):
    """A lab that hands the trainee a pid file path for a QEMU they start by hand."""

    id: ClassVar[str] = "hand-qemu"
    title: ClassVar[str] = "test lab"
    topic: ClassVar[str] = "test"
    seed_questions: ClassVar[tuple[int, ...]] = ()
    notebook: ClassVar[str] = ""
    grader: ClassVar[str] = ""
    requires: ClassVar[tuple[str, ...]] = ("libvirt",)

    def params(self, kit: Toolkit) -> Params:
        return Params()

    def start(self, kit: Toolkit) -> None:
        kit.make_dir()
        kit.expect("process", kit.path("qemu.pid"))

    def solve(self, kit: Toolkit) -> None:
        return None


def test_finish_stops_the_hand_started_process_and_leaves_nothing(
    test_host: Connection, started: list[subprocess.Popen[bytes]]
) -> None:
    session = LabSession(HandRunQemu(), Trainee("alice"), test_host)
    session.start()
    pid_file = session.toolkit.path("qemu.pid")
    proc = _fake_qemu(started, pid_file)
    assert exists(test_host, "process", str(pid_file))

    assert session.finish() == []

    assert proc.wait(timeout=5) == -15
    assert not session.lab_dir.exists()
    assert session.owners.load().objects == []


def test_a_process_whose_command_line_cannot_be_read_is_left_alone(
    test_host: Connection, started: list[subprocess.Popen[bytes]]
) -> None:
    kernel_threads = [
        d.name
        for d in Path("/proc").iterdir()
        if d.name.isdigit() and not argv_of(int(d.name)) and not has_exited(int(d.name))
    ]
    if not kernel_threads:
        pytest.skip("no kernel thread is visible in this PID namespace")
    pid_file = _lab_file("qemu.pid")
    pid_file.parent.mkdir(parents=True)
    pid_file.write_text(f"{kernel_threads[0]}\n")  # alive, with an empty command line

    note = remove(test_host, Owned("process", str(pid_file), "qemu-kvm"), "alice")

    assert note is not None and "left alone" in note
