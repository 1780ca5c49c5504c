"""Editions built from one source notebook: what each shows and hides."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from kvmlab import editions
from kvmlab.errors import UsageError
from kvmlab.labs import registry
from tests.helpers import REPO, kvmlab

SOURCE = {
    "cells": [
        {"cell_type": "markdown", "metadata": {}, "source": "# Title\n\nobjectives"},
        {"cell_type": "code", "metadata": {}, "outputs": [], "source": 'lab = open_lab("hotadd-disk")\nlab.start()'},
        {"cell_type": "markdown", "metadata": {}, "source": "## Step 1\n\nwhy qcow2"},
        {
            "cell_type": "code",
            "metadata": {"kvmlab": {"step": 1, "task": {"en": "Make the image.", "zh": "创建镜像。"}}},
            "outputs": [{"output_type": "stream", "name": "stdout", "text": "stale"}],
            "source": "# before\n### BEGIN SOLUTION\n!qemu-img create -f qcow2 {p.image} 1G\n### END SOLUTION\n# after",
        },
        {"cell_type": "code", "metadata": {}, "outputs": [], "source": "!qemu-img info {p.image}"},
        {"cell_type": "code", "metadata": {}, "outputs": [], "source": "lab.check()"},
    ],
    "metadata": {},
    "nbformat": 4,
    "nbformat_minor": 5,
}


def _sources(nb: dict[str, Any]) -> str:
    return "\n".join(c["source"] for c in nb["cells"])


def test_guided_shows_the_commands_without_the_markers_and_checks_each_step() -> None:
    nb = editions.build(SOURCE, "guided")
    text = _sources(nb)
    assert "!qemu-img create -f qcow2 {p.image} 1G" in text
    assert "BEGIN SOLUTION" not in text and "lab.todo(" not in text
    assert "**Task 1.** Make the image." in text
    assert "lab.step(1)" in text and "lab.progress()" in text
    assert 'open_lab("hotadd-disk", edition="guided", lang="en")' in text
    assert all(not c.get("outputs") for c in nb["cells"] if c["cell_type"] == "code")


def test_practice_keeps_the_explanation_and_replaces_only_the_solution_with_a_placeholder() -> None:
    nb = editions.build(SOURCE, "practice")
    text = _sources(nb)
    assert "qemu-img create" not in text
    assert "why qcow2" in text and "**Task 1.** Make the image." in text
    cell = next(c for c in nb["cells"] if c["cell_type"] == "code" and editions.step_of(c) == 1)
    assert cell["source"] == "# before\n" + editions.placeholder(1) + "\n# after"
    assert text.index("lab.todo(1)") < text.index("lab.step(1)") < text.index("!qemu-img info")


def test_exam_is_tasks_only() -> None:
    nb = editions.build(SOURCE, "exam")
    text = _sources(nb)
    assert "qemu-img create" not in text and "why qcow2" not in text
    assert "lab.step(" not in text and "lab.check()" not in text and "lab.progress()" not in text
    assert "lab.exam()" in text and "lab.todo(1)" in text and "# Title" in text


def test_chinese_edition_states_the_task_in_chinese() -> None:
    text = _sources(editions.build(SOURCE, "practice", "zh"))
    assert "**任务 1.** 创建镜像。" in text and "第 1 步的命令" in text


def test_chinese_edition_takes_each_markdown_cell_from_its_zh_metadata() -> None:
    source = json.loads(json.dumps(SOURCE))
    source["cells"][0]["metadata"] = {"kvmlab": {"zh": "# 标题\n\n目标"}}
    assert "# 标题" in _sources(editions.build(source, "practice", "zh"))
    assert "# Title" in _sources(editions.build(source, "practice", "en"))


def test_solutions_put_back_give_the_guided_commands() -> None:
    solved = editions.with_solutions(editions.build(SOURCE, "practice"), SOURCE)
    cell = next(c for c in solved["cells"] if c["cell_type"] == "code" and editions.step_of(c) == 1)
    assert cell["source"] == "# before\n!qemu-img create -f qcow2 {p.image} 1G\n# after"


def test_solution_of_a_step_with_the_trainees_names_filled_in() -> None:
    text = editions.solution(SOURCE, 1)
    assert text == "!qemu-img create -f qcow2 {p.image} 1G"
    assert editions.fill(text, {"image": "/x/data.qcow2"}) == "!qemu-img create -f qcow2 /x/data.qcow2 1G"


@pytest.mark.parametrize(
    "source",
    ["### BEGIN SOLUTION\nx", "### END SOLUTION\nx", "### BEGIN SOLUTION\n### BEGIN SOLUTION\n### END SOLUTION"],
)
def test_unbalanced_markers_are_refused_with_the_cell(source: str) -> None:
    nb = {**SOURCE, "cells": [{"cell_type": "code", "metadata": {"kvmlab": {"step": 1}}, "source": source}]}
    with pytest.raises(UsageError, match="cell 0"):
        editions.build(nb, "practice")


def test_unknown_edition_or_language_says_which_exist() -> None:
    with pytest.raises(UsageError, match="guided, practice, exam"):
        editions.build(SOURCE, "cheat")
    with pytest.raises(UsageError, match="en, zh"):
        editions.build(SOURCE, "guided", "fr")


def test_a_rebuild_keeps_the_notebook_a_trainee_edited(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "15-hotadd-disk.ipynb").write_text(json.dumps(SOURCE))
    out = tmp_path / "out"
    first = editions.write_editions(out, "practice", notebooks=[src / "15-hotadd-disk.ipynb"])
    assert [w.action for w in first] == ["written"]
    mine = out / "15-hotadd-disk.ipynb"
    mine.write_text(mine.read_text().replace("lab.todo(1)", "!qemu-img create -f qcow2 {p.image} 1G"))
    again = editions.write_editions(out, "practice", notebooks=[src / "15-hotadd-disk.ipynb"])
    assert [w.action for w in again] == ["kept"] and "lab.todo(1)" not in mine.read_text()
    forced = editions.write_editions(out, "practice", force=True, notebooks=[src / "15-hotadd-disk.ipynb"])
    assert [w.action for w in forced] == ["updated"] and "lab.todo(1)" in mine.read_text()


def test_notebooks_build_writes_into_the_trainees_own_data_directory_not_the_repository(kvmlab_home: Path) -> None:
    proc = kvmlab("notebooks", "build", "--edition", "practice", "--trainee", "alice")
    assert proc.returncode == 0, proc.stderr
    out = Path(proc.stdout.strip())
    assert out == kvmlab_home / "notebooks" / "alice" / "practice"
    assert (out / "15-hotadd-disk.ipynb").is_file() and (out / "00-welcome.ipynb").is_file()
    assert REPO not in out.parents


@pytest.mark.parametrize("lab", registry.all_labs(), ids=lambda lab: lab.id)
def test_every_graded_step_has_a_task_and_a_solution_in_the_notebook_and_back(lab: Any) -> None:
    source = editions.read(REPO / lab.notebook)
    graded = sorted({s.number for s in lab.steps() if s.number})
    if not graded:
        pytest.skip(f"{lab.id}: grader not split into steps yet")
    assert editions.steps(source) == graded, f"{lab.notebook}: solution cells per step vs the grader's steps"
    for number in graded:
        first = next(c for n, c, _ in editions.solution_cells(source) if n == number)
        assert editions.task(first, "en") and editions.task(first, "zh"), f"step {number} needs a task in en and zh"
    for s in lab.steps():
        assert len(s.hints) >= 2, f"{lab.id} step {s.number}: hints need a concept level and a shape level"
