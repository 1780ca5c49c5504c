"""The terminal trainer as a person sees it: in a pseudo-terminal of a given width.

The bank is Markdown. Printed raw, a learner sees backticks and ``**`` and lines
broken inside words ("definin g"); rendered, they see code and emphasis, wrapped
at word boundaries to their terminal.
"""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest
from rich.console import Console

from kvmlab.quiz import bank as bankmod
from kvmlab.quiz.check import Verdict
from kvmlab.quiz.store import Store
from kvmlab.quiz.trainer import quiz

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")
WIDTH = 64


def _run_in_pty(args: list[str], answers: list[str], env: dict[str, str], timeout: float = 60) -> str:
    """Run kvmlab on a real pseudo-terminal WIDTH columns wide, typing answers as prompts appear."""
    leader, follower = pty.openpty()
    import fcntl
    import struct
    import termios

    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, WIDTH, 0, 0))
    proc = subprocess.Popen(
        [sys.executable, "-m", "kvmlab", *args],
        stdin=follower,
        stdout=follower,
        stderr=follower,
        env={**env, "TERM": "xterm-256color", "COLUMNS": str(WIDTH)},
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


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_quiz_renders_markdown_in_a_terminal(kvmlab_home: Path, lang: str) -> None:
    # hotadd-disk's questions hold code spans in prompts, options and explanations.
    answers = ["", "again"] * 12
    text = _run_in_pty(["quiz", "--topic", "hotadd-disk", "--count", "12", "--lang", lang], answers, dict(os.environ))
    assert "model answer" in text, text[-2000:]
    shown = [ln for ln in text.splitlines() if not ln.startswith(("your answer>", "how well"))]
    assert not [ln for ln in shown if "`" in ln or "**" in ln], "raw Markdown markers reached the terminal"
    from rich.cells import cell_len

    too_wide = [ln for ln in shown if cell_len(ln.rstrip()) > WIDTH and " " in ln.strip() and "virsh" not in ln]
    assert not too_wide, f"lines wider than the terminal: {too_wide[:3]}"
    if lang == "zh":
        assert re.search(r"[\u4e00-\u9fff]", text)


def test_a_self_graded_answer_takes_the_trainees_rating(tmp_path: Path) -> None:
    b = bankmod.load(Path(__file__).parent.parent / "data" / "bank-good")
    q = b.get("demo-002")
    assert q is not None
    q.grading = "self"
    out = Console(record=True, width=80)
    answers = iter(
        [
            "virsh setvcpus centos 4 --live --config",  # demo-001 (a command), then its rating
            "",
            "Paravirtualization changes the guest; full virtualization does not.",  # demo-002, self-graded
            "maybe",  # no rating: asked again, no default taken
            "good",
        ]
    )
    results = quiz(b, Store(tmp_path / "s.sqlite"), out, lambda _p: next(answers), topics=["demo"], count=2)
    text = out.export_text()
    assert "self-graded" in text and "rate it with one of" in text
    assert [qid for qid, _ in results] == ["demo-001", "demo-002"]
    assert results[1][1].correct and results[1][1].self_graded  # the rating decided


def test_self_graded_verdict_follows_the_rating() -> None:
    from kvmlab.quiz.trainer import self_rating

    v = Verdict(False, 0.4, ["2/5 key points"], ["x"], self_graded=True)
    assert self_rating(v, "good").correct and not self_rating(v, "again").correct
    assert self_rating(Verdict(False, 0.4), "easy").correct is False  # rules-graded: the rating does not overrule
