"""Word analogy evaluation on the questions-words format (Mikolov et al. 2013)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from .. import _html
from ..errors import CorruptDataError, InvalidInputError
from ..space.embedding_space import EmbeddingSpace
from ._text import read_lines

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


def read_analogies(path: str | Path) -> list[tuple[str, list[Question]]]:
    """Sections of a questions-words file: ``[(name, [(a, b, c, d), ...]), ...]``.

    Lines ``: name`` start a section; other lines hold four words; blank lines are ignored.
    """
    p = Path(path)
    sections: list[tuple[str, list[Question]]] = []
    for lineno, line in enumerate(read_lines(p), 1):
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


def analogy(space: EmbeddingSpace, path: str | Path, *, restrict_vocab: int | None = 30000,
            case_insensitive: bool = True, method: Literal["3cosadd", "3cosmul"] = "3cosadd") -> AnalogyResult:
    """Accuracy of ``space`` on a questions-words analogy file ("a is to b as c is to d").

    Follows gensim's ``evaluate_word_analogies`` exactly for ``3cosadd``: only the first
    ``restrict_vocab`` keys are candidates and only questions whose four words are among them are
    asked; with ``case_insensitive`` words are compared upper-cased, a word's most frequent case
    variant standing for it; the answer is the best candidate other than a, b and c.

    Parameters
    ----------
    space
        Word vectors (compared by cosine whatever the space's metric).
    path
        A file in the questions-words format.
    restrict_vocab
        Number of most frequent keys to consider (``None``: all). The space's counts decide what is
        most frequent when known; otherwise its row order.
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
