"""Host files as graders see them: mode, times, birth time, which file a given path names."""

from __future__ import annotations

import os
import time
from pathlib import Path

from kvmlab.resources.hostfile import HostFile, birth_time


def test_birth_time_stays_when_the_file_is_written_and_touched(tmp_path: Path) -> None:
    path = tmp_path / "overlay.qcow2"
    path.write_text("made")
    born = birth_time(path)
    if born is None:  # a filesystem without btime: the grader falls back to ctime, nothing to test here
        return
    time.sleep(0.02)
    path.write_text("written later")
    os.utime(path, (0, 0))  # touch -d 1970: mtime moves, birth does not
    times = HostFile(path).times()
    assert times is not None
    assert times.born == born and times.modified == 0 and times.changed >= born


def test_missing_file_has_no_mode_no_times_and_no_birth(tmp_path: Path) -> None:
    missing = HostFile(tmp_path / "none")
    assert missing.mode is None and missing.times() is None and not missing.exists
    assert birth_time(tmp_path / "none") is None


def test_mode_and_the_paths_that_name_a_file(tmp_path: Path) -> None:
    base = tmp_path / "base.qcow2"
    base.write_text("")
    base.chmod(0o444)
    (tmp_path / "link.qcow2").symlink_to(base)
    f = HostFile(base)
    assert f.mode == 0o444
    assert f.is_named_by(str(tmp_path / "link.qcow2")) and f.is_named_by(str(base))
    assert not f.is_named_by(str(tmp_path / "other.qcow2")) and not f.is_named_by(None)
