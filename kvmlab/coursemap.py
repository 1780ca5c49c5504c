"""The course map: the trainee's home (every lab, where they are in it, what to review) and the class's.

For a trainee: every lab in course order with its objectives, time estimate
and prerequisites (kvmlab.coursemap_data), and its status:

* **in progress, k of n steps done** / **passed**: a lab the ownership record
  lists as started on this connection is graded now, as ``lab status`` does;
* **passed (finished)**: not started now, but the trainee's last whole-lab
  check (kvmlab.journal) passed, by their own hand, before a ``finish``;
* **not started**: otherwise. Labs that are not started are never graded and
  nothing boots: the map is the journal, the record and one grader per
  started lab.

Plus the quiz: reviews due now in the trainee's FSRS store, and the weakest
topics (lowest accuracy over the last answers of each topic) and labs whose
last check failed.

For an instructor: every trainee x lab from the signed gradebook
(``kvmlab class map CLASS``, :func:`show_class` in a notebook).

Rich (terminal) and IPython (notebook) are imported by the functions that
draw, so ``kvmlab status --json`` loads neither.
"""

from __future__ import annotations

import html
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from kvmlab import journal
from kvmlab.coursemap_data import COURSE, LabMeta

if TYPE_CHECKING:
    from rich.console import Console

    from kvmlab.classroom.gradebook import Gradebook
    from kvmlab.connection import Connection
    from kvmlab.quiz.store import Store
    from kvmlab.trainee import Trainee

RECENT = 10  # the answers per topic that count as "recent": old mistakes fixed since should not weigh
WEAKEST = 3  # topics shown as weakest

NOT_STARTED, IN_PROGRESS, PASSED, FINISHED, ELSEWHERE = "not-started", "in-progress", "passed", "finished", "elsewhere"
DONE = (PASSED, FINISHED)

# The map's own words in Chinese (kvmlab.widgets keeps the panels' words, but importing it loads ipywidgets,
# which `kvmlab status` in a terminal does not need).
_ZH = {
    "Course map of {trainee}": "{trainee} 的课程地图",
    "lab": "实验",
    "objectives": "学习目标",
    "time": "时长",
    "do first": "先修",
    "status": "状态",
    "{n} min": "{n} 分钟",
    "not started": "未开始",
    "{k} of {n} steps done": "已完成 {k}/{n} 步",
    "passed": "已通过",
    "passed (finished)": "已通过（实验已结束）",
    "started on {uri}": "已在 {uri} 上启动",
    "made by lab solve": "由 lab solve 完成，不算你的",
    "hints read: {hints}": "看过的提示：{hints}",
    "last check failed": "上次检查未通过",
    "{done} of {total} labs passed, about {minutes} min of work left": (
        "已通过 {done}/{total} 个实验，剩余约 {minutes} 分钟"
    ),
    "next: {lab}": "下一个：{lab}",
    "quiz reviews due now: {n}": "现在该复习的题：{n} 道",
    "weakest topics: {topics}": "最薄弱的主题：{topics}",
    "labs whose last check failed: {labs}": "上次检查未通过的实验：{labs}",
    "none yet": "暂无",
    "trainee": "学员",
    "Class {name}": "班级 {name}",
    "not graded": "未评分",
    "no graded attempts in class {name}": "班级 {name} 还没有评分记录",
}


def tr(text: str, lang: str, **values: object) -> str:
    """The map's words in ``lang`` (English where no translation is kept)."""
    return (_ZH.get(text, text) if lang == "zh" else text).format(**values)


# -- one trainee ---------------------------------------------------------------------------


@dataclass
class Prerequisite:
    lab: str
    done: bool


@dataclass
class LabEntry:
    id: str
    title: str
    notebook: str
    objectives: tuple[str, ...]
    minutes: int
    prerequisites: list[Prerequisite]
    state: str  # NOT_STARTED | IN_PROGRESS | PASSED | FINISHED | ELSEWHERE
    steps: int
    done: int | None = None  # steps done, when graded now or remembered from the last check
    hints_used: dict[int, int] = field(default_factory=dict)
    last_check_failed: bool = False
    by_solve: bool = False  # the state was made by `lab solve`: not the trainee's work
    uri: str | None = None  # where it was started

    @property
    def is_done(self) -> bool:
        return self.state in DONE


