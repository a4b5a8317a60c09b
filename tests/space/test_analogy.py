"""Analogies: batches equal single questions, a/b/c are never answers, 3CosMul by hand and vs gensim."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from space_testing import assert_topk, fast, unit_rows

from embspace import EmbeddingSpace
from embspace.errors import InvalidInputError, UnknownKeyError

METHODS = ["3cosadd", "3cosmul"]


def _space(seed: int, n: int = 30, dim: int = 6, metric: str = "cosine") -> EmbeddingSpace:
    rng = np.random.default_rng(seed)
    return EmbeddingSpace([f"w{i}" for i in range(n)], rng.standard_normal((n, dim)) * rng.uniform(0.5, 3, (n, 1)),
                          metric=metric)  # type: ignore[arg-type]


def ref_analogy_scores(x: np.ndarray, a: int, b: int, c: int, method: str) -> np.ndarray:
    """Float64 reference: 3CosAdd as cosine to (b - a + c) of unit vectors, 3CosMul as Levy & Goldberg."""
    u = unit_rows(x)
    if method == "3cosadd":
        target = u[b] - u[a] + u[c]
        return u @ target / max(np.linalg.norm(target), 1e-300)
    cos = (1 + u @ u[[a, b, c]].T) / 2  # (n, 3) shifted to [0, 1]
    return cos[:, 1] * cos[:, 2] / (cos[:, 0] + 1e-6)


@fast(50)
@given(seed=st.integers(0, 2**32 - 1), method=st.sampled_from(METHODS), data=st.data(),
       metric=st.sampled_from(["cosine", "dot", "l2"]))
def test_batch_equals_single_and_reference(seed: int, method: str, data: st.DataObject, metric: str) -> None:
    space = _space(seed, n=data.draw(st.integers(5, 30)), metric=metric)
    n = len(space)
    triples = data.draw(st.lists(st.lists(st.integers(0, n - 1), min_size=3, max_size=3), min_size=1, max_size=6))
    k = data.draw(st.integers(1, n - 3))
    keys = space.keys
    a, b, c = ([keys[t[j]] for t in triples] for j in range(3))
    batch = space.analogy(a, b, c, k=k, method=method)  # type: ignore[arg-type]
    assert batch.batched and batch.scores.shape == (len(triples), k)
    x = np.asarray(space.vectors, np.float64)
    for i, (ia, ib, ic) in enumerate(triples):
        single = space.analogy(keys[ia], keys[ib], keys[ic], k=k, method=method)  # type: ignore[arg-type]
        assert not single.batched
        valid = np.ones(n, bool)
        valid[[ia, ib, ic]] = False
        ref = ref_analogy_scores(x, ia, ib, ic, method)
        # 3CosMul divides by a shifted cosine that can be ~0.04 (scores ~25): float32 rounding of that
        # cosine then moves the score by ~1e-4, so the tolerance grows with the scores' size
        tol = 1e-4 * max(1.0, float(np.abs(ref[valid]).max()))
        for res_s, res_i in ((batch.scores[i], batch.ids[i]), (single.scores, single.ids)):
            assert_topk(res_s, res_i, ref, valid, k, atol=tol)
        # float32 scores: 3CosMul's can reach ~1/ε, so the tolerance is relative as well as absolute
        np.testing.assert_allclose(batch.scores[i], single.scores, rtol=1e-5, atol=1e-5)
        for j in np.nonzero(batch.ids[i] != single.ids)[0]:  # only where scores tie
            s_b, s_s = float(batch.scores[i, j]), float(single.scores[j])
            assert abs(s_b - s_s) <= 1e-5 * max(1.0, abs(s_s))
        assert batch.keys[i] == [keys[j] for j in batch.ids[i]]


@pytest.mark.parametrize("method", METHODS)
def test_question_words_are_never_answers(method: str) -> None:
    # b - a + c is exactly c here, and b is the nearest to everything: both must still be skipped.
    space = EmbeddingSpace(["a", "b", "c", "d", "e"],
                           [[1, 0, 0], [1, 1, 1], [0, 1, 0], [0, 0.9, 0.1], [0.1, 0.1, -1]])
    r = space.analogy("a", "b", "c", k=10, method=method)  # type: ignore[arg-type]
    assert sorted(r.keys) == ["d", "e"]
    rb = space.analogy(["a", "c"], ["b", "b"], ["c", "a"], k=10, method=method)  # type: ignore[arg-type]
    for row in rb.keys:
        assert sorted(row) == ["d", "e"]  # type: ignore[arg-type]


def test_repeated_question_words_excluded_once() -> None:
    space = _space(1, n=6)
    r = space.analogy("w0", "w0", "w1", k=10)
    assert len(r.keys) == 4 and not {"w0", "w1"} & set(r.keys)


def test_3cosmul_by_hand() -> None:
    vecs = {"a": [1, 0, 0], "b": [1, 1, 0], "c": [0, 1, 1], "x": [1, 2, 1], "y": [0, 0, 1], "z": [-1, 1, 0]}
    space = EmbeddingSpace.from_dict(vecs)

    def cos(u: list[int], v: list[int]) -> float:
        return float(np.dot(u, v) / (np.linalg.norm(u) * np.linalg.norm(v)))

    def by_hand(w: str) -> float:
        ca, cb, cc = ((1 + cos(vecs[w], vecs[q])) / 2 for q in "abc")
        return cb * cc / (ca + 1e-6)

    expected = sorted(((w, by_hand(w)) for w in "xyz"), key=lambda t: -t[1])
    r = space.analogy("a", "b", "c", k=3, method="3cosmul")
    assert r.keys == [w for w, _ in expected]
    np.testing.assert_allclose(r.scores, [s for _, s in expected], rtol=1e-6)
    # x = (1, 2, 1): cos(x, a) = 1/sqrt6, cos(x, b) = 3/sqrt12, cos(x, c) = 3/sqrt12, computed out loud:
    s6, s12 = np.sqrt(6), np.sqrt(12)
    assert dict(r.to_list())["x"] == pytest.approx((1 + 3 / s12) ** 2 / 4 / ((1 + 1 / s6) / 2 + 1e-6), rel=1e-6)


@pytest.mark.parametrize("method", METHODS)
def test_agrees_with_gensim(method: str) -> None:
    gensim_models = pytest.importorskip("gensim.models")
    space = _space(7, n=60, dim=10)
    kv = gensim_models.KeyedVectors(vector_size=space.dim)
    kv.add_vectors(list(space.keys), np.asarray(space.vectors))
    for a, b, c in [("w1", "w2", "w3"), ("w10", "w0", "w59"), ("w5", "w6", "w5")]:
        ours = space.analogy(a, b, c, k=5, method=method)  # type: ignore[arg-type]
        if method == "3cosadd":
            theirs = kv.most_similar(positive=[b, c], negative=[a], topn=5)
        else:
            theirs = kv.most_similar_cosmul(positive=[b, c], negative=[a], topn=5)
        assert ours.keys == [w for w, _ in theirs]
        if method == "3cosmul":
            np.testing.assert_allclose(ours.scores, [s for _, s in theirs], rtol=1e-4)


def test_analogy_validation(toy: EmbeddingSpace) -> None:
    with pytest.raises(InvalidInputError, match="same length"):
        toy.analogy(["man"], ["king", "man"], ["woman"])
    with pytest.raises(InvalidInputError, match="method"):
        toy.analogy("man", "king", "woman", method="3cosdiv")  # type: ignore[arg-type]
    with pytest.raises(UnknownKeyError):
        toy.analogy("man", "kng", "woman")
    with pytest.raises(InvalidInputError):
        toy.analogy("man", "king", "woman", k=0)
    empty = toy.analogy([], [], [])
    assert empty.batched and len(empty) == 0


def test_analogy_k_capped_by_remaining_words(toy: EmbeddingSpace) -> None:
    r = toy.analogy("man", "king", "woman", k=50)
    assert r.keys[0] == "queen" and sorted(r.keys) == ["apple", "queen"]
