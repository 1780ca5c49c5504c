"""Classroom: roster, signed gradebook, forged results, exports, a class spread over two libvirt URIs."""

from __future__ import annotations

import json
import os
import sqlite3
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from kvmlab.classroom import reports, roster, runner, signing
from kvmlab.classroom.gradebook import Gradebook, verify_export
from kvmlab.errors import UsageError
from kvmlab.grading import Report, check
from tests.helpers import kvmlab, private_test_host

UNREACHABLE = "qemu:///system?socket=/nonexistent/libvirt-sock"


def _roster(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "roster.toml"
    path.write_text(body)
    return path


def test_roster_defaults_and_validation(tmp_path: Path) -> None:
    r = roster.load(
        _roster(
            tmp_path, 'class = "c1"\n[[trainee]]\nname = "ann"\n[[trainee]]\nname = "ben"\nuri = "test:///default"\n'
        )
    )
    assert [m.trainee.name for m in r.members] == ["ann", "ben"]
    assert [m.uri for m in r.members] == ["qemu:///system", "test:///default"] and r.seed == "c1"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("", "needs `class"),
        ('class = "c"\n', "no trainees"),
        ('class = "c"\n[[trainee]]\nname = "../x"\n', "characters kvmlab does not allow"),
        ('class = "c"\n[[trainee]]\nname = "a"\n[[trainee]]\nname = "a"\n', "listed twice"),
        ('class = "c"\n[[trainee]]\nname = "a"\nuri = "nonsense"\n', "is not a libvirt URI"),
        ("class = [", "not valid TOML"),
        ('class = "c"\n[[trainee]]\nname = "a"\nuri = "qemu+ssh://root@hv2/system"\n', "kvmlab must run there"),
    ],
)
def test_bad_rosters_say_what_is_wrong(tmp_path: Path, body: str, message: str) -> None:
    with pytest.raises(UsageError, match=message.replace("(", r"\(")):
        roster.load(_roster(tmp_path, body))


def test_instructor_key_is_private_and_signatures_detect_edits(kvmlab_home: Path) -> None:
    key = signing.load_key()
    assert (signing.key_path().stat().st_mode & 0o777) == 0o600
    payload = {"trainee": "ann", "score": 3}
    sig = signing.sign(payload, key)
    assert signing.verify(payload, sig, key)
    assert not signing.verify({"trainee": "ann", "score": 9}, sig, key)
    assert not signing.verify(payload, sig, b"another instructor's key")


def _report(trainee: str, passed: bool) -> Report:
    return Report("hotadd-disk", trainee, [check("a", "first", True), check("b", "second", passed, hint="do b")])


def test_gradebook_rejects_rows_edited_in_sqlite(kvmlab_home: Path) -> None:
    book = Gradebook()
    book.record("c1", "qemu:///system", _report("ann", False))
    book.record("c1", "qemu:///system", _report("ben", True))
    db = sqlite3.connect(book.path)
    payload = json.loads(db.execute("SELECT payload FROM attempts WHERE trainee='ann'").fetchone()[0])
    payload["result"]["passed"] = True
    db.execute("UPDATE attempts SET payload=? WHERE trainee='ann'", (json.dumps(payload),))
    db.commit()
    attempts = book.attempts("c1")
    assert [(a.payload["trainee"], a.verified) for a in attempts] == [("ann", False), ("ben", True)]
    assert [a.payload["trainee"] for a in book.latest("c1")] == ["ben"]


def test_forged_export_is_detected_through_the_cli(kvmlab_home: Path, tmp_path: Path) -> None:
    book = Gradebook()
    book.record("c1", "qemu:///system", _report("ann", False))
    exported = tmp_path / "results.json"
    assert kvmlab("class", "report", "--format", "json", "--out", str(exported)).returncode == 0
    assert kvmlab("class", "verify", str(exported)).returncode == 0
    data = json.loads(exported.read_text())
    data[0]["result"]["score"] = data[0]["result"]["max_score"]
    forged = tmp_path / "forged.json"
    forged.write_text(json.dumps(data))
    proc = kvmlab("class", "verify", str(forged))
    assert proc.returncode == 1 and "FORGED or edited: result #0 (ann, hotadd-disk)" in proc.stdout
    made_up = [{**data[0], "trainee": "mallory", "signature": "0" * 64}]
    assert verify_export(made_up, signing.load_key()) == [(0, False)]


def test_exports_in_every_format(kvmlab_home: Path) -> None:
    book = Gradebook()
    book.record("c1", "qemu:///system", _report("ann", False))
    book.record("c1", "qemu:///system", _report("ben", True))
    attempts = book.latest("c1")
    csv_lines = reports.to_csv(attempts).splitlines()
    assert csv_lines[0] == "class,lab,trainee,score,max_score,passed,made_by_solve,hints_used,late,at,failed_checks"
    assert csv_lines[1].endswith(",b") and len(csv_lines) == 3
    suite = ET.fromstring(reports.to_junit(attempts)).find("testsuite")
    assert suite is not None and suite.get("tests") == "4" and suite.get("failures") == "1"
    assert "hint: do b" in (suite.find("testcase/failure").text or "")  # type: ignore[union-attr]
    page = reports.to_html(attempts)
    assert "<svg" in page and "1/2 trainees pass" in page and "1/2" in page
    assert reports.summary(attempts) == {"hotadd-disk": {"a": 1.0, "b": 0.5}}


