"""A trainee's first lab, the way they see it: JupyterLab in a real browser (Playwright, Debian's Chromium).

What `make lab` serves: the trainee's own copy of the practice edition. The
trainee types the hot-add disk commands into the empty cells, checks each
step, reveals one hint, and ends with every check green. The host then says
the same: the lab passes and the hint was recorded. The screenshots the
README shows are taken here (build/screenshots/).
"""

from __future__ import annotations

import itertools
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


def _trainee(lang: str) -> str:
    # One trainee per language: the hints a trainee revealed are theirs for good (the journal).
    return TRAINEE if lang == "en" else TRAINEE + lang


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(params=["en", "zh"])
def lab_server(system: object, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """`make lab` for trainee web: their practice copy built in the data directory, JupyterLab serving it."""
    lang = request.param
    trainee = _trainee(lang)
    session = LabSession(registry.get(LAB), Trainee(trainee))
    session.finish()
    built = kvmlab("notebooks", "build", "--edition", "practice", "--trainee", trainee, "--force", "--lang", lang)
    assert built.returncode == 0, built.stderr
    root = Path(built.stdout.strip())
    port, token = _free_port(), secrets.token_hex(16)
    # Every cell in the page (JupyterLab otherwise renders only what is on screen), as a long notebook is read.
    settings = tmp_path / "settings" / "@jupyterlab" / "notebook-extension"
    settings.mkdir(parents=True)
    (settings / "tracker.jupyterlab-settings").write_text(json.dumps({"windowingMode": "none"}))
    env = {**os.environ, "KVMLAB_TRAINEE": trainee}
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
        yield f"http://127.0.0.1:{port}/lab/tree/15-{LAB}.ipynb?token={token}#{lang}"
    finally:
        server.send_signal(signal.SIGTERM)  # the server we started, by its process
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
        session.finish()
        shutil.rmtree(root.parent, ignore_errors=True)


# Draw a Chinese character and a code point no font has (a box, "tofu") on a canvas: without a CJK
# font Chromium draws the character as the same box, and the page is unreadable.
_DRAWS_CJK = """() => {
  const draw = (ch) => {
    const c = document.createElement('canvas'); c.width = 64; c.height = 64;
    const g = c.getContext('2d'); g.font = '48px sans-serif'; g.fillText(ch, 4, 52);
    return Array.from(g.getImageData(0, 0, 64, 64).data).join(',');
  };
  return draw('热') !== draw('\\u{10FFFD}') && draw('热') !== draw('插');
}"""


def test_a_trainee_does_the_hotadd_disk_lab_in_the_browser(lab_server: str) -> None:
    from playwright.sync_api import Page, expect, sync_playwright

    zh = lab_server.endswith("#zh")
    words = {
        "steps": "已完成 {k}/{n} 步" if zh else "{k} of {n} steps done",
        "done": "这一步完成了" if zh else "step done",
        "hint": "提示" if zh else "Hint",
        "hint 1": "提示 1" if zh else "Hint 1",
        "check step": "检查这一步" if zh else "Check this step",
        "all pass": "全部检查通过" if zh else "all checks pass",
    }
    shot = "zh-" if zh else ""

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
        # A key pressed while JupyterLab is still settling (the kernel connecting, the editor taking
        # focus) can be lost: the cell never starts. Press again only then: a cell that started,
        # "[*]" or "[n]", is never run twice.
        for _attempt in range(3):
            page.keyboard.press("Control+Enter")
            try:
                expect(prompt).not_to_have_text(re.compile(r"^\[ \]"), timeout=15_000)
                break
            except AssertionError:
                editor.click()
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
        # The kernel connected and idle before the first cell runs.
        expect(page.locator(".jp-StatusBar-Widget").filter(has_text="Idle").first).to_be_visible(timeout=120_000)

        run(page, 'open_lab("hotadd-disk"')
        expect(cell(page, 'open_lab("hotadd-disk"')).to_contain_text("p.image", timeout=180_000)  # type: ignore[arg-type]
        if zh:
            assert page.evaluate(_DRAWS_CJK), "Chromium draws Chinese as empty boxes: install fonts-noto-cjk"
            expect(page.locator(".jp-Notebook")).to_contain_text("热添加")
        # The live guest panel: the running guest and its one disk, before the trainee does anything.
        run(page, "lab.guest_panel()")
        panel = cell(page, "lab.guest_panel()")
        expect(panel).to_contain_text("running", timeout=60_000)  # type: ignore[arg-type]
        expect(panel).to_contain_text("vda")  # type: ignore[arg-type]
        run(page, "lab.progress()")
        expect(cell(page, "lab.progress()")).to_contain_text(words["steps"].format(k=0, n=2))  # type: ignore[arg-type]

        # Step 1, typed by the trainee, then checked.
        run(page, "lab.todo(1)", replace="!qemu-img create -f {p.format} {p.image} {p.size_gib}G")
        run(page, "lab.step(1)")
        step1 = cell(page, "lab.step(1)")
        expect(step1).to_contain_text(words["done"], timeout=60_000)  # type: ignore[arg-type]

        # Step 2: the trainee asks for one hint first (the concept, never the command).
        run(page, "lab.step(2)")
        step2 = cell(page, "lab.step(2)")
        step2.get_by_role("button", name=words["hint"]).click()  # type: ignore[attr-defined]
        expect(step2).to_contain_text(words["hint 1"], timeout=30_000)  # type: ignore[arg-type]
        assert "--live" not in step2.inner_text()  # type: ignore[attr-defined]
        run(
            page,
            "lab.todo(2)",
            replace="!virsh attach-disk {p.domain} {p.image} {p.target} --driver qemu --subdriver {p.format} "
            "--targetbus virtio --live --config",
        )
        step2.get_by_role("button", name=words["check step"]).click()  # type: ignore[attr-defined]
        expect(step2).to_contain_text(words["done"], timeout=60_000)  # type: ignore[arg-type]
        expect(cell(page, "lab.progress()")).to_contain_text(words["steps"].format(k=2, n=2))  # type: ignore[arg-type]
        step2.scroll_into_view_if_needed()  # type: ignore[attr-defined]
        page.screenshot(path=str(SHOTS / f"{shot}practice-step-with-hint.png"))

        # The panel, no reload: the new disk is in the live and the persistent definition, then in the guest.
        panel.scroll_into_view_if_needed()  # type: ignore[attr-defined]
        expect(panel).to_contain_text("vdb", timeout=60_000)  # type: ignore[arg-type]
        page.screenshot(path=str(SHOTS / f"{shot}guest-panel-mid-lab.png"))

        run(page, "lab.check()")
        final = cell(page, "lab.check()")
        expect(final).to_contain_text(words["all pass"], timeout=60_000)  # type: ignore[arg-type]
        final.scroll_into_view_if_needed()  # type: ignore[attr-defined]
        page.screenshot(path=str(SHOTS / f"{shot}practice-check-my-work.png"))

        # The quiz card: walk to hotadd-disk-008, whose right option is long. Each option is a row of
        # its own box and text (a long radio label once covered the next option and hid its button).
        run(page, "lab.quiz()")
        card = cell(page, "lab.quiz()")
        expect(card).to_contain_text("Quiz 1/")  # type: ignore[arg-type]
        for n in range(1, 12):
            if "hotadd-disk-008" in card.inner_text():  # type: ignore[attr-defined]
                break
            card.get_by_role("button", name="Check", exact=True).click()  # type: ignore[attr-defined]
            card.get_by_role("button", name="Next question").click()  # type: ignore[attr-defined]
            expect(card).to_contain_text(f"Quiz {n + 1}/")  # type: ignore[arg-type]  # the card moved on
        expect(card).to_contain_text("hotadd-disk-008")  # type: ignore[arg-type]
        boxes = card.locator("input[type=checkbox]")  # type: ignore[attr-defined]
        assert boxes.count() == 4
        card.scroll_into_view_if_needed()  # type: ignore[attr-defined]
        rows = [boxes.nth(i).locator("xpath=ancestor::div[contains(@class,'widget-hbox')][1]") for i in range(4)]
        spans = [(r.bounding_box()["y"], r.bounding_box()["y"] + r.bounding_box()["height"]) for r in rows]
        assert all(nxt[0] >= cur[1] - 1 for cur, nxt in itertools.pairwise(spans)), f"options overlap: {spans}"
        assert all(boxes.nth(i).is_visible() for i in range(4))
        assert page.evaluate(
            "el => el.scrollWidth <= el.clientWidth + 1",
            card.locator(".jp-OutputArea").element_handle(),  # type: ignore[attr-defined]
        ), "the quiz card scrolls sideways"
        assert "`" not in card.inner_text(), "raw Markdown in the quiz card"  # type: ignore[attr-defined]
        boxes.nth(1).click()  # b) is right
        card.get_by_role("button", name="Check", exact=True).click()  # type: ignore[attr-defined]
        expect(card).to_contain_text("right (100%)")  # type: ignore[arg-type]
        assert "not right" not in card.inner_text()  # type: ignore[attr-defined]
        browser.close()

    graded = json.loads(kvmlab("lab", "check", LAB, "--trainee", _trainee("zh" if zh else "en"), "--json").stdout)
    failed = [(c["id"], c.get("actual")) for c in graded["checks"] if not c["passed"]]
    assert graded["passed"] and not graded["made_by_solve"] and graded["score"] == graded["max_score"], (
        failed,
        graded["made_by_solve"],
        graded["score"],
        graded["max_score"],
    )
    assert graded["hints_used"] == {"2": 1}
