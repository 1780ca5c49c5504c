from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from kvmlab.connection import Connection
from tests.helpers import private_test_host


@pytest.fixture(autouse=True)
def kvmlab_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Unit tests never see the real data directory."""
    home = tmp_path / "kvmlab-home"
    monkeypatch.setenv("KVMLAB_HOME", str(home))
    monkeypatch.setenv("KVMLAB_HOST_DIR", str(home))  # host-wide coordination files too
    monkeypatch.delenv("KVMLAB_TRAINEE", raising=False)
    return home


@pytest.fixture
def test_host() -> Iterator[Connection]:
    """libvirt's test driver on XML kept in the repo; a fresh host per test."""
    conn = Connection(private_test_host())
    yield conn
    conn.close()