@dataclass
class TopicScore:
    topic: str
    right: int
    answered: int

    @property
    def accuracy(self) -> float:
        return self.right / self.answered if self.answered else 0.0


@dataclass
class CourseMap:
    trainee: str
    lang: str
    labs: list[LabEntry]
    reviews_due: int
    due_by_topic: dict[str, int]
    weakest_topics: list[TopicScore]
    weak_labs: list[str]

    @property
    def minutes_left(self) -> int:
        return sum(e.minutes for e in self.labs if not e.is_done)

    @property
    def next_lab(self) -> str | None:
        """The first lab in course order not done whose prerequisites are all done."""
        return next((e.id for e in self.labs if not e.is_done and all(p.done for p in e.prerequisites)), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "trainee": self.trainee,
            "lang": self.lang,
            "labs": [
                {
                    **asdict(e),
                    "hints_used": {str(k): v for k, v in e.hints_used.items()},
                    "status": status_text(e, "en"),
                }
                for e in self.labs
            ],
            "minutes_left": self.minutes_left,
            "next": self.next_lab,
            "quiz": {
                "reviews_due": self.reviews_due,
                "due_by_topic": self.due_by_topic,
                "weakest_topics": [{**asdict(t), "accuracy": round(t.accuracy, 3)} for t in self.weakest_topics],
                "weak_labs": self.weak_labs,
            },
        }


def meta(lab_id: str) -> LabMeta:
    """A lab's course data; a lab without an entry gets an empty one (and fails the meta-test)."""
    return COURSE.get(lab_id, LabMeta((), (), 0))


def course_order(lab_ids: tuple[str, ...] | list[str]) -> list[str]:
    """The labs in course order: the table's order, labs missing from it last."""
    known = [i for i in COURSE if i in lab_ids]
    return known + sorted(set(lab_ids) - set(known))


def lab_entry(trainee: Trainee, lab_id: str, started: dict[str, str] | None, connection: Connection) -> LabEntry:
    """One lab's line: graded now if started here, else what the journal remembers."""
    from kvmlab.labs import registry

    lab = registry.get(lab_id)
    data = meta(lab_id)
    record = journal.Journal(trainee.name, lab_id)
    last = record.last_check()
    entry = LabEntry(
        id=lab_id,
        title=lab.title,
        notebook=lab.notebook,
        objectives=data.objectives,
        minutes=data.minutes,
        prerequisites=[],
        state=NOT_STARTED,
        steps=len([s for s in lab.steps() if s.number]) or 1,
        hints_used=record.hints_used(),
        last_check_failed=last is not None and not last["passed"],
    )
    if started is not None and started.get("uri") != connection.uri:
        entry.state, entry.uri = ELSEWHERE, started.get("uri")  # not gradable from here: say where it is
    elif started is not None:
        from kvmlab.session import LabSession

        report = LabSession(lab, trainee, connection).check()
        entry.uri, entry.steps = connection.uri, len(report.step_titles) or 1
        entry.done = sum(report.steps().values())
        entry.by_solve = report.made_by_solve
        entry.state = PASSED if report.passed and not report.made_by_solve else IN_PROGRESS
    elif last is not None and last["passed"] and not last.get("by_solve"):
        entry.state, entry.done = FINISHED, int(last.get("steps") or entry.steps)
    return entry


def quiz_due(store: Store, lab_ids: set[str], now: datetime | None = None) -> dict[str, int]:
    """Per topic, the questions the trainee has seen that are due for review now.

    Only seen questions: unseen ones are new, not reviews (``kvmlab quiz`` brings
    those in). A question's lab is its topic (a lab's topic is its id), so a
    failed lab check brings its questions forward here too, without loading the bank.
    """
    if not store.path.exists():
        return {}
    seen = list(store.stats())
    labs: dict[str, str | None] = {q: topic_of(q) if topic_of(q) in lab_ids else None for q in seen}
    return dict(Counter(topic_of(q) for q in store.due(seen, labs, now=now)))


def topic_of(qid: str) -> str:
    """hotadd-disk-007 -> hotadd-disk (the bank's ids are TOPIC-NNN)."""
    return qid.rsplit("-", 1)[0]


