"""Helpers shared by unit and integration tests (no fakes: real libvirt only)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

DATA = Path(__file__).parent / "data"
REPO = Path(__file__).parent.parent


def private_test_host() -> str:
    """A private test-driver host per connection: state never leaks between tests."""
    return f"test://{DATA / 'host.xml'}"


def kvmlab(*args: str, env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run the real CLI in a subprocess, as a user would."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "kvmlab", *args], capture_output=True, text=True, env=full_env, timeout=timeout
    )
