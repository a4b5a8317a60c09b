"""ExactIndex: the oracle agrees with EmbeddingSpace.neighbors; ids, removal, filters, files, errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from index_testing import METRICS, clustered

from embspace import EmbeddingSpace
from embspace.errors import (
    CorruptDataError,
    DimensionMismatchError,
    EmbspaceError,
    InvalidInputError,
    UnknownKeyError,
    ZeroVectorError,
)
from embspace.index import BaseIndex, ExactIndex, Index, load_index

X = clustered(1500, 16, clusters=30, seed=11)
Q = clustered(40, 16, clusters=30, seed=12)


def _assert_same(result_ids: np.ndarray, result_scores: np.ndarray, ref_ids: np.ndarray, ref_scores: np.ndarray
                 ) -> None:
    """Same hits and scores; ids may only differ between (near-)tied scores."""
    np.testing.assert_allclose(result_scores, ref_scores, rtol=1e-5, atol=1e-5)
    differ = result_ids != ref_ids
    assert differ.mean() < 0.01, f"{differ.sum()} hits differ"


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("unnormalised", [False, True])
def test_exact_equals_space_neighbors(metric: str, unnormalised: bool) -> None:
    x = X * np.linspace(0.2, 5, len(X), dtype=np.float32)[:, None] if unnormalised else X
    space = EmbeddingSpace([str(i) for i in range(len(x))], x, metric=metric)  # type: ignore[arg-type]
    index = ExactIndex(16, metric=metric)  # type: ignore[arg-type]
    index.add(x)  # default ids 0..n-1: the keys of the space
    got = index.search(Q, k=10)
    ref = space.neighbors(Q, k=10)
    _assert_same(got.ids, got.scores, ref.ids, ref.scores)
    assert got.keys == ref.keys or np.mean(np.array(got.keys) != np.array(ref.keys)) < 0.01
    one = index.search(Q[3], k=5)  # a single query gives 1-D results
    ref1 = space.neighbors(Q[3], k=5)
    assert one.scores.shape == (5,) and one.ids.dtype == np.int64
    _assert_same(one.ids, one.scores, ref1.ids, ref1.scores)


def test_is_an_index_and_basics() -> None:
    index = ExactIndex(16, metric="l2")
    assert isinstance(index, Index) and isinstance(index, BaseIndex)
    index.add(X[:10], ids=np.arange(10) * 7)
    index.add(X[10:12])  # default ids continue after the largest
    assert index.ntotal == len(index) == 12
    assert index.ids.tolist() == [*range(0, 70, 7), 64, 65]
    assert 63 in index and 62 not in index and "63" not in index
    np.testing.assert_array_equal(index.reconstruct([7, 65]), X[[1, 11]])
    with pytest.raises(UnknownKeyError):
        index.reconstruct([8])
    res = index.search(X[1], k=3)
    assert res.ids[0] == 7 and res.keys[0] == "7" and res.scores[0] == pytest.approx(0.0, abs=1e-3)
    assert index.search(X[1], k=100).ids.shape == (12,)  # k beyond the size: all of them


def test_cosine_stores_unit_vectors_and_refuses_zero_query() -> None:
    index = ExactIndex(16)
    index.add(X[:5] * 10, ids=[1, 2, 3, 4, 5])
    np.testing.assert_allclose(np.linalg.norm(index.reconstruct([1, 2]), axis=1), 1.0, rtol=1e-6)
    with pytest.raises(ZeroVectorError):
        index.search(np.zeros(16), k=1)


def test_remove_never_returns_removed_and_compacts() -> None:
    index = ExactIndex(16, metric="dot")
    index.add(X, ids=np.arange(len(X)) + 10)
    top = index.search(Q, k=5).ids
    gone = np.unique(top)
    assert index.remove(gone) == len(gone)
    assert index.remove(gone) == 0  # already removed: ignored
    assert index.ntotal == len(X) - len(gone) and index.n_removed == len(gone)
    after = index.search(Q, k=50).ids
    assert not np.isin(after, gone).any()
    # the same as an index built without them
    keep = ~np.isin(np.arange(len(X)) + 10, gone)
    fresh = ExactIndex(16, metric="dot")
    fresh.add(X[keep], ids=(np.arange(len(X)) + 10)[keep])
    np.testing.assert_array_equal(after, fresh.search(Q, k=50).ids)
    # removing most rows triggers compaction; results stay the same
    index.remove(np.arange(10, 10 + 1200))
    assert index.n_removed == 0 and index.ntotal == len(X) - 1200 - np.sum(gone >= 1210)
    res = index.search(Q, k=5).ids
    assert (res >= 1210).all()


@pytest.mark.parametrize("fraction", [0.01, 0.1, 0.5])
def test_allowed_ids(fraction: float) -> None:
    ids = np.arange(len(X)) * 2
    index = ExactIndex(16, metric="cosine")
    index.add(X, ids=ids)
    rng = np.random.default_rng(5)
    allowed = rng.choice(ids, int(fraction * len(ids)), replace=False)
    got = index.search(Q, k=10, allowed_ids=allowed)
    assert np.isin(got.ids, allowed).all()
    sub = ExactIndex(16, metric="cosine")
    sub.add(X[allowed // 2], ids=allowed)
    ref = sub.search(Q, k=10)
    _assert_same(got.ids, got.scores, ref.ids, ref.scores)
    # sets, unknown ids and removed ids are fine; an empty allowance gives no hits
    index.remove(allowed[:1])
    res = index.search(Q[0], k=10, allowed_ids={*allowed.tolist(), 10**9})
    assert allowed[0] not in res.ids and np.isin(res.ids, allowed).all()
    assert index.search(Q, k=10, allowed_ids=[]).ids.shape == (len(Q), 0)


@pytest.mark.parametrize("metric", METRICS)
def test_save_load_round_trip(tmp_path: Path, metric: str) -> None:
    index = ExactIndex(16, metric=metric)  # type: ignore[arg-type]
    index.add(X, ids=np.arange(len(X)) + 1)
    index.remove([1, 2, 3])
    before = index.search(Q, k=10)
    path = index.save(tmp_path / "exact")
    meta = json.loads((path / "index.json").read_text())
    assert meta["kind"] == "exact" and meta["metric"] == metric and meta["dim"] == 16
    for loaded in (ExactIndex.load(path), load_index(path)):
        assert isinstance(loaded, ExactIndex) and loaded.metric == metric and loaded.ntotal == len(X) - 3
        after = loaded.search(Q, k=10)
        np.testing.assert_array_equal(after.ids, before.ids)  # the same hits, in the same order
        # Not bit for bit: save() compacts the removed rows away, so the loaded matrix has other row
        # offsets and BLAS (float32, blocked and vectorised by row) sums the products in another
        # order; the scores then differ in the last bits (relative error ~6e-8 seen on a fresh venv).
        np.testing.assert_allclose(after.scores, before.scores, rtol=1e-6, atol=1e-6)


def test_load_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        ExactIndex.load(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CorruptDataError):
        load_index(tmp_path / "empty")
    index = ExactIndex(4)
    index.add(np.eye(4))
    path = index.save(tmp_path / "ok")
    (path / "index.json").write_text("{not json")
    with pytest.raises(CorruptDataError):
        load_index(path)
    index.save(path)
    np.save(path / "ids.npy", np.array([0, 1, 1, 2]))
    with pytest.raises(CorruptDataError, match="duplicate"):
        ExactIndex.load(path)


def test_bad_inputs() -> None:
    index = ExactIndex(16)
    index.add(X[:10], ids=range(10))
    with pytest.raises(DimensionMismatchError):
        index.add(np.ones((2, 15)), ids=[20, 21])
    with pytest.raises(DimensionMismatchError):
        index.search(np.ones(15))
    bad = X[10:12].copy()
    bad[1, 3] = np.nan
    with pytest.raises(InvalidInputError, match="NaN"):
        index.add(bad, ids=[20, 21])
    with pytest.raises(InvalidInputError, match="NaN"):
        index.search(bad)
    with pytest.raises(InvalidInputError, match="duplicate id 5"):
        index.add(X[10:12], ids=[5, 5])
    with pytest.raises(InvalidInputError, match="already in the index"):
        index.add(X[10:12], ids=[3, 30])
    with pytest.raises(InvalidInputError, match="one id per vector"):
        index.add(X[10:12], ids=[30])
    with pytest.raises(InvalidInputError, match="non-negative"):
        index.add(X[10:11], ids=[-4])
    with pytest.raises(InvalidInputError, match="integers"):
        index.add(X[10:11], ids=[1.5])
    for k in (0, -1, True, 2.0):
        with pytest.raises(InvalidInputError, match="k must be"):
            index.search(X[0], k=k)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="unknown parameter"):
        index.search(X[0], params={"nprobe": 3})
    with pytest.raises(InvalidInputError, match="metric"):
        ExactIndex(16, metric="manhattan")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="dim"):
        ExactIndex(0)
    assert index.ntotal == 10  # nothing half-added
    with pytest.raises(EmbspaceError) as err:
        index.add(X[:1], ids=[1])
    assert isinstance(err.value, ValueError)
