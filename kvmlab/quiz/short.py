"""Judging a short answer: key points earned, misconceptions asserted, negation told apart.

A keyword count passes an answer that states the very belief a question exists
to correct ("full virtualization needs VT-x" hits the keywords "full
virtualization" and "VT-x"). So a rubric also names its misconceptions, and an
answer that asserts one is wrong whatever else it says. Whether a mention is an
assertion depends on negation: "does not need VT-x" and "不需要 VT-x" mention
the same words as the misconception and say the opposite.

Matching works on words, not characters:

* English words are reduced to their Snowball stems (``snowballstemmer``, the
  stemmer Sphinx and many search engines use), so "fails", "failed" and "fail"
  are one word, and a synonym's terms joined by `` + `` may come in any order
  within a clause.
* Chinese has no spaces. A Chinese term is found as a substring, but whether a
  character is a negation depends on the word it belongs to (不 negates, 不断
  and 不同 do not), so Chinese text is split into words by ``jieba``, the
  segmenter most Chinese NLP code uses. It is loaded only when an answer holds
  Chinese, because its dictionary takes about half a second to load.

The rules here are deliberately simple and predictable; a question whose answer
they cannot judge says ``grading: self`` and lets the trainee's own rating decide.
"""

from __future__ import annotations

import itertools
import logging
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from kvmlab.quiz.bank import RubricPoint

PASS_MARK = 0.7  # a short answer with at least 70% of the rubric's points counts as right
NEGATION_WINDOW = 3  # a cue this many words before a match negates it ("does not really need")
OR_REACH = 8  # ... or further, when an 'or' joins the match to what the cue negates
_OR = frozenset(["or", "nor", "或", "或者", "也不"])

_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_CJK_RUN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]+")
_LATIN_WORD = re.compile(r"[a-z0-9_]+")
# Clauses end at sentence and clause punctuation and at contrastive conjunctions, so
# "needs no VT-x, but paravirtualization needs a changed kernel" is two claims.
_CLAUSE_END = re.compile(
    # Latin punctuation ends a clause only before a space: 192.168.122.0, kvm.ko, qemu:///system stay whole.
    # (NFKC has made Chinese full-width punctuation ASCII: next to Chinese text it always ends one.)
    r"(?:[.;:!?,](?=\s|$|[\u3400-\u9fff`(])|(?<=[\u3400-\u9fff)`])[.;:!?,]|[\n。；：！？，、])+\s*"
    r"(?:(?:but|however|whereas|although)\s+)?"
    # Not "while": it means "during" as often as "whereas" ("while the guest is running").
    r"|\s+(?:but|however|whereas|although)\s+|(?:但是|但|然而|而是|不过)"
)

# Negation cues (compared as stems). "rather than", "instead of", "unlike" deny what follows.
_EN_CUES = [
    "not",
    "no",
    "never",
    "without",
    "neither",
    "nor",
    "none",
    "nobody",
    "nothing",
    "unnecessary",
    "unneeded",
    "needless",
    "rather",
    "instead",
    "unlike",
    "lack",
    "lacks",
    "except",
]
# A claim in a clause that also says "myth" or "wrong" is being refuted, not made.
_EN_META = ["myth", "wrong", "false", "incorrect", "misconception", "mistaken", "untrue"]
_ZH_CUES = frozenset(
    [
        "不",
        "没",
        "没有",
        "无",
        "无需",
        "无须",
        "无法",
        "不必",
        "不用",
        "不需",
        "不需要",
        "不要",
        "不是",
        "并非",
        "并不",
        "非",
        "未",
        "未必",
        "别",
        "不能",
        "不会",
        "不可",
        "不可以",
        "不再",
        "不一定",
        "从不",
        "从未",
        "绝不",
        "毋须",
        "勿",
    ]
)
_ZH_CUE_PREFIXES = ("不", "没", "未", "并不", "并非", "从不", "从未", "绝不", "无需", "无须", "无法")
# Words that start like a negation and are not one.
_ZH_NOT_CUES = frozenset(
    [
        "差不多",
        "了不起",
        "要不然",
        "不得不",
        "不断",
        "不同",
        "不仅",
        "不但",
        "不过",
        "不少",
        "不久",
        "不论",
        "不管",
        "不停",
        "不足",
        "不如",
        "不断地",
        "不一样",
        "不同于",
        "未来",
        "不光",
        "不止",
    ]
)
_ZH_POST_CUES = frozenset(
    ["不行", "不可以", "不支持", "不可", "不能用", "不可用", "除外", "例外", "不算", "不对", "不成"]
)
_ZH_META = ("误解", "错误", "不对", "谬误", "误区", "说法有误", "不正确")


