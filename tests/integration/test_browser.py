"""A trainee's first lab, the way they see it: JupyterLab in a real browser (Playwright, Debian's Chromium).

What `make lab` serves: the trainee's own copy of the practice edition. The
trainee types the hot-add disk commands into the empty cells, checks each
step, reveals one hint, and ends with every check green. The host then says
the same: the lab passes and the hint was recorded. The screenshots the
README shows are taken here (build/screenshots/).
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from kvmlab.labs import registry
from kvmlab.session import LabSession
from kvmlab.trainee import Trainee
from tests.helpers import REPO, kvmlab

CHROMIUM = Path("/usr/bin/chromium")
SHOTS = REPO / "build" / "screenshots"
TRAINEE = "web"
LAB = "hotadd-disk"
pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is installed by make setup")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def lab_server(system: object, tmp_path: Path) -> Iterator[str]:
    """`make lab` for trainee web: their practice copy built in the data directory, JupyterLab serving it."""
    session = LabSession(registry.get(LAB), Trainee(TRAINEE))
    session.finish()
    built = kvmlab("notebooks", "build", "--edition", "practice", "--trainee", TRAINEE, "--force")
    assert built.returncode == 0, built.stderr
    root = Path(built.stdout.strip())
    port, token = _free_port(), secrets.token_hex(16)
    # Every cell in the page (JupyterLab otherwise renders only what is on screen), as a long notebook is read.
    settings = tmp_path / "settings" / "@jupyterlab" / "notebook-extension"
    settings.mkdir(parents=True)
    (settings / "tracker.jupyterlab-settings").write_text(json.dumps({"windowingMode": "none"}))
    env = {**os.environ, "KVMLAB_TRAINEE": TRAINEE}
    server = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "jupyter"),
            "lab",
            "--no-browser",
            "--allow-root",
            "--ip=127.0.0.1",
            f"--port={port}",
            f"--ServerApp.token={token}",
            f"--ServerApp.root_dir={root}",
            f"--LabApp.workspaces_dir={tmp_path / 'workspaces'}",  # a first visit: no tabs of earlier sessions
            f"--LabApp.user_settings_dir={tmp_path / 'settings'}",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "jupyter.log").open("w"),
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline and server.poll() is None, (tmp_path / "jupyter.log").read_text()
                time.sleep(0.3)
        yield f"http://127.0.0.1:{port}/lab/tree/15-{LAB}.ipynb?token={token}"
    finally:
        server.send_signal(signal.SIGTERM)  # the server we started, by its process
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
        session.finish()
        shutil.rmtree(root.parent, ignore_errors=True)


def test_a_trainee_does_the_hotadd_disk_lab_in_the_browser(lab_server: str) -> None:
    from playwright.sync_api import Page, expect, sync_playwright

    def cell(page: Page, text: str) -> object:
        """The code cell holding ``text`` now, pinned by its position (its text changes when the trainee types)."""
        cells = page.locator(".jp-Notebook .jp-CodeCell")
        deadline = time.monotonic() + 60  # the notebook's cells appear a moment after the page
        while True:
            texts = cells.locator(".jp-InputArea").all_text_contents()
            found = [i for i, t in enumerate(texts) if text in t]
            if found or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert found, f"no cell holds {text!r}: {texts}"
        return cells.nth(found[0])

    def run(page: Page, text: str, replace: str | None = None) -> None:
        """Click into the cell holding ``text`` (typing ``replace`` over it), run it, wait for it to finish."""
        target = cell(page, text)
        editor = target.locator(".cm-content")  # type: ignore[attr-defined]
        editor.click()
        if replace is not None:
            page.keyboard.press("Control+A")
            page.keyboard.insert_text(replace)
        prompt = target.locator(".jp-InputPrompt")  # type: ignore[attr-defined]
        page.keyboard.press("Control+Enter")
        try:
            expect(prompt).to_have_text(re.compile(r"\[\d+\]"), timeout=180_000)
        except AssertionError:
            page.screenshot(path=str(SHOTS / "failure.png"))  # what the trainee would have seen
            raise

    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"],
        )
        page = browser.new_page(viewport={"width": 1280, "height": 1000})
        page.goto(lab_server)
        expect(page.locator(".jp-Notebook .jp-Cell").first).to_be_visible(timeout=60_000)
        expect(page.locator(".jp-Notebook-ExecutionIndicator, .jp-KernelStatus").first).to_be_visible(timeout=60_000)

        run(page, 'open_lab("hotadd-disk"')
        expect(cell(page, 'open_lab("hotadd-disk"')).to_contain_text("p.image", timeout=180_000)  # type: ignore[arg-type]
        run(page, "lab.progress()")
        expect(cell(page, "lab.progress()")).to_contain_text("0 of 2 steps done")  # type: ignore[arg-type]

        # Step 1, typed by the trainee, then checked.
        run(page, "lab.todo(1)", replace="!qemu-img create -f {p.format} {p.image} {p.size_gib}G")
        run(page, "lab.step(1)")
        step1 = cell(page, "lab.step(1)")
        expect(step1).to_contain_text("step done", timeout=60_000)  # type: ignore[arg-type]

        # Step 2: the trainee asks for one hint first (the concept, never the command).
        run(page, "lab.step(2)")
        step2 = cell(page, "lab.step(2)")
        step2.get_by_role("button", name="Hint").click()  # type: ignore[attr-defined]
        expect(step2).to_contain_text("Hint 1", timeout=30_000)  # type: ignore[arg-type]
        assert "--live" not in step2.inner_text()  # type: ignore[attr-defined]
        run(
            page,
            "lab.todo(2)",
            replace="!virsh attach-disk {p.domain} {p.image} {p.target} --driver qemu --subdriver {p.format} "
            "--targetbus virtio --live --config",
        )
        step2.get_by_role("button", name="Check this step").click()  # type: ignore[attr-defined]
        expect(step2).to_contain_text("step done", timeout=60_000)  # type: ignore[arg-type]
        expect(cell(page, "lab.progress()")).to_contain_text("2 of 2 steps done")  # type: ignore[arg-type]
        step2.scroll_into_view_if_needed()  # type: ignore[attr-defined]
        page.screenshot(path=str(SHOTS / "practice-step-with-hint.png"))

        run(page, "lab.check()")
        final = cell(page, "lab.check()")
        expect(final).to_contain_text("all checks pass", timeout=60_000)  # type: ignore[arg-type]
        final.scroll_into_view_if_needed()  # type: ignore[attr-defined]
        page.screenshot(path=str(SHOTS / "practice-check-my-work.png"))
        browser.close()

    graded = json.loads(kvmlab("lab", "check", LAB, "--trainee", TRAINEE, "--json").stdout)
    assert graded["passed"] and not graded["made_by_solve"] and graded["score"] == graded["max_score"]
    assert graded["hints_used"] == {"2": 1}
