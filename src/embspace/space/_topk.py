"""Exact top-k over a score matrix computed block by block.

The score matrix (queries x rows) is never materialised whole: it is produced in blocks whose
size is bounded by a memory budget. The first block of each query block is reduced with
``argpartition``; every later block only compares against the running k-th best score of each
query (one vectorised comparison), and the few candidates that beat it are merged in. On random
data almost nothing passes after the first block, so the cost is the matrix product plus one
comparison per score. This is what makes exact search as fast as FAISS' flat index here.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .._types import FloatArray, IntArray

ScoreBlock = Callable[[int, int, int, int], FloatArray]
"""``score_block(q0, q1, r0, r1)`` returns the (q1-q0, r1-r0) float32 scores, freshly allocated."""

DEFAULT_BUDGET = 256 * 2**20  # bytes of scores held at once
MAX_ROW_BLOCK = 16384
MAX_QUERY_BLOCK = 4096


def block_sizes(nq: int, n: int, budget: int = DEFAULT_BUDGET) -> tuple[int, int]:
    """Query and row block sizes whose score block fits in ``budget`` bytes."""
    cells = max(budget // 4, 1024)
    qb = max(1, min(nq, MAX_QUERY_BLOCK))
    rb = max(256, min(n, MAX_ROW_BLOCK, cells // qb))
    return qb, rb


def _select(scores: FloatArray, ids: IntArray, k: int) -> tuple[FloatArray, IntArray]:
    """Per row, the k best (score desc, id asc) of ``scores``/``ids`` (same shape, >= k cols)."""
    if scores.shape[1] > k:
        part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        sel_s = np.take_along_axis(scores, part, 1)
        sel_i = np.take_along_axis(ids, part, 1)
        # argpartition picks an arbitrary subset of the values tied with the k-th best; the
        # contract (and batch == single) needs the smallest ids among them. Repair those rows.
        kth = sel_s.min(axis=1)
        straddle = (scores == kth[:, None]).sum(axis=1) != (sel_s == kth[:, None]).sum(axis=1)
        for r in np.nonzero(straddle)[0].tolist():
            better = np.nonzero(scores[r] > kth[r])[0]
            tied = np.nonzero(scores[r] == kth[r])[0]
            tied = tied[np.argsort(ids[r, tied], kind="stable")][: k - len(better)]
            cols = np.concatenate([better, tied])
            sel_s[r] = scores[r, cols]
            sel_i[r] = ids[r, cols]
        scores, ids = sel_s, sel_i
    order = np.lexsort((ids, -scores), axis=1)
    return np.take_along_axis(scores, order, 1), np.take_along_axis(ids, order, 1)


def _merge(best_s: FloatArray, best_i: IntArray, rows: IntArray, cand_s: FloatArray, cand_i: IntArray,
           k: int) -> tuple[FloatArray, IntArray]:
    """Merge sparse candidates (row, score, id) into the per-row best lists."""
    nq = best_s.shape[0]
    all_r = np.concatenate([np.repeat(np.arange(nq), k), rows])
    all_s = np.concatenate([best_s.ravel(), cand_s])
    all_i = np.concatenate([best_i.ravel(), cand_i])
    order = np.lexsort((all_i, -all_s, all_r))
    starts = np.searchsorted(all_r[order], np.arange(nq))
    take = order[(starts[:, None] + np.arange(k)).ravel()]
    return all_s[take].reshape(nq, k), all_i[take].reshape(nq, k)


def _mask(block: FloatArray, q0: int, r0: int, r1: int, exclude: IntArray | None,
          exclude_per_query: IntArray | None) -> None:
    if exclude is not None and len(exclude):
        lo, hi = np.searchsorted(exclude, [r0, r1])
        if hi > lo:
            block[:, exclude[lo:hi] - r0] = -np.inf
    if exclude_per_query is not None:
        sub = exclude_per_query[q0 : q0 + block.shape[0]]
        qi, mi = np.nonzero((sub >= r0) & (sub < r1))
        if len(qi):
            block[qi, sub[qi, mi] - r0] = -np.inf


def topk(score_block: ScoreBlock, nq: int, n: int, k: int, *, exclude: IntArray | None = None,
         exclude_per_query: IntArray | None = None,
         budget: int = DEFAULT_BUDGET) -> tuple[FloatArray, IntArray]:
    """Exact top-k of every query, best first.

    Parameters
    ----------
    score_block
        Computes a block of scores; see :data:`ScoreBlock`.
    nq, n
        Number of queries and of rows.
    k
        Hits per query; the caller makes sure at least ``k`` rows remain after exclusions.
    exclude
        Sorted unique row ids excluded for every query.
    exclude_per_query
        (nq, m) row ids excluded for each query, ``-1`` for none.
    budget
        Upper bound, in bytes, of the score block held at once.

    Returns
    -------
    scores, ids
        float32 (nq, k) and int64 (nq, k).
    """
    out_s = np.empty((nq, k), np.float32)
    out_i = np.empty((nq, k), np.int64)
    if k == 0 or nq == 0:
        return out_s, out_i
    if exclude is not None:
        exclude = np.unique(np.asarray(exclude, dtype=np.int64))  # sorted, as _mask needs
    qb, rb = block_sizes(nq, n, budget)
    rb = max(rb, min(n, 2 * k))  # the first block always holds k rows
    for q0 in range(0, nq, qb):
        q1 = min(nq, q0 + qb)
        best_s: FloatArray | None = None
        best_i: IntArray | None = None
        r0 = 0
        while r0 < n:
            r1 = min(n, r0 + rb)
            block = score_block(q0, q1, r0, r1)
            _mask(block, q0, r0, r1, exclude, exclude_per_query)
            if best_s is None or best_i is None:
                ids = np.broadcast_to(np.arange(r0, r1, dtype=np.int64), block.shape)
                best_s, best_i = _select(block, ids, k)
            else:
                thresh = best_s[:, -1]
                rows, cols = np.nonzero(block > thresh[:, None])
                if len(rows) > 4 * (q1 - q0) * k:  # adversarial order: reduce the block first
                    ids = np.broadcast_to(np.arange(r0, r1, dtype=np.int64), block.shape)
                    bs, bi = _select(block, ids, k)
                    rows = np.repeat(np.arange(q1 - q0), k)
                    best_s, best_i = _merge(best_s, best_i, rows, bs.ravel(), bi.ravel(), k)
                elif len(rows):
                    best_s, best_i = _merge(best_s, best_i, rows, block[rows, cols],
                                            cols.astype(np.int64) + r0, k)
            r0 = r1
        assert best_s is not None and best_i is not None
        out_s[q0:q1] = best_s
        out_i[q0:q1] = best_i
    return out_s, out_i