def normalize(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).lower()
    # "can't", "doesn't", "won't": the negation becomes a word of its own.
    text = re.sub(r"\bcan['’]t\b|\bcannot\b", "can not", text)
    text = re.sub(r"\bwon['’]t\b", "will not", text)
    text = re.sub(r"n['’]t\b", " not", text)
    return re.sub(r"\s+", " ", text)


@cache
def _stemmer() -> Any:
    import snowballstemmer

    return snowballstemmer.stemmer("english")


@cache
def _stem(word: str) -> str:
    stem: str = _stemmer().stemWord(word)
    return stem


@cache
def _segmenter() -> Any:
    import jieba

    jieba.setLogLevel(logging.WARNING)  # it announces building its prefix dictionary otherwise
    return jieba


@dataclass(frozen=True)
class Token:
    text: str  # a Latin word's stem, or a Chinese word as jieba cut it
    start: int  # character offsets in the clause
    end: int
    cjk: bool


@cache
def _en_cues() -> frozenset[str]:
    return frozenset(_stem(w) for w in _EN_CUES)


@cache
def _en_meta() -> frozenset[str]:
    return frozenset(_stem(w) for w in _EN_META)


def tokenize(clause: str) -> list[Token]:
    out: list[Token] = []
    pos = 0
    for run in _CJK_RUN.finditer(clause):
        out.extend(_latin(clause, pos, run.start()))
        offset = run.start()
        for word in _segmenter().lcut(run.group(), HMM=True):
            out.append(Token(word, offset, offset + len(word), True))
            offset += len(word)
        pos = run.end()
    out.extend(_latin(clause, pos, len(clause)))
    return out


def _latin(text: str, start: int, end: int) -> Iterable[Token]:
    for m in _LATIN_WORD.finditer(text, start, end):
        yield Token(_stem(m.group()), m.start(), m.end(), False)


def _is_cue(tok: Token) -> bool:
    if not tok.cjk:
        return tok.text in _en_cues()
    if tok.text in _ZH_NOT_CUES:
        return False
    # 看不到, 用不了, 起不来: a potential complement negates the verb it sits in.
    infix = 1 < len(tok.text) <= 4 and ("不" in tok.text[1:] or "没" in tok.text[1:])
    return tok.text in _ZH_CUES or tok.text.startswith(_ZH_CUE_PREFIXES) or infix


@dataclass(frozen=True)
class _Hit:
    first: int  # token indexes, inclusive
    last: int
    start: int  # character span in the clause
    end: int
    negates: bool  # the term itself holds a negation ("cannot", "不需要"): its own cues do not count


@dataclass
class Clause:
    text: str
    tokens: list[Token]

    @property
    def refuted(self) -> bool:
        """The clause calls something a myth or an error."""
        return any(t.text in _en_meta() for t in self.tokens if not t.cjk) or any(m in self.text for m in _ZH_META)


def clauses(answer: str) -> list[Clause]:
    text = normalize(answer)
    return [Clause(part, tokenize(part)) for part in _CLAUSE_END.split(text) if part.strip()]


# -- terms ---------------------------------------------------------------------


@dataclass(frozen=True)
class Term:
    """One term of a pattern: alternatives, any of which may stand there."""

    alternatives: tuple[str, ...]

    def hits(self, clause: Clause) -> list[_Hit]:
        out = []
        for alt in self.alternatives:
            out.extend(_find(alt, clause))
        return out


def _term_negates(alt: str) -> bool:
    norm = normalize(alt)
    if _CJK.search(norm):
        return any(c in norm for c in ("不", "没", "无", "未", "非"))
    return any(_stem(w) in _en_cues() or w == "not" for w in _LATIN_WORD.findall(norm))


