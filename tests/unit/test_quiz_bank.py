"""The bank parser and validator on good and broken files."""

from __future__ import annotations

from pathlib import Path

from kvmlab.quiz import bank
from tests.helpers import DATA, kvmlab


def test_good_file_parses_every_part() -> None:
    b = bank.load(DATA / "bank-good")
    assert b.problems == []
    q = b.get("demo-001")
    assert q is not None and q.type == "command" and q.seed == (17,) and q.run == "guest"
    assert q.commands == ["virsh setvcpus centos 4 --live --config"]
    assert set(q.misconception) == {"en", "zh"}
    short = b.get("demo-002")
    assert short is not None and [(p.points, p.wrong) for p in short.rubric] == [(2, False), (1, False), (0, True)]
    assert short.wrong_answers["en"] and short.wrong_answers["zh"] and short.paraphrases["zh"]
    assert "binary translation" in short.rubric[1].synonyms
    multi = b.get("demo-003")
    assert multi is not None and [o.key for o in multi.options if o.correct] == ["a", "c"]


def test_broken_files_report_every_problem_with_file_and_line() -> None:
    b = bank.load(DATA / "bank-broken", known_labs={"hotadd-disk"})
    text = "\n".join(map(str, b.problems))
    expected = [
        "broken.md:2: format must be 1",
        "broken.md:2: topic 'wrongname' must match the file name 'broken'",
        "broken.md:2: title must be 'English / 中文'",
        "broken.md:2: unknown lab 'nosuchlab'",
        "question id 'broken-1' must be 'broken-NNN'",
        "type must be one of single, multiple, short, command, found 'essay'",
        "seed numbers must be 1-21",
        "unknown field 'colour'",
        "missing '### zh'",
        "missing explanation in zh",
        "a single-choice question needs exactly one [x] option, found 2",
        "option must be '- [x] `a` English || 中文'",
        "command does not parse",
        "--persistent is not an option of virsh setvcpus",
        "nofront.md:1: no front matter",
    ]
    for fragment in expected:
        assert fragment in text, f"validator did not report: {fragment}\n{text}"
    assert all(str(p).split(":")[1].isdigit() for p in b.problems)


def test_duplicate_ids_across_files_are_reported(tmp_path: Path) -> None:
    source = (DATA / "bank-good" / "demo.md").read_text()
    (tmp_path / "demo.md").write_text(source)
    (tmp_path / "other.md").write_text(
        source.replace("topic: demo", "topic: other")
        .replace("## demo-001", "## other-001")
        .replace("## demo-002", "## other-002")
        .replace("## demo-003", "## demo-001")
    )
    problems = [str(p) for p in bank.load(tmp_path).problems]
    assert any("id demo-001 is already used" in p for p in problems), problems


def test_oversized_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "big.md").write_text("x" * (bank.MAX_FILE_BYTES + 1))
    assert "larger than" in str(bank.load(tmp_path).problems[0])


def test_non_utf8_file_is_reported(tmp_path: Path) -> None:
    (tmp_path / "latin.md").write_bytes(b"---\nformat: 1\n\xff\xfe\n---\n")
    assert "not UTF-8" in str(bank.load(tmp_path).problems[0])


def test_validate_cli_exit_codes() -> None:
    good = kvmlab("quiz", "--bank", str(DATA / "bank-good"), "validate")
    assert good.returncode == 0 and "3 questions in 1 topics, 0 problems" in good.stderr
    bad = kvmlab("quiz", "--bank", str(DATA / "bank-broken"), "validate")
    assert bad.returncode == 1
    assert bad.stdout.splitlines()[0].startswith("broken.md:")
    assert "Traceback" not in bad.stderr
