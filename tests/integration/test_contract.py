"""The lab contract, proven for every registered lab on the real host.

start -> check fails; solve -> check passes; finish -> the trainee owns
nothing and every foreign object (domain, network, pool, bridge, files) is
exactly as it was. Plus each lab's known-wrong solutions.
"""

from __future__ import annotations

import stat

import pytest

from kvmlab import editions
from kvmlab.grading import Report
from kvmlab.labs import registry
from kvmlab.labs.base import Lab
from kvmlab.sandbox import exists
from kvmlab.session import LabSession
from kvmlab.trainee import Trainee
from tests.helpers import REPO, lab_trainee
from tests.integration.conftest import Foreign
from tests.integration.wrong import Wrong, by_lab

LABS = registry.all_labs()
WRONG = by_lab()


def _trainee(lab: Lab) -> Trainee:
    """One trainee per lab, so contract tests of different labs can run at the same time."""
    return Trainee(lab_trainee(lab.id))


def _fresh(lab: Lab) -> LabSession:
    session = LabSession(lab, _trainee(lab))
    session.finish()
    return session


@pytest.mark.parametrize("lab", LABS, ids=[lab.id for lab in LABS])
def test_contract_start_fails_solve_passes_finish_leaves_nothing(lab: Lab, foreign: Foreign) -> None:
    session = _fresh(lab)
    session.start()
    fresh = session.check()
    assert fresh.failed_ids(), "check must fail right after start"
    _assert_no_hint_gives_the_command(session, fresh)
    owned_after_start = {(o.kind, o.name) for o in session.owners.load().objects}
    session.start()  # idempotent: nothing is made twice
    assert {(o.kind, o.name) for o in session.owners.load().objects} == owned_after_start
    session.reset()  # a rewound lab is indistinguishable from a fresh one
    assert _verdicts(session.check()) == _verdicts(fresh)
    assert {(o.kind, o.name) for o in session.owners.load().objects} == owned_after_start

    session.solve()
    solved = session.check()
    assert solved.passed, [(c.id, c.actual, c.hint) for c in solved.checks if not c.passed]
    _assert_exposed_on_loopback_only(session)
    _assert_nothing_world_writable(session)

    owned = session.owners.load().objects
    assert owned, "a lab that owns nothing cannot be cleaned up by finish"
    session.finish()
    record = session.owners.load()
    assert record.objects == [] and record.labs == {}
    for obj in owned:
        assert not exists(session.connection, obj.kind, obj.name), f"{obj.kind} {obj.name} survived finish"
    foreign.assert_untouched()


def _assert_no_hint_gives_the_command(session: LabSession, report: Report) -> None:
    """The first failure never prints the full command: no hint holds a line of the step's solution."""
    source = editions.read(REPO / session.lab.notebook)
    params = session.params.as_dict()
    lines = {
        editions.fill(line.strip().lstrip("!"), params)
        for step in editions.steps(source)
        for line in editions.solution(source, step).splitlines()
    }
    commands = [line for line in lines if len(line) > 24 and not line.startswith("#")]
    for c in report.checks:
        given = [line for line in commands if line in c.hint]
        assert not given, f"the hint of {c.id} gives the solution away: {given[0]!r}"


def _verdicts(report: Report) -> list[tuple[str, bool]]:
    return [(c.id, c.passed) for c in report.checks]


LOOPBACK = {"127.0.0.1", "::1", "localhost"}


def _assert_exposed_on_loopback_only(session: LabSession) -> None:
    """Agent channels, consoles and displays of every guest the lab owns stay on this host."""
    for obj in session.owners.load().objects:
        if obj.kind != "domain" or obj.state == "expected":
            continue
        vm = session.host.domain(obj.name)
        for xml in (vm.live, vm.config):
            if xml is None:
                continue
            for g in xml.graphics():
                addresses = {a for a in (g.listen, g.listen_address) if a}
                assert addresses <= LOOPBACK, f"{obj.name}: {g.type} listens on {addresses}"
            for dev in (
                xml.node.findall("devices/serial")
                + xml.node.findall("devices/console")
                + xml.node.findall("devices/channel")
            ):
                assert dev.get("type") in ("pty", "unix", "file", "spicevmc", "null"), (
                    f"{obj.name}: {dev.tag} of type {dev.get('type')}"
                )


def _assert_nothing_world_writable(session: LabSession) -> None:
    for path in [session.lab_dir, *session.lab_dir.rglob("*")] if session.lab_dir.exists() else []:
        if not path.is_symlink():
            assert not path.stat().st_mode & stat.S_IWOTH, f"{path} is world-writable"


CASES = [(lab, wrong) for lab in LABS for wrong in WRONG.get(lab.id, [])]


@pytest.mark.parametrize(("lab", "wrong"), CASES, ids=[f"{lab.id}:{w.name}" for lab, w in CASES])
def test_known_wrong_solution_fails_the_right_checks(lab: Lab, wrong: Wrong, foreign: Foreign) -> None:
    session = _fresh(lab)
    session.start()
    try:
        with session.owners.locked():
            wrong.apply(session.toolkit)
        report = session.check()
        assert set(report.failed_ids()) == wrong.fails, [(c.id, c.actual) for c in report.checks if not c.passed]
        _assert_no_hint_gives_the_command(session, report)
    finally:
        session.finish()
    foreign.assert_untouched()


def test_every_lab_has_at_least_two_wrong_solutions() -> None:
    for lab in LABS:
        assert len(WRONG.get(lab.id, [])) >= 2, f"lab {lab.id} has fewer than two known-wrong solutions in the tests"
    assert set(WRONG) <= {lab.id for lab in LABS}, "wrong solutions for a lab that is not registered"
