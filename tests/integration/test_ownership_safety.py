"""finish removes what the record lists and nothing else, even when someone plants things."""

from __future__ import annotations

from pathlib import Path

import pytest

from kvmlab import paths
from kvmlab.errors import NotOwned
from kvmlab.labs import registry
from kvmlab.session import LabSession
from kvmlab.trainee import Trainee


def _session() -> LabSession:
    session = LabSession(registry.get("hotadd-disk"), Trainee("stest"))
    session.finish()
    return session


def test_symlink_at_an_expected_path_is_unlinked_never_followed(system: object, tmp_path: Path) -> None:
    victim = tmp_path / "precious.txt"
    victim.write_text("do not delete\n")
    session = _session()
    session.start()
    image = Path(session.params.image)  # type: ignore[attr-defined]
    image.symlink_to(victim)
    session.finish()
    assert victim.read_text() == "do not delete\n"
    assert not image.is_symlink()


def test_file_planted_in_the_lab_dir_survives_finish(system: object) -> None:
    session = _session()
    session.start()
    planted = session.lab_dir / "someone-elses.txt"
    planted.write_text("mine\n")
    try:
        session.finish()
        assert planted.read_text() == "mine\n"
        assert session.owners.load().objects == []
    finally:
        planted.unlink()
        session.lab_dir.rmdir()
        if not any(session.lab_dir.parent.iterdir()):
            session.lab_dir.parent.rmdir()


def test_start_refuses_a_lab_dir_it_did_not_make(system: object) -> None:
    session = _session()
    paths.ensure_dir(session.lab_dir)
    try:
        with pytest.raises(NotOwned, match="kvmlab did not make it"):
            session.start()
        assert session.owners.load().objects == []
        assert not any(session.lab_dir.iterdir())
    finally:
        session.lab_dir.rmdir()
        session.lab_dir.parent.rmdir()
