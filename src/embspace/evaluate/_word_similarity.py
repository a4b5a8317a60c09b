"""Word similarity evaluation: WordSim-353, SimLex-999, MEN, RG-65, ... (Spearman and Pearson)."""

from __future__ import annotations

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


def read_word_pairs(path: str | Path) -> list[tuple[str, str, float]]:
    """``(word1, word2, score)`` triples from a tab- or space-separated file.

    Lines starting with ``#`` or ``//`` are comments; a first line whose score is not a number is
    taken as a header; blank lines are ignored.
    """
    p = Path(path)
    lines = read_lines(p)
    out: list[tuple[str, str, float]] = []
    header_allowed = True  # only the first non-comment line may be a header
    for lineno, line in enumerate(lines, 1):
        s = line.strip()
        if not s or s.startswith(("#", "//")):
            continue
        first, header_allowed = header_allowed, False
        parts = s.split("\t") if "\t" in s else s.split()
        parts = [x.strip() for x in parts if x.strip()]
        if len(parts) < 3:
            raise CorruptDataError(p, f"expected 'word1 word2 score', found {len(parts)} fields", line=lineno)
        try:
            score = float(parts[2])
        except ValueError:
            if first:  # a header line
                continue
            raise CorruptDataError(p, f"score {parts[2]!r} is not a number", line=lineno) from None
        if not np.isfinite(score):
            raise CorruptDataError(p, f"score {parts[2]!r} is not a finite number", line=lineno)
        out.append((parts[0], parts[1], score))
    if not out:
        raise CorruptDataError(p, "no word pairs found")
    return out


def word_similarity(space: EmbeddingSpace, path: str | Path, *, case_insensitive: bool = True,
                    restrict_vocab: int | None = 300000) -> SimilarityResult:
    """Spearman and Pearson correlation of cosine similarity with human judgements.

    Matches gensim's ``evaluate_word_pairs``: pairs with a word outside the first
    ``restrict_vocab`` keys are skipped (and reported); with ``case_insensitive`` a word's most
    frequent case variant stands for it.
    """
    from scipy import stats

    if restrict_vocab is not None and restrict_vocab < 1:
        raise InvalidInputError(f"restrict_vocab must be positive, got {restrict_vocab}")
    pairs = read_word_pairs(path)
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
    if len(used) < 2:
        return SimilarityResult(float("nan"), float("nan"), len(used) / len(pairs), len(used), oov)
    va = np.asarray(space[[a for a, _ in used]], dtype=np.float64)
    vb = np.asarray(space[[b for _, b in used]], dtype=np.float64)
    ua, ub = (_linalg.unit_rows(v, dtype=np.float64) for v in (va, vb))  # a zero row: cosine 0
    model = np.einsum("ij,ij->i", ua, ub)
    spearman = float(stats.spearmanr(gold, model).statistic)
    pearson = float(stats.pearsonr(gold, model).statistic)
    return SimilarityResult(spearman, pearson, len(used) / len(pairs), len(used), oov)
