"""Exact top-k over a score matrix computed block by block.

The score matrix (queries x rows) is never materialised whole: it is produced, one BLAS matrix
product at a time, into a reused buffer whose size is bounded by a memory budget.

The work is split across threads, like FAISS does it: by query ranges when there are many
queries, by row ranges (merged at the end) when there are few. Each thread multiplies its queries
by a block of rows small enough to stay in cache (single-threaded BLAS, so threads do not fight),
then a compiled kernel (numba) scans the block: each query keeps its k best (score, id) pairs
sorted and compares every new score with its current k-th best; only the rare score that beats
it is inserted. That is one comparison per score, on all cores, with no temporary arrays.

Without numba, a NumPy path does the same in bulk: the first block is reduced with
``argpartition``; every later block is compared with the running k-th best score of each query
and the few candidates that beat it are merged in.

Ties are broken by the lower row id, so a query gives the same hits alone or in a batch.

:func:`search` is the one exact searcher of embspace: :class:`~embspace.space.EmbeddingSpace`,
:class:`~embspace.index.ExactIndex` (and the exact paths of :class:`~embspace.index.FaissIndex`)
and the analyses call it with a metric, and the score blocks come from :mod:`._linalg`.
:func:`topk` takes any score block, for the scores that are not a plain metric (analogies,
re-scoring).
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import numpy as np
import numpy.typing as npt

from .._types import FloatArray, IntArray, Metric
from . import _linalg
from ._linalg import ScoreBlock

__all__ = ["ScoreBlock", "search", "topk"]

DEFAULT_BUDGET = 64 * 2**20  # bytes of scores held at once, all threads together
MAX_ROW_BLOCK = 4096  # a block of a few MB stays in cache between the product and the scan

try:
    from numba import njit

    @njit(nogil=True, cache=True)
    def _scan(block: FloatArray, r0: int, best_s: FloatArray, best_i: IntArray) -> None:  # pragma: no cover
        """Insert each row's scores that beat its k-th best into its sorted best lists."""
        nq, width = block.shape
        k = best_s.shape[1]
        for q in range(nq):
            bs = best_s[q]
            bi = best_i[q]
            thr = bs[k - 1]
            row = block[q]
            for j in range(width):
                v = row[j]
                if v > thr:  # strict: an equal score never displaces a lower id
                    p = k - 1
                    while p > 0 and bs[p - 1] < v:
                        bs[p] = bs[p - 1]
                        bi[p] = bi[p - 1]
                        p -= 1
                    bs[p] = v
                    bi[p] = r0 + j
                    thr = bs[k - 1]

    HAVE_NUMBA = True
except ImportError:  # pragma: no cover - numba is a dependency; this keeps search working without it
    HAVE_NUMBA = False

USE_NUMBA = HAVE_NUMBA  # tests switch this to exercise both paths
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
         exclude_per_query: IntArray | None = None, budget: int = DEFAULT_BUDGET,
         threads: int | None = None) -> tuple[FloatArray, IntArray]:
    """Exact top-k of every query, best first.

    Parameters
    ----------
    score_block
        Computes a block of scores; see :data:`ScoreBlock`. Called from several threads at once.
    nq, n
        Number of queries and of rows.
    k
        Hits per query; the caller makes sure at least ``k`` rows remain after exclusions.
    exclude
        Sorted unique row ids excluded for every query.
    exclude_per_query
        (nq, m) row ids excluded for each query, ``-1`` for none.
    budget
        Upper bound, in bytes, of the score blocks held at once.
    threads
        Worker threads (default: the CPUs this process may use).

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
    threads = max(1, min(threads or _cpus(), 64))
    by_queries = nq >= 8 * threads
    parts = min(threads, nq if by_queries else max(1, n // max(k, 256)))
    cuts = np.linspace(0, nq if by_queries else n, parts + 1).astype(np.int64).tolist()
    tasks = [(a, b) for a, b in itertools.pairwise(cuts) if b > a]

    def run(task: tuple[int, int]) -> tuple[FloatArray, IntArray]:
        q0, q1, r0, r1 = (task[0], task[1], 0, n) if by_queries else (0, nq, task[0], task[1])
        return _range_topk(score_block, q0, q1, r0, r1, k, exclude, exclude_per_query, budget // len(tasks))

    if len(tasks) == 1:
        results = [run(tasks[0])]
    else:
        with _single_threaded_blas(), ThreadPoolExecutor(len(tasks)) as pool:
            results = list(pool.map(run, tasks))
    if by_queries:
        for (q0, q1), (bs, bi) in zip(tasks, results, strict=True):
            out_s[q0:q1], out_i[q0:q1] = bs, bi
        return out_s, out_i
    return _select(np.concatenate([r[0] for r in results], axis=1), np.concatenate([r[1] for r in results], axis=1),
                   k)


def search(q: FloatArray, x: FloatArray, k: int, metric: Metric, *, sq: npt.NDArray[np.float64] | None = None,
           inv: FloatArray | None = None, exclude: IntArray | None = None,
           exclude_per_query: IntArray | None = None) -> tuple[FloatArray, IntArray]:
    """Exact top-k of prepared queries over rows under a metric: the one exact searcher.

    Parameters
    ----------
    q
        ``(nq, dim)`` float32 queries, unit rows for ``cosine``.
    x
        ``(n, dim)`` float32 rows: unit rows for ``cosine``, or give their inverse norms as ``inv``.
    k
        Hits per query; at least ``k`` rows must remain after the exclusions.
    metric
        ``"cosine"``, ``"dot"`` or ``"l2"`` (scores are the negated Euclidean distances).
    sq, inv
        Squared row norms (``l2``; computed when missing) and inverse row norms (``cosine`` over
        rows that are not unit); see :func:`._linalg.score_block`.
    exclude, exclude_per_query
        As for :func:`topk`.

    Returns
    -------
    scores, rows
        float32 ``(nq, k)`` final scores, best first, and int64 ``(nq, k)`` row numbers of ``x``.
    """
    block = _linalg.score_block(metric, q, x, sq=sq, inv=inv)
    scores, rows = topk(block, len(q), len(x), k, exclude=exclude, exclude_per_query=exclude_per_query)
    return _linalg.finish_scores(metric, q, scores), rows


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


@contextmanager
def _single_threaded_blas() -> Iterator[None]:
    """BLAS on one thread while our own threads split the work (threadpoolctl, when installed)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover
        yield
        return
    with threadpool_limits(1, user_api="blas"):
        yield


