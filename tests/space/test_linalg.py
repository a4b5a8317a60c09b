"""space._linalg: the one row normaliser (zero rows stay zero) and the one exact searcher."""

from __future__ import annotations

import numpy as np
import pytest

from embspace import EmbeddingSpace
from embspace.errors import ZeroVectorError
from embspace.index import ExactIndex
from embspace.index.base import exact_topk, normalize_rows
from embspace.space import _linalg, _topk


def test_unit_rows_keep_zero_rows_zero_and_make_tiny_rows_unit() -> None:
    x = np.array([[3.0, 4.0], [0.0, 0.0], [1e-30, 0.0], [0.0, -2.0]], np.float32)
    u = _linalg.unit_rows(x)
    assert u.dtype == np.float32 and u is not x
    np.testing.assert_allclose(u, [[0.6, 0.8], [0, 0], [1, 0], [0, -1]], atol=1e-7)
    np.testing.assert_array_equal(u[1], [0.0, 0.0])  # the convention: exactly zero, never NaN
    assert _linalg.unit_rows(x, dtype=np.float64).dtype == np.float64
    with pytest.raises(ZeroVectorError, match="query #1"):
        _linalg.unit_rows(x, zero="raise", what="query")
    np.testing.assert_allclose(_linalg.row_norms(x), [5, 0, 1e-30, 2], rtol=1e-6)
    np.testing.assert_allclose(_linalg.inv_norms(_linalg.row_sq_norms(x))[[0, 1, 3]], [0.2, 0, 0.5], rtol=1e-6)


def test_every_normaliser_follows_the_convention() -> None:
    x = np.array([[0.0, 0.0, 0.0], [1.0, 2.0, 2.0]], np.float32)
    expected = _linalg.unit_rows(x)
    np.testing.assert_array_equal(normalize_rows(x, allow_zero=True), expected)  # same function
    np.testing.assert_array_equal(EmbeddingSpace(["z", "a"], x).normalize().vectors, expected)
    index = ExactIndex(3, metric="cosine")
    index.add(x)
    np.testing.assert_array_equal(index.reconstruct([0, 1]), expected)
    from embspace.analysis.diagnostics import _unit
    from embspace.encoders.encoder import l2_normalize

    np.testing.assert_array_equal(l2_normalize(x.copy()), expected)
    np.testing.assert_allclose(_unit(x), expected, atol=1e-7)  # float64 there


@pytest.mark.parametrize("metric", ["cosine", "dot", "l2"])
def test_one_searcher_for_space_and_index(metric: str) -> None:
    rng = np.random.default_rng(3)
    x = rng.standard_normal((700, 12)).astype(np.float32)
    q = rng.standard_normal((9, 12)).astype(np.float32)
    space = EmbeddingSpace([str(i) for i in range(len(x))], x, metric=metric)  # type: ignore[arg-type]
    got = space.neighbors(q, k=7)
    prep = _linalg.unit_rows(q) if metric == "cosine" else q
    rows = _linalg.unit_rows(x) if metric == "cosine" else x
    scores, ids = _topk.search(prep, np.ascontiguousarray(rows), 7, metric)  # type: ignore[arg-type]
    # the space scores its raw rows with inverse norms, the index its unit rows: same ranking,
    # scores equal up to float32 rounding of the two products
    np.testing.assert_allclose(got.scores, scores, rtol=1e-5, atol=1e-5)
    assert (got.ids != ids).mean() < 0.02
    s2, i2 = exact_topk(prep, np.ascontiguousarray(rows), 7, metric)  # type: ignore[arg-type]
    np.testing.assert_array_equal(i2, ids)  # the index's searcher is the same function: identical
    np.testing.assert_array_equal(s2, scores)
    # brute force in float64
    x64, q64 = rows.astype(np.float64), prep.astype(np.float64)
    ref = -np.sqrt(((q64[:, None, :] - x64[None]) ** 2).sum(-1)) if metric == "l2" else q64 @ x64.T
    np.testing.assert_allclose(scores, -np.sort(-ref, axis=1)[:, :7], rtol=1e-5, atol=1e-5)
