"""EmbeddingSpace.neighbors against a naive float64 reference, for every metric and query kind."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from space_testing import assert_topk, fast, ref_scores, search_matrices, search_values, tolerance

from embspace import EmbeddingSpace, SearchResult
from embspace.errors import ZeroVectorError

METRICS = ["cosine", "dot", "l2"]


@st.composite
def search_cases(draw: st.DrawFn) -> dict[str, Any]:
    x = draw(search_matrices())
    n, dim = x.shape
    keys = [f"k{i}" for i in range(n)]
    kind = draw(st.sampled_from(["key", "vector", "keys", "matrix", "mixed"]))
    key_rows = st.integers(0, n - 1)
    vec = hnp.arrays(np.float32, (dim,), elements=search_values)
    if kind == "key":
        query: Any = keys[draw(key_rows)]
    elif kind == "vector":
        query = draw(vec)
    elif kind == "keys":
        query = [keys[i] for i in draw(st.lists(key_rows, min_size=1, max_size=5))]
    elif kind == "matrix":
        query = draw(hnp.arrays(np.float32, (draw(st.integers(1, 5)), dim), elements=search_values))
    else:
        query = draw(st.lists(st.one_of(key_rows.map(lambda i: keys[i]), vec), min_size=1, max_size=5))
    return {
        "x": x,
        "keys": keys,
        "query": query,
        "kind": kind,
        "metric": draw(st.sampled_from(METRICS)),
        "k": draw(st.integers(1, n + 3)),
        "exclude": draw(st.lists(st.sampled_from(keys), unique=True, max_size=max(0, n - 1))),
        "include_self": draw(st.booleans()),
    }


def _expand(case: dict[str, Any]) -> tuple[np.ndarray, list[int], bool]:
    """Queries as a float matrix, the row of each key query (-1 for vectors), and batchedness."""
    x, keys, q = case["x"], case["keys"], case["query"]
    index = {k: i for i, k in enumerate(keys)}
    if isinstance(q, str):
        return x[[index[q]]], [index[q]], False
    if isinstance(q, np.ndarray):
        return np.atleast_2d(q), [-1] * len(np.atleast_2d(q)), q.ndim == 2
    rows = [index[item] if isinstance(item, str) else -1 for item in q]
    mat = np.stack([x[index[item]] if isinstance(item, str) else item for item in q])
    return mat, rows, True


@fast(150)
@given(search_cases())
def test_neighbors_match_reference(case: dict[str, Any]) -> None:
    x, keys, metric = case["x"], case["keys"], case["metric"]
    space = EmbeddingSpace(keys, x, metric=metric)
    queries, self_rows, batched = _expand(case)
    call = lambda: space.neighbors(case["query"], k=case["k"], exclude=case["exclude"],  # noqa: E731
                                   include_self=case["include_self"])
    if metric == "cosine" and (np.linalg.norm(queries.astype(np.float64), axis=1) == 0).any():
        with pytest.raises(ZeroVectorError):
            call()
        return
    result = call()
    assert isinstance(result, SearchResult)
    assert result.batched == batched

    n = len(keys)
    excluded = np.zeros(n, bool)
    excluded[[keys.index(k) for k in case["exclude"]]] = True
    valid = np.tile(~excluded, (len(queries), 1))
    if not case["include_self"]:
        for i, r in enumerate(self_rows):
            if r >= 0:
                valid[i, r] = False
    length = min(case["k"], int(valid.sum(axis=1).min()))
    ref = ref_scores(x, queries, metric)

    scores = result.scores if batched else result.scores[None, :]
    ids = result.ids if batched else result.ids[None, :]
    hit_keys = result.keys if batched else [result.keys]
    assert scores.shape == ids.shape == (len(queries), length)
    for i in range(len(queries)):
        atol, dom = tolerance(x, queries[i], metric)
        assert_topk(scores[i], ids[i], ref[i], valid[i], length, atol, dom)
        assert hit_keys[i] == [keys[j] for j in ids[i]]


@fast(60)
@given(x=search_matrices(), metric=st.sampled_from(METRICS), data=st.data())
def test_batch_equals_single_queries(x: np.ndarray, metric: str, data: st.DataObject) -> None:
    keys = [f"k{i}" for i in range(len(x))]
    space = EmbeddingSpace(keys, x, metric=metric)
    queries = data.draw(st.lists(st.sampled_from(keys), min_size=1, max_size=6))
    if metric == "cosine" and any(not x[keys.index(q)].any() for q in queries):
        return
    k = data.draw(st.integers(1, len(keys)))
    batch = space.neighbors(queries, k=k)
    for i, q in enumerate(queries):
        single = space.neighbors(q, k=k)
        n_common = min(len(single), batch.scores.shape[1])
        # Same scores up to rounding, and the same ids except where the scores tie.
        np.testing.assert_allclose(batch.scores[i, :n_common], single.scores[:n_common], atol=1e-4, rtol=1e-5)
        for j in np.nonzero(batch.ids[i, :n_common] != single.ids[:n_common])[0]:
            assert abs(float(batch.scores[i, j]) - float(single.scores[j])) <= 1e-4 * (1 + abs(single.scores[j]))


def test_key_query_excludes_itself_by_default() -> None:
    space = EmbeddingSpace(["a", "b", "c"], [[1, 0], [0.9, 0.1], [0, 1]])
    assert space.neighbors("a", k=3).keys == ["b", "c"]
    r = space.neighbors("a", k=3, include_self=True)
    assert r.keys == ["a", "b", "c"] and r.scores[0] == pytest.approx(1.0)


def test_exclude_and_k_larger_than_n() -> None:
    space = EmbeddingSpace(list("abcd"), np.eye(4) + 0.1)
    r = space.neighbors(np.ones(4), k=100, exclude=["b"])
    assert sorted(r.keys) == ["a", "c", "d"] and r.scores.shape == (3,) and r.ids.shape == (3,)
    assert space.neighbors(np.ones(4), k=2, exclude="a").keys[0] != "a"  # a lone string is one key
    r1 = EmbeddingSpace(["only"], [[1.0]]).neighbors("only", k=5)
    assert r1.keys == [] and r1.top == ""


def test_l2_scores_are_negated_distances() -> None:
    space = EmbeddingSpace(["o", "p", "q"], [[0, 0], [3, 4], [1, 1]], metric="l2")
    r = space.neighbors([0.0, 0.0], k=3)
    assert r.keys == ["o", "q", "p"]
    np.testing.assert_allclose(r.scores, [0, -np.sqrt(2), -5], rtol=1e-6)


def test_dot_scores_are_inner_products() -> None:
    space = EmbeddingSpace(["a", "b"], [[1, 2], [3, -1]], metric="dot")
    r = space.neighbors([2.0, 1.0], k=2)
    assert r.keys == ["b", "a"] and r.scores.tolist() == [5.0, 4.0]


def test_batched_result_shapes_and_keys(small_space: EmbeddingSpace) -> None:
    r = small_space.neighbors(["w1", "w2", "w3"], k=4)
    assert r.batched and r.scores.shape == (3, 4) and r.ids.shape == (3, 4)
    assert len(r.keys) == 3 and all(len(row) == 4 for row in r.keys)
    assert r[1].keys == small_space.neighbors("w2", k=4).keys