def _range_topk(score_block: ScoreBlock, q0: int, q1: int, r0: int, r1: int, k: int, exclude: IntArray | None,
                exclude_per_query: IntArray | None, budget: int) -> tuple[FloatArray, IntArray]:
    """Top-k of queries ``q0:q1`` over rows ``r0:r1`` (ids are global row ids)."""
    nq, n = q1 - q0, r1 - r0
    qb, rb = block_sizes(nq, n, budget)
    rb = max(rb, min(n, 2 * k))  # the first block always holds k rows
    buffer = np.empty(qb * rb, np.float32)
    out_s = np.full((nq, k), -np.inf, np.float32)
    out_i = np.full((nq, k), -1, np.int64)
    for a in range(q0, q1, qb):
        b = min(q1, a + qb)
        if USE_NUMBA:
            best_s, best_i = out_s[a - q0 : b - q0], out_i[a - q0 : b - q0]
            for s0 in range(r0, r1, rb):
                s1 = min(r1, s0 + rb)
                block = score_block(a, b, s0, s1, buffer[: (b - a) * (s1 - s0)].reshape(b - a, s1 - s0))
                _mask(block, a, s0, s1, exclude, exclude_per_query)
                _scan(block, s0, best_s, best_i)
        else:
            bs, bi = _numpy_blocks(score_block, buffer, a, b, r0, r1, rb, k, exclude, exclude_per_query)
            out_s[a - q0 : b - q0], out_i[a - q0 : b - q0] = bs, bi
    return out_s, out_i


def _numpy_blocks(score_block: ScoreBlock, buffer: FloatArray, q0: int, q1: int, r0: int, r1: int, rb: int, k: int,
                  exclude: IntArray | None, exclude_per_query: IntArray | None) -> tuple[FloatArray, IntArray]:
    best_s: FloatArray | None = None
    best_i: IntArray | None = None
    for s0 in range(r0, r1, rb):
        s1 = min(r1, s0 + rb)
        block = score_block(q0, q1, s0, s1, buffer[: (q1 - q0) * (s1 - s0)].reshape(q1 - q0, s1 - s0))
        _mask(block, q0, s0, s1, exclude, exclude_per_query)
        ids = np.broadcast_to(np.arange(s0, s1, dtype=np.int64), block.shape)
        if best_s is None or best_i is None:
            best_s, best_i = _select(block, ids, min(k, block.shape[1]))
            if best_s.shape[1] < k:  # a range with fewer than k rows: pad
                pad = k - best_s.shape[1]
                best_s = np.hstack([best_s, np.full((q1 - q0, pad), -np.inf, np.float32)])
                best_i = np.hstack([best_i, np.full((q1 - q0, pad), -1, np.int64)])
        else:
            thresh = best_s[:, -1]
            rows, cols = np.nonzero(block > thresh[:, None])
            if len(rows) > 4 * (q1 - q0) * k:  # adversarial order: reduce the block first
                bs, bi = _select(block, ids, min(k, block.shape[1]))
                rows = np.repeat(np.arange(q1 - q0), bs.shape[1])
                best_s, best_i = _merge(best_s, best_i, rows, bs.ravel(), bi.ravel(), k)
            elif len(rows):
                best_s, best_i = _merge(best_s, best_i, rows, block[rows, cols], cols.astype(np.int64) + s0, k)
    assert best_s is not None and best_i is not None
    return best_s, best_i
