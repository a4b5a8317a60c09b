"""Hubness fixes that re-score instead of moving vectors: CSLS and mutual proximity.

A hub is close to everything in absolute terms; both fixes judge a pair by how close it is *relative
to the neighbourhoods of its two ends*, which takes the advantage of hubs away:

- CSLS (Conneau et al., 2018): ``csls(x, y) = 2 s(x, y) - r(x) - r(y)``, ``r`` the mean similarity of
  a point to its ``k`` nearest neighbours in the space;
- mutual proximity (Schnitzer et al., 2012, the Gaussian form with independence):
  ``mp(x, y) = P(S_x < s) * P(S_y < s)`` where ``S_x`` is the similarity of ``x`` to a random point,
  modelled as a normal with the mean and standard deviation measured on a reference sample.

Neither is a map of the coordinates (the score of a pair depends on both neighbourhoods), so the
fixed space keeps its vectors and its provenance — queries encoded by the same model stay
comparable and need no transform — and re-scores its searches: :class:`RescoredSpace` is an
EmbeddingSpace whose :meth:`~embspace.EmbeddingSpace.neighbors` ranks by the new score. Saving it
saves the plain vectors; apply the fix again after loading.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from .._types import FloatArray, IntArray
from ..errors import InvalidInputError
from ..space import _topk
from ..space.embedding_space import EmbeddingSpace, Query
from ..space.search_result import SearchResult
from .fixes import FixedSpace, Transform, _space, fix_report

__all__ = ["RescoredSpace", "csls", "mutual_proximity"]

F64 = npt.NDArray[np.float64]
_CHUNK = 8192  # rows of the (rows x reference) similarity blocks held at once


class RescoredSpace(FixedSpace):
    """A space whose searches rank by CSLS or mutual proximity (see the module docs).

    ``rescoring`` is ``"csls"`` or ``"mutual-proximity"``; ``transform`` is the identity (queries
    need none); ``report`` gives hubness before and after. :meth:`neighbors` takes the same
    arguments as :meth:`EmbeddingSpace.neighbors` and returns the re-scored similarities:
    CSLS values, or mutual-proximity probabilities in [0, 1]. Pairwise ``similarity()`` and
    ``similarity_matrix()`` stay the space's own metric (a pair's re-scored value needs both
    neighbourhoods; search is where hubs do harm).
    """

    __slots__ = ("_item_stats", "_k", "_reference", "_reference_size", "_seed", "rescoring")
    rescoring: str
    _k: int
    _reference_size: int
    _seed: int
    _item_stats: tuple[F64, F64]  # CSLS: (r, unused); MP: (mean, std)
    _reference: IntArray  # MP: rows the query statistics are measured against

    def _derive(self, rows: IntArray | None = None, vectors: FloatArray | None = None,
                normalized: bool | None = None, metric: Any = None) -> EmbeddingSpace:
        """Subsets, normalised copies and other metrics stay re-scored (the statistics learnt again on
        the derived space, as the neighbourhoods changed), so code that derives a space before it
        searches (as ``evaluate.retrieval`` does) still sees the re-scoring."""
        if rows is None and vectors is None and (metric is None or metric == self.metric) and (
                normalized is None or normalized == self.is_normalized):
            return self
        if rows is None and vectors is None and metric == "dot" and self.metric == "cosine" and self.is_normalized:
            return self  # unit rows: dot product is cosine, the same scores and statistics
        plain = EmbeddingSpace._derive(self, rows, vectors, normalized, metric)
        out = _build(plain, self.rescoring, self._k, self._reference_size, self._seed)
        out.report = self.report
        return out

    # -------------------------------------------------------------- base similarities

    def _base_block(self, q: FloatArray) -> _topk.ScoreBlock:
        """True similarities of the queries to rows (cosine, dot, or minus the L2 distance)."""
        block = EmbeddingSpace._score_block(self, q)
        if self.metric != "l2":
            return block
        q_sq = np.einsum("ij,ij->i", q, q)[:, None]

        def l2(q0: int, q1: int, r0: int, r1: int, out: FloatArray) -> FloatArray:
            block(q0, q1, r0, r1, out)  # 2 q.x - |x|^2
            np.subtract(q_sq[q0:q1], out, out=out)
            np.maximum(out, 0.0, out=out)
            np.sqrt(out, out=out)
            np.negative(out, out=out)
            return out

        return l2

    def _base_topk_mean(self, q: FloatArray, self_rows: IntArray) -> F64:
        """Mean base similarity of each query to its ``k`` nearest rows (its own row excluded)."""
        per_query = self_rows[:, None] if (self_rows >= 0).any() else None
        k = min(self._k, len(self) - (1 if per_query is not None else 0))
        scores, _ = _topk.topk(self._base_block(q), len(q), len(self), k, exclude_per_query=per_query)
        out: F64 = np.asarray(scores, np.float64).mean(axis=1)
        return out

    def _reference_stats(self, q: FloatArray, self_rows: IntArray) -> tuple[F64, F64]:
        """Mean and standard deviation of each query's similarity to the reference rows (itself left out)."""
        ref = self._reference
        xr = np.ascontiguousarray(self.vectors[ref])
        sub = EmbeddingSpace._trusted(tuple(str(i) for i in range(len(ref))), xr, metric=self.metric,
                                      normalized=self.is_normalized, counts=None, provenance=self.provenance)
        block = RescoredSpace._base_block(sub, q)  # type: ignore[arg-type]
        mean, std = np.empty(len(q)), np.empty(len(q))
        for q0 in range(0, len(q), _CHUNK):
            q1 = min(q0 + _CHUNK, len(q))
            s = block(q0, q1, 0, len(ref), np.empty((q1 - q0, len(ref)), np.float32)).astype(np.float64)
            own = self_rows[q0:q1, None] == ref[None, :]
            cnt = len(ref) - own.sum(axis=1)
            s1 = np.where(own, 0.0, s).sum(axis=1)
            s2 = np.where(own, 0.0, s * s).sum(axis=1)
            mean[q0:q1] = s1 / cnt
            std[q0:q1] = np.sqrt(np.maximum(s2 / cnt - (s1 / cnt) ** 2, 0.0))
        return mean, np.maximum(std, 1e-6)

    def _query_stats(self, q: FloatArray, self_rows: IntArray) -> tuple[F64, F64]:
        """The statistics of each query: its row's when it is a key of the space, else measured."""
        a, b = (s[np.maximum(self_rows, 0)].copy() for s in self._item_stats)
        new = np.flatnonzero(self_rows < 0)
        if len(new):
            if self.rescoring == "csls":
                a[new] = b[new] = self._base_topk_mean(q[new], self_rows[new])
            else:
                a[new], b[new] = self._reference_stats(q[new], self_rows[new])
        return a, b

    # ---------------------------------------------------------------- re-scored search

    def _rescored_block(self, q: FloatArray, stats: tuple[F64, F64]) -> _topk.ScoreBlock:
        base = self._base_block(q)
        a_item, b_item = (s.astype(np.float32) for s in self._item_stats)
        a_q, b_q = (s.astype(np.float32)[:, None] for s in stats)
        if self.rescoring == "csls":
            def block(q0: int, q1: int, r0: int, r1: int, out: FloatArray) -> FloatArray:
                base(q0, q1, r0, r1, out)
                out *= 2.0
                out -= a_item[r0:r1]
                out -= a_q[q0:q1]
                return out

            return block
        from scipy.special import log_ndtr

        def mp(q0: int, q1: int, r0: int, r1: int, out: FloatArray) -> FloatArray:
            s = base(q0, q1, r0, r1, out)
            zq = log_ndtr((s - a_q[q0:q1]) / b_q[q0:q1])
            zi = log_ndtr((s - a_item[r0:r1]) / b_item[r0:r1])
            np.add(zq, zi, out=out)  # log of the mutual proximity: exact near 1, where the top hits are
            return out

        return mp

    def neighbors(self, query: Query | Sequence[Query], k: int = 10, *, exclude: Iterable[str] | str = (),
                  include_self: bool = False) -> SearchResult:
        """The ``k`` best rows by the re-scored similarity (arguments as :meth:`EmbeddingSpace.neighbors`)."""
        q, self_rows, batched = self._queries(query)
        if len(self) == 0 or len(q) == 0:
            return SearchResult.empty(batched, len(q))
        per_query = None if include_self or not (self_rows >= 0).any() else self_rows[:, None]
        stats = self._query_stats(q, self_rows)
        scores, ids = self._search(self._rescored_block(q, stats), len(q), k, self._exclusion(exclude), per_query)
        if self.rescoring == "mutual-proximity":
            scores = np.exp(scores.astype(np.float64)).astype(np.float32)
        return self._result(scores, ids, batched)