def weakest_topics(
    answers: list[tuple[str, str, bool]], recent: int = RECENT, limit: int = WEAKEST
) -> list[TopicScore]:
    """Topics with the lowest accuracy over their last ``recent`` answers (only topics with a wrong one)."""
    by_topic: dict[str, list[bool]] = {}
    for qid, _at, right in answers:  # oldest first: the tail is the recent part
        by_topic.setdefault(topic_of(qid), []).append(right)
    scores = [TopicScore(t, sum(rs[-recent:]), len(rs[-recent:])) for t, rs in by_topic.items()]
    weak = [s for s in scores if s.right < s.answered]
    return sorted(weak, key=lambda s: (s.accuracy, -s.answered, s.topic))[:limit]


def course_map(
    trainee: Trainee | None = None,
    connection: Connection | None = None,
    store: Store | None = None,
    lang: str = "en",
    now: datetime | None = None,
) -> CourseMap:
    """The trainee's map (default: the current trainee, kvmlab's connection, their own quiz store)."""
    from kvmlab.labs import registry
    from kvmlab.ownership import Ownership
    from kvmlab.quiz.store import Store
    from kvmlab.trainee import current

    trainee = trainee or current()
    if connection is None:
        from kvmlab.connection import Connection

        connection = Connection()
    store = store or Store.of_trainee(trainee.name)
    started = Ownership(trainee).load().labs
    ids = course_order(registry.lab_ids())
    entries = [lab_entry(trainee, i, started.get(i), connection) for i in ids]
    done = {e.id for e in entries if e.is_done}
    for e in entries:
        e.prerequisites = [Prerequisite(p, p in done) for p in meta(e.id).prerequisites]
        if e.objectives and lang == "zh":
            e.objectives = meta(e.id).objectives_zh
    due = quiz_due(store, set(ids), now)
    return CourseMap(
        trainee=trainee.name,
        lang=lang,
        labs=entries,
        reviews_due=sum(due.values()),
        due_by_topic=dict(sorted(due.items())),
        weakest_topics=weakest_topics(store.answers()) if store.path.exists() else [],
        weak_labs=[e.id for e in entries if e.last_check_failed and not e.is_done],
    )


def status_text(e: LabEntry, lang: str) -> str:
    if e.state == PASSED:
        text = tr("passed", lang)
    elif e.state == FINISHED:
        text = tr("passed (finished)", lang)
    elif e.state == ELSEWHERE:
        text = tr("started on {uri}", lang, uri=e.uri)
    elif e.state == IN_PROGRESS:
        text = tr("{k} of {n} steps done", lang, k=e.done or 0, n=e.steps)
        if e.by_solve:
            text += f" · {tr('made by lab solve', lang)}"
    else:
        text = tr("not started", lang)
    if e.hints_used and e.state != NOT_STARTED:
        hints = " ".join(f"{s}:{lvl}" for s, lvl in sorted(e.hints_used.items()))
        text += f" · {tr('hints read: {hints}', lang, hints=hints)}"
    elif e.last_check_failed and e.state == NOT_STARTED:
        text += f" · {tr('last check failed', lang)}"
    return text


def _minutes(e: LabEntry, lang: str) -> str:
    return tr("{n} min", lang, n=e.minutes) if e.minutes else "?"


def _summary_lines(cm: CourseMap) -> list[str]:
    lang = cm.lang
    done = sum(e.is_done for e in cm.labs)
    lines = [tr("{done} of {total} labs passed, about {minutes} min of work left", lang, done=done,
                total=len(cm.labs), minutes=cm.minutes_left)]  # fmt: skip
    if cm.next_lab:
        lines.append(tr("next: {lab}", lang, lab=cm.next_lab))
    lines.append(tr("quiz reviews due now: {n}", lang, n=cm.reviews_due))
    weak = ", ".join(f"{t.topic} {t.right}/{t.answered}" for t in cm.weakest_topics) or tr("none yet", lang)
    lines.append(tr("weakest topics: {topics}", lang, topics=weak))
    if cm.weak_labs:
        lines.append(tr("labs whose last check failed: {labs}", lang, labs=", ".join(cm.weak_labs)))
    return lines


