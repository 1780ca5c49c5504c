"""Checking an answer: choices by key, short answers by rubric, commands by meaning."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

from kvmlab.quiz.bank import Question
from kvmlab.quiz.commands import CommandError, Parsed, parse
from kvmlab.quiz.equivalences import normalize

# Why a flag matters, in words a learner remembers. Used when it is missing or extra.
FLAG_NOTES = {
    "config": "changes only the running guest: add --config to keep it after a restart",
    "live": "changes only the persistent definition: add --live to change the running guest now",
    "maximum": "--maximum sets the ceiling (with --config, takes effect at the next boot)",
    "inactive": "--inactive shows the persistent definition, not the running one",
    "hmp": "without --hmp the command is taken as QMP JSON, and 'balloon 2048' is not JSON",
    "all": "without --all only running objects are listed",
    "persistent": "--persistent means live + config only for attach/detach commands",
    "-U": "-U (--force-share) lets qemu-img read an image a running guest holds",
    "-r": "virsh -r opens a read-only connection, which cannot change anything",
}


@dataclass
class Verdict:
    correct: bool
    score: float
    feedback: list[str] = field(default_factory=list)
    missed: list[str] = field(default_factory=list)
    # Rules cannot judge this answer: the trainee's own rating decides (shown the model answer
    # and the missed points), as in Anki. `correct` is then only the rules' guess.
    self_graded: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def check(q: Question, answer: str, lang: str = "en") -> Verdict:
    if q.type in ("single", "multiple"):
        return check_choice(q, answer)
    if q.type == "short":
        return check_short(q, answer, lang)
    return check_command(q.commands, answer, q.run)


# -- choices -----------------------------------------------------------------


def _keys(answer: str) -> set[str] | None:
    """Option letters from 'a', 'a,c', 'A C', 'ac', 'b)'; None when it is not letters at all."""
    tokens = [t.strip("()").lower() for t in re.split(r"[,\s;/、，]+", answer.strip()) if t.strip("()")]
    word = tokens[0] if len(tokens) == 1 else ""
    if word.isascii() and word.isalpha() and len(word) <= 6 and len(set(word)) == len(word):
        return set(word)  # "ac"
    if all(len(t) == 1 and t.isascii() and t.isalpha() for t in tokens):
        return set(tokens)
    return None


def check_choice(q: Question, answer: str) -> Verdict:
    valid = {o.key for o in q.options}
    right = {o.key for o in q.options if o.correct}
    keys = _keys(answer)
    if keys is None:
        return Verdict(False, 0.0, [f"answer with the option letters ({', '.join(sorted(valid))})"], sorted(right))
    given = keys
    unknown = given - valid
    if not given or unknown:
        what = f"{', '.join(sorted(unknown))} is not an option" if unknown else "no option chosen"
        return Verdict(
            False, 0.0, [f"{what}: answer with the option letters ({', '.join(sorted(valid))})"], sorted(right)
        )
    if q.type == "single" and len(given) > 1:
        return Verdict(False, 0.0, ["choose exactly one option"], sorted(right))
    hits = len(given & right)
    wrong = len(given - right)
    score = max(0.0, (hits - wrong) / len(right))
    feedback = []
    if given - right:
        feedback.append(f"not right: {', '.join(sorted(given - right))}")
    if right - given:
        feedback.append(f"also right: {', '.join(sorted(right - given))}")
    return Verdict(given == right, round(score, 2), feedback, sorted(right - given))


# -- short answers -----------------------------------------------------------


def check_short(q: Question, answer: str, lang: str = "en") -> Verdict:
    from kvmlab.quiz import short  # the stemmer (and jieba, for Chinese) load only when needed

    j = short.judge(q.rubric, answer)
    feedback = [f"{j.earned}/{j.total} key points"]
    for point in j.asserted:
        feedback.insert(0, f"states a misconception: {point.label(lang)}")
    missed = [p.label(lang) for p in j.missed]
    if missed:
        feedback.append(f"missing: {', '.join(missed)}")
    self_graded = q.grading == "self" and not j.asserted
    if self_graded:
        feedback.append("rules cannot judge this answer: compare it with the model answer and rate yourself")
    return Verdict(j.right, round(j.score, 2), feedback, missed, self_graded=self_graded)


# -- commands ----------------------------------------------------------------


def _flag(tool: str, name: str) -> str:
    # virsh's own options (-r) are kept with their dash; its subcommands' options without.
    return f"--{name}" if tool == "virsh" and not name.startswith("-") else name


def missing_parts(expected: Parsed, given: Parsed) -> list[str]:
    """The flags and parameters of the right command that the learner left out."""
    if (expected.tool, expected.sub) != (given.tool, given.sub):
        return [expected.describe()]
    got = dict(given.values)
    return [_flag(given.tool, f) for f in sorted(expected.flags - given.flags)] + [
        name for name, value in expected.values if got.get(name) != value
    ]


def differences(expected: Parsed, given: Parsed) -> list[str]:
    """What separates the learner's command from a right one, in words."""
    if (expected.tool, expected.sub) != (given.tool, given.sub):
        return [f"that is {given.describe()}; the answer uses {expected.describe()}"]
    out = []
    for name in sorted(expected.flags - given.flags):
        note = FLAG_NOTES.get(name)
        out.append(f"missing {_flag(given.tool, name)}" + (f": {note}" if note else ""))
    for name in sorted(given.flags - expected.flags):
        out.append(f"{_flag(given.tool, name)} is not part of the answer")
    exp_values, got_values = dict(expected.values), dict(given.values)
    for name in sorted(set(exp_values) | set(got_values)):
        want, got = exp_values.get(name), got_values.get(name)
        if want == got:
            continue
        label = name if name.startswith("-") or name == "positional" else f"{name}"
        if got is None:
            out.append(f"missing {label} {' '.join(want or ())}".rstrip())
        elif want is None:
            out.append(f"{label} {' '.join(got)} is not part of the answer")
        else:
            out.append(f"{label}: expected {' '.join(want)}, got {' '.join(got)}")
    return out


def check_command(accepted: list[str], answer: str, run: str | None = None) -> Verdict:
    """The answer against each accepted line, both in normal form (equivalences.normalize).

    run is the question's run mode: with "guest" or "guest-off" the guest's state is known, so
    --current, --persistent or no flag compare as the --live/--config they amount to."""
    try:
        given = normalize(parse(answer), run)
    except CommandError as err:
        return Verdict(False, 0.0, [str(err)], ["a valid command line"])
    best: tuple[list[str], list[str]] | None = None
    for line in accepted:
        expected = normalize(parse(line), run)
        diff = differences(expected, given)
        if not diff:
            return Verdict(True, 1.0, ["same meaning as the model answer"], [])
        if best is None or len(diff) < len(best[0]):
            best = (diff, missing_parts(expected, given))
    assert best is not None, "a command question has at least one accepted answer"
    return Verdict(False, 0.0, best[0], best[1])
