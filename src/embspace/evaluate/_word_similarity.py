"""Word similarity evaluation: WordSim-353, SimLex-999, MEN, RG-65, ... (Spearman and Pearson)."""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import _html
from ..errors import CorruptDataError, InvalidInputError
from ..space import _linalg
from ..space.embedding_space import EmbeddingSpace
from ._text import read_lines


@dataclass
class SimilarityResult:
    """Correlation between human scores and cosine similarity over the covered pairs."""

    spearman: float
    pearson: float
    coverage: float
    pairs: int
    oov_pairs: list[tuple[str, str]]

    def to_dict(self) -> dict[str, object]:
        return {"spearman": self.spearman, "pearson": self.pearson, "coverage": self.coverage,
                "pairs": self.pairs, "oov": len(self.oov_pairs)}

    def _repr_html_(self) -> str:
        facts = [("spearman", self.spearman), ("pearson", self.pearson), ("coverage", self.coverage),
                 ("pairs", self.pairs), ("out-of-vocabulary pairs", len(self.oov_pairs))]
        parts = [_html.kv_table(facts)]
        if self.oov_pairs:
            parts.append(_html.table(self.oov_pairs, ["out-of-vocabulary pair", ""], total=len(self.oov_pairs),
                                     limit=_html.MAX_ITEMS, more="more pairs"))
        return _html.frame("SimilarityResult", *parts, subtitle=f"Spearman {self.spearman:.4f}")

    def __repr__(self) -> str:
        return (f"SimilarityResult(spearman={self.spearman:.4f}, pearson={self.pearson:.4f}, "
                f"coverage={self.coverage:.3f}, pairs={self.pairs})")


#: A part-of-speech tag at the end of a word, as MEN and other sets write them: ``cat-n``, ``run-v``, ``red-j``.
POS_TAG = re.compile(r"^(?P<word>.+)-(?P<pos>[nvajr])$")
#: Header names that mark the score column (``SimLex999``, ``similarity``, ``Human (mean)``, ``score``, ...).
_SCORE_NAME = re.compile(r"score|sim|relat|human|mean|rating|gold|assoc|average|avg", re.I)
_WORD_NAME = re.compile(r"^\s*(word|w|term)\s*[_ -]?\s*\d*\s*$", re.I)


def _is_number(x: str) -> bool:
    try:
        float(x)
    except ValueError:
        return False
    return True


def _fields(line: str, csv_file: bool) -> list[str]:
    if csv_file:
        row = next(csv.reader([line]), [])
        return [x.strip() for x in row]
    parts = line.split("\t") if "\t" in line else line.split()
    return [x.strip() for x in parts if x.strip()]


def read_word_pairs(path: str | Path, *, strip_pos: bool | None = None) -> list[tuple[str, str, float]]:
    """``(word1, word2, score)`` triples from a word-similarity file.

    Layouts read (the file tells which):

    - tab- or space-separated (WordSim-353, SimLex-999, RG-65, MTurk, ...), or comma-separated (a
      ``.csv`` file, or a first line without tabs that has three or more comma-separated fields; quoted
      fields as the ``csv`` module reads them);
    - an optional header line: the first line is a header when none of its fields after the two words is
      a number. With a header, the score is the column whose name looks like one (``score``,
      ``similarity``, ``SimLex999``, ``Human (mean)``, ``relatedness``, ``rating``, ``mean``, ...);
      otherwise (or without a header) it is the first numeric column after the two words in the first
      pair, so a part-of-speech column (``old new A 1.58``) is skipped; further columns are ignored;
    - lines starting with ``#`` or ``//`` are comments; blank lines are ignored.

    Parameters
    ----------
    strip_pos
        Part-of-speech tags written onto the words (``cat-n``, ``run-v``, ``red-j``: a hyphen and one of
        ``n v a j r``, as in MEN): ``None`` (default) strips them when *every* word of the file carries one
        (so ``x-ray`` in an untagged file stays whole), ``True`` strips them wherever present, ``False``
        never does.
    """
    p = Path(path)
    lines = read_lines(p)
    content = [(n, line.strip()) for n, line in enumerate(lines, 1)
               if line.strip() and not line.strip().startswith(("#", "//"))]
    if not content:
        raise CorruptDataError(p, "no word pairs found")
    first = content[0][1]
    csv_file = p.suffix.lower() == ".csv" or ("\t" not in first and len(first.split(",")) >= 3)
    words_at, score_at = (0, 1), 2
    head = _fields(first, csv_file)
    if len(head) >= 3 and not any(_is_number(x) for x in head[2:]):  # a header line
        content = content[1:]
        row = _fields(content[0][1], csv_file) if content else []
        named = [i for i, name in enumerate(head) if _SCORE_NAME.search(name) and not _WORD_NAME.match(name)
                 and (i >= len(row) or _is_number(row[i]))]  # 'relation' names a column of labels, not scores
        if named:
            score_at = named[0]
            words_at = tuple(i for i in range(len(head)) if i != score_at)[:2]  # type: ignore[assignment]
        elif row:
            score_at = _first_numeric(row, default=2)
    elif len(head) >= 3:
        score_at = _first_numeric(head, default=2)
    need = max(score_at, *words_at) + 1
    out: list[tuple[str, str, float]] = []
    for lineno, line in content:
        parts = _fields(line, csv_file)
        if len(parts) < need:
            raise CorruptDataError(p, f"expected 'word1 word2 score', found {len(parts)} fields", line=lineno)
        try:
            score = float(parts[score_at])
        except ValueError:
            raise CorruptDataError(p, f"score {parts[score_at]!r} is not a number", line=lineno) from None
        if not np.isfinite(score):
            raise CorruptDataError(p, f"score {parts[score_at]!r} is not a finite number", line=lineno)
        out.append((parts[words_at[0]], parts[words_at[1]], score))
    if not out:
        raise CorruptDataError(p, "no word pairs found")
    return strip_pos_tags(out, strip_pos)


