"""``kvmlab class ...``: the argument wiring only; the commands (kvmlab.classroom.cli) load when they run."""

from __future__ import annotations

import argparse

from kvmlab import lang

FORMATS = ("csv", "json", "junit", "html")


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    cls = sub.add_parser("class", help="the instructor's commands: a whole class at once, signed gradebook")
    csub = cls.add_subparsers(dest="class_command", required=True)
    for name, func, help_text in (
        ("start", "cmd_start", "start LAB for every trainee of the roster"),
        ("solve", "cmd_solve", "apply the reference solution for every trainee (demos, tests)"),
        ("grade", "cmd_grade", "grade LAB for every trainee on their host; sign the results into the gradebook"),
        ("finish", "cmd_finish", "finish LAB for every trainee"),
    ):
        p = csub.add_parser(name, help=help_text)
        p.add_argument("lab", metavar="LAB")
        p.add_argument("--roster", required=True, metavar="FILE", help="the class roster (TOML)")
        p.add_argument("--parallel", type=int, default=1, metavar="N", help="trainees at once (default 1)")
        if name == "grade":
            p.add_argument("--json", action="store_true")
        p.set_defaults(func=f"kvmlab.classroom.cli:{func}")
    ex = csub.add_parser("exam", help="start labs with a deadline and grade them automatically at the deadline")
    ex.add_argument("labs", nargs="+", metavar="LAB")
    ex.add_argument("--roster", required=True, metavar="FILE")
    ex.add_argument("--minutes", type=float, required=True)
    ex.add_argument("--parallel", type=int, default=1, metavar="N")
    ex.add_argument("--no-wait", action="store_true", help="return after starting; grade later (marked late)")
    ex.set_defaults(func="kvmlab.classroom.cli:cmd_exam")
    rep = csub.add_parser("report", help="export the gradebook: CSV, JSON, JUnit XML or HTML with pass rates")
    rep.add_argument("--format", choices=FORMATS, default="csv")
    rep.add_argument("--class", dest="class_name", metavar="NAME")
    rep.add_argument("--lab", metavar="LAB")
    rep.add_argument("--all", action="store_true", help="every attempt, not only each trainee's latest")
    rep.add_argument("--out", metavar="FILE")
    rep.set_defaults(func="kvmlab.classroom.cli:cmd_report")
    cmap = csub.add_parser("map", help="every trainee x lab of a class: passed, steps done, not started")
    cmap.add_argument("class_name", metavar="CLASS")
    cmap.add_argument("--json", action="store_true")
    lang.add_option(cmap)
    cmap.set_defaults(func="kvmlab.classroom.cli:cmd_map")
    ver = csub.add_parser("verify", help="check the signatures of an exported JSON results file")
    ver.add_argument("file", metavar="FILE")
    ver.set_defaults(func="kvmlab.classroom.cli:cmd_verify")
