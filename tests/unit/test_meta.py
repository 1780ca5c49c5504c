"""Meta-tests: nothing registered goes untested, the bank covers what it promises.

Contract tests, wrong solutions and command-answer runs are parametrized over
the registry and the bank, so a new lab or question is tested automatically;
these tests fail when a lab lacks the pieces those tests need, or the bank
falls short of its coverage.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
import json
import re
import sys
from pathlib import Path

import pytest

from kvmlab.labs import registry
from kvmlab.quiz import bank as bankmod
from tests.helpers import DATA, REPO

LABS = registry.all_labs()
BANK = bankmod.load(bankmod.default_dir(), {lab.id for lab in LABS})


@pytest.mark.parametrize("lab", LABS, ids=[lab.id for lab in LABS])
def test_every_lab_has_notebook_grader_and_wrong_solutions(lab: registry.Lab) -> None:
    notebook = REPO / lab.notebook
    assert notebook.is_file(), f"{lab.id}: notebook {lab.notebook} is missing"
    nb = json.loads(notebook.read_text())
    assert nb["metadata"]["kernelspec"]["name"] == "python3"
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert all(not c.get("outputs") for c in code), f"{lab.notebook} has stored outputs"
    sources = ["".join(c["source"]) for c in code]
    assert any(f'open_lab("{lab.id}")' in s for s in sources), f"{lab.notebook} does not open lab {lab.id}"
    assert any("lab.check()" in s for s in sources), f"{lab.notebook} has no 'Check my work' cell"
    assert any("lab.quiz(" in s for s in sources), f"{lab.notebook} does not end with the quiz of its topic"
    assert lab.steps(), f"graders.{lab.grader} declares no steps"
    wrong = REPO / "tests" / "integration" / "wrong" / f"{lab.grader}.py"
    assert wrong.is_file(), f"{lab.id}: no known-wrong solutions ({wrong.relative_to(REPO)})"
    assert lab.seed_questions and all(1 <= n <= 21 for n in lab.seed_questions)


def test_the_bank_is_valid() -> None:
    assert [str(p) for p in BANK.problems] == []


def test_every_seed_question_is_covered() -> None:
    covered = {n for q in BANK.questions for n in q.seed}
    assert covered == set(range(1, 22)), f"seed questions without a question: {sorted(set(range(1, 22)) - covered)}"


def test_bank_size_and_topic_coverage() -> None:
    assert len(BANK.questions) >= 120
    for lab in LABS:
        in_topic = [q for q in BANK.questions if q.topic == lab.topic]
        assert len(in_topic) >= 6, f"topic {lab.topic} of lab {lab.id} has {len(in_topic)} questions (at least 6)"
        assert BANK.topics[lab.topic].lab == lab.id, f"questions/{lab.topic}.md should name lab {lab.id}"


def test_every_question_has_both_languages() -> None:
    for q in BANK.questions:
        assert q.text.get("zh") and q.text.get("en"), q.id
        assert q.explanation.get("zh") and q.explanation.get("en"), q.id


def _seed_titles() -> dict[int, str]:
    seed = DATA / "seed-questions.zh.txt"
    titles = {}
    for line in seed.read_text().splitlines():
        match = re.match(r"^(\d+)\.\s*(.+)$", line.strip())
        if match and 1 <= int(match.group(1)) <= 21:
            titles.setdefault(int(match.group(1)), match.group(2))
    return titles


def _tokens(text: str) -> set[str]:
    return set(re.findall(r"[\u4e00-\u9fff]|[a-z0-9]+", text.lower()))


@pytest.mark.parametrize("n", range(1, 22))
def test_every_seed_question_is_asked_as_in_the_seed(n: int) -> None:
    """Some question with `seed: n` asks it in the seed's own Chinese words."""
    title = _tokens(_seed_titles()[n])
    best = max((len(title & _tokens(q.text["zh"])) / len(title) for q in BANK.questions if n in q.seed), default=0)
    assert best >= 0.6, f"no question asks seed question {n} in its own words: {_seed_titles()[n]!r}"


def test_every_command_answer_is_run_or_syntax_checked() -> None:
    for q in BANK.questions:
        if q.type == "command":
            assert q.run in bankmod.RUN_MODES, q.id
            if q.run == "syntax":
                assert q.why, f"{q.id}: run: syntax needs why"


def test_topic_files_exist_for_every_lab_topic() -> None:
    for lab in LABS:
        assert (Path(bankmod.default_dir()) / f"{lab.topic}.md").is_file(), lab.topic


GRADER_API = {"kvmlab.grading", "kvmlab.host"}


@pytest.mark.parametrize("lab", LABS, ids=[lab.id for lab in LABS])
def test_a_grader_imports_host_check_and_its_own_parameters_only(lab: registry.Lab) -> None:
    """Host facts live behind Host (kvmlab.resources); a grader reads them, it never gathers them itself."""
    path = REPO / "graders" / f"{lab.grader}.py"
    own = f"kvmlab.labs.{lab.grader}"
    params = importlib.import_module(own)
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            for alias in node.names:
                top = alias.name.split(".")[0]
                assert top in sys.stdlib_module_names, f"{path.name} imports {alias.name}"
        elif isinstance(node, ast.ImportFrom) and node.module and node.module != "__future__":
            if node.module in GRADER_API or node.module.split(".")[0] in sys.stdlib_module_names:
                continue
            assert node.module == own, (
                f"{path.name} imports from {node.module}: only kvmlab.grading, kvmlab.host, {own}"
            )
            for alias in node.names:
                obj = getattr(params, alias.name)
                assert isinstance(obj, type) and dataclasses.is_dataclass(obj), (
                    f"{path.name} imports {alias.name} from its lab: only parameter classes (host facts go behind Host)"
                )


@pytest.mark.parametrize("lab", LABS, ids=[lab.id for lab in LABS])
def test_grader_steps_are_numbered_from_one_and_titled(lab: registry.Lab) -> None:
    steps = lab.steps()
    numbers = sorted({s.number for s in steps})
    assert numbers == list(range(1, len(numbers) + 1)), f"{lab.id}: steps {numbers}"
    for number in numbers:
        titles = {s.title for s in steps if s.number == number}
        assert len(titles) == 1, f"{lab.id} step {number} has several titles: {titles}"
