"""The ``kvmlab`` command. The only place that turns errors into exit codes.

Commands load what they need when they run: ``kvmlab lab check X`` imports
lab X and its grader, not every lab, the classroom and the quiz. Parsers of
other command groups name their functions as ``"module:function"``.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import json
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kvmlab import __version__
from kvmlab.errors import KvmlabError
from kvmlab.trainee import current

if TYPE_CHECKING:
    from kvmlab.connection import Connection
    from kvmlab.session import LabSession
    from kvmlab.trainee import Trainee


def _progress(msg: str) -> None:
    print(f"kvmlab: {msg}", file=sys.stderr, flush=True)


def _session(args: argparse.Namespace) -> LabSession:
    from kvmlab.labs import registry
    from kvmlab.session import LabSession

    # Validate the lab and the trainee before touching libvirt or the disk.
    lab = registry.get(args.lab)
    trainee = current(args.trainee)
    return LabSession(lab, trainee, progress=_progress)


def _print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, ensure_ascii=False))


def cmd_doctor(args: argparse.Namespace) -> int:
    from kvmlab import doctor, render

    data = doctor.report(force=args.force, progress=_progress)
    if args.json:
        _print_json(data)
    else:
        render.doctor(data, render.console())
    return 0 if data["ok"] else 1


def cmd_guest_build(args: argparse.Namespace) -> int:
    from kvmlab.guest.build import build

    build(force=args.force, progress=_progress)
    return 0


def cmd_lab_list(args: argparse.Namespace) -> int:
    from kvmlab import render
    from kvmlab.labs import registry

    labs = registry.all_labs()
    if args.json:
        _print_json([lab.describe() for lab in labs])
    else:
        render.lab_list(labs, render.console())
    return 0


def cmd_lab_start(args: argparse.Namespace) -> int:
    s = _session(args)
    s.start()
    _progress(f"lab {s.lab.id} started for trainee {s.trainee.name}; your parameters:")
    for key, value in s.params.as_dict().items():
        print(f"  {key} = {value}")
    return 0


def _lang_option(p: argparse.ArgumentParser) -> None:
    from kvmlab import lang

    lang.add_option(p)


def cmd_lab_check(args: argparse.Namespace) -> int:
    from kvmlab import checking

    # A failed check brings the lab's questions back into the trainee's own review schedule.
    # ... and a whole-lab check is remembered in the journal, for the course map (kvmlab status).
    rep = _session(args).check((checking.quiz_feedback, checking.remember_outcome), step=args.step)
    if args.json:  # both languages' titles are in the JSON (title, title_zh)
        _print_json(rep.to_dict())
    else:
        from kvmlab import render  # rich: only for people

        render.report(rep.localized(args.lang), render.console())
    return 0 if rep.passed else 1


def cmd_lab_solve(args: argparse.Namespace) -> int:
    s = _session(args)
    s.solve()
    _progress(f"reference solution of {s.lab.id} applied for trainee {s.trainee.name}")
    return 0


def cmd_lab_hint(args: argparse.Namespace) -> int:
    s = _session(args)
    levels = s.hint(args.step, solution=args.solution, lang=args.lang)
    total = len(s.hint_levels(args.step))
    for level, text in enumerate(levels, 1):
        label = "solution" if level == total else f"hint {level}"
        print(f"{label}:\n{text}" if level == total else f"{label}: {text}")
    if len(levels) < total:
        _progress(f"revealed and recorded; `kvmlab lab hint {s.lab.id} --step {args.step}` again for the next level")
    else:
        _progress("the solution was revealed and recorded: check --json and class reports show it")
    return 0


def cmd_notebooks_build(args: argparse.Namespace) -> int:
    from kvmlab import editions

    out = Path(args.out) if args.out else editions.trainee_dir(current(args.trainee).name, args.edition)
    results = editions.write_editions(out, args.edition, args.lang, force=args.force)
    for w in results:
        if w.action == "kept":
            _progress(f"kept {w.path.name}: you changed it (--force overwrites it)")
    written = sum(w.action in ("written", "updated") for w in results)
    _progress(
        f"{args.edition} edition ({args.lang}) in {out}: {written} written, {len(results) - written} as they were"
    )
    print(out)
    return 0


def _print_notes(notes: list[str]) -> None:
    for note in notes:
        _progress(note)


def cmd_lab_finish(args: argparse.Namespace) -> int:
    s = _session(args)
    _print_notes(s.finish())
    _progress(f"lab {s.lab.id} finished for trainee {s.trainee.name}: everything it made is gone")
    return 0


def cmd_lab_reset(args: argparse.Namespace) -> int:
    s = _session(args)
    _print_notes(s.reset())
    _progress(f"lab {s.lab.id} is back at its starting state")
    return 0


def cmd_lab_params(args: argparse.Namespace) -> int:
    params = _session(args).params.as_dict()
    if args.json:
        _print_json(params)
    else:
        for key, value in params.items():
            print(f"{key} = {value}")
    return 0


def _watch(args: argparse.Namespace, record: Any, connection: Any) -> int:
    """`lab status --watch`: the live guest panel of the notebooks, in a terminal."""
    import time

    from rich.live import Live

    from kvmlab import render
    from kvmlab.guestview import view

    def views() -> Any:
        names = [
            o.name
            for o in record.objects
            if o.kind == "domain" and (args.lab is None or o.lab == args.lab) and o.uri in (None, connection.uri)
        ]
        return render.guest_views([view(connection.conn, n) for n in names], args.lang)

    rounds = 0
    try:
        with Live(views(), console=render.console(), auto_refresh=False) as live:
            while not args.rounds or rounds < args.rounds:
                time.sleep(args.interval)
                live.update(views(), refresh=True)
                rounds += 1
    except KeyboardInterrupt:
        pass
    return 0


def cmd_lab_status(args: argparse.Namespace) -> int:
    from kvmlab import render
    from kvmlab.connection import Connection
    from kvmlab.ownership import Ownership
    from kvmlab.sandbox import exists

    trainee = current(args.trainee)
    record = Ownership(trainee).load()
    connection = Connection()
    if args.watch:
        return _watch(args, record, connection)
    objects = []
    for o in record.objects:
        present = exists(connection, o.kind, o.name) if o.uri in (None, connection.uri) else None
        objects.append(
            {
                "lab": o.lab,
                "kind": o.kind,
                "name": o.name,
                "state": o.state,
                "uuid": o.uuid,
                "uri": o.uri,
                "present": present,
            }
        )
    progress = _progress_of(trainee, record.labs, connection)
    if args.json:
        _print_json({"trainee": trainee.name, "labs": record.labs, "progress": progress, "objects": objects})
    else:
        render.status(trainee.name, record.labs, progress, [argparse.Namespace(**o) for o in objects], render.console())
    return 0


def _progress_of(trainee: Trainee, labs: dict[str, dict[str, str]], connection: Connection) -> dict[str, Any]:
    """Steps done in each started lab on this connection, graded now (not remembered from the last check)."""
    from kvmlab.labs import registry
    from kvmlab.session import LabSession

    progress: dict[str, Any] = {}
    for lab_id, info in sorted(labs.items()):
        if info.get("uri") != connection.uri or lab_id not in registry.lab_ids():
            continue
        report = LabSession(registry.get(lab_id), trainee, connection).check()
        steps = report.steps()
        progress[lab_id] = {"done": sum(steps.values()), "steps": len(report.step_titles)}
    return progress


def cmd_status(args: argparse.Namespace) -> int:
    """The course map: every lab, where the trainee is in it, and what to review."""
    from kvmlab import coursemap

    cm = coursemap.course_map(current(args.trainee), lang=args.lang)
    if args.json:
        _print_json(cm.to_dict())
    else:
        from kvmlab import render

        coursemap.print_map(cm, render.console())
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kvmlab", description="Hands-on KVM labs and interview trainer.")
    parser.add_argument("--version", action="version", version=f"kvmlab {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    doc = sub.add_parser("doctor", help="what this host can do: KVM or TCG, libvirt, guest image")
    doc.add_argument("--json", action="store_true")
    doc.add_argument("--force", action="store_true", help="decide the accelerator again instead of using the cache")
    doc.set_defaults(func=cmd_doctor)

    guest = sub.add_parser("guest", help="the tiny lab guest").add_subparsers(dest="guest_command", required=True)
    build = guest.add_parser("build", help="build kernel + initramfs + disk image, offline")
    build.add_argument("--force", action="store_true", help="rebuild even if up to date")
    build.set_defaults(func=cmd_guest_build)

    status = sub.add_parser("status", help="your course map: every lab, your progress, quiz reviews due")
    status.add_argument("--trainee", metavar="NAME", help="whose map (default: $KVMLAB_TRAINEE or the default trainee)")
    status.add_argument("--json", action="store_true")
    _lang_option(status)
    status.set_defaults(func=cmd_status)

    lab = sub.add_parser("lab", help="the lab contract: list, start, check, solve, finish, reset, status")
    labsub = lab.add_subparsers(dest="lab_command", required=True)

    lst = labsub.add_parser("list", help="all labs")
    lst.add_argument("--json", action="store_true")
    lst.set_defaults(func=cmd_lab_list)

    actions: list[tuple[str, str, Callable[[argparse.Namespace], int], bool]] = [
        ("start", "build the lab's starting state (idempotent)", cmd_lab_start, False),
        ("check", "grade the lab; exit 0 only if every check passes", cmd_lab_check, True),
        ("solve", "apply the reference solution (instructors, tests)", cmd_lab_solve, False),
        ("finish", "remove everything the lab created, nothing else", cmd_lab_finish, False),
        ("reset", "finish, then start again", cmd_lab_reset, False),
        ("params", "print the trainee's parameters for the lab", cmd_lab_params, True),
    ]
    for name, help_text, func, has_json in actions:
        p = labsub.add_parser(name, help=help_text)
        p.add_argument("lab", metavar="LAB")
        p.add_argument("--trainee", metavar="NAME", help="whose lab (default: $KVMLAB_TRAINEE or the default trainee)")
        if has_json:
            p.add_argument("--json", action="store_true")
        if name == "check":
            p.add_argument("--step", type=int, metavar="N", help="check step N only")
            _lang_option(p)
        p.set_defaults(func=func)

    hint = labsub.add_parser("hint", help="the next hint of a step (concept, then shape), or its solution; recorded")
    hint.add_argument("lab", metavar="LAB")
    hint.add_argument("--step", type=int, required=True, metavar="N")
    hint.add_argument("--solution", action="store_true", help="go straight to the solution")
    hint.add_argument("--trainee", metavar="NAME")
    _lang_option(hint)
    hint.set_defaults(func=cmd_lab_hint)

    nbs = sub.add_parser("notebooks", help="build the guided, practice or exam edition of the lab notebooks")
    nbsub = nbs.add_subparsers(dest="notebooks_command", required=True)
    nb_build = nbsub.add_parser("build", help="write an edition of every lab notebook into a directory")
    nb_build.add_argument("--edition", choices=("guided", "practice", "exam"), default="practice")
    _lang_option(nb_build)
    nb_build.add_argument("--out", metavar="DIR", help="where (default: your own copy in kvmlab's data directory)")
    nb_build.add_argument("--trainee", metavar="NAME", help="whose copy, without --out")
    nb_build.add_argument("--force", action="store_true", help="overwrite notebooks you changed")
    nb_build.set_defaults(func=cmd_notebooks_build)

    from kvmlab.classroom import args as class_args
    from kvmlab.quiz import args as quiz_args

    quiz_args.add_parsers(sub)
    class_args.add_parsers(sub)

    st = labsub.add_parser("status", help="what this trainee owns right now")
    st.add_argument("--trainee", metavar="NAME")
    st.add_argument("--json", action="store_true")
    st.add_argument(
        "--watch",
        action="store_true",
        help="show the guests live (state, vCPUs, memory, disks and NICs: live, persistent, in the guest) until Ctrl-C",
    )
    st.add_argument("--lab", metavar="LAB", help="with --watch: only this lab's guests")
    st.add_argument("--interval", type=float, default=2.0, metavar="S", help=argparse.SUPPRESS)
    st.add_argument("--rounds", type=int, default=0, metavar="N", help=argparse.SUPPRESS)  # tests: stop after N
    _lang_option(st)
    st.set_defaults(func=cmd_lab_status)
    return parser


def _command(func: Callable[[argparse.Namespace], int] | str) -> Callable[[argparse.Namespace], int]:
    """A command function, or "module:function" loaded now that it runs."""
    if callable(func):
        return func
    module, name = func.split(":")
    found: Callable[[argparse.Namespace], int] = getattr(importlib.import_module(module), name)
    return found


def _terminate(signum: int, _frame: object) -> None:
    # SIGTERM takes the same road as Ctrl-C, so a half-done start rolls back.
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    import libvirt  # only here: `kvmlab --help` and argument errors need no libvirt

    try:
        return int(_command(args.func)(args))
    except KvmlabError as err:
        print(f"kvmlab: error: {err.message}", file=sys.stderr)
        if err.hint:
            print(f"  what to do: {err.hint}", file=sys.stderr)
        return err.exit_code
    except libvirt.libvirtError as err:
        print(
            f"kvmlab: error: libvirt refused: {err.get_error_message()} (code {err.get_error_code()})", file=sys.stderr
        )
        return 1
    except KeyboardInterrupt:
        print("kvmlab: interrupted; run the same command again to complete it", file=sys.stderr)
        return 130
    except OSError as err:
        # A full disk, a permission problem: the system's own words, no traceback.
        where = f" ({err.filename})" if err.filename else ""
        hint = (
            "free some space in the data directory (kvmlab doctor shows where it is)"
            if err.errno == errno.ENOSPC
            else ""
        )
        print(f"kvmlab: error: {err.strerror or err}{where}", file=sys.stderr)
        if hint:
            print(f"  what to do: {hint}", file=sys.stderr)
        return 1