def _build(space: EmbeddingSpace, kind: str, k: int, reference: int, seed: int) -> RescoredSpace:
    out = RescoredSpace._trusted(space.keys, space.vectors, metric=space.metric, normalized=space.is_normalized,
                                 counts=space.counts, provenance=space.provenance)
    assert isinstance(out, RescoredSpace)
    out.rescoring, out._k, out._reference_size, out._seed = kind, k, reference, seed
    rows = np.arange(len(space))
    if kind == "csls":
        out._reference = rows
        r = out._base_topk_mean(space.vectors, rows)
        out._item_stats = (r, r)
    else:
        m = min(reference, len(space))
        out._reference = np.sort(np.random.default_rng(seed).choice(len(space), m, replace=False))
        out._item_stats = out._reference_stats(space.vectors, rows)
    out.transform = Transform(kind, space.dim, params={"k": k} if kind == "csls" else {"reference": reference})
    return out


def _rescore(space: EmbeddingSpace, kind: str, *, k: int, reference: int, hub_k: int,
             evaluate: Callable[[EmbeddingSpace], float] | None, sample: int | None, seed: int) -> RescoredSpace:
    space = _space(space)
    if kind == "csls" and (not isinstance(k, int) or not 1 <= k < len(space)):
        raise InvalidInputError(f"k must be between 1 and {len(space) - 1}, got {k!r}")
    if kind != "csls" and reference < 2:
        raise InvalidInputError(f"reference must be at least 2, got {reference}")
    fixed = _build(space, kind, k, reference, seed)

    def rescored(sub: EmbeddingSpace) -> EmbeddingSpace:  # the same fix, learnt on a sample
        return fixed if sub is space else _build(sub, kind, k, reference, seed)

    fixed.report = fix_report(space, fixed, kind, evaluate=evaluate, sample=sample, seed=seed, k=hub_k,
                              rescore=rescored)
    return fixed


