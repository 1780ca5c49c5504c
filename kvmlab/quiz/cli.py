"""``kvmlab quiz ...`` and ``kvmlab exam``: argument wiring only."""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from kvmlab import render
from kvmlab.errors import UsageError
from kvmlab.quiz import bank as bankmod
from kvmlab.quiz import trainer
from kvmlab.quiz.check import check
from kvmlab.quiz.store import Store


def _store() -> Store:
    """The current trainee's review schedule ($KVMLAB_TRAINEE, or the user's own)."""
    from kvmlab.trainee import current

    return Store.of_trainee(current().name)


def load_bank(directory: str | None = None) -> bankmod.Bank:
    from kvmlab.labs import registry

    path = Path(directory) if directory else bankmod.default_dir()
    if not path.is_dir():
        raise UsageError(f"no question bank at {path}", "pass --bank DIR (the questions/ folder of kvmlab)")
    return bankmod.load(path, set(registry.lab_ids()))


def _usable_bank(args: argparse.Namespace) -> bankmod.Bank:
    bank = load_bank(args.bank)
    if bank.problems:
        raise UsageError(
            f"the question bank has {len(bank.problems)} problems, first: {bank.problems[0]}",
            "run `kvmlab quiz validate` and fix them",
        )
    return bank


def _topics(bank: bankmod.Bank, topics: list[str] | None) -> list[str] | None:
    for topic in topics or []:
        if topic not in bank.topics:
            raise UsageError(f"there is no topic {topic!r}", f"topics: {', '.join(sorted(bank.topics))}")
    return topics or None


def print_json(data: object) -> None:
    print(json.dumps(data, indent=2, ensure_ascii=False))


def cmd_validate(args: argparse.Namespace) -> int:
    bank = load_bank(args.bank)
    for problem in bank.problems:
        print(problem)
    print(
        f"{len(bank.questions)} questions in {len(bank.topics)} topics, {len(bank.problems)} problems", file=sys.stderr
    )
    return 1 if bank.problems else 0


def cmd_quiz(args: argparse.Namespace) -> int:
    bank = _usable_bank(args)
    trainer.quiz(
        bank,
        _store(),
        render.console(),
        input,
        topics=_topics(bank, args.topic),
        lang=args.lang,
        due_only=args.due,
        seed_only=args.seed_only,
        count=args.count,
    )
    return 0


def cmd_answer(args: argparse.Namespace) -> int:
    bank = _usable_bank(args)
    q = bank.get(args.qid)
    if q is None:
        raise UsageError(f"there is no question {args.qid!r}", "kvmlab quiz list shows the ids")
    verdict = check(q, args.text, args.lang)
    _store().record(q.id, verdict, args.text, source="answer")
    if args.json:
        print_json({k: v for k, v in verdict.to_dict().items() if k in ("correct", "score", "feedback", "missed")})
    else:
        trainer.show_verdict(render.console(), q, verdict, args.lang)
    return 0 if verdict.correct else 1


def _describe(q: bankmod.Question) -> dict[str, Any]:
    return {
        "id": q.id,
        "topic": q.topic,
        "type": q.type,
        "seed": list(q.seed),
        "lab": q.lab,
        "run": q.run,
        "languages": sorted(lang for lang in ("zh", "en") if q.text.get(lang)),
        "file": q.file,
    }


def cmd_list(args: argparse.Namespace) -> int:
    bank = load_bank(args.bank)
    rows = [_describe(q) for q in bank.select(_topics(bank, args.topic))]
    if args.json:
        print_json(rows)
    else:
        for row in rows:
            seed = f"seed {','.join(map(str, row['seed']))}" if row["seed"] else ""
            print(f"{row['id']:<28} {row['type']:<9} {seed}")
    return 0


def stats(bank: bankmod.Bank, store: Store) -> dict[str, Any]:
    reviewed = store.stats()
    ids = [q.id for q in bank.questions]
    coverage: dict[str, list[str]] = {str(n): [] for n in range(1, 22)}
    for q in bank.questions:
        for n in q.seed:
            coverage[str(n)].append(q.id)
    return {
        "questions": len(bank.questions),
        "by_topic": dict(sorted(Counter(q.topic for q in bank.questions).items())),
        "by_type": dict(sorted(Counter(q.type for q in bank.questions).items())),
        "languages": {lang: sum(1 for q in bank.questions if q.text.get(lang)) for lang in ("zh", "en")},
        "seed_coverage": coverage,
        "review": {
            "seen": sum(1 for qid in ids if qid in reviewed),
            "due": len(store.due(ids, {q.id: q.lab for q in bank.questions})),
            "reviews": sum(int(r["reviews"]) for r in reviewed.values()),
            "correct": sum(int(r["correct"]) for r in reviewed.values()),
        },
    }


def cmd_stats(args: argparse.Namespace) -> int:
    data = stats(load_bank(args.bank), _store())
    if args.json:
        print_json(data)
    else:
        print(f"{data['questions']} questions; by topic:")
        for topic, n in data["by_topic"].items():
            print(f"  {topic:<24} {n}")
        missing = [n for n, ids in data["seed_coverage"].items() if not ids]
        print(
            f"seed questions covered: {21 - len(missing)}/21" + (f" (missing {', '.join(missing)})" if missing else "")
        )
        r = data["review"]
        print(f"you: {r['seen']} seen, {r['due']} due now, {r['correct']}/{r['reviews']} answers right")
    return 0


def cmd_exam(args: argparse.Namespace) -> int:
    bank = _usable_bank(args)
    if args.minutes <= 0 or args.count <= 0:
        raise UsageError("--minutes and --count must be positive", "e.g. kvmlab exam --minutes 20 --count 10")
    result = trainer.exam(
        bank,
        _store(),
        render.console(),
        input,
        minutes=args.minutes,
        count=args.count,
        topics=_topics(bank, args.topic),
        lang=args.lang,
        rng_seed=args.rng_seed,
    )
    path = trainer.save_exam(result, Path(args.out) if args.out else None)
    print(f"results saved to {path}", file=sys.stderr)
    if args.json:
        print_json(result.to_dict())
    return 0
