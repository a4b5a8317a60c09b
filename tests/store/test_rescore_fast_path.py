"""The single-query rescoring path (one float32 vector, no filter) returns what the general path returns.

``Collection.search(vector, k, rescore=N)`` takes a lean path (index search of ``k * N`` candidates, one
gather of their float rows, one product, one sort); a batch, or a query of another dtype, takes the general
path (``_rescored``). Both are compared here, and against exact search, for binary, SQ8 and float indexes
under every metric, on fresh, reopened (memory-mapped), partly deleted and later-extended collections.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from embspace.index import ExactIndex
from embspace.store import Collection

pytest.importorskip("faiss")

DIM = 32
N = 400
K = 10
ALL = N // K  # rescore factor whose k * factor candidates are every item: the result is then exact

# The two paths compute the same dot products, but a batch goes through einsum and one query through a
# matrix-vector product, whose float32 summation orders may differ: scores agree to a few ulps, not bit for bit.
ATOL = 1e-4

FACTORIES = ["BinaryHNSW32", "BinaryFlat", "HNSW32,SQ8", "HNSW32"]
METRICS = ["cosine", "dot", "l2"]


def _points(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    basis = np.random.default_rng(99).standard_normal((8, DIM))
    return (rng.standard_normal((n, 8)) @ basis + 0.3 * rng.standard_normal((n, DIM))).astype(np.float32)


def _exact(keys: list[str], x: np.ndarray, metric: str, q: np.ndarray, k: int
           ) -> tuple[list[list[str]], np.ndarray]:
    """The exact top ``k`` keys and scores of every query of ``q`` (a batch)."""
    oracle = ExactIndex(DIM, metric=metric)  # type: ignore[arg-type]
    oracle.add(x, np.arange(len(x), dtype=np.int64))
    res = oracle.search(q, k)
    return [[keys[i] for i in row] for row in np.asarray(res.ids).tolist()], np.asarray(res.scores, np.float32)


def _check(col: Any, queries: np.ndarray, factor: int, params: dict[str, int] | None = None, *,
           fast_only: bool = True) -> None:
    """Every query: the fast path (with ``fast_only``, asserted taken: never ``_rescored``) equals the general
    path, one query (float64 input) and a batch. (An index that cannot fill ``k * factor`` candidates, e.g. HNSW
    asked for every item, hands the query to the general path, which pads.)"""
    general = col.search(queries, k=K, rescore=factor, params=params)
    general_calls = []
    real = col._rescored
    col._rescored = lambda *a: general_calls.append(1) or real(*a)
    try:
        fast = [col.search(v, k=K, rescore=factor, params=params) for v in queries]
    finally:
        del col._rescored
    assert not (fast_only and general_calls), "the single-query search took the general path"
    for i, (f, v) in enumerate(zip(fast, queries, strict=True)):
        one = col.search(v.astype(np.float64), k=K, rescore=factor, params=params)  # general path, one query
        assert f.keys == one.keys == general.keys[i]
        np.testing.assert_allclose(f.scores, one.scores, atol=ATOL)
        np.testing.assert_allclose(f.scores, general.scores[i], atol=ATOL)
        assert f.ids.tolist() == one.ids.tolist()


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("factory", FACTORIES)
def test_fast_rescoring_matches_the_general_path_and_exact_search(tmp_path: Path, factory: str, metric: str) -> None:
    x = _points(N, 0)
    queries = _points(8, 1)
    keys = [f"k{i}" for i in range(N)]
    rescore = None if factory == "HNSW32" else 4  # float HNSW32: rescore= only per query
    col = Collection.create(tmp_path / "c", dim=DIM, metric=metric, index=factory, rescore=rescore)
    col.add(keys, x)
    col.rebuild_index()
    params = {"efSearch": 48} if "HNSW" in factory else None
    _check(col, queries, 4, params)
    _check(col, queries, ALL, fast_only=False)
    # every item a candidate: the exact top k, with the exact scores
    want_keys, want_scores = _exact(keys, x, metric, queries, K)
    for v, wk, ws in zip(queries, want_keys, want_scores, strict=True):
        got = col.search(v, k=K, rescore=ALL)
        assert got.keys == wk
        np.testing.assert_allclose(got.scores, ws, atol=ATOL)  # float32 sums in another order: a few ulps
    col.close()

    # reopened: the float rows memory-mapped from the index's files
    col = Collection.open(tmp_path / "c")
    _check(col, queries, 4, params)
    _check(col, queries, ALL, fast_only=False)

    # deleted items (among them the best hits of the first queries) are never returned, on both paths
    gone = [k for k in col.search(queries[0], k=3, rescore=ALL).keys] + keys[::7]
    col.delete(gone)
    _check(col, queries, 4, params)
    live = [i for i, k in enumerate(keys) if k not in set(gone)]
    for v in queries[:4]:
        got = col.search(v, k=K, rescore=ALL)
        assert not set(got.keys) & set(gone)
        want, _ = _exact([keys[i] for i in live], x[live], metric, v[None], K)
        assert got.keys == want[0]
    col.close()

    # items added after the index was saved (their vectors kept in memory until the next save) are found
    col = Collection.open(tmp_path / "c")
    new = _points(30, 2)
    new_keys = [f"n{i}" for i in range(30)]
    col.add(new_keys, new)
    _check(col, new[:6], 4, params)
    all_keys = [keys[i] for i in live] + new_keys
    want, _ = _exact(all_keys, np.vstack([x[live], new]), metric, new[:6], K)
    for v, w in zip(new[:6], want, strict=True):
        got = col.search(v, k=K, rescore=ALL)
        assert got.keys == w and set(got.keys) & set(new_keys)
    col.close()


@pytest.mark.parametrize("ids", [np.arange(5, 55), np.array([0, 2, 3, 7, 8, 40, 41, 42, 60])])
def test_rows_of_agrees_with_get_for_consecutive_and_holey_ids(ids: np.ndarray) -> None:
    """rows_of takes a row offset when the ids have no hole and a binary search otherwise: both give get's
    rows, and an id outside the stored ones is refused (None) instead of read from a neighbour's row."""
    from embspace.store._rescore import RescoreVectors

    ids = ids.astype(np.int64)
    x = np.random.default_rng(0).standard_normal((len(ids), 4)).astype(np.float32)
    rv = RescoreVectors.from_arrays(ids[::-1].copy(), x[::-1].copy(), 4)
    pick = ids[[3, 0, len(ids) - 1, 3]]
    got = rv.rows_of(pick)
    assert got is not None
    np.testing.assert_array_equal(got, rv.get(pick)[0])  # the same stored rows, copied: exact
    assert rv.rows_of(np.array([int(ids[-1]) + 1], np.int64)) is None
    assert rv.rows_of(np.array([int(ids[0]) - 1], np.int64)) is None