def _first_numeric(fields: list[str], default: int) -> int:
    return next((i for i in range(2, len(fields)) if _is_number(fields[i])), default)


def strip_pos_tags(pairs: list[tuple[str, str, float]], strip: bool | None = None) -> list[tuple[str, str, float]]:
    """``cat-n`` -> ``cat`` in every pair (``strip=None``: only when every word carries such a tag)."""
    if strip is False:
        return pairs
    if strip is None and not all(POS_TAG.match(w) for a, b, _ in pairs for w in (a, b)):
        return pairs

    def bare(w: str) -> str:
        m = POS_TAG.match(w)
        return m.group("word") if m else w

    return [(bare(a), bare(b), score) for a, b, score in pairs]


def word_similarity(space: EmbeddingSpace, path: str | Path, *, case_insensitive: bool = True,
                    restrict_vocab: int | None = 300000, strip_pos: bool | None = None) -> SimilarityResult:
    """Spearman and Pearson correlation of cosine similarity with human judgements.

    Matches gensim's ``evaluate_word_pairs`` (whose ``restrict_vocab`` default is also 300,000): pairs
    with a word outside the first ``restrict_vocab`` keys are skipped (and reported); with
    ``case_insensitive`` a word's most frequent case variant stands for it. The file layouts and
    ``strip_pos`` are those of :func:`read_word_pairs`.

    Raises
    ------
    InvalidInputError
        No pair of the file has both words in the (restricted) vocabulary: there is nothing to
        correlate, which is an error rather than a NaN. With exactly one pair covered the correlations
        are NaN (undefined for one point).
    """
    from scipy import stats

    if restrict_vocab is not None and restrict_vocab < 1:
        raise InvalidInputError(f"restrict_vocab must be positive, got {restrict_vocab}")
    pairs = read_word_pairs(path, strip_pos=strip_pos)
    n = len(space) if restrict_vocab is None else min(restrict_vocab, len(space))
    if space.counts is not None:  # the order of space.top(n), without copying its vectors
        keys = [space.keys[i] for i in np.argsort(-space.counts, kind="stable")[:n].tolist()]
    else:
        keys = list(space.keys[:n])
    lookup: dict[str, str] = {}
    for key in reversed(keys):
        lookup[key.upper() if case_insensitive else key] = key
    gold: list[float] = []
    used: list[tuple[str, str]] = []
    oov: list[tuple[str, str]] = []
    for a, b, score in pairs:
        ka = lookup.get(a.upper() if case_insensitive else a)
        kb = lookup.get(b.upper() if case_insensitive else b)
        if ka is None or kb is None:
            oov.append((a, b))
            continue
        gold.append(score)
        used.append((ka, kb))
    if not used:
        raise InvalidInputError(out_of_vocabulary_message(
            path, f"none of the {len(pairs):,} word pairs has both words", n, len(space), restrict_vocab,
            case_insensitive, [w for pair in oov[:10] for w in pair
                               if (w.upper() if case_insensitive else w) not in lookup][:3]))
    if len(used) < 2:
        return SimilarityResult(float("nan"), float("nan"), len(used) / len(pairs), len(used), oov)
    va = np.asarray(space[[a for a, _ in used]], dtype=np.float64)
    vb = np.asarray(space[[b for _, b in used]], dtype=np.float64)
    ua, ub = (_linalg.unit_rows(v, dtype=np.float64) for v in (va, vb))  # a zero row: cosine 0
    model = np.einsum("ij,ij->i", ua, ub)
    spearman = float(stats.spearmanr(gold, model).statistic)
    pearson = float(stats.pearsonr(gold, model).statistic)
    return SimilarityResult(spearman, pearson, len(used) / len(pairs), len(used), oov)


def out_of_vocabulary_message(path: str | Path, what: str, n: int, size: int, restrict_vocab: int | None,
                              case_insensitive: bool, examples: list[str]) -> str:
    """The error of an evaluation file none of whose items the space can answer, with the likely causes."""
    where = (f"among the {n:,} most frequent keys of the space (restrict_vocab={restrict_vocab:,})"
             if restrict_vocab is not None and n < size else f"in the space ({size:,} keys)")
    hints = []
    if restrict_vocab is not None and n < size:
        hints.append("raise restrict_vocab (or pass None)")
    if not case_insensitive:
        hints.append("pass case_insensitive=True")
    hints.append("check that the file's words are what the space's keys look like (a word space, not "
                 "documents; the same tokenisation)")
    shown = ", ".join(repr(w) for w in dict.fromkeys(examples))
    return f"{path}: {what} {where}, e.g. {shown}; nothing can be scored: {'; '.join(hints)}"
