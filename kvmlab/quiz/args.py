"""``kvmlab quiz ...`` and ``kvmlab exam``: the argument wiring only; the commands load when they run."""

from __future__ import annotations

import argparse


def _common(p: argparse.ArgumentParser) -> None:
    from kvmlab import lang

    lang.add_option(p, "language of the questions")


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    quiz = sub.add_parser("quiz", help="the interview trainer: quiz yourself, check answers, validate the bank")
    quiz.add_argument("--bank", metavar="DIR", help="question bank directory (default: kvmlab's questions/)")
    quiz.add_argument("--topic", action="append", metavar="T", help="only this topic (repeatable)")
    quiz.add_argument("--due", action="store_true", help="only questions due for review")
    quiz.add_argument("--seed-only", action="store_true", help="only the 21 seed interview questions")
    quiz.add_argument("--count", type=int, metavar="N", help="at most N questions")
    _common(quiz)
    quiz.set_defaults(func="kvmlab.quiz.cli:cmd_quiz")
    qsub = quiz.add_subparsers(dest="quiz_command")

    val = qsub.add_parser("validate", help="check every question file; report file:line: reason")
    val.set_defaults(func="kvmlab.quiz.cli:cmd_validate")

    ans = qsub.add_parser("answer", help="check one answer without the interactive trainer")
    ans.add_argument("qid", metavar="QID")
    ans.add_argument("--text", required=True, help="your answer")
    ans.add_argument("--json", action="store_true")
    _common(ans)
    ans.set_defaults(func="kvmlab.quiz.cli:cmd_answer")

    lst = qsub.add_parser("list", help="the questions")
    lst.add_argument("--json", action="store_true")
    lst.add_argument("--topic", action="append", metavar="T")
    lst.set_defaults(func="kvmlab.quiz.cli:cmd_list")

    st = qsub.add_parser("stats", help="the bank by topic and type, seed coverage, your review state")
    st.add_argument("--json", action="store_true")
    st.set_defaults(func="kvmlab.quiz.cli:cmd_stats")

    ex = sub.add_parser("exam", help="a timed, randomized mock interview; verdicts at the end")
    ex.add_argument("--bank", metavar="DIR")
    ex.add_argument("--minutes", type=float, default=20)
    ex.add_argument("--count", type=int, default=10)
    ex.add_argument("--topic", action="append", metavar="T")
    ex.add_argument("--rng-seed", type=int, help="fix the random choice of questions")
    ex.add_argument("--out", metavar="FILE", help="where to save the JSON results")
    ex.add_argument("--json", action="store_true", help="also print the results as JSON")
    _common(ex)
    ex.set_defaults(func="kvmlab.quiz.cli:cmd_exam")