_COLOURS = {PASSED: "#137333", FINISHED: "#137333", IN_PROGRESS: "#b06000", ELSEWHERE: "#b06000", NOT_STARTED: "#666"}


def to_html(cm: CourseMap) -> str:
    """The map as one HTML table (the welcome notebook shows it)."""
    lang, esc = cm.lang, html.escape
    head = "".join(
        f"<th style='text-align:left;padding:4px 8px'>{tr(h, lang)}</th>"
        for h in ("lab", "objectives", "time", "do first", "status")
    )
    rows = []
    for e in cm.labs:
        needs = ", ".join(f"{'✔ ' if p.done else ''}{esc(p.lab)}" for p in e.prerequisites) or "—"
        rows.append(
            "<tr style='border-top:1px solid #ddd'>"
            f"<td style='padding:4px 8px;vertical-align:top'><b>{esc(e.id)}</b><br>"
            f"<span style='font-size:85%;color:#666'>{esc(e.notebook)}</span></td>"
            f"<td style='padding:4px 8px'>{'<br>'.join(esc(o) for o in e.objectives)}</td>"
            f"<td style='padding:4px 8px;white-space:nowrap'>{_minutes(e, lang)}</td>"
            f"<td style='padding:4px 8px'>{needs}</td>"
            f"<td style='padding:4px 8px;color:{_COLOURS[e.state]};font-weight:bold'>{esc(status_text(e, lang))}</td>"
            "</tr>"
        )
    summary = "".join(f"<li>{esc(line)}</li>" for line in _summary_lines(cm))
    title = esc(tr("Course map of {trainee}", lang, trainee=cm.trainee))
    return (
        f"<h3>{title}</h3><ul>{summary}</ul>"
        f"<table style='border-collapse:collapse;width:100%'><tr>{head}</tr>{''.join(rows)}</table>"
    )


def print_map(cm: CourseMap, out: Console) -> None:
    """The map in a terminal: a rich table, then the summary."""
    from rich.markup import escape
    from rich.table import Table

    lang = cm.lang
    table = Table(title=tr("Course map of {trainee}", lang, trainee=cm.trainee), title_justify="left")
    # Ids and times never wrap (a broken "hotadd-disk" is hard to type); the objectives take the room left.
    table.add_column(tr("lab", lang), no_wrap=True)
    table.add_column(tr("objectives", lang), ratio=3, overflow="fold")
    table.add_column(tr("time", lang), no_wrap=True)
    table.add_column(tr("do first", lang), ratio=1, overflow="fold")
    table.add_column(tr("status", lang), ratio=1, overflow="fold")
    styles = {PASSED: "green", FINISHED: "green", IN_PROGRESS: "yellow", ELSEWHERE: "yellow", NOT_STARTED: "dim"}
    for e in cm.labs:
        needs = ", ".join(f"{'✔ ' if p.done else ''}{p.lab}" for p in e.prerequisites) or "—"
        table.add_row(
            escape(e.id),
            escape("\n".join(e.objectives)),
            _minutes(e, lang),
            escape(needs),
            f"[{styles[e.state]}]{escape(status_text(e, lang))}[/]",
        )
    out.print(table)
    for line in _summary_lines(cm):
        out.print(escape(line))


def show(trainee: str | None = None, lang: str | None = None) -> None:
    """In a notebook: the current trainee's map as an HTML table, in their language ($KVMLAB_LANG)."""
    from IPython.display import HTML, display

    from kvmlab import lang as langs
    from kvmlab.trainee import current

    display(HTML(to_html(course_map(current(trainee), lang=lang or langs.default()))))


# -- a class ---------------------------------------------------------------------------------


@dataclass
class ClassCell:
    state: str  # NOT_STARTED | IN_PROGRESS | PASSED
    done: int
    steps: int
    late: bool = False
    by_solve: bool = False


@dataclass
class ClassMap:
    name: str
    trainees: list[str]
    labs: list[str]  # course order, only labs graded in this class
    cells: dict[str, dict[str, ClassCell]]  # trainee -> lab -> its latest verified attempt

    def to_dict(self) -> dict[str, Any]:
        return {
            "class": self.name,
            "labs": self.labs,
            "trainees": {t: {lab: asdict(c) for lab, c in row.items()} for t, row in self.cells.items()},
        }


