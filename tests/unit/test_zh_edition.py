"""The Chinese edition is Chinese: every explanation, task, step title, hint and check title.

Built from the one source (labs/*.ipynb: a Markdown cell's Chinese in its
metadata ``kvmlab.zh``, a task's in ``kvmlab.task.zh``; graders give ``zh=`` and
``hint_zh=``). A run of four English words outside code, commands and links is
English prose left behind.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from kvmlab import editions

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "labs").glob("*.ipynb"))
GRADERS = sorted(p for p in (ROOT / "graders").glob("*.py") if p.name != "__init__.py")

_FENCE = re.compile(r"```.*?```", re.S)
_CODE = re.compile(r"`[^`\n]*`")
_LINK = re.compile(r"\]\([^)]*\)|https?://\S+|<[^>]+>")
_PROSE = re.compile(r"\b[A-Za-z][A-Za-z'’-]*(?:[ \t]+[A-Za-z][A-Za-z'’-]*){3,}")


def english_prose(markdown: str) -> list[str]:
    text = _LINK.sub(" ", _CODE.sub(" ", _FENCE.sub(" ", markdown)))
    return _PROSE.findall(text)


def test_the_prose_finder_finds_prose() -> None:
    assert english_prose("这是一个 `virsh attach-disk --live --config` 命令") == []
    assert english_prose("热添加磁盘：Attach it to the running guest") == ["Attach it to the running guest"]
    assert english_prose("参见 [the libvirt docs](https://libvirt.org/formatdomain.html)") == []


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_no_english_prose_in_the_zh_edition(path: Path) -> None:
    source = editions.read(path)
    for edition in ("guided", "practice"):
        nb = (
            editions.build(source, edition, "zh")
            if editions.lab_of(source)
            else editions._with_ids(source, edition, "zh")
        )
        left = [
            (n, english_prose("".join(c["source"]) if isinstance(c["source"], list) else c["source"]))
            for n, c in enumerate(nb["cells"])
            if c["cell_type"] == "markdown"
        ]
        left = [(n, found) for n, found in left if found]
        assert not left, f"{path.name} ({edition}, zh): English prose in cells {left[:3]}"


def _calls(tree: ast.AST, name: str) -> list[ast.Call]:
    return [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and (getattr(node.func, "id", None) == name or getattr(node.func, "attr", None) == name)
    ]


@pytest.mark.parametrize("path", GRADERS, ids=[p.stem for p in GRADERS])
def test_every_step_and_check_of_a_grader_has_its_chinese(path: Path) -> None:
    tree = ast.parse(path.read_text())
    missing = []
    for call in _calls(tree, "step"):
        words = {k.arg for k in call.keywords}
        if "zh" not in words or ("hints" in words and "hints_zh" not in words):
            missing.append(f"line {call.lineno}: @step needs zh= (and hints_zh= with its hints)")
    # A grade row always has an id and a title; `image.check()` (qemu-img check) is not one.
    for call in [c for c in _calls(tree, "check") if c.args] + _calls(tree, "same_in_both"):
        words = {k.arg for k in call.keywords}
        if "zh" not in words or ("hint" in words and "hint_zh" not in words):
            missing.append(f"line {call.lineno}: {getattr(call.func, 'id', 'check')}(...) needs zh= (and hint_zh=)")
    for call in _calls(tree, "hot_plugged"):
        if len(call.args) < 4 and "device_zh" not in {k.arg for k in call.keywords}:
            missing.append(f"line {call.lineno}: hot_plugged(...) needs device_zh=")
    assert not missing, f"{path.name}: " + "; ".join(missing[:6])
