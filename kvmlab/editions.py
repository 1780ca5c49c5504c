"""Editions of a lab notebook, built from the one source in ``labs/``.

The source notebook holds the solution, marked the way nbgrader marks it::

    ### BEGIN SOLUTION
    !virsh attach-disk {p.domain} {p.image} {p.target} ... --live --config
    ### END SOLUTION

in a code cell whose metadata names its step and task
(``{"kvmlab": {"step": 3, "task": {"en": "...", "zh": "..."}}}``). A small
chain of passes turns it into an edition (as nbgrader's ClearSolutions and
friends do, see the README for why kvmlab has its own):

* guided: every command shown, the task above it, "check this step" under it;
* practice: the task, an empty cell whose placeholder stops "Run All" with a
  plain message, and under it the step's check, hints in levels and the
  solution (revealed on request and recorded);
* exam: the title, the tasks and the placeholders only: no explanations, no
  hints, no solution, no checks; a banner with the deadline.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kvmlab import paths
from kvmlab.errors import UsageError

EDITIONS = ("guided", "practice", "exam")
LANGS = ("en", "zh")
BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
_OPEN_LAB = re.compile(r"open_lab\((['\"])([a-z0-9-]+)\1\)")
MANIFEST = ".kvmlab-editions.json"

Cell = dict[str, Any]
Notebook = dict[str, Any]
Transform = Callable[[Notebook, Notebook], Notebook]  # (built edition, its source) -> what is written


def _source(cell: Cell) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else str(src)


def _cell(cell_type: str, source: str, **meta: Any) -> Cell:
    cell: Cell = {"cell_type": cell_type, "metadata": {"kvmlab": meta} if meta else {}, "source": source}
    if cell_type == "code":
        cell.update(execution_count=None, outputs=[])
    return cell


def _meta(cell: Cell) -> dict[str, Any]:
    meta = cell.get("metadata", {}).get("kvmlab", {})
    return meta if isinstance(meta, dict) else {}


def step_of(cell: Cell) -> int | None:
    step = _meta(cell).get("step")
    return step if isinstance(step, int) else None


@dataclass(frozen=True)
class Region:
    """The lines of a solution cell: (is_solution, text) pieces in order."""

    pieces: tuple[tuple[bool, str], ...]

    @classmethod
    def parse(cls, source: str, where: str) -> Region:
        pieces: list[tuple[bool, str]] = []
        inside, current = False, list[str]()
        for line in source.splitlines():
            marker = line.strip()
            if marker in (BEGIN, END):
                if (marker == BEGIN) == inside:
                    raise UsageError(f"{where}: {marker} out of order", f"pair every {BEGIN} with an {END}")
                if current:
                    pieces.append((inside, "\n".join(current)))
                inside, current = marker == BEGIN, list[str]()
                continue
            current.append(line)
        if inside:
            raise UsageError(f"{where}: {BEGIN} without {END}", f"close the solution with {END}")
        if current:
            pieces.append((False, "\n".join(current)))
        return cls(tuple(pieces))

    @property
    def has_solution(self) -> bool:
        return any(solution for solution, _ in self.pieces)

    def solution(self) -> str:
        return "\n".join(text for solution, text in self.pieces if solution)

    def render(self, placeholder: str | None) -> str:
        """The cell with the solution shown (placeholder None) or replaced by the placeholder."""
        out: list[str] = []
        for solution, text in self.pieces:
            if not solution or placeholder is None:
                out.append(text)
            elif not out or out[-1] != placeholder:
                out.append(placeholder)
        return "\n".join(out)


def placeholder(step: int, lang: str = "en") -> str:
    if lang == "zh":
        return f"# 在这里写第 {step} 步的命令，替换下面这一行，然后运行本单元格。\nlab.todo({step})"
    return (
        f"# Write your command(s) for step {step} here, in place of the next line, then run the cell.\nlab.todo({step})"
    )


def read(path: Path) -> Notebook:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise UsageError(f"cannot read notebook {path}: {err}", "is it a Jupyter notebook (.ipynb)?") from err
    if not isinstance(data, dict) or not isinstance(data.get("cells"), list):
        raise UsageError(f"{path} is not a Jupyter notebook", "pass a .ipynb file")
    return data


def lab_of(nb: Notebook) -> str | None:
    for cell in nb["cells"]:
        if cell.get("cell_type") == "code" and (m := _OPEN_LAB.search(_source(cell))):
            return m.group(2)
    return None


def solution_cells(nb: Notebook) -> Iterator[tuple[int, Cell, Region]]:
    """The cells that hold a solution: (step, cell, its parsed regions), in notebook order."""
    for n, cell in enumerate(nb["cells"]):
        step = step_of(cell)
        if cell.get("cell_type") == "code" and step is not None:
            region = Region.parse(_source(cell), f"cell {n}")
            if region.has_solution:
                yield step, cell, region


def steps(nb: Notebook) -> list[int]:
    return sorted({step for step, _, _ in solution_cells(nb)})


def solution(nb: Notebook, step: int) -> str:
    """What the trainee would type for ``step``: the solution lines of its cells, in order."""
    return "\n\n".join(region.solution() for n, _, region in solution_cells(nb) if n == step)


_PARAM = re.compile(r"\{p\.([a-z_][a-z0-9_]*)\}")


def fill(text: str, params: dict[str, Any]) -> str:
    """``{p.image}`` in a solution, as IPython would expand it for this trainee's parameters."""
    return _PARAM.sub(lambda m: str(params[m.group(1)]) if m.group(1) in params else m.group(0), text)