def cell_of(result: dict[str, Any], late: bool) -> ClassCell:
    """A graded attempt (the check --json object) as one cell of the class map."""
    steps = result.get("steps", [])
    done = sum(1 for s in steps if s.get("passed"))
    checks = result.get("checks", [])
    if checks and checks[0].get("id") == "lab-started":
        return ClassCell(NOT_STARTED, 0, len(steps), late)
    by_solve = bool(result.get("made_by_solve"))
    state = PASSED if result.get("passed") and not by_solve else IN_PROGRESS
    return ClassCell(state, done, len(steps), late, by_solve)


def class_map(class_name: str, book: Gradebook | None = None) -> ClassMap:
    """Every trainee x lab of a class, from each trainee's latest verified attempt in the gradebook."""
    from kvmlab.classroom.gradebook import Gradebook

    book = book or Gradebook()
    cells: dict[str, dict[str, ClassCell]] = {}
    for a in book.latest(class_name):
        cells.setdefault(a.payload["trainee"], {})[a.payload["lab"]] = cell_of(a.result, bool(a.payload.get("late")))
    graded = {lab for row in cells.values() for lab in row}
    return ClassMap(class_name, sorted(cells), course_order(sorted(graded)), cells)


def cell_text(c: ClassCell | None, lang: str) -> str:
    if c is None:
        return "—"
    if c.state == PASSED:
        text = tr("passed", lang)
    elif c.state == NOT_STARTED:
        text = tr("not started", lang)
    else:
        text = f"{c.done}/{c.steps}" + (f" · {tr('made by lab solve', lang)}" if c.by_solve else "")
    return text + (" (late)" if c.late and lang != "zh" else " （迟交）" if c.late else "")


def class_html(cm: ClassMap, lang: str = "en") -> str:
    esc = html.escape
    if not cm.trainees:
        return f"<p>{esc(tr('no graded attempts in class {name}', lang, name=cm.name))}</p>"
    head = "".join(f"<th style='padding:4px 8px'>{esc(lab)}</th>" for lab in cm.labs)
    rows = []
    for t in cm.trainees:
        cells = []
        for lab in cm.labs:
            c = cm.cells[t].get(lab)
            colour = _COLOURS[c.state] if c else "#999"
            cells.append(f"<td style='padding:4px 8px;color:{colour};font-weight:bold'>{esc(cell_text(c, lang))}</td>")
        rows.append(
            f"<tr style='border-top:1px solid #ddd'><td style='padding:4px 8px'>{esc(t)}</td>{''.join(cells)}</tr>"
        )
    return (
        f"<h3>{esc(tr('Class {name}', lang, name=cm.name))}</h3><table style='border-collapse:collapse'>"
        f"<tr><th style='text-align:left;padding:4px 8px'>{tr('trainee', lang)}</th>{head}</tr>{''.join(rows)}</table>"
    )


def print_class(cm: ClassMap, out: Console, lang: str = "en") -> None:
    from rich.markup import escape
    from rich.table import Table

    if not cm.trainees:
        out.print(escape(tr("no graded attempts in class {name}", lang, name=cm.name)))
        return
    table = Table(title=tr("Class {name}", lang, name=cm.name), title_justify="left")
    table.add_column(tr("trainee", lang))
    for lab in cm.labs:
        table.add_column(lab, overflow="fold")
    styles = {PASSED: "green", IN_PROGRESS: "yellow", NOT_STARTED: "dim"}
    for t in cm.trainees:
        row = [escape(t)]
        for lab in cm.labs:
            c = cm.cells[t].get(lab)
            row.append(f"[{styles[c.state]}]{escape(cell_text(c, lang))}[/]" if c else "—")
        table.add_row(*row)
    out.print(table)


def show_class(class_name: str, lang: str | None = None) -> None:
    """In the instructor's notebook: the class map of ``class_name`` from the gradebook."""
    from IPython.display import HTML, display

    from kvmlab import lang as langs

    display(HTML(class_html(class_map(class_name), lang or langs.default())))
