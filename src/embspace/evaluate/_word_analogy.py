"""Word analogy evaluation on the questions-words format (Mikolov et al. 2013)."""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from .. import _html
from ..errors import CorruptDataError, InvalidInputError
from ..space.embedding_space import EmbeddingSpace
from ._text import read_lines
from ._word_similarity import out_of_vocabulary_message

Question = tuple[str, str, str, str]


@dataclass
class AnalogySection:
    """Accuracy of one section (e.g. ``capital-common-countries``)."""

    name: str
    correct: list[Question] = field(default_factory=list)
    incorrect: list[Question] = field(default_factory=list)

    @property
    def accuracy(self) -> float:
        n = len(self.correct) + len(self.incorrect)
        return len(self.correct) / n if n else 0.0


@dataclass
class AnalogyResult:
    """Overall and per-section analogy accuracy.

    ``accuracy`` is over the questions whose four words are all in the (restricted) vocabulary, as
    gensim's ``evaluate_word_analogies`` and word2vec's ``compute-accuracy`` report it;
    ``coverage`` is the share of questions that could be asked; ``skipped`` lists the others.
    """

    accuracy: float
    sections: list[AnalogySection]
    skipped: list[Question]
    method: str
    restrict_vocab: int | None

    @property
    def correct(self) -> int:
        return sum(len(s.correct) for s in self.sections)

    @property
    def evaluated(self) -> int:
        return sum(len(s.correct) + len(s.incorrect) for s in self.sections)

    @property
    def coverage(self) -> float:
        total = self.evaluated + len(self.skipped)
        return self.evaluated / total if total else 0.0

    @property
    def semantic_accuracy(self) -> float:
        return _accuracy([s for s in self.sections if not s.name.startswith("gram")])

    @property
    def syntactic_accuracy(self) -> float:
        return _accuracy([s for s in self.sections if s.name.startswith("gram")])

    def to_dict(self) -> dict[str, object]:
        return {
            "accuracy": self.accuracy, "correct": self.correct, "evaluated": self.evaluated,
            "coverage": self.coverage, "skipped": len(self.skipped), "method": self.method,
            "restrict_vocab": self.restrict_vocab,
            "semantic_accuracy": self.semantic_accuracy, "syntactic_accuracy": self.syntactic_accuracy,
            "sections": {s.name: {"accuracy": s.accuracy, "correct": len(s.correct),
                                  "evaluated": len(s.correct) + len(s.incorrect)} for s in self.sections},
        }

    def _repr_html_(self) -> str:
        facts = [("accuracy", self.accuracy), ("correct", self.correct), ("evaluated", self.evaluated),
                 ("coverage", self.coverage), ("skipped", len(self.skipped)),
                 ("semantic accuracy", self.semantic_accuracy), ("syntactic accuracy", self.syntactic_accuracy),
                 ("method", self.method), ("restrict vocab", self.restrict_vocab)]
        sections = _html.table(((s.name, s.accuracy, len(s.correct), len(s.correct) + len(s.incorrect))
                                for s in self.sections), ["section", "accuracy", "correct", "evaluated"],
                               total=len(self.sections), more="more sections")
        return _html.frame("AnalogyResult", _html.kv_table(facts), sections,
                           subtitle=f"accuracy {self.accuracy:.4f} on {self.evaluated:,} questions")

    def __repr__(self) -> str:
        return (f"AnalogyResult(accuracy={self.accuracy:.4f}, evaluated={self.evaluated}, "
                f"coverage={self.coverage:.3f}, method={self.method!r})")


def _accuracy(sections: list[AnalogySection]) -> float:
    c = sum(len(s.correct) for s in sections)
    n = sum(len(s.correct) + len(s.incorrect) for s in sections)
    return c / n if n else 0.0


#: Header names of the category column of a one-question-per-row file.
_CATEGORY_NAME = re.compile(r"^\s*(type|category|section|relation|group|class|name|label|task|kind)\s*$", re.I)
#: Header names of the word columns (``a``..``d``, ``word1``..``word4``, ``question``, ``answer``, ...).
_WORD_NAME = re.compile(r"^\s*(word|w|term|question|answer|target|expected|query|[a-dxy])\s*[_ -]?\s*\d*\s*$", re.I)


def read_analogies(path: str | Path) -> list[tuple[str, list[Question]]]:
    """Sections of an analogy file: ``[(name, [(a, b, c, d), ...]), ...]``.

    Two layouts are read (the first line that is not blank tells which):

    - the questions-words format of word2vec: lines ``: name`` start a section, other lines hold four
      words separated by whitespace; blank lines are ignored;
    - a table with one question per row, comma-separated (a ``.csv`` file, or a first line with a comma)
      or tab-separated (a first line with a tab): four word columns and an optional category column
      (the sections, in the order they first appear). With a header line (it names a category column
      ``type``, ``category``, ``section``, ``relation``, ... or only word columns such as
      ``a,b,c,d`` / ``word1..word4``) the category is the column so named; without one, a five-column
      row has its category first or last, whichever column repeats more (the first when equal). A file
      without a category column is one section named after the file.
    """
    p = Path(path)
    lines = read_lines(p)
    first = next((line for line in lines if line.strip()), "")
    if not first.startswith(":") and (p.suffix.lower() in (".csv", ".tsv") or "," in first or "\t" in first):
        return _read_table(p, lines, "\t" if "\t" in first else ",")
    sections: list[tuple[str, list[Question]]] = []
    for lineno, line in enumerate(lines, 1):
        if line.startswith(": "):
            sections.append((line[2:].strip(), []))
            continue
        words = line.split()
        if not words:
            continue
        if len(words) != 4:
            raise CorruptDataError(p, f"expected 4 words, found {len(words)}", line=lineno)
        if not sections:
            raise CorruptDataError(p, "question before the first ': section' line", line=lineno)
        sections[-1][1].append((words[0], words[1], words[2], words[3]))
    if not any(q for _, q in sections):
        raise CorruptDataError(p, "no analogy questions found")
    return sections


