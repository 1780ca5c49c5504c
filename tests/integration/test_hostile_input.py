"""Hostile input through the real CLI: a clear error, a non-zero exit, nothing created or deleted.

Most cases call the CLI's main() in this process (the same argument parsing,
validation and error rendering, without a new interpreter per case); a few
run `python -m kvmlab` for real, as a user would. The whole host is compared
before and after, so these tests run alone.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kvmlab import paths
from kvmlab.connection import Connection
from tests.helpers import DATA, kvmlab, kvmlab_in_process

pytestmark = pytest.mark.alone

NAMES = [
    "../x",
    "/etc",
    "a;b",
    "a b",
    "a'b",
    'a"b',
    "a\tb",
    "a\nb",
    "bell\x07",
    "аlice",
    "ａlice",
    "a\u200bb",
    "",
    "x" * 200,
    "Alice",
    "1abc",
    "$(id)",
    "`id`",
    "a*b",
    "a|b",
    "a&b",
    "a>b",
    "-rf",
    "trainee-one",
]
LAB_IDS = ["nosuch", "../hotadd-disk", "hotadd-disk;rm -rf /", "", "HOTADD-DISK", "hotadd-disk\x00"]


def _host_state(system: Connection) -> tuple[str, ...]:
    conn = system.conn

    def names(objects: list[Any]) -> str:
        return "\n".join(sorted(o.name() for o in objects))

    files = sorted(str(p) for p in paths.data_dir().rglob("*") if "quiz" not in p.parts and p.name != "host.lock")
    links = sorted(p.name for p in Path("/sys/class/net").iterdir())
    return (
        names(conn.listAllDomains(0)),
        names(conn.listAllNetworks(0)),
        names(conn.listAllStoragePools(0)),
        "\n".join(files),
        "\n".join(links),
    )


@pytest.fixture
def unchanged(system: Connection) -> Iterator[None]:
    before = _host_state(system)
    yield
    assert _host_state(system) == before, "hostile input created or deleted something"


def _refused(proc: subprocess.CompletedProcess[str], *, code: int | None = None) -> None:
    assert proc.returncode != 0
    if code is not None:
        assert proc.returncode == code, proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    assert proc.stderr.strip(), "a refusal must say why"


@pytest.mark.parametrize("name", NAMES, ids=[repr(n)[:24] for n in NAMES])
@pytest.mark.parametrize("verb", ["start", "finish"])
def test_hostile_trainee_names(unchanged: None, name: str, verb: str) -> None:
    _refused(kvmlab_in_process("lab", verb, "hotadd-disk", "--trainee", name), code=2)


@pytest.mark.parametrize("name", ["../x", "$(id)", "a\nb"], ids=["dotdot", "command", "newline"])
def test_hostile_trainee_names_through_a_real_process(unchanged: None, name: str) -> None:
    _refused(kvmlab("lab", "start", "hotadd-disk", "--trainee", name), code=2)


@pytest.mark.parametrize("lab", LAB_IDS, ids=[repr(n)[:24] for n in LAB_IDS])
def test_unknown_lab_ids(unchanged: None, lab: str) -> None:
    if "\x00" in lab:
        pytest.skip("the OS itself refuses NUL in arguments")
    _refused(kvmlab_in_process("lab", "start", lab, "--trainee", "hostile"), code=2)


def test_malformed_question_bank_is_refused_by_the_trainer(unchanged: None) -> None:
    _refused(kvmlab_in_process("quiz", "--bank", str(DATA / "bank-broken"), "--count", "1"), code=2)
    _refused(kvmlab("quiz", "--bank", str(DATA / "bank-broken"), "validate"), code=1)


def test_oversized_question_file_is_reported(unchanged: None, tmp_path: Path) -> None:
    (tmp_path / "huge.md").write_text("---\n" + "x" * (600 * 1024))
    proc = kvmlab_in_process("quiz", "--bank", str(tmp_path), "validate")
    _refused(proc, code=1)
    assert "larger than" in proc.stdout


@pytest.mark.parametrize(
    "args",
    [
        ("quiz", "answer", "no-such-question", "--text", "x"),
        ("quiz", "--topic", "../etc"),
        ("exam", "--minutes", "-1"),
        ("quiz", "--bank", "/nonexistent/dir", "validate"),
        ("class", "grade", "hotadd-disk", "--roster", "/nonexistent/roster.toml"),
    ],
    ids=["unknown-question", "bad-topic", "negative-minutes", "missing-bank", "missing-roster"],
)
def test_other_bad_arguments(unchanged: None, args: tuple[str, ...]) -> None:
    _refused(kvmlab_in_process(*args), code=2)


def test_hostile_roster_is_refused_before_any_host_is_touched(unchanged: None, tmp_path: Path) -> None:
    roster = tmp_path / "r.toml"
    roster.write_text('class = "c"\n[[trainee]]\nname = "ok"\n[[trainee]]\nname = "../../etc"\n')
    _refused(kvmlab_in_process("class", "start", "hotadd-disk", "--roster", str(roster)), code=2)
