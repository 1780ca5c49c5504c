"""pytest set-up shared by tests/ and the notebook runs (nbval).

* The run gets a data directory of its own (tests/testhome.py): it never
  touches a real user's labs, progress or gradebook.
* The notebooks nbval runs are the *editions* trainees get, built from
  labs/ into build/editions/ before collection: the guided edition, and the
  practice edition with the solutions put back where the trainee types
  them. After the last cell of each, the lab's "Check my work" must be
  green, or the test fails. (The practice edition as it is, placeholders
  and all, must stay red: tests/integration/test_editions.py.)
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from kvmlab.session import LabSession

REPO = Path(__file__).parent
EDITIONS = REPO / "build" / "editions"


def _is_controller(config: pytest.Config) -> bool:
    return not hasattr(config, "workerinput")


def _wants_notebooks(config: pytest.Config) -> bool:
    given = list(config.option.file_or_dir or [])  # the paths asked for; none: testpaths
    return not given or any(str(EDITIONS.relative_to(REPO)) in a or a.endswith(".ipynb") for a in given)


def pytest_configure(config: pytest.Config) -> None:
    # Known even when xdist is not loaded (-p no:xdist), so tagging groups never breaks a run.
    config.addinivalue_line("markers", "xdist_group(name): tests that must share one worker")
    if not _is_controller(config):
        return  # workers inherit the controller's KVMLAB_HOME, and its built editions
    from tests import testhome

    for stale in testhome.stale():
        os.environ["KVMLAB_HOME"] = str(stale)
        testhome.finish_everything(stale)
        testhome.remove(stale)
    os.environ.pop("KVMLAB_HOME", None)
    home = testhome.create(os.getpid())
    os.environ["KVMLAB_HOME"] = str(home)
    os.environ["KVMLAB_EXAMS_DIR"] = str(home / "exams")  # root may move it: test exams stay in the run's home
    os.environ.pop("KVMLAB_TRAINEE", None)
    if _wants_notebooks(config):
        _build_editions()


def _build_editions() -> None:
    import shutil

    from kvmlab import editions

    shutil.rmtree(EDITIONS, ignore_errors=True)  # only what this run builds (the welcome notebook builds more)
    editions.write_editions(
        EDITIONS / "guided", "guided", force=True, transform=lambda nb, src: editions.run_as(nb, _nbval_trainee(src))
    )
    labs = [p for p in editions.lab_notebooks() if editions.lab_of(editions.read(p))]
    editions.write_editions(
        EDITIONS / "practice-solved",
        "practice",
        force=True,
        notebooks=labs,
        transform=lambda nb, src: editions.run_as(editions.with_solutions(nb, src), _nbval_trainee(src)),
    )


def _nbval_trainee(source: dict[str, Any]) -> str:
    """Both editions of a lab's notebook run as the trainee of that lab's other tests (tests.helpers.lab_trainee):
    one after the other in the lab's group, so the second run's guests are restored, not booted."""
    from kvmlab import editions
    from tests.helpers import lab_trainee

    lab = editions.lab_of(source)
    return lab_trainee(lab) if lab else "nbwelcome"


def pytest_unconfigure(config: pytest.Config) -> None:
    if not _is_controller(config) or "KVMLAB_HOME" not in os.environ:
        return
    from tests import testhome

    home = Path(os.environ["KVMLAB_HOME"])
    if home.name == f"{testhome.PREFIX}{os.getpid()}":
        testhome.finish_everything(home)  # a safety net: every test finishes its own labs
        testhome.remove(home)


# -- two workers on one host (pytest-xdist --dist loadgroup) ------------------------
#
# Tests that share a trainee share a group (one worker runs them in order): a
# lab's contract and its known-wrong solutions, a notebook's cells, a module's
# tests. Tests marked `alone` disturb or measure the whole host (restarting
# libvirtd, KSM, a snapshot of every libvirt object): they take the host lock
# exclusively, every other integration test takes it shared.

_STARTED = time.monotonic()
_DURATIONS: list[tuple[float, str]] = []


def _group(item: pytest.Item) -> str | None:
    path = Path(str(item.fspath))
    if path.suffix == ".ipynb":
        lab = _notebook_lab(path)
        return f"lab:{lab}" if lab else str(path)
    params = item.callspec.params if hasattr(item, "callspec") else {}
    if path.name in ("test_contract.py", "test_editions.py") and "lab" in params:
        return f"lab:{params['lab'].id}"
    if "integration" in path.parts:
        return str(path)
    return None


_NOTEBOOK_LABS: dict[Path, str | None] = {}


def _notebook_lab(path: Path) -> str | None:
    if path not in _NOTEBOOK_LABS:  # an edition says its lab in its metadata (kvmlab.editions.build)
        from kvmlab import editions

        _NOTEBOOK_LABS[path] = editions.read(path).get("metadata", {}).get("kvmlab", {}).get("lab")
    return _NOTEBOOK_LABS[path]


def _alone(item: pytest.Item) -> bool:
    if item.get_closest_marker("alone"):
        return True
    params = getattr(item, "callspec", None)
    lab = params.params.get("lab") if params else None
    if Path(str(item.fspath)).name == "test_unprivileged.py" and getattr(lab, "id", None) == "memory-virt":
        # An unprivileged user cannot start KSM: while it is off (it runs only while a root memory-virt
        # test holds the host alone) the lab measures nothing host-wide, and the test shares the host.
        from kvmlab.resources import hostmem

        return hostmem.ksm().run == 1
    return getattr(lab, "id", None) == "memory-virt" or "memory-virt" in Path(str(item.fspath)).name


class _HostLock:
    """Shared for ordinary integration tests, exclusive for `alone` ones; a turnstile keeps writers from starving."""

    def __init__(self, home: Path) -> None:
        self.lock = home / "host.lock"
        self.turnstile = home / "host.turnstile"

    def hold(self, exclusive: bool) -> Generator[None, None, None]:
        with self.lock.open("a") as lock, self.turnstile.open("a") as gate:
            fcntl.flock(gate, fcntl.LOCK_EX)
            try:
                fcntl.flock(lock, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
                _timeline("locked", "exclusive" if exclusive else "shared")
            finally:
                if not exclusive:
                    fcntl.flock(gate, fcntl.LOCK_UN)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)
                fcntl.flock(gate, fcntl.LOCK_UN)


# Where the wall time goes: with KVMLAB_TEST_TIMELINE=FILE, every worker appends when each test
# begins (before any host lock), when it holds the lock, and when it ends. Waits for an `alone`
# test show up as gaps between "begin" and "locked" on the other workers.
_TIMELINE = os.environ.get("KVMLAB_TEST_TIMELINE")


def _timeline(event: str, nodeid: str) -> None:
    if _TIMELINE:
        worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
        with Path(_TIMELINE).open("a") as out:  # one short write per line: appends from workers do not mix
            out.write(f"{time.time():.2f} {worker} {event} {nodeid}\n")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    _timeline("begin", item.nodeid)
    try:
        yield from _host_locked(item, nextitem)
    finally:
        _timeline("end", item.nodeid)


def _host_locked(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    # Around setup, call and teardown: a module's fixtures (the bank's harness guest) are made
    # and removed inside the lock too.
    notebook = Path(str(item.fspath)).suffix == ".ipynb"
    if "integration" not in item.keywords and not notebook:
        yield
        return
    if not _alone(item):
        yield from _HostLock(Path(os.environ["KVMLAB_HOME"])).hold(False)
        return
    # A worker keeps the host from one `alone` test to the next it runs. Taking it per test would
    # wait each time for the other workers' tests to end (the hostile-input module alone is ~60
    # quick tests), and the KSM notebook reads what KSM merged in one cell and grades it in a later
    # one: another worker's guest stopping in between would unmerge pages it shared.
    if not _HELD:
        hold = _HostLock(Path(os.environ["KVMLAB_HOME"])).hold(True)
        next(hold)
        _HELD.append(hold)
    try:
        yield
    finally:
        if nextitem is None or not _alone(nextitem):
            _HELD.pop().close()


_HELD: list[Generator[None, None, None]] = []  # the exclusive hold, kept over consecutive `alone` tests


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "call":
        _DURATIONS.append((report.duration, report.nodeid))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not _is_controller(terminalreporter.config) or not _DURATIONS:
        return
    wall = time.monotonic() - _STARTED
    terminalreporter.write_sep("=", f"kvmlab suite: {wall / 60:.1f} min wall time")
    for duration, nodeid in sorted(_DURATIONS, reverse=True)[:10]:
        terminalreporter.write_line(f"{duration:8.1f} s  {nodeid}")


# -- notebooks: "Check my work" must really turn green --------------------------
#
# nbval proves that every cell runs. That alone would pass a notebook whose
# grader stays red, so after the last cell of a lab notebook we grade that lab
# for the notebook's trainee: the item fails unless every check passes. Then the
# lab is finished. Before the first cell it is finished too: the lab's other
# tests ran as the same trainee, and the notebook starts from nothing.

_LAST_CELLS: dict[str, str] = {}  # a notebook's last cell (_key) -> its lab id
_FIRST_CELLS: dict[str, str] = {}  # a notebook's first cell (_key) -> its lab id


def _key(item: pytest.Item) -> str:
    # Not the nodeid: with --dist loadgroup, xdist appends "@group" to it on the workers.
    return f"{item.fspath}::{item.name}"


def pytest_itemcollected(item: pytest.Item) -> None:
    # Here, as each test is collected: xdist reads the groups in its own collection hook.
    group = _group(item)
    if group:
        item.add_marker(pytest.mark.xdist_group(group))


# Groups that take minutes (libguestfs under TCG, a second libvirtd, KSM, a pip install): handed out
# first, so that the two workers do not end with one of them alone on a long group.
_HEAVY = ("linux-template", "live-migration", "offline-password", "memory-virt", "snapshots", "unprivileged")


def _heavy(item: pytest.Item) -> bool:
    group = next((m.args[0] for m in item.iter_markers("xdist_group")), "")
    return any(name in group or name.replace("-", "_") in group for name in _HEAVY)


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: not _heavy(item))  # stable: each group keeps its order

    first: dict[Path, pytest.Item] = {}
    last: dict[Path, pytest.Item] = {}
    for item in items:
        path = Path(str(item.fspath))
        if path.suffix == ".ipynb" and EDITIONS in path.parents:
            first.setdefault(path, item)
            last[path] = item
    for path, item in last.items():
        lab = _notebook_lab(path)
        if lab:
            _LAST_CELLS[_key(item)] = _FIRST_CELLS[_key(first[path])] = lab


def _lab_session(lab_id: str) -> LabSession:
    """The lab as the trainee its tests and notebooks work as."""
    from kvmlab.labs import registry
    from kvmlab.session import LabSession
    from kvmlab.trainee import Trainee
    from tests.helpers import lab_trainee

    return LabSession(registry.get(lab_id), Trainee(lab_trainee(lab_id)))


def pytest_runtest_setup(item: pytest.Item) -> None:
    lab_id = _FIRST_CELLS.get(_key(item))
    if lab_id:
        _lab_session(lab_id).finish()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    outcome = yield
    report = outcome.get_result()
    lab_id = _LAST_CELLS.get(_key(item))
    if lab_id is None or call.when != "call":
        return
    session = _lab_session(lab_id)
    graded = session.check()
    session.finish()
    if report.passed and not graded.passed:
        report.outcome = "failed"
        report.longrepr = (
            f"notebook ran, but 'Check my work' of lab {lab_id} is not green: failed checks {graded.failed_ids()}"
        )