def _read_table(p: Path, lines: list[str], delimiter: str) -> list[tuple[str, list[Question]]]:
    rows: list[tuple[int, list[str]]] = []
    for lineno, line in enumerate(lines, 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        fields = [x.strip() for x in next(csv.reader([line], delimiter=delimiter), [])]
        rows.append((lineno, fields))
    if not rows:
        raise CorruptDataError(p, "no analogy questions found")
    category: int | None = None
    head_line, head = rows[0]
    named = [i for i, name in enumerate(head) if _CATEGORY_NAME.match(name)]
    if named or (len(head) >= 4 and all(_WORD_NAME.match(name) for name in head)):
        rows = rows[1:]
        if not rows:
            raise CorruptDataError(p, "no analogy questions found (only a header line)")
        category = named[0] if named else None
        width = len(head)
    else:
        width = len(head)
        if width == 5:
            def distinct(j: int) -> int:
                return len({fields[j] for _, fields in rows if len(fields) == 5})

            category = 4 if distinct(4) < distinct(0) else 0
    expected = 4 if category is None else 5
    if width != expected:
        what = "4 words" if category is None else "4 words and a category"
        raise CorruptDataError(p, f"expected {what} per row, found {width} fields", line=head_line)
    sections: dict[str, list[Question]] = {}
    default = p.stem
    for lineno, fields in rows:
        if len(fields) != width:
            raise CorruptDataError(p, f"expected {width} fields (as the first row), found {len(fields)}",
                                   line=lineno)
        name = default if category is None else fields[category]
        words = [f for j, f in enumerate(fields) if j != category]
        if not name or not all(words):
            raise CorruptDataError(p, "empty field", line=lineno)
        sections.setdefault(name, []).append((words[0], words[1], words[2], words[3]))
    return list(sections.items())


def analogy(space: EmbeddingSpace, path: str | Path, *, restrict_vocab: int | None = 30000,
            case_insensitive: bool = True, method: Literal["3cosadd", "3cosmul"] = "3cosadd") -> AnalogyResult:
    """Accuracy of ``space`` on an analogy file ("a is to b as c is to d").

    Follows gensim's ``evaluate_word_analogies`` exactly for ``3cosadd``: only the first
    ``restrict_vocab`` keys are candidates and only questions whose four words are among them are
    asked; with ``case_insensitive`` words are compared upper-cased, a word's most frequent case
    variant standing for it; the answer is the best candidate other than a, b and c.

    Parameters
    ----------
    space
        Word vectors (compared by cosine whatever the space's metric).
    path
        A file in the questions-words format, or a CSV/TSV table with one question per row and a
        category column (see :func:`read_analogies`).
    restrict_vocab
        Number of most frequent keys to consider (``None``: all). The space's counts decide what is
        most frequent when known; otherwise its row order. The default, 30,000, is the usual setting
        for the Google analogies (word2vec's ``compute-accuracy`` threshold and the published figures);
        gensim's ``evaluate_word_analogies`` defaults to 300,000: pass ``restrict_vocab=300000`` to get
        gensim's numbers with gensim's defaults.

    Raises
    ------
    InvalidInputError
        No question of the file has its four words in the (restricted) vocabulary: an accuracy over no
        question would be meaningless, so it is an error that says so (and why it may be).
    """
    if restrict_vocab is not None and restrict_vocab < 1:
        raise InvalidInputError(f"restrict_vocab must be positive, got {restrict_vocab}")
    if method not in ("3cosadd", "3cosmul"):  # checked here too: a file with no answerable question never searches
        raise InvalidInputError(f"unknown analogy method {method!r}; expected '3cosadd' or '3cosmul'")
    sections = read_analogies(path)
    n = len(space) if restrict_vocab is None else min(restrict_vocab, len(space))
    sub = space.top(n) if space.counts is not None else space.subset(space.keys[:n])

    def norm(w: str) -> str:
        return w.upper() if case_insensitive else w

    lookup: dict[str, str] = {}
    for key in reversed(sub.keys):  # the most frequent variant wins, as in gensim
        lookup[norm(key)] = key
    asked: list[tuple[int, Question, Question]] = []
    skipped: list[Question] = []
    results = [AnalogySection(name) for name, _ in sections]
    for si, (_, questions) in enumerate(sections):
        for q in questions:
            qn = (norm(q[0]), norm(q[1]), norm(q[2]), norm(q[3]))
            if all(w in lookup for w in qn):
                asked.append((si, q, qn))
            else:
                skipped.append(q)
    if not asked:
        oov = [w for q in skipped[:10] for w in q if norm(w) not in lookup][:3]
        raise InvalidInputError(out_of_vocabulary_message(
            path, f"none of the {len(skipped):,} questions has all four words", n, len(space), restrict_vocab,
            case_insensitive, oov))
    if asked:
        hits = sub.analogy([lookup[qn[0]] for _, _, qn in asked], [lookup[qn[1]] for _, _, qn in asked],
                           [lookup[qn[2]] for _, _, qn in asked], k=min(5, max(len(sub) - 3, 1)), method=method)
        for (si, q, qn), keys in zip(asked, hits.keys, strict=True):
            ignore = {qn[0], qn[1], qn[2]}
            predicted = None
            for key in keys:
                predicted = norm(key)
                if predicted not in ignore:
                    break
            sec = results[si]
            (sec.correct if predicted == qn[3] else sec.incorrect).append(q)
    return AnalogyResult(_accuracy(results), results, skipped, method, restrict_vocab)
