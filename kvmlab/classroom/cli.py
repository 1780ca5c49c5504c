"""``kvmlab class ...``: argument wiring for the instructor's commands."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from kvmlab.classroom import reports, roster, runner, signing
from kvmlab.classroom.gradebook import Gradebook, verify_export
from kvmlab.errors import UsageError


def _progress(msg: str) -> None:
    print(f"kvmlab: {msg}", file=sys.stderr, flush=True)


def _runner(args: argparse.Namespace) -> runner.ClassRunner:
    return runner.ClassRunner(roster.load(Path(args.roster)), _progress, parallel=args.parallel)


def _summary(outcomes: list[runner.Outcome], verb: str) -> int:
    failed = [o for o in outcomes if not o.ok]
    print(f"{verb}: {len(outcomes) - len(failed)}/{len(outcomes)} trainees done", file=sys.stderr)
    for o in failed:
        print(f"  {o.trainee} ({o.uri}): {o.detail}", file=sys.stderr)
    return 1 if failed else 0


def cmd_start(args: argparse.Namespace) -> int:
    return _summary(_runner(args).start(args.lab), "start")


def cmd_solve(args: argparse.Namespace) -> int:
    return _summary(_runner(args).solve(args.lab), "solve")


def cmd_finish(args: argparse.Namespace) -> int:
    return _summary(_runner(args).finish(args.lab), "finish")


def cmd_grade(args: argparse.Namespace) -> int:
    outcomes = _runner(args).grade(args.lab, Gradebook())
    graded = [o for o in outcomes if o.report is not None]
    if args.json:
        print(
            json.dumps(
                [
                    {
                        "trainee": o.trainee,
                        "uri": o.uri,
                        "ok": o.ok,
                        "detail": o.detail,
                        "result": o.report.to_dict() if o.report else None,
                    }
                    for o in outcomes
                ],
                indent=2,
            )
        )
    else:
        for o in outcomes:
            verdict = ("pass" if o.report.passed else "fail") if o.report else "not graded"
            print(f"{o.trainee:<14} {verdict:<10} {o.detail}")
    passed = sum(1 for o in graded if o.report and o.report.passed)
    print(
        f"graded {len(graded)}/{len(outcomes)} trainees, {passed} pass; results signed into the gradebook",
        file=sys.stderr,
    )
    return 1 if len(graded) < len(outcomes) else 0


def cmd_exam(args: argparse.Namespace) -> int:
    if args.minutes <= 0:
        raise UsageError("--minutes must be positive", "e.g. kvmlab class exam hotadd-disk --minutes 45 --roster R")
    results = runner.exam(_runner(args), args.labs, args.minutes, Gradebook(), wait=not args.no_wait)
    return max(_summary(outcomes, f"exam {lab}") for lab, outcomes in results.items())


def cmd_report(args: argparse.Namespace) -> int:
    book = Gradebook()
    attempts = book.attempts(args.class_name, args.lab)
    tampered = [a for a in attempts if not a.verified]
    for a in tampered:
        print(
            f"kvmlab: REJECTED attempt #{a.id}: its signature does not match (edited outside kvmlab)", file=sys.stderr
        )
    latest = book.latest(args.class_name, args.lab) if not args.all else [a for a in attempts if a.verified]
    text = reports.render(
        latest, args.format, title=f"kvmlab gradebook{f' — {args.class_name}' if args.class_name else ''}"
    )
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
        print(f"kvmlab: wrote {args.out}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 1 if tampered else 0


def cmd_map(args: argparse.Namespace) -> int:
    """The class map: each trainee's latest verified attempt per lab (tampered rows are never counted)."""
    from kvmlab import coursemap, render

    cm = coursemap.class_map(args.class_name)
    if args.json:
        print(json.dumps(cm.to_dict(), indent=2, ensure_ascii=False))
    else:
        coursemap.print_class(cm, render.console(), args.lang)
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    try:
        data = json.loads(Path(args.file).read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise UsageError(
            f"cannot read {args.file}: {err}", "pass a file written by kvmlab class report --format json"
        ) from None
    if not isinstance(data, list):
        raise UsageError(f"{args.file} is not a kvmlab results file", "use kvmlab class report --format json")
    results = verify_export(data, signing.load_key(create=False))
    bad = [n for n, ok in results if not ok]
    for n in bad:
        item = data[n] if isinstance(data[n], dict) else {}
        print(f"FORGED or edited: result #{n} ({item.get('trainee')}, {item.get('lab')})")
    print(f"{len(results) - len(bad)}/{len(results)} results verify", file=sys.stderr)
    return 1 if bad else 0
