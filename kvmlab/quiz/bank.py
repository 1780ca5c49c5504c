"""The question bank: Markdown files in questions/, format 1 (questions/README.md).

markdown-it-py finds the structure (front matter, headings, fences) so that a
``#`` inside a code fence is never mistaken for a heading; section bodies are
then taken from the source lines, as the author wrote them. Every problem is
reported as ``file:line: reason`` instead of stopping at the first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from markdown_it import MarkdownIt
from markdown_it.token import Token
from mdit_py_plugins.front_matter import front_matter_plugin

from kvmlab.quiz.commands import CommandError, parse

FORMAT = 1
TYPES = ("single", "multiple", "short", "command")
RUN_MODES = ("guest", "guest-off", "host", "syntax")
FIELDS = ("type", "seed", "lab", "run", "why", "grading")
GRADINGS = ("rules", "self")
MAX_FILE_BYTES = 512 * 1024  # a topic file is a few dozen KiB; refuse anything absurd
_ID = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*-\d{3}$")
_CJK = re.compile(r"[\u4e00-\u9fff]")
_OPTION = re.compile(r"^-\s+\[([ xX])\]\s+`([a-z])`\s+(.+?)\s*\|\|\s*(.+?)\s*$")
# " / " with spaces separates the labels, so "I/O" or "VT-x/AMD-V" can stand in a label.
_RUBRIC = re.compile(r"^-\s+(\d+|wrong)\s*\|\s*(.+?)\s+/\s+(.+?)\s*\|\s*(.+?)\s*$")
_FIELD = re.compile(r"^-\s+([a-z]+):\s*(.*?)\s*$")


@dataclass(frozen=True)
class Option:
    key: str
    en: str
    zh: str
    correct: bool


@dataclass(frozen=True)
class RubricPoint:
    points: int
    label_en: str
    label_zh: str
    synonyms: tuple[str, ...]
    wrong: bool = False  # a misconception: an answer that asserts it is wrong

    def label(self, lang: str) -> str:
        return self.label_zh if lang == "zh" else self.label_en


@dataclass
class Question:
    id: str
    topic: str
    type: str
    file: str
    line: int
    seed: tuple[int, ...] = ()
    lab: str | None = None
    run: str | None = None
    why: str = ""
    text: dict[str, str] = field(default_factory=dict)  # zh, en
    options: list[Option] = field(default_factory=list)
    rubric: list[RubricPoint] = field(default_factory=list)
    model_answer: dict[str, str] = field(default_factory=dict)  # short answers: en, zh
    commands: list[str] = field(default_factory=list)  # command answers: any one is right
    setup: list[str] = field(default_factory=list)
    explanation: dict[str, str] = field(default_factory=dict)
    misconception: dict[str, str] = field(default_factory=dict)
    grading: str = "rules"  # short answers: "self" when rules cannot judge them (the trainee rates)
    wrong_answers: dict[str, list[str]] = field(default_factory=dict)  # short: answers that must be judged wrong
    paraphrases: dict[str, list[str]] = field(default_factory=dict)  # short: other right answers

    def prompt(self, lang: str) -> str:
        return self.text.get(lang) or self.text.get("en", "")

    def answer_summary(self, lang: str) -> str:
        if self.type in ("single", "multiple"):
            return ", ".join(f"{o.key}) {o.zh if lang == 'zh' else o.en}" for o in self.options if o.correct)
        if self.type == "command":
            return self.commands[0] if self.commands else ""
        return self.model_answer.get(lang) or self.model_answer.get("en", "")


@dataclass(frozen=True)
class Problem:
    file: str
    line: int
    reason: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.reason}"


@dataclass
class Topic:
    id: str
    title: str
    lab: str | None
    file: str


@dataclass
class Bank:
    questions: list[Question] = field(default_factory=list)
    topics: dict[str, Topic] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    def get(self, qid: str) -> Question | None:
        return next((q for q in self.questions if q.id == qid), None)

    def select(self, topics: list[str] | None = None, seed_only: bool = False) -> list[Question]:
        return [q for q in self.questions if (not topics or q.topic in topics) and (q.seed or not seed_only)]


# -- parsing -------------------------------------------------------------


@dataclass
class _Section:
    name: str
    line: int  # 1-based line of its heading
    body: list[str]
    fences: list[tuple[str, str, int]]  # (info, content, line)
    subs: dict[str, str] = field(default_factory=dict)  # #### en / #### zh


class _FileParser:
    def __init__(self, path: Path, known_labs: set[str] | None) -> None:
        self.path = path
        self.name = path.name
        self.known_labs = known_labs
        self.problems: list[Problem] = []

    def problem(self, line: int, reason: str) -> None:
        self.problems.append(Problem(self.name, line, reason))

    def run(self) -> tuple[Topic | None, list[Question]]:
        try:
            if self.path.stat().st_size > MAX_FILE_BYTES:
                self.problem(1, f"file is larger than {MAX_FILE_BYTES // 1024} KiB: split the topic")
                return None, []
            source = self.path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            self.problem(1, "file is not UTF-8 text")
            return None, []
        lines = source.splitlines()
        tokens = MarkdownIt("commonmark").use(front_matter_plugin).parse(source)
        topic = self._front_matter(tokens)
        if topic is None:
            return None, []
        return topic, self._questions(tokens, lines, topic)

    def _front_matter(self, tokens: list[Token]) -> Topic | None:
        if not tokens or tokens[0].type != "front_matter":
            self.problem(1, "no front matter: the file must start with ---, format, topic, title, lab, ---")
            return None
        meta: dict[str, str] = {}
        for offset, raw in enumerate(tokens[0].content.splitlines(), start=2):
            key, sep, value = raw.partition(":")
            if not sep:
                self.problem(offset, f"front matter line is not 'key: value': {raw!r}")
                continue
            meta[key.strip()] = value.strip()
        if meta.get("format") != str(FORMAT):
            self.problem(2, f"format must be {FORMAT} (questions/README.md), found {meta.get('format')!r}")
        topic_id = meta.get("topic", "")
        if topic_id != self.path.stem:
            self.problem(2, f"topic {topic_id!r} must match the file name {self.path.stem!r}")
        if " / " not in meta.get("title", ""):
            self.problem(2, "title must be 'English / 中文'")
        lab = meta.get("lab", "none")
        self._check_lab(lab, 2)
        if lab not in ("none", topic_id):
            self.problem(2, f"a lab's topic is the lab's id: name this file {lab}.md and its topic {lab}")
        return Topic(self.path.stem, meta.get("title", ""), None if lab == "none" else lab, self.name)

    def _check_lab(self, lab: str, line: int) -> None:
        if lab != "none" and self.known_labs is not None and lab not in self.known_labs:
            self.problem(line, f"unknown lab {lab!r} (kvmlab lab list shows the ids; use 'none' if there is none)")

    def _questions(self, tokens: list[Token], lines: list[str], topic: Topic) -> list[Question]:
        heads = [
            (t.tag, t.map[0], tokens[i + 1].content.strip())
            for i, t in enumerate(tokens)
            if t.type == "heading_open" and t.map is not None
        ]
        fences = [(t.info.strip(), t.content, t.map[0]) for t in tokens if t.type == "fence" and t.map is not None]
        questions = []
        h2 = [(start, text) for tag, start, text in heads if tag == "h2"]
        for n, (start, qid) in enumerate(h2):
            end = h2[n + 1][0] if n + 1 < len(h2) else len(lines)
            inner = [(tag, s, text) for tag, s, text in heads if start < s < end]
            q = self._question(qid, start, end, inner, [f for f in fences if start < f[2] < end], lines, topic)
            if q is not None:
                questions.append(q)
        if not h2:
            self.problem(1, "no questions: each question starts with a '## TOPIC-NNN' heading")
        return questions

    def _question(
        self,
        qid: str,
        start: int,
        end: int,
        heads: list[tuple[str, int, str]],
        fences: list[tuple[str, str, int]],
        lines: list[str],
        topic: Topic,
    ) -> Question | None:
        line = start + 1
        if not _ID.match(qid) or not qid.startswith(topic.id + "-"):
            self.problem(line, f"question id {qid!r} must be '{topic.id}-NNN' (three digits)")
        first_h3 = next((s for tag, s, _ in heads if tag == "h3"), end)
        q = Question(id=qid, topic=topic.id, type="", file=self.name, line=line, lab=topic.lab)
        self._fields(q, lines[start + 1 : first_h3], start + 2)
        sections = self._sections(heads, fences, lines, end)
        self._fill(q, sections)
        self._validate(q, sections)
        return q

    def _fields(self, q: Question, block: list[str], first_line: int) -> None:
        for offset, raw in enumerate(block):
            if not raw.strip():
                continue
            match = _FIELD.match(raw.strip())
            lineno = first_line + offset
            if not match:
                self.problem(lineno, f"expected a field line '- name: value', found {raw.strip()!r}")
                continue
            key, value = match.groups()
            if key not in FIELDS:
                self.problem(lineno, f"unknown field {key!r} (known: {', '.join(FIELDS)})")
            elif key == "type":
                q.type = value
            elif key == "seed":
                try:
                    q.seed = tuple(int(n) for n in re.split(r"[,\s]+", value) if n)
                except ValueError:
                    self.problem(lineno, f"seed must be numbers 1-21, found {value!r}")
                if any(not 1 <= n <= 21 for n in q.seed):
                    self.problem(lineno, f"seed numbers must be 1-21, found {value!r}")
            elif key == "lab":
                self._check_lab(value, lineno)
                q.lab = None if value == "none" else value
            elif key == "run":
                q.run = value
            elif key == "why":
                q.why = value
            elif key == "grading":
                if value not in GRADINGS:
                    self.problem(lineno, f"grading must be one of {', '.join(GRADINGS)}, found {value!r}")
                q.grading = value

    def _sections(
        self, heads: list[tuple[str, int, str]], fences: list[tuple[str, str, int]], lines: list[str], end: int
    ) -> dict[str, _Section]:
        sections: dict[str, _Section] = {}
        h3 = [(s, text) for tag, s, text in heads if tag == "h3"]
        for n, (s, name) in enumerate(h3):
            stop = h3[n + 1][0] if n + 1 < len(h3) else end
            if name in sections:
                self.problem(s + 1, f"section '### {name}' appears twice")
            sec = _Section(name, s + 1, lines[s + 1 : stop], [f for f in fences if s < f[2] < stop])
            h4 = [(hs, text) for tag, hs, text in heads if tag == "h4" and s < hs < stop]
            for k, (hs, sub) in enumerate(h4):
                sub_stop = h4[k + 1][0] if k + 1 < len(h4) else stop
                sec.subs[sub] = "\n".join(lines[hs + 1 : sub_stop]).strip()
            sections[name] = sec
        return sections

    @staticmethod
    def _text(sec: _Section | None) -> str:
        return "\n".join(sec.body).strip() if sec else ""

    def _fill(self, q: Question, sections: dict[str, _Section]) -> None:
        q.text = {lang: self._text(sections.get(lang)) for lang in ("zh", "en")}
        for attr in ("explanation", "misconception"):
            sec = sections.get(attr)
            setattr(q, attr, {k: v for k, v in (sec.subs if sec else {}).items() if k in ("en", "zh")})
        for attr, name in (("wrong_answers", "wrong answers"), ("paraphrases", "paraphrases")):
            sec = sections.get(name)
            setattr(q, attr, {k: _items(v) for k, v in (sec.subs if sec else {}).items() if k in ("en", "zh")})
        answer = sections.get("answer")
        if answer:
            q.model_answer = {k: v for k, v in answer.subs.items() if k in ("en", "zh")}
            q.commands = [c for info, body, _ in answer.fences if info == "command" for c in _lines(body)]
        setup = sections.get("setup")
        q.setup = [c for info, body, _ in setup.fences if info == "command" for c in _lines(body)] if setup else []
        for offset, raw in enumerate(sections["options"].body if "options" in sections else []):
            if raw.strip():
                match = _OPTION.match(raw.strip())
                if not match:
                    self.problem(
                        sections["options"].line + 1 + offset,
                        "option must be '- [x] `a` English || 中文' ([ ] for a wrong one)",
                    )
                    continue
                mark, key, en, zh = match.groups()
                q.options.append(Option(key, en, zh, mark.lower() == "x"))
        for offset, raw in enumerate(sections["rubric"].body if "rubric" in sections else []):
            if raw.strip():
                match = _RUBRIC.match(raw.strip())
                if not match:
                    self.problem(
                        sections["rubric"].line + 1 + offset,
                        "rubric line must be '- POINTS | label en / label zh | synonym; synonym'"
                        " (or '- wrong | ...' for a misconception)",
                    )
                    continue
                points, en, zh, syns = match.groups()
                wrong = points == "wrong"
                q.rubric.append(
                    RubricPoint(
                        0 if wrong else int(points),
                        en,
                        zh,
                        tuple(s.strip() for s in syns.split(";") if s.strip()),
                        wrong,
                    )
                )

    def _validate(self, q: Question, sections: dict[str, _Section]) -> None:
        line = q.line
        if q.type not in TYPES:
            self.problem(line, f"type must be one of {', '.join(TYPES)}, found {q.type!r}")
        for lang in ("zh", "en"):
            if not q.text.get(lang):
                self.problem(line, f"missing '### {lang}': every question needs Chinese and English text")
            if not q.explanation.get(lang):
                self.problem(
                    sections["explanation"].line if "explanation" in sections else line,
                    f"missing explanation in {lang} ('### explanation' with '#### {lang}')",
                )
        if q.text.get("zh") and not _CJK.search(q.text["zh"]):
            self.problem(sections["zh"].line, "the zh text has no Chinese characters")
        if q.misconception and set(q.misconception) != {"en", "zh"}:
            self.problem(sections["misconception"].line, "misconception needs both '#### en' and '#### zh'")
        if q.type in ("single", "multiple"):
            self._validate_choice(q, sections)
        elif q.type == "short":
            if not q.rubric:
                self.problem(line, "a short question needs a '### rubric' with at least one point")
            if set(q.model_answer) != {"en", "zh"}:
                self.problem(line, "a short question needs a model answer: '### answer' with '#### en' and '#### zh'")
            self._validate_short(q)
        elif q.type == "command":
            self._validate_command(q, sections)
        if q.type != "short" and (q.wrong_answers or q.paraphrases or q.grading != "rules"):
            self.problem(line, "only short questions have wrong answers, paraphrases and 'grading'")
        if q.type != "command" and (q.run or q.commands):
            self.problem(line, "only command questions have 'run' and command fences")

    def _validate_short(self, q: Question) -> None:
        """Every short question proves its rubric: a misconception it rejects, paraphrases it accepts."""
        if not any(p.wrong for p in q.rubric):
            self.problem(q.line, "a short question needs at least one '- wrong | ...' rubric line (a misconception)")
        if not any(not p.wrong for p in q.rubric):
            self.problem(q.line, "a short question needs at least one key point ('- POINTS | ...')")
        for attr, name, what in (
            ("wrong_answers", "wrong answers", "an answer that states the misconception"),
            ("paraphrases", "paraphrases", "a right answer in other words"),
        ):
            for lang in ("en", "zh"):
                if not getattr(q, attr).get(lang):
                    self.problem(q.line, f"a short question needs '### {name}' with '#### {lang}': {what}")

    def _validate_choice(self, q: Question, sections: dict[str, _Section]) -> None:
        where = sections["options"].line if "options" in sections else q.line
        keys = [o.key for o in q.options]
        correct = [o for o in q.options if o.correct]
        if len(q.options) < 2:
            self.problem(where, "a choice question needs at least two options")
        if len(set(keys)) != len(keys):
            self.problem(where, "option keys must be unique")
        if q.type == "single" and len(correct) != 1:
            self.problem(where, f"a single-choice question needs exactly one [x] option, found {len(correct)}")
        if q.type == "multiple" and not correct:
            self.problem(where, "a multiple-choice question needs at least one [x] option")

    def _validate_command(self, q: Question, sections: dict[str, _Section]) -> None:
        where = sections["answer"].line if "answer" in sections else q.line
        if not q.commands:
            self.problem(where, "a command question needs '### answer' with a ```command fence")
        if q.run not in RUN_MODES:
            self.problem(q.line, f"a command question needs 'run: {'|'.join(RUN_MODES)}', found {q.run!r}")
        if q.run == "syntax" and not q.why:
            self.problem(q.line, "'run: syntax' needs 'why:' (why it cannot run here)")
        for cmd in [*q.commands, *q.setup]:
            try:
                parse(cmd)
            except CommandError as err:
                self.problem(where, f"command does not parse: {cmd!r}: {err}")


def _items(body: str) -> list[str]:
    """A Markdown list's items, each joined onto one line."""
    items: list[str] = []
    for raw in body.splitlines():
        line = raw.strip()
        if line.startswith(("- ", "* ")):
            items.append(line[2:].strip())
        elif line and items:
            items[-1] += " " + line
    return items


def _lines(body: str) -> list[str]:
    return [ln.strip() for ln in body.splitlines() if ln.strip() and not ln.strip().startswith("#")]


def load(directory: Path, known_labs: set[str] | None = None) -> Bank:
    bank = Bank()
    for path in sorted(directory.glob("*.md")):
        if path.name == "README.md":
            continue
        parser = _FileParser(path, known_labs)
        topic, questions = parser.run()
        bank.problems.extend(parser.problems)
        if topic is not None:
            bank.topics[topic.id] = topic
        bank.questions.extend(questions)
    seen: dict[str, Question] = {}
    for q in bank.questions:
        if q.id in seen:
            bank.problems.append(
                Problem(q.file, q.line, f"id {q.id} is already used at {seen[q.id].file}:{seen[q.id].line}")
            )
        seen[q.id] = q
    return bank


def default_dir() -> Path:
    """questions/ of the source tree (editable install) or the installed copy."""
    import kvmlab

    here = Path(kvmlab.__file__).resolve().parent
    for candidate in (here.parent / "questions", here / "questions"):
        if candidate.is_dir():
            return candidate
    return here.parent / "questions"
