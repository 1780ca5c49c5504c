"""Every lab's reference solution is a right answer to its own quiz's command questions.

A lab notebook (labs/NN-ID.ipynb) and its topic's questions (questions/ID.md) teach the same commands;
when they disagree, the trainee who just did the lab is marked wrong on its quiz card (the hot-add disk
lab typed ``--targetbus virtio``, which the card refused).

The matching rule:

1. The notebook's commands are the shell lines (``!virsh ...``, ``x = !qemu-img ...``) inside its
   solution regions (``### BEGIN SOLUTION`` ... ``### END SOLUTION``, editions.solution_cells): the
   reference solution. Cells outside them demonstrate, and some show mistakes on purpose (the vCPU
   lab runs ``setvcpus --live --config --persistent`` to show virsh's error). A redirection, a pipe
   or ``;`` ends the command.
2. The questions are the command questions of the topic named by the notebook's
   ``open_lab("ID")`` cell.
3. Names: the notebook's Python placeholders (``{p.domain}``, ``{image}``...) take the question's
   value of the same parameter (``password:{p.password}`` the question's ``password:...`` when the
   literal text around the placeholder matches), and so do the parameters that name the object the
   command acts on (NAME_PARAMS: the domain, the disk ``vda``, file paths...) even when typed
   literally. Everything else the notebook typed (``--live``, ``raw``, ``--targetbus virtio``) stays
   as it is: that is what is being checked.
4. "Does the same job": a (command, question) pair is checked when the question has an accepted line
   with the same tool and subcommand and the same target kind (KIND: per subcommand, what makes it a
   different task: attach-disk's device type, qemu-img create's format and backing file, setvcpus
   --maximum, dumpxml --inactive, a snapshot's disk-only/quiesce and excluded disks, the options a
   virt-* tool changes...). OTHER_TASK lists, with the notebook's own reason, the pairs where the lab
   legitimately does another task with the same kind of command (its guest is shut off, its target is
   not the question's); nothing else is left out.
5. Each checked pair must pass kvmlab.quiz.check.check_command with the question's run mode.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from kvmlab import editions
from kvmlab.quiz import bank, tool_specs
from kvmlab.quiz.check import check_command
from kvmlab.quiz.commands import Parsed, parse, spec_for

LABS = Path(__file__).parent.parent.parent / "labs"
BANK = bank.load(bank.default_dir())

_SHELL = re.compile(r"^\s*(?:[\w.]+\s*=\s*)?!(.+)$")
_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{[^{}]+\}")
_TOKEN = re.compile(r"ph\d+ph")
_END = {"|", "||", ">", ">>", "<", ";", "&", "&&", ">&", "2>"}

# Parameters that name the object a command acts on: the notebook's object maps onto the question's.
NAME_PARAMS = frozenset(
    {
        "domain",
        "network",
        "pool",
        "vol",
        "path",
        "target",
        "source",
        "name",
        "desturi",
        "filename",
        "positional",
        "-a",
        "-d",
        "--original",
        "--name",
        "--file",
    }
)


def _flags(p: Parsed, *names: str) -> tuple[bool, ...]:
    return tuple(n in p.flags for n in names)


def _o_keys(p: Parsed) -> tuple[str, ...]:
    keys = {item.partition("=")[0] for item in p.value("-o")}
    return tuple(sorted(keys - {"backing_file", "backing_fmt"}))


def _excluded_disks(p: Parsed) -> tuple[str, ...]:
    specs = " ".join(p.value("diskspec")).split()
    return tuple(sorted(s.partition(",")[0] for s in specs if "snapshot=no" in s.split(",")))


def _changes(*selectors: str) -> Callable[[Parsed], object]:
    """The options a tool is given besides the ones choosing what it works on: what it changes."""
    return lambda p: tuple(sorted({n for n, _ in p.values if n not in selectors} | set(p.flags)))


KIND: dict[tuple[str, str | None], Callable[[Parsed], object]] = {
    ("qemu-img", "create"): lambda p: (
        p.value("-f") or ("raw",),
        bool(p.value("-b")) or any(o.startswith("backing_file=") for o in p.value("-o")),
        _o_keys(p),
    ),
    ("qemu-img", "convert"): lambda p: (p.value("-f"), p.value("-O") or ("raw",), _flags(p, "-c")),
    ("qemu-img", "bench"): _changes("filename"),  # the benchmark's knobs are the task
    ("virsh", "attach-disk"): lambda p: p.value("type") or ("disk",),
    ("virsh", "attach-interface"): lambda p: p.value("type"),
    ("virsh", "setvcpus"): lambda p: _flags(p, "maximum", "guest"),
    ("virsh", "dumpxml"): lambda p: (*_flags(p, "inactive", "security-info"), bool(p.value("xpath"))),
    ("virsh", "snapshot-create-as"): lambda p: (*_flags(p, "disk-only", "quiesce"), _excluded_disks(p)),
    ("virsh", "snapshot-delete"): lambda p: _flags(p, "metadata", "children", "children-only"),
    ("virsh", "migrate"): lambda p: _flags(
        p, "copy-storage-all", "copy-storage-inc", "auto-converge", "postcopy", "offline", "p2p", "tunnelled"
    ),
    ("virt-sysprep", None): _changes("-a", "-d", "-c"),
    ("virt-customize", None): _changes("-a", "-d", "-c"),
    ("virt-clone", None): _changes("--original", "--name", "--connect"),
}

# (lab, a word of the notebook's command, question): the lab does another task with this command.
OTHER_TASK = {
    ("sriov", "attach-interface", "sriov-011"): "the lab's guest is shut off and its hostdev network not started, so "
    "it adds the NIC to the persistent definition only (--config, as its step 3 says); the question's guest runs",
    ("snapshots", "--description", "snapshots-002"): "the lab's first snapshot also records a description; the "
    "question asks for a bare named snapshot (the lab's next snapshot-create-as lines are checked against it)",
    ("live-migration", "--unsafe", "live-migration-005"): "the lab migrates between two libvirtds of one host: "
    "--unsafe because its disk is on a local file system and --migrateuri for the target namespace's address (its "
    "step 4 says never --unsafe on real hosts); the question has shared storage and a resolvable host2",
}


@dataclass(frozen=True)
class NotebookCommand:
    notebook: str
    lab: str
    step: int
    text: str  # as written in the notebook
    line: str  # placeholders replaced by tokens
    parsed: Parsed


def _tokenize(text: str) -> str:
    n = iter(range(1000))

    def token(m: re.Match[str]) -> str:
        return {"{{": "{", "}}": "}"}.get(m.group(0)) or f"ph{next(n)}ph"

    return _PLACEHOLDER.sub(token, text)


def _command_words(text: str) -> list[str]:
    lexer = shlex.shlex(text, posix=True, punctuation_chars="|&;<>")
    lexer.whitespace_split = True
    words: list[str] = []
    for word in lexer:
        if word in _END or set(word) <= set("|&;<>"):
            if words and words[-1].isdigit():
                words.pop()  # the 2 of 2>&1
            break
        words.append(word)
    return words


def _tool_sub(words: list[str]) -> tuple[str, str | None]:
    tool = words[0]
    rest = words[1:]
    if tool == "virsh":
        while rest and rest[0].startswith("-"):
            rest = rest[2:] if rest[0] in ("-c", "--connect") else rest[1:]
        return tool, rest[0] if rest else None
    if tool_specs.has_subcommands(tool):
        return tool, rest[0] if rest else None
    return tool, None


def _keys(q: bank.Question) -> set[tuple[str, str | None]]:
    return {(p.tool, p.sub) for p in map(parse, q.commands)}


def notebook_commands() -> Iterator[tuple[NotebookCommand, list[bank.Question]]]:
    """Each solution command of each lab with the command questions of its topic sharing its tool+subcommand."""
    for path in sorted(LABS.glob("[0-9][0-9]-*.ipynb")):
        nb = editions.read(path)
        lab = editions.lab_of(nb)
        if lab is None:
            continue
        questions = [q for q in BANK.questions if q.topic == lab and q.type == "command"]
        for step, _, region in editions.solution_cells(nb):
            for source_line in region.solution().replace("\\\n", " ").splitlines():  # continued lines
                match = _SHELL.match(source_line)
                if not match:
                    continue
                words = _command_words(_tokenize(match.group(1)))
                if not words:
                    continue
                same = [q for q in questions if _tool_sub(words) in _keys(q)]
                if same:
                    line = shlex.join(words)
                    yield NotebookCommand(path.name, lab, step, match.group(1).strip(), line, parse(line)), same


def _map_value(value: str, theirs: tuple[str, ...], is_name: bool, is_size: bool, single: bool) -> str:
    if _TOKEN.search(value):
        if is_size and len(theirs) == 1:
            return theirs[0]  # {p.size_gib}G: the letters around a size's placeholder are only its unit
        parts = re.split(r"(ph\d+ph)", value)
        pattern = "".join(".+" if _TOKEN.fullmatch(part) else re.escape(part) for part in parts)
        return next((t for t in theirs if re.fullmatch(pattern, t)), value)
    if is_name and single and len(theirs) == 1:
        return theirs[0]
    return value


def map_names(ours: Parsed, theirs: Parsed) -> Parsed:
    """The notebook's parse with its placeholders and object names replaced by the question's (rule 3)."""
    spec = spec_for(ours.tool, ours.sub)
    values = []
    for name, vals in ours.values:
        want = theirs.value(name)
        param = spec.find(name)
        if name == "positional" and len(vals) == len(want):
            mapped = want  # qemu-img convert's files, in order
        else:
            is_size = param is not None and param.size_unit is not None
            mapped = tuple(_map_value(v, want, name in NAME_PARAMS, is_size, len(vals) == 1) for v in vals)
        values.append((name, mapped))
    return Parsed(ours.tool, ours.sub, tuple(values), ours.flags)


def render(p: Parsed) -> str:
    """A command line that parses back to ``p``. Sizes are kept in bytes: a b makes that explicit
    where the command's default unit is another (virsh setmem's KiB)."""
    spec = spec_for(p.tool, p.sub)
    virsh = p.tool == "virsh"
    head = [p.tool]
    if virsh:
        head += [w for uri in p.value("-c") for w in ("-c", uri)] + (["-r"] if "-r" in p.flags else [])
    head += p.sub.split() if p.sub else []
    options: list[str] = []
    for name, vals in p.values:
        param = spec.find(name)
        if param is not None and param.size_unit not in (None, "b"):
            vals = tuple(v + "b" if v.lstrip("+-").isdigit() else v for v in vals)
        if virsh and not name.startswith("-"):
            options += [w for v in vals for w in (f"--{name}", v)]
        elif not virsh and name != "positional" and not (param is not None and param.positional):
            options += [w for v in vals for w in (name, v)]
    flags = sorted(f"--{f}" if virsh else f for f in p.flags if not (virsh and f.startswith("-")))
    trailing = [] if virsh else [v for q in spec.positional for v in p.value(q.name)] + list(p.value("positional"))
    return shlex.join(head + options + flags + trailing)


def _same_task(ours: Parsed, q: bank.Question) -> str | None:
    """The question's accepted line this command does the same job as (rule 4), mapped; None if none."""
    kind = KIND.get((ours.tool, ours.sub)) or KIND.get((ours.tool, None)) or (lambda _: None)
    found = []
    for line in q.commands:
        theirs = parse(line)
        if (theirs.tool, theirs.sub) != (ours.tool, ours.sub):
            continue
        mapped = map_names(ours, theirs)
        if kind(mapped) == kind(theirs):
            found.append(render(mapped))
    # The accepted line that names the objects as the notebook does (-d DOMAIN, not -a DISK) leaves
    # no placeholder unmapped; any line of the same kind otherwise.
    return next((line for line in found if not _TOKEN.search(line)), found[0] if found else None)