def task(cell: Cell, lang: str) -> str | None:
    text = _meta(cell).get("task")
    if isinstance(text, dict):
        return str(text.get(lang) or text.get("en") or "") or None
    return str(text) if text else None


# -- building an edition -----------------------------------------------------------------------


def _step_end(nb: Notebook) -> dict[int, int]:
    """Index of the last solution cell of each step (where its check goes)."""
    return {
        step: n
        for n, cell in enumerate(nb["cells"])
        if cell.get("cell_type") == "code" and (step := step_of(cell)) is not None
    }


def build(source: Notebook, edition: str, lang: str = "en") -> Notebook:
    if edition not in EDITIONS:
        raise UsageError(f"no edition {edition!r}", f"pick one of: {', '.join(EDITIONS)}")
    if lang not in LANGS:
        raise UsageError(f"no language {lang!r}", f"pick one of: {', '.join(LANGS)}")
    lab = lab_of(source)
    nb = copy.deepcopy(source)
    ends = _step_end(nb)
    cells: list[Cell] = []
    solution_index = 0
    for n, cell in enumerate(nb["cells"]):
        cell.pop("id", None)  # nbformat 4.5 ids must be unique; the source's are reused once per edition
        if cell.get("cell_type") == "code":
            cell["outputs"], cell["execution_count"] = [], None
        step = step_of(cell)
        src = _source(cell)
        if cell.get("cell_type") == "code" and lab and _OPEN_LAB.search(src):
            cell["source"] = _OPEN_LAB.sub(f'open_lab("{lab}", edition="{edition}", lang="{lang}")', src)
            cells.append(cell)
            cells.append(_cell("code", "lab.exam()" if edition == "exam" else "lab.progress()", generated="progress"))
            continue
        if step is not None and cell.get("cell_type") == "code":
            region = Region.parse(src, f"cell {n}")
            sentence = task(cell, lang)
            if sentence:
                label = f"**任务 {step}.**" if lang == "zh" else f"**Task {step}.**"
                cells.append(_cell("markdown", f"{label} {sentence}", generated="task", step=step))
            cell["source"] = region.render(None if edition == "guided" else placeholder(step, lang))
            cell["metadata"].setdefault("kvmlab", {})["solution_index"] = solution_index
            solution_index += region.has_solution
            cells.append(cell)
            if ends.get(step) == n and edition != "exam":
                cells.append(_cell("code", f"lab.step({step})", generated="step", step=step))
            continue
        if edition == "exam" and not _kept_in_exam(cell, n, src):
            continue
        cells.append(in_language(cell, lang))
    for n, cell in enumerate(cells):
        cell["id"] = f"{edition}-{n:03d}"  # nbformat 4.5: every cell has a unique id
    nb["cells"] = cells
    nb.setdefault("metadata", {})["kvmlab"] = {"edition": edition, "lang": lang, "lab": lab}
    nb["nbformat"], nb["nbformat_minor"] = 4, 5
    return nb