def csls(space: EmbeddingSpace, k: int = 10, *, hub_k: int = 10,
         evaluate: Callable[[EmbeddingSpace], float] | None = None, sample: int | None = 5_000,
         seed: int = 0) -> RescoredSpace:
    """Cross-domain similarity local scaling: rank by ``2 s(x, y) - r(x) - r(y)``, ``r`` the mean
    similarity to the ``k`` nearest neighbours (Conneau et al., 2018).

    The report's hubness (``hub_k`` neighbours) is measured on ``sample`` rows, with the fix learnt
    on those rows; ``evaluate`` (called with the space before and after) may search with
    ``space.neighbors``, which the fixed space re-scores. Learning ``r`` is one exact k-NN pass
    over the space.
    """
    return _rescore(space, "csls", k=k, reference=0, hub_k=hub_k, evaluate=evaluate, sample=sample,
                    seed=seed)


def mutual_proximity(space: EmbeddingSpace, *, reference: int = 2_000, hub_k: int = 10,
                     evaluate: Callable[[EmbeddingSpace], float] | None = None, sample: int | None = 5_000,
                     seed: int = 0) -> RescoredSpace:
    """Mutual proximity (Gaussian, independent): rank by ``P(S_x < s) P(S_y < s)``, each point's
    similarity distribution a normal fitted on ``reference`` random rows (Schnitzer et al., 2012).

    Scores are probabilities in [0, 1] (ranked in log space, so near-1 scores stay distinct).
    Report and ``evaluate`` as for :func:`csls`.
    """
    return _rescore(space, "mutual-proximity", k=1, reference=reference, hub_k=hub_k, evaluate=evaluate,
                    sample=sample, seed=seed)
