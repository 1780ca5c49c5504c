"""pytest set-up shared by tests/ and the notebook runs (nbval) of labs/.

Notebook runs (nbval) use their own trainee, so a test run never touches the
default trainee's labs, and every lab that trainee started is finished when
the session ends, pass or fail.
"""

from __future__ import annotations

import os

import pytest

# Overridable so that two notebook runs on one host (two people, or a run next to
# `make test`) do not finish each other's labs at session start and end.
NBVAL_TRAINEE = os.environ.get("KVMLAB_NBVAL_TRAINEE", "nbval")


def pytest_sessionstart(session: pytest.Session) -> None:
    # Kernels started by nbval inherit this environment.
    os.environ["KVMLAB_TRAINEE"] = NBVAL_TRAINEE
    _finish_all(NBVAL_TRAINEE)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    _finish_all(NBVAL_TRAINEE)


def _finish_all(trainee_name: str) -> None:
    from kvmlab.errors import KvmlabError
    from kvmlab.labs import registry
    from kvmlab.ownership import Ownership
    from kvmlab.session import LabSession
    from kvmlab.trainee import Trainee

    trainee = Trainee(trainee_name)
    started = Ownership(trainee).load()
    for lab_id in list(started.labs) + sorted({o.lab for o in started.objects}):
        try:
            LabSession(registry.get(lab_id), trainee).finish()
        except KvmlabError:
            continue  # no libvirt here: nothing of ours can be running either


# -- notebooks: "Check my work" must really turn green --------------------------
#
# nbval proves that every cell runs. That alone would pass a notebook whose
# grader stays red, so after the last cell of a lab notebook we grade that lab
# for the nbval trainee: the item fails unless every check passes. Then the
# lab is finished, so the next notebook starts from a clean host.

_LAST_CELLS: dict[str, str] = {}  # nodeid of a notebook's last cell -> lab id


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    from kvmlab.labs import registry

    by_notebook = {lab.notebook: lab.id for lab in registry.all_labs()}
    last: dict[str, pytest.Item] = {}
    for item in items:
        rel = item.nodeid.split("::")[0]
        if rel.endswith(".ipynb") and rel in by_notebook:
            last[rel] = item
    _LAST_CELLS.update({item.nodeid: by_notebook[rel] for rel, item in last.items()})


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    outcome = yield
    report = outcome.get_result()
    lab_id = _LAST_CELLS.get(item.nodeid)
    if lab_id is None or call.when != "call":
        return
    from kvmlab.labs import registry
    from kvmlab.session import LabSession
    from kvmlab.trainee import Trainee

    session = LabSession(registry.get(lab_id), Trainee(NBVAL_TRAINEE))
    graded = session.check()
    session.finish()
    if report.passed and not graded.passed:
        report.outcome = "failed"
        report.longrepr = (
            f"notebook ran, but 'Check my work' of lab {lab_id} is not green: failed checks {graded.failed_ids()}"
        )
