"""CSLS and mutual proximity: exact scores, fewer hubs, queries that are keys or new vectors."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import ndtr

from embspace import EmbeddingSpace
from embspace.analysis import RescoredSpace, csls, hubness, mutual_proximity
from embspace.errors import InvalidInputError


def _hubby(n: int = 1500, dim: int = 60, seed: int = 0) -> EmbeddingSpace:
    """High-dimensional Gaussian under L2: points near the mean are everybody's neighbour."""
    x = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return EmbeddingSpace([f"k{i}" for i in range(n)], x, metric="l2")


def _sims(space: EmbeddingSpace) -> np.ndarray:  # float64 similarity matrix
    x = space.vectors.astype(np.float64)
    if space.metric == "cosine":
        u = x / np.linalg.norm(x, axis=1, keepdims=True)
        out: np.ndarray = u @ u.T
        return out
    return -np.sqrt(np.maximum(((x[:, None, :] - x[None, :, :]) ** 2).sum(-1), 0))


@pytest.mark.parametrize("metric", ["cosine", "l2"])
def test_csls_scores_are_the_textbook_formula(metric: str) -> None:
    space = _hubby(300, 20).with_metric(metric)  # type: ignore[arg-type]
    fixed = csls(space, k=5)
    s = _sims(space)
    np.fill_diagonal(s, -np.inf)
    r = np.sort(s, axis=1)[:, -5:].mean(axis=1)
    res = fixed.neighbors("k7", 4)
    want = 2 * s[7] - r[7] - r
    want[7] = -np.inf
    order = np.argsort(-want)[:4]
    assert list(res.ids) == list(order)
    np.testing.assert_allclose(res.scores, want[order], atol=1e-4)
    assert fixed.keys == space.keys and fixed.space_id == space.space_id  # queries stay comparable


def test_mutual_proximity_scores_and_vector_queries() -> None:
    space = _hubby(400, 20)
    fixed = mutual_proximity(space, reference=400)  # every row is a reference: exact statistics
    s = _sims(space)
    off = ~np.eye(len(s), dtype=bool)
    mu = np.array([s[i][off[i]].mean() for i in range(len(s))])
    sd = np.array([s[i][off[i]].std() for i in range(len(s))])
    res = fixed.neighbors("k3", 5)
    want = ndtr((s[3] - mu[3]) / sd[3]) * ndtr((s[3] - mu) / sd)
    want[3] = -1
    assert list(res.ids) == list(np.argsort(-want)[:5])
    np.testing.assert_allclose(res.scores, want[res.ids], rtol=1e-4)
    assert ((res.scores >= 0) & (res.scores <= 1)).all()
    # a new vector equal to a key's is scored with its own statistics: it finds the key first
    hit = fixed.neighbors(space.vectors[3] + 1e-4, 1)
    assert hit.keys == ["k3"]


def test_rescoring_reduces_hubness_and_reports_it() -> None:
    space = _hubby()
    before = hubness(space, 10, sample=None).skewness
    assert before > 2
    for fix in (csls(space, 10), mutual_proximity(space)):
        assert isinstance(fix, RescoredSpace)
        rep = fix.report
        assert rep.hubness_before == pytest.approx(before, rel=1e-6)
        assert rep.hubness_after is not None and rep.hubness_after < before / 2
        assert rep.isotropy_after == rep.isotropy_before  # the vectors did not move
        assert "re-scored" in rep.explanation
        np.testing.assert_array_equal(fix.transform(space.vectors[:3]), space.vectors[:3])  # identity


def test_rescoring_evaluation_sees_the_rescored_search() -> None:
    space = _hubby(500, 40)
    calls: list[str] = []

    def evaluate(s: EmbeddingSpace) -> float:
        calls.append(type(s).__name__)
        return float(np.mean(s.neighbors(list(s.keys[:50]), 1).scores))

    fixed = csls(space, 10, evaluate=evaluate)
    assert calls == ["EmbeddingSpace", "RescoredSpace"]
    assert fixed.report.evaluation_before != fixed.report.evaluation_after


def test_rescoring_rejects_bad_arguments() -> None:
    space = _hubby(50, 5)
    with pytest.raises(InvalidInputError):
        csls(space, k=0)
    with pytest.raises(InvalidInputError):
        csls(space, k=50)
    with pytest.raises(InvalidInputError):
        mutual_proximity(space, reference=1)
    with pytest.raises(InvalidInputError):
        csls(np.zeros((5, 3)))  # type: ignore[arg-type]


def test_derived_spaces_stay_rescored() -> None:
    space = _hubby(400, 20).with_metric("cosine").normalize()
    fixed = csls(space, 5)
    assert fixed.with_metric("dot") is fixed and fixed.normalize() is fixed  # unit rows: the same scores
    sub = fixed.subset(list(space.keys[:200]))
    assert isinstance(sub, RescoredSpace) and sub.rescoring == "csls" and len(sub) == 200
    direct = csls(space.subset(list(space.keys[:200])), 5)
    assert sub.neighbors("k3", 5).keys == direct.neighbors("k3", 5).keys
    l2 = fixed.with_metric("l2")
    assert isinstance(l2, RescoredSpace) and l2.metric == "l2"
