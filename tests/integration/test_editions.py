"""The practice edition, run as it is handed out, must leave every step the trainee owns red.

nbval proves the other two claims (the guided edition and the practice
edition with the solutions put back end green: see conftest.py). Here the
practice edition runs top to bottom *with* its placeholders, the way "Run All"
would if the trainee typed nothing, cells after an error included: no cell
may do a step's work for the trainee.
"""

from __future__ import annotations

import os
from typing import Any

import nbclient
import nbformat
import pytest

from kvmlab import editions
from kvmlab.labs import registry
from kvmlab.labs.base import Lab
from kvmlab.session import LabSession
from kvmlab.trainee import Trainee
from tests.helpers import REPO, lab_trainee

STEPPED = [lab for lab in registry.all_labs() if any(s.number for s in lab.steps())]


def _outputs(cell: dict[str, Any]) -> str:
    parts = []
    for out in cell.get("outputs", []):
        parts.append(str(out.get("text", "")))
        parts.extend(str(line) for line in out.get("traceback", []))
        parts.append(str(out.get("evalue", "")))
    return "\n".join(parts)


@pytest.mark.parametrize("lab", STEPPED, ids=[lab.id for lab in STEPPED])
def test_practice_edition_run_as_is_leaves_every_step_red(lab: Lab, foreign: object) -> None:
    trainee = lab_trainee(lab.id)
    session = LabSession(lab, Trainee(trainee))
    session.finish()
    source = editions.read(REPO / lab.notebook)
    nb = nbformat.from_dict(editions.run_as(editions.build(source, "practice"), trainee))
    client = nbclient.NotebookClient(
        nb, timeout=300, allow_errors=True, kernel_name="python3", resources={"metadata": {"path": str(REPO)}}
    )
    try:
        client.execute(env=dict(os.environ))
        placeholders = [
            c for c in nb.cells if c.cell_type == "code" and "lab.todo(" in c.source and editions.step_of(c)
        ]
        assert placeholders, "the practice edition has no placeholder to write in"
        for cell in placeholders:
            said = _outputs(cell)
            assert "is yours to do" in said, f"placeholder of step {editions.step_of(cell)} did not stop: {said!r}"
            assert "Traceback" not in said, f"a placeholder must stop with a plain message, not a traceback: {said}"
        report = session.check()
        steps = report.steps()
        assert set(steps) == set(report.step_titles), f"steps without any check: {report.step_titles.keys() - steps}"
        green = [n for n, ok in steps.items() if ok]
        assert not green, f"the practice edition, untouched, already passes step(s) {green} of {lab.id}"
    finally:
        session.finish()