def _other_task(cmd: NotebookCommand, q: bank.Question) -> str | None:
    return next(
        (why for (lab, word, qid), why in OTHER_TASK.items() if (lab, qid) == (cmd.lab, q.id) and word in cmd.text),
        None,
    )


def test_every_lab_solution_passes_the_quiz_questions_it_answers() -> None:
    checked, failures, skipped = [], [], []
    for cmd, questions in notebook_commands():
        for q in questions:
            line = _same_task(cmd.parsed, q)
            if line is None:
                continue
            if why := _other_task(cmd, q):
                skipped.append(f"{cmd.notebook} step {cmd.step} vs {q.id}: {why}")
                continue
            verdict = check_command(q.commands, line, q.run)
            checked.append((cmd.notebook, cmd.text, q.id))
            if not verdict.correct:
                failures.append(
                    f"{cmd.notebook} step {cmd.step}: {cmd.text}\n  as {line}\n  {q.id}: {verdict.feedback}"
                )
    print(f"{len(checked)} (notebook command, question) pairs checked, {len(skipped)} left out as another task:")
    print("\n".join(f"  {n}: {t}  ->  {qid}" for n, t, qid in checked))
    print("\n".join(f"  left out: {s}" for s in skipped))
    assert not failures, "\n".join(failures)
    assert len(checked) >= 30, f"only {len(checked)} pairs checked: the matching found too little"
    assert len({qid for _, _, qid in checked}) >= 25
    assert len(skipped) == len(OTHER_TASK), "an OTHER_TASK entry matches nothing any more: remove it"
