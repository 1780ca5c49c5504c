"""A data directory of the test run's own: tests never write into a real user's progress or lab records.

Each pytest run (all its xdist workers) works in ``/var/tmp/kvmlab-test-PID``
(KVMLAB_HOME): ownership records, lab files, journals, quiz progress, the
gradebook. Only the built guest and the accelerator verdict come from the
real data directory: the guest is linked (it is only read: every lab disk
is an overlay on it), the verdict copied. QEMU, which runs as its own user
under qemu:///system, must be able to traverse the directory: 0755.

A run that was killed leaves its directory and maybe libvirt objects behind:
the next run finishes every lab recorded there, then removes it.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from kvmlab import paths

PREFIX = "kvmlab-test-"


def base() -> Path:
    return Path("/var/tmp") if os.geteuid() == 0 else Path(os.environ.get("TMPDIR", "/tmp"))


def create(pid: int) -> Path:
    real = paths.data_dir()
    home = base() / f"{PREFIX}{pid}"
    home.mkdir(mode=0o755, exist_ok=True)
    home.chmod(0o755)
    (home / "guest").unlink(missing_ok=True)
    (home / "guest").symlink_to(real / "guest")
    if (real / "cache" / "accel.json").is_file():
        (home / "cache").mkdir(mode=0o755, exist_ok=True)
        shutil.copy2(real / "cache" / "accel.json", home / "cache" / "accel.json")
    return home


def finish_everything(home: Path) -> None:
    """Finish every lab of every trainee recorded in ``home`` (which must be the current KVMLAB_HOME)."""
    from kvmlab.errors import KvmlabError
    from kvmlab.labs import registry
    from kvmlab.ownership import Ownership
    from kvmlab.session import LabSession
    from kvmlab.trainee import Trainee

    assert paths.data_dir() == home.absolute()
    for record in sorted((home / "owners").glob("*.json")):
        trainee = Trainee(record.stem)
        started = Ownership(trainee).load()
        for lab_id in sorted(set(started.labs) | {o.lab for o in started.objects}):
            try:
                LabSession(registry.get(lab_id), trainee).finish()
            except KvmlabError:
                continue  # no libvirt here: nothing of ours can be running either


def stale() -> list[Path]:
    """Directories of test runs that no longer run."""
    found = []
    for home in base().glob(f"{PREFIX}*"):
        pid = home.name.removeprefix(PREFIX)
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            found.append(home)
    return found


def remove(home: Path) -> None:
    """The run's directory, once its labs are finished. Never follows the guest link."""
    (home / "guest").unlink(missing_ok=True)
    shutil.rmtree(home, ignore_errors=True)
