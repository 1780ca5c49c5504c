from __future__ import annotations

import pytest

from kvmlab.errors import InvalidName
from kvmlab.trainee import DEFAULT, Trainee, current, validate

HOSTILE = [
    "",
    "../etc",
    "a/b",
    "x;rm -rf /",
    "has space",
    "quo'te",
    'dq"uote',
    "tab\there",
    "nl\nx",
    "bell\x07",
    "null\x00x",
    "аlice",  # Cyrillic а
    "ａlice",
    "Alice",
    "1abc",
    "-x",
    "a" * 200,
    "trainee-one-two",
    "$(id)",
    "`id`",
    "a*b",
    "~root",
    "x.y",
    "emoji😀",
    "a\u200bb",  # zero-width space
]


@pytest.mark.parametrize("name", HOSTILE, ids=[repr(n)[:20] for n in HOSTILE])
def test_hostile_trainee_names_are_refused_with_the_rule(name: str) -> None:
    with pytest.raises(InvalidName) as err:
        validate(name)
    assert "lowercase ASCII letters and digits" in err.value.hint


def test_refusal_message_spells_out_invisible_characters() -> None:
    with pytest.raises(InvalidName) as err:
        validate("a\u200bb")
    assert "ZERO WIDTH SPACE" in err.value.message


@pytest.mark.parametrize("name", ["alice", "bob2", "t", "abcdefghijkl"])
def test_good_names_pass(name: str) -> None:
    assert validate(name) == name


def test_default_trainee_keeps_seed_names_short() -> None:
    assert Trainee(DEFAULT).object_name("tianyun") == "tianyun"
    assert Trainee("alice").object_name("tianyun") == "alice-tianyun"


def test_environment_names_the_trainee(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KVMLAB_TRAINEE", "carol")
    assert current().name == "carol"
    assert current("dave").name == "dave"
    monkeypatch.setenv("KVMLAB_TRAINEE", "../x")
    with pytest.raises(InvalidName):
        current()
