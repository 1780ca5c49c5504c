"""Answers checked by meaning: command forms, rubric points in both languages, choices."""

from __future__ import annotations

import pytest

from kvmlab.quiz import bank
from kvmlab.quiz.check import check, check_command
from kvmlab.quiz.commands import CommandError, parse
from tests.helpers import DATA

SETVCPUS = ["virsh setvcpus centos 4 --live --config"]


@pytest.mark.parametrize(
    "answer",
    [
        "virsh setvcpus centos 4 --live --config",
        "virsh setvcpus --config --live centos 4",
        "virsh setvcpus --domain centos --count 4 --live --config",
        "virsh setvcpus --domain=centos --count=4 --config --live",
        "virsh -c qemu:///system setvcpus centos 4 --live --config",
        "sudo virsh setvcpus centos --count 4 --live --config",
    ],
)
def test_equivalent_command_forms_are_the_same_answer(answer: str) -> None:
    assert check_command(SETVCPUS, answer).correct


def test_missing_config_is_wrong_with_the_reason() -> None:
    verdict = check_command(SETVCPUS, "virsh setvcpus centos 4 --live")
    assert not verdict.correct
    assert "changes only the running guest: add --config to keep it" in verdict.feedback[0]
    assert verdict.missed == ["--config"]


def test_unknown_flag_is_wrong_with_the_reason() -> None:
    verdict = check_command(SETVCPUS, "virsh setvcpus centos 4 --live --config --persistent")
    assert not verdict.correct and "--persistent is not an option of virsh setvcpus" in verdict.feedback[0]


def test_wrong_value_and_wrong_command_are_named() -> None:
    assert "count: expected 4, got 2" in check_command(SETVCPUS, "virsh setvcpus centos 2 --live --config").feedback
    assert "that is virsh setmem" in check_command(SETVCPUS, "virsh setmem centos 4 --live --config").feedback[0]


def test_sizes_compare_by_value_with_the_commands_default_unit() -> None:
    accepted = ["virsh setmem centos 2048M --live"]
    assert check_command(accepted, "virsh setmem centos 2G --live").correct
    assert check_command(accepted, "virsh setmem centos 2097152 --live").correct  # KiB by default
    assert not check_command(accepted, "virsh setmem centos 2048 --live").correct  # 2048 KiB: the classic trap
    assert check_command(["qemu-img create -f raw a.img 10G"], "qemu-img create -f raw a.img 10240M").correct


def test_hmp_cmd_may_be_named_or_positional() -> None:
    accepted = ["virsh qemu-monitor-command centos --hmp --cmd balloon 2048"]
    assert check_command(accepted, "virsh qemu-monitor-command centos --hmp balloon 2048").correct
    missing = check_command(accepted, "virsh qemu-monitor-command centos balloon 2048")
    assert not missing.correct and "--hmp" in missing.feedback[0]


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("vish net-dumpxml mynet", "there is no `vish`"),
        ("virsh", "virsh needs a subcommand"),
        ("virsh frobnicate", "virsh has no command 'frobnicate'"),
        ("virsh setvcpus centos", "needs --count"),
        ("virsh dumpxml 'centos", "unbalanced quotes"),
        ("brctl show", "not a command kvmlab can check"),
        ("virsh dominfo centos extra", "unexpected argument 'extra'"),
        ("virsh dumpxml centos --xpath", "--xpath needs a value"),
    ],
)
def test_unparsable_lines_say_why(line: str, reason: str) -> None:
    with pytest.raises(CommandError, match=reason.replace("(", r"\(")):
        parse(line)


@pytest.fixture(scope="module")
def demo() -> bank.Bank:
    return bank.load(DATA / "bank-good")


def test_rubric_in_english_gives_partial_credit_and_names_missed_points(demo: bank.Bank) -> None:
    q = demo.get("demo-002")
    assert q is not None
    verdict = check(q, "With paravirtualization the guest kernel is modified.", "en")
    assert verdict.score == pytest.approx(0.67, abs=0.01) and not verdict.correct
    assert verdict.missed == ["no hardware support needed for full virtualization"]


def test_rubric_in_chinese_matches_chinese_synonyms(demo: bank.Bank) -> None:
    q = demo.get("demo-002")
    assert q is not None
    verdict = check(q, "半虚拟化要修改客户机内核；全虚拟化以前靠二进制翻译实现，不需要硬件支持。", "zh")
    assert verdict.correct and verdict.score == 1.0


def test_rubric_matches_whole_words_only(demo: bank.Bank) -> None:
    q = demo.get("demo-002")
    assert q is not None
    assert check(q, "unmodifiedness", "en").score == 0.0


@pytest.mark.parametrize(
    ("answer", "correct", "score"),
    [
        ("a,c", True, 1.0),
        ("c a", True, 1.0),
        ("AC", True, 1.0),
        ("a", False, 0.5),
        ("a,b,c", False, 0.5),
        ("b", False, 0.0),
        ("z", False, 0.0),
        ("VMware and Xen", False, 0.0),
    ],
)
def test_multiple_choice_scoring(demo: bank.Bank, answer: str, correct: bool, score: float) -> None:
    q = demo.get("demo-003")
    assert q is not None
    verdict = check(q, answer)
    assert (verdict.correct, verdict.score) == (correct, score)