def _kept_in_exam(cell: Cell, index: int, source: str) -> bool:
    """Exams are tasks only: the title, and cells the source marks for the exam."""
    if _meta(cell).get("exam"):
        return True
    return index == 0 and cell.get("cell_type") == "markdown"


def with_solutions(edition: Notebook, source: Notebook) -> Notebook:
    """A practice or exam edition with the source's solutions put back where the trainee writes them.

    What the test suite runs to prove the practice edition turns green when
    the trainee does the work.
    """
    solved = [region for _, _, region in solution_cells(source)]
    nb = copy.deepcopy(edition)
    for cell in nb["cells"]:
        index = _meta(cell).get("solution_index")
        if cell.get("cell_type") == "code" and isinstance(index, int) and index < len(solved):
            cell["source"] = solved[index].render(None)
    return nb


def in_language(cell: Cell, lang: str) -> Cell:
    """A Markdown cell in ``lang``: the source is English, its Chinese lives in metadata ``kvmlab.zh``
    beside it (one cell, one idea, both languages edited together)."""
    zh = _meta(cell).get("zh")
    if lang == "zh" and cell.get("cell_type") == "markdown" and isinstance(zh, str) and zh.strip():
        cell["source"] = zh
    return cell


def _with_ids(nb: Notebook, edition: str, lang: str = "en") -> Notebook:
    """A notebook copied as it is (the welcome), in ``lang``, with the cell ids nbformat 4.5 wants."""
    out = copy.deepcopy(nb)
    for n, cell in enumerate(out["cells"]):
        in_language(cell, lang)
        cell["id"] = f"{edition}-{n:03d}"
    out["nbformat"], out["nbformat_minor"] = 4, 5
    return out


def run_as(nb: Notebook, trainee: str) -> Notebook:
    """The notebook opened for ``trainee`` (test runs give each edition a trainee of its own)."""
    out = copy.deepcopy(nb)
    for cell in out["cells"]:
        if cell.get("cell_type") == "code":
            cell["source"] = re.sub(
                r"open_lab\((['\"][a-z0-9-]+['\"])", rf'open_lab(\1, trainee="{trainee}"', _source(cell)
            )
    return out


# -- writing editions for a trainee ----------------------------------------------------------------


def lab_notebooks() -> list[Path]:
    return sorted(p for p in paths.notebooks_dir().glob("[0-9][0-9]-*.ipynb"))


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass
class Written:
    path: Path
    action: str  # "written", "updated", "kept" (the trainee changed it), "unchanged"


def write_editions(
    out: Path,
    edition: str,
    lang: str = "en",
    force: bool = False,
    notebooks: list[Path] | None = None,
    transform: Transform | None = None,
) -> list[Written]:
    """Build ``edition`` of every lab notebook into ``out``, never overwriting a trainee's own edits.

    A manifest remembers what kvmlab wrote; a notebook that no longer matches
    it was changed by the trainee and is kept (``force`` overwrites it).
    """
    paths.ensure_dir(out)
    manifest_path = out / MANIFEST
    try:
        manifest: dict[str, str] = json.loads(manifest_path.read_text())
    except (OSError, ValueError):
        manifest = {}
    results = []
    for src in notebooks or lab_notebooks():
        source = read(src)
        built = build(source, edition, lang) if lab_of(source) else _with_ids(source, edition, lang)
        text = json.dumps(transform(built, source) if transform else built, indent=1, ensure_ascii=False) + "\n"
        target = out / src.name
        action = "written"
        if target.exists():
            current = target.read_text()
            if current == text:
                action = "unchanged"
            elif not force and manifest.get(src.name) != _digest(current):
                results.append(Written(target, "kept"))
                continue
            else:
                action = "updated"
        if action != "unchanged":
            target.write_text(text)
        manifest[src.name] = _digest(text)
        results.append(Written(target, action))
    manifest_path.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    return results


def trainee_dir(trainee: str, edition: str = "practice") -> Path:
    """Where a trainee's own copy of an edition lives: in their data directory, never in the repository."""
    return paths.data_dir() / "notebooks" / trainee / edition