def test_reports_say_what_lab_solve_made_and_which_hints_were_read(kvmlab_home: Path) -> None:
    solved = _report("cat", True)
    for c in solved.checks:
        c.made_by = "solve"
    solved.hints_used = {1: 2, 2: 3}
    book = Gradebook()
    book.record("c1", "qemu:///system", solved)
    [attempt] = book.latest("c1")
    assert attempt.result["score"] == 0 and attempt.result["made_by_solve"] is True
    row = reports.to_csv([attempt]).splitlines()[1].split(",")
    assert row[5:8] == ["True", "True", "1:2 2:3"]
    assert "made by lab solve" in reports.to_html([attempt]) and "1:2 2:3" in reports.to_html([attempt])
    assert "made by lab solve: no points" in reports.to_junit([attempt])


def test_grading_two_uris_in_one_run_and_reporting_an_unreachable_host(kvmlab_home: Path, tmp_path: Path) -> None:
    other = private_test_host()
    path = _roster(
        tmp_path,
        f'class = "c2"\n[[trainee]]\nname = "ann"\nuri = "{other}"\n'
        f'[[trainee]]\nname = "ben"\nuri = "{UNREACHABLE}"\n'
        f'[[trainee]]\nname = "cid"\nuri = "{other}"\n'
        f'[[trainee]]\nname = "dee"\nuri = "{UNREACHABLE}"\n',
    )
    outcomes = runner.ClassRunner(roster.load(path), progress=lambda _m: None).grade("hotadd-disk", Gradebook())
    assert [(o.trainee, o.ok) for o in outcomes] == [("ann", True), ("ben", False), ("cid", True), ("dee", False)]
    assert all("host unreachable" in o.detail for o in outcomes if not o.ok)
    assert {a.payload["trainee"] for a in Gradebook().latest("c2")} == {"ann", "cid"}


def test_grade_cli_exit_code_says_someone_was_not_graded(kvmlab_home: Path, tmp_path: Path) -> None:
    path = _roster(
        tmp_path,
        f'class = "c3"\n[[trainee]]\nname = "ann"\nuri = "{private_test_host()}"\n'
        f'[[trainee]]\nname = "ben"\nuri = "{UNREACHABLE}"\n',
    )
    proc = kvmlab("class", "grade", "hotadd-disk", "--roster", str(path), "--json")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    rows = json.loads(proc.stdout)
    assert [r["ok"] for r in rows] == [True, False] and rows[0]["result"]["lab"] == "hotadd-disk"


def test_untrusted_grading_code_is_refused(tmp_path: Path) -> None:
    (tmp_path / "graders").mkdir()
    planted = tmp_path / "graders" / "evil.py"
    planted.write_text("")
    planted.chmod(0o666)
    assert str(planted) in runner._untrusted(tmp_path)
    planted.chmod(0o644)
    if os.geteuid() == 0:
        assert runner._untrusted(tmp_path) == []


def test_members_on_other_hosts_run_kvmlab_there_and_are_signed_here(kvmlab_home: Path, tmp_path: Path) -> None:
    """`via` is the command prefix that reaches a trainee's hypervisor (ssh in a real class).

    Here the "other host" is this one with its own data directory, reached through env,
    so the test exercises exactly the remote code path: kvmlab run as a separate
    command, its JSON read back, the result signed by the instructor's key.
    """
    other_home = tmp_path / "other-host"
    kvmlab_cmd = Path(sys.executable).parent / "kvmlab"
    via = f'["env", "KVMLAB_HOME={other_home}"]'
    path = _roster(
        tmp_path,
        f'class = "c4"\n[[trainee]]\nname = "ann"\nuri = "{private_test_host()}"\nvia = {via}\n'
        f'kvmlab = "{kvmlab_cmd}"\n'
        f'[[trainee]]\nname = "ben"\nuri = "{private_test_host()}"\nvia = ["/nonexistent/ssh"]\n',
    )
    r = roster.load(path)
    assert r.members[0].via[0] == "env"
    outcomes = runner.ClassRunner(r, progress=lambda _m: None).grade("hotadd-disk", Gradebook())
    assert outcomes[1].ok is False and "cannot run kvmlab via /nonexistent/ssh" in outcomes[1].detail
    assert outcomes[0].report is not None, outcomes[0].detail
    attempt = Gradebook().latest("c4")[0]
    assert attempt.verified and attempt.payload["trainee"] == "ann"
    assert attempt.result["checks"][0]["id"] == "lab-started"  # graded over there: nothing started
    assert not (other_home / "class").exists()  # the key and the gradebook stay with the instructor
