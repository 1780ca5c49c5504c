"""Trainees break things: crashed guests, interrupted commands, two commands at once, a full disk.

Each case checks the same promise: a clear message, no traceback, and an
ownership record that lists exactly what exists.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from kvmlab import paths
from kvmlab.labs import registry
from kvmlab.session import LabSession
from kvmlab.trainee import Trainee
from tests.helpers import kvmlab

LAB = "hotadd-disk"


def _status(trainee: str, env: dict[str, str] | None = None) -> dict[str, object]:
    proc = kvmlab("lab", "status", "--trainee", trainee, "--json", env=env)
    assert proc.returncode == 0, proc.stderr
    data: dict[str, object] = json.loads(proc.stdout)
    return data


def _record_matches_reality(trainee: str, env: dict[str, str] | None = None) -> None:
    """Nothing listed as made is gone; nothing of the lab exists unlisted.

    (Names handed to the trainee, state "expected", are reservations: they
    need not exist.)
    """
    data = _status(trainee, env)
    objects = data["objects"]
    assert isinstance(objects, list)
    for obj in objects:
        if obj["state"] != "expected":
            assert obj["present"], f"record lists {obj['kind']} {obj['name']}, which is gone"
    listed = {o["name"] for o in objects if o["kind"] == "domain"}
    domain = f"{trainee}-vm-disk"
    exists = subprocess.run(["virsh", "-q", "domstate", domain], capture_output=True).returncode == 0
    assert exists == (domain in listed), f"domain {domain} exists={exists} but listed={domain in listed}"


def _finish(trainee: str, env: dict[str, str] | None = None) -> None:
    proc = kvmlab("lab", "finish", LAB, "--trainee", trainee, env=env)
    assert proc.returncode == 0, proc.stderr
    assert _status(trainee, env)["objects"] == []


@pytest.fixture
def fresh(system: object) -> Iterator[str]:
    trainee = "rtest"
    LabSession(registry.get(LAB), Trainee(trainee)).finish()
    yield trainee
    LabSession(registry.get(LAB), Trainee(trainee)).finish()


def test_killed_guest_is_reported_and_start_brings_it_back(fresh: str) -> None:
    assert kvmlab("lab", "start", LAB, "--trainee", fresh).returncode == 0
    domain = f"{fresh}-vm-disk"
    pid = int(Path(f"/run/libvirt/qemu/{domain}.pid").read_text())
    os.kill(pid, signal.SIGKILL)  # the guest's QEMU, started for this test
    deadline = time.monotonic() + 10
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    check = kvmlab("lab", "check", LAB, "--trainee", fresh, "--json")
    assert check.returncode == 1 and "Traceback" not in check.stderr
    first = json.loads(check.stdout)["checks"][0]
    assert first["id"] == "guest-crashed" and "lab start" in first["hint"]
    assert kvmlab("lab", "start", LAB, "--trainee", fresh).returncode == 0
    rows = json.loads(kvmlab("lab", "check", LAB, "--trainee", fresh, "--json").stdout)["checks"]
    assert "guest-crashed" not in [r["id"] for r in rows]
    _finish(fresh)


def _start_then_signal(trainee: str, sig: int, when_domain_exists: bool) -> subprocess.CompletedProcess[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "kvmlab", "lab", "start", LAB, "--trainee", trainee],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    domain = f"{trainee}-vm-disk"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        defined = subprocess.run(["virsh", "-q", "domstate", domain], capture_output=True).returncode == 0
        if defined == when_domain_exists:
            break
        time.sleep(0.05)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_interrupted_start_leaves_a_record_that_matches_reality(fresh: str, sig: int) -> None:
    done = _start_then_signal(fresh, sig, when_domain_exists=True)
    assert "Traceback" not in done.stderr
    if done.returncode != 0:  # interrupted (it may also have won the race and finished)
        assert done.returncode == 130 and "run the same command again" in done.stderr
    _record_matches_reality(fresh)
    assert kvmlab("lab", "start", LAB, "--trainee", fresh).returncode == 0
    _record_matches_reality(fresh)
    _finish(fresh)


def test_interrupted_finish_completes_on_the_next_finish(fresh: str) -> None:
    assert kvmlab("lab", "start", LAB, "--trainee", fresh).returncode == 0
    proc = subprocess.Popen(
        [sys.executable, "-m", "kvmlab", "lab", "finish", LAB, "--trainee", fresh],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(0.3)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert "Traceback" not in err
    _record_matches_reality(fresh)
    _finish(fresh)


def test_two_starts_at_once_make_everything_once(fresh: str) -> None:
    cmd = [sys.executable, "-m", "kvmlab", "lab", "start", LAB, "--trainee", fresh]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], results
    objects = _status(fresh)["objects"]
    assert isinstance(objects, list)
    keys = [(o["kind"], o["name"]) for o in objects]
    assert len(keys) == len(set(keys))
    _record_matches_reality(fresh)
    _finish(fresh)


def test_start_and_finish_at_once_end_consistent(fresh: str) -> None:
    start = subprocess.Popen(
        [sys.executable, "-m", "kvmlab", "lab", "start", LAB, "--trainee", fresh],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(0.2)
    finish = kvmlab("lab", "finish", LAB, "--trainee", fresh)
    start.communicate(timeout=300)
    assert finish.returncode == 0 and start.returncode == 0
    _record_matches_reality(fresh)
    _finish(fresh)


@pytest.fixture
def tiny_home(system: object, tmp_path: Path) -> Iterator[Path]:
    """KVMLAB_HOME on a small tmpfs holding a copy of the guest, then filled to the brim."""
    home = tmp_path / "home"
    home.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=40m,mode=0755", "tmpfs", str(home)], check=True)
    try:
        # cp keeps the guest disk sparse; a plain copy would fill the tmpfs by itself.
        subprocess.run(["cp", "-a", str(paths.guest_dir()), str(home / "guest")], check=True)  # a link to it
        (home / "cache").mkdir()
        shutil.copy2(paths.cache_dir() / "accel.json", home / "cache" / "accel.json")  # not the saved states
        stat = os.statvfs(home)
        free = stat.f_bavail * stat.f_frsize
        with (home / "filler").open("wb") as f:
            f.write(b"\0" * max(0, free - 48 * 1024))  # leave 48 KiB: the record fits, an image does not
        yield home
    finally:
        subprocess.run(["umount", "-l", str(home)], check=False)


def test_full_data_directory_gives_a_clear_error_and_no_half_made_objects(tiny_home: Path) -> None:
    env = {"KVMLAB_HOME": str(tiny_home)}
    proc = kvmlab("lab", "start", LAB, "--trainee", "full", env=env)
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    assert "No space left on device" in proc.stderr or "space" in proc.stderr.lower(), proc.stderr
    assert subprocess.run(["virsh", "-q", "domstate", "full-vm-disk"], capture_output=True).returncode != 0
    _record_matches_reality("full", env)
    (tiny_home / "filler").unlink()
    _finish("full", env)


def _libvirtd_pid() -> int:
    return int(Path("/run/libvirtd.pid").read_text().strip())


@pytest.mark.alone  # every other test's libvirt connection drops with it
def test_libvirtd_restart_mid_lab_keeps_guests_and_the_verdict(fresh: str) -> None:
    """Stop libvirtd by PID and start it again: the guest survives, kvmlab reconnects, same verdict."""
    session = LabSession(registry.get(LAB), Trainee(fresh))
    session.start()
    with session.owners.locked():
        registry.get(LAB).solve(session.toolkit)
    before = session.check()
    assert before.passed, before.failed_ids()
    qemu_pid = int(Path(f"/run/libvirt/qemu/{session.params.domain}.pid").read_text())  # type: ignore[attr-defined]
    os.kill(_libvirtd_pid(), signal.SIGTERM)
    deadline = time.monotonic() + 30
    while Path("/run/libvirtd.pid").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    try:
        assert Path(f"/proc/{qemu_pid}").exists(), "the guest must outlive libvirtd"
    finally:
        # As make setup starts it: under tini, which reaps the guests' QEMUs (scripts/setup.sh).
        subprocess.Popen(
            ["tini", "-s", "--", "libvirtd"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        for _ in range(100):
            if subprocess.run(["virsh", "-c", "qemu:///system", "version"], capture_output=True).returncode == 0:
                break
            time.sleep(0.2)
    after = session.check()  # the same LabSession: its old connection is dead, it must reconnect
    assert after.to_dict()["checks"] == before.to_dict()["checks"]
    assert Path(f"/proc/{qemu_pid}").exists()