def _find(alt: str, clause: Clause) -> list[_Hit]:
    norm = normalize(alt).strip()
    if not norm:
        return []
    negates = _term_negates(alt)
    toks = clause.tokens
    if _CJK.search(norm):
        # Chinese: a substring of the clause; the tokens it touches are the hit.
        hits = []
        for m in re.finditer(re.escape(norm), clause.text):
            idx = [i for i, t in enumerate(toks) if t.start < m.end() and t.end > m.start()]
            if idx:
                hits.append(_Hit(idx[0], idx[-1], m.start(), m.end(), negates))
        return hits
    words = [_stem(w) for w in _LATIN_WORD.findall(norm)]
    if not words:
        return []
    hits = []
    latin = [i for i, t in enumerate(toks) if not t.cjk]
    for k in range(len(latin) - len(words) + 1):
        window = latin[k : k + len(words)]
        # contiguous words: no Chinese word between them
        if window[-1] - window[0] == len(words) - 1 and all(
            toks[i].text == w for i, w in zip(window, words, strict=True)
        ):
            hits.append(_Hit(window[0], window[-1], toks[window[0]].start, toks[window[-1]].end, negates))
    return hits


@dataclass(frozen=True)
class Pattern:
    """Terms that must all stand in one clause, in any order (``a + b|c``)."""

    terms: tuple[Term, ...]

    @classmethod
    def parse(cls, text: str) -> Pattern:
        return cls(tuple(Term(tuple(a.strip() for a in t.split("|") if a.strip())) for t in text.split(" + ")))

    def asserted_in(self, clause: Clause) -> bool:
        """Some choice of hits, one per term, is not negated."""
        per_term = [term.hits(clause) for term in self.terms]
        if not all(per_term):
            return False
        if clause.refuted and not self._names_refutation():
            return False
        combos = itertools.islice(itertools.product(*per_term), 200)  # a clause holds few hits
        return any(not _negated(clause.tokens, combo) for combo in combos)

    def _names_refutation(self) -> bool:
        words = {_stem(w) for t in self.terms for a in t.alternatives for w in _LATIN_WORD.findall(normalize(a))}
        zh = "".join(a for t in self.terms for a in t.alternatives)
        return bool(words & _en_meta()) or any(m in zh for m in _ZH_META)


def _negated(tokens: Sequence[Token], hits: Sequence[_Hit]) -> bool:
    first = min(h.first for h in hits)
    last = max(h.last for h in hits)
    # "don't disable SELinux or reboot the host": a negation reaches over 'or' to every alternative.
    reach = NEGATION_WINDOW
    before = [t.text for t in tokens[max(0, first - OR_REACH) : first]]
    if any(w in _OR for w in before):
        reach = OR_REACH
    # "ide 不行", "IDE 除外": a Chinese verdict right after a claim denies it.
    if last + 1 < len(tokens) and tokens[last + 1].text in _ZH_POST_CUES:
        return True
    for i in range(max(0, first - reach), last + 1):
        tok = tokens[i]
        if not _is_cue(tok):
            continue
        # A cue that lies wholly inside a hit belongs to the pattern's own words, and so does
        # any cue a hit touches when that term is itself a negation ("cannot", "不需要").
        owned = any(
            (h.start <= tok.start and tok.end <= h.end) or (h.negates and tok.start < h.end and tok.end > h.start)
            for h in hits
        )
        if not owned:
            return True
    return False


def mentions(answer: str | list[Clause], synonym: str) -> bool:
    """The answer asserts the synonym (all its terms in one clause, not negated)."""
    parts = clauses(answer) if isinstance(answer, str) else answer
    pattern = Pattern.parse(synonym)
    return any(pattern.asserted_in(c) for c in parts)


# -- the verdict -------------------------------------------------------------------


@dataclass
class Judgement:
    earned: int
    total: int
    missed: list[RubricPoint]
    asserted: list[RubricPoint]  # misconceptions the answer states

    @property
    def score(self) -> float:
        return 0.0 if self.asserted else self.earned / (self.total or 1)

    @property
    def right(self) -> bool:
        return not self.asserted and self.score >= PASS_MARK


def judge(rubric: Sequence[RubricPoint], answer: str) -> Judgement:
    parts = clauses(answer)
    earned, total, missed, asserted = 0, 0, [], []
    for point in rubric:
        hit = any(mentions(parts, s) for s in point.synonyms)
        if point.wrong:
            if hit:
                asserted.append(point)
            continue
        total += point.points
        if hit:
            earned += point.points
        else:
            missed.append(point)
    return Judgement(earned, total, missed, asserted)
