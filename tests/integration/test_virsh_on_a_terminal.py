"""virsh on a terminal, as a trainee runs it (a shell, or a notebook's `!virsh` on IPython's pty).

With a terminal, virsh starts polkit's text agent; when polkit is not running it
prints "Authorization not available. Check if polkit service is running…" on
every call. The setup starts polkit (and the system bus it answers on), so the
trainee's output is clean.
"""

from __future__ import annotations

import subprocess

import pytest


@pytest.mark.usefixtures("system")
def test_virsh_on_a_terminal_prints_no_polkit_warning() -> None:
    # script(1) gives virsh a real pseudo-terminal with itself as the controlling terminal.
    proc = subprocess.run(
        ["script", "-qec", "virsh -c qemu:///system list --all", "/dev/null"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Id" in proc.stdout  # it ran, on the terminal
    assert "Authorization not available" not in proc.stdout + proc.stderr
