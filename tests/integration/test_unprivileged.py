"""Binder and JupyterHub users: no root, no /dev/kvm, libvirt at qemu:///session.

The test does what repo2docker does, on this machine: a copy of the
repository owned by an ordinary user (nobody), a Python environment that user
owns, then binder/postBuild and binder/start run *as that user*. Through
qemu:///session it runs every lab that needs no root, and checks that the
others refuse with a clear message instead of passing silently.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from kvmlab.labs import registry
from tests.helpers import REPO, binder_venv

USER, GROUP = 65534, 65534  # nobody:nogroup
# Short: libvirt puts the agent socket under $HOME/.config/libvirt/..., and a UNIX
# socket path must fit in 108 bytes (a Binder home, /home/jovyan, is short too).
ROOT = Path("/var/tmp/kvu")
UNPRIVILEGED_NEEDS = {"libvirt", "guest"}
RUNNABLE = [lab for lab in registry.all_labs() if set(lab.requires) <= UNPRIVILEGED_NEEDS]
REFUSED = [lab for lab in registry.all_labs() if set(lab.requires) & {"root", "networks", "bridges"}]


@dataclass
class User:
    repo: Path
    env: dict[str, str]

    def run(self, *argv: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        """A command as the unprivileged user, through binder/start like Binder does."""
        return subprocess.run(
            [str(self.repo / "binder" / "start"), *argv],
            cwd=self.repo,
            env=self.env,
            user=USER,
            group=GROUP,
            extra_groups=[],
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def kvmlab(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self.run("kvmlab", *args)


def _chown(path: Path) -> None:
    subprocess.run(["chown", "-R", f"{USER}:{GROUP}", str(path)], check=True)


def _stop_session_daemons(runtime: Path) -> None:
    """End the session daemons libvirt started for the test user (ours, by PID)."""
    for pidfile in runtime.glob("libvirt/*.pid"):
        try:
            os.kill(int(pidfile.read_text().strip()), signal.SIGTERM)
        except (ValueError, ProcessLookupError):
            continue


@pytest.fixture(scope="module")
def user(system: object) -> Iterator[User]:
    if ROOT.exists():
        shutil.rmtree(ROOT)
    home, runtime, repo = ROOT / "home", ROOT / "run", ROOT / "repo"
    for d in (home, runtime):
        d.mkdir(parents=True)
    runtime.chmod(0o700)
    # The repository as repo2docker copies it: tracked files, owned by the user.
    files = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.split()
    for rel in files:
        if (REPO / rel).is_file():
            (repo / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / rel, repo / rel)
    venv = binder_venv()
    for d in (home, runtime, repo):
        _chown(d)
    env = {
        "HOME": str(home),
        "USER": "nobody",
        "LOGNAME": "nobody",
        "XDG_RUNTIME_DIR": str(runtime),
        "PATH": f"{venv / 'bin'}:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin",
        "LANG": "C.UTF-8",
    }
    u = User(repo, env)
    post = subprocess.run(
        [str(repo / "binder" / "postBuild")],
        cwd=repo,
        env=env,
        user=USER,
        group=GROUP,
        extra_groups=[],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert post.returncode == 0, post.stdout + post.stderr
    try:
        yield u
    finally:
        for lab in RUNNABLE:
            u.kvmlab("lab", "finish", lab.id)
        _stop_session_daemons(runtime)
        shutil.rmtree(ROOT, ignore_errors=True)


def test_post_build_built_the_guest_in_the_users_own_data_dir(user: User) -> None:
    guest = Path(user.env["HOME"]) / ".local" / "share" / "kvmlab" / "guest"
    assert (guest / "manifest.json").is_file() and (guest / "initrd.img").stat().st_uid == USER


def test_a_notebook_server_serves_the_users_own_practice_edition(user: User) -> None:
    assert user.run("jupyter", "--version").returncode == 0
    mine = Path(user.env["HOME"]) / "kvmlab-labs" / "15-hotadd-disk.ipynb"
    assert mine.stat().st_uid == USER and "lab.todo(1)" in mine.read_text()
    assert user.repo not in mine.parents


def test_doctor_explains_what_an_unprivileged_user_has(user: User) -> None:
    proc = user.kvmlab("doctor", "--json")
    data = json.loads(proc.stdout)
    assert data["root"] is False
    assert data["libvirt"]["uri"] == "qemu:///session" and data["libvirt"]["ok"] is True
    assert data["accel"] in ("kvm", "tcg") and data["accel_reason"]
    if not os.access("/dev/kvm", os.R_OK | os.W_OK, effective_ids=False) or data["accel"] == "tcg":
        assert data["kvm"]["usable"] is False
    assert data["guest"]["ready"] is True
    assert proc.returncode == 0, proc.stdout


@pytest.mark.parametrize("lab", RUNNABLE, ids=[lab.id for lab in RUNNABLE])
def test_unprivileged_lab_runs_through_session_libvirt(user: User, lab: registry.Lab) -> None:
    start = user.kvmlab("lab", "start", lab.id)
    assert start.returncode == 0, start.stderr
    assert user.kvmlab("lab", "check", lab.id).returncode == 1
    solve = user.kvmlab("lab", "solve", lab.id)
    assert solve.returncode == 0, solve.stderr
    check = user.kvmlab("lab", "check", lab.id, "--json")
    assert check.returncode == 0, check.stdout
    finish = user.kvmlab("lab", "finish", lab.id)
    assert finish.returncode == 0 and json.loads(user.kvmlab("lab", "status", "--json").stdout)["objects"] == []


@pytest.mark.parametrize("lab", REFUSED, ids=[lab.id for lab in REFUSED])
def test_labs_the_host_cannot_give_refuse_plainly(user: User, lab: registry.Lab) -> None:
    proc = user.kvmlab("lab", "start", lab.id)
    assert proc.returncode == 5, proc.stderr
    assert "what to do:" in proc.stderr and "Traceback" not in proc.stderr
    assert json.loads(user.kvmlab("lab", "status", "--json").stdout)["objects"] == []
