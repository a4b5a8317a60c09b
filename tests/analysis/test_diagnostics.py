"""Diagnostics on synthetic data with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from embspace import EmbeddingSpace
from embspace.analysis import anisotropy, hubness, intrinsic_dimension, norms
from embspace.errors import InvalidInputError


def _rotation(rng: np.random.Generator, d_in: int, d_out: int) -> np.ndarray:
    q, _ = np.linalg.qr(rng.standard_normal((d_out, d_in)))
    return q.T  # (d_in, d_out), orthonormal rows


def test_intrinsic_dimension_of_a_linear_subspace() -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4000, 10)) @ _rotation(rng, 10, 300)
    r = intrinsic_dimension(x.astype(np.float32))
    assert 8 <= r.twonn <= 12 and 8 <= r.mle <= 12
    assert r.pca95 <= 10 and r.nominal == 300 and r.n == 4000
    assert "300 coordinates" in r.explanation


def test_intrinsic_dimension_of_a_curved_manifold() -> None:
    rng = np.random.default_rng(1)
    t = rng.uniform(0, 2 * np.pi, (5000, 5))
    torus = np.hstack([np.cos(t), np.sin(t)])  # a flat 5-torus, curved in 10-d
    x = torus @ _rotation(rng, 10, 300)
    r = intrinsic_dimension(x.astype(np.float32))
    assert 4 <= r.twonn <= 6 and 4 <= r.mle <= 6
    assert r.pca95 > 6  # linear PCA cannot see that the manifold is 5-d


def test_an_isotropic_gaussian_scores_near_one() -> None:
    x = np.random.default_rng(2).standard_normal((5000, 100)).astype(np.float32)
    a = anisotropy(x)
    assert a.isotropy > 0.9 and abs(a.mean_cosine) < 0.01 and a.rogue_dimensions == []
    assert not a.is_anisotropic


def test_a_planted_rogue_dimension_is_flagged() -> None:
    rng = np.random.default_rng(3)
    x = rng.standard_normal((3000, 100)).astype(np.float32)
    x[:, 17] += 8.0  # every vector leans along coordinate 17
    a = anisotropy(x)
    assert a.mean_cosine > 0.3 and a.isotropy < 0.7 and a.is_anisotropic
    assert [d for d, _ in a.rogue_dimensions] == [17] and a.rogue_dimensions[0][1] > 0.9
    assert "17" in a.explanation and "Rogue" in a.explanation


def test_hubness_counts_k_occurrences_and_names_keys() -> None:
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2000, 200)).astype(np.float32)
    space = EmbeddingSpace([f"w{i}" for i in range(2000)], x, metric="l2")
    h = hubness(space, k=10)  # Euclidean k-NN in 200-d: points near the mean are everyone's neighbour
    assert h.k_occurrence.sum() == 2000 * 10
    assert h.top_hubs[0][0].startswith("w") and h.top_hubs[0][1] == int(h.k_occurrence.max())
    assert h.skewness > 2 and h.antihub_share > 0.05 and "hubs" in h.explanation
    low = hubness(rng.uniform(size=(2000, 2)).astype(np.float32), k=10, metric="l2")
    assert low.skewness < 0.5 and low.antihub_share < h.antihub_share


def test_norms_and_frequency() -> None:
    rng = np.random.default_rng(5)
    counts = np.arange(1, 501)
    x = rng.standard_normal((500, 20)).astype(np.float32) * np.log1p(counts)[:, None].astype(np.float32)
    space = EmbeddingSpace([f"w{i}" for i in range(500)], x, counts=counts)
    n = norms(space)
    assert n.frequency_correlation is not None and n.frequency_correlation > 0.5
    assert n.min <= n.quantiles["p50"] <= n.max and "frequent keys have longer" in n.explanation


def test_bad_input_is_refused() -> None:
    with pytest.raises(InvalidInputError):
        intrinsic_dimension(np.zeros((5, 3), np.float32))
    with pytest.raises(InvalidInputError):
        anisotropy(np.full((10, 3), np.nan, np.float32))
    with pytest.raises(InvalidInputError):
        hubness(np.ones((20, 3), np.float32), k=0)


def test_each_measure_says_which_vectors_it_measured() -> None:
    """Norms: raw; anisotropy: unit; intrinsic dimension and hubness: what the metric compares."""
    from embspace.analysis import measured_vectors

    rng = np.random.default_rng(6)
    x = (rng.standard_normal((600, 8)) * rng.uniform(0.2, 5.0, (600, 1))).astype(np.float32)
    cos = EmbeddingSpace([f"w{i}" for i in range(600)], x)
    assert norms(cos).vectors == "raw" and anisotropy(cos).vectors == "unit"
    unit = intrinsic_dimension(cos)
    assert unit.vectors == "unit" and hubness(cos).vectors == "unit"
    raw = intrinsic_dimension(cos, metric="l2")  # the raw vectors: their lengths add a dimension of spread
    assert raw.vectors == "raw" and hubness(cos, metric="l2").vectors == "raw"
    normalised = x / np.linalg.norm(x, axis=1, keepdims=True)
    same = intrinsic_dimension(normalised.astype(np.float32))  # an array is measured raw (as before)
    assert same.vectors == "raw"
    # unit vectors measured as a cosine space = the normalised rows measured raw (float rounding only)
    assert unit.twonn == pytest.approx(same.twonn, rel=1e-5) and unit.pca95 == same.pca95
    assert raw.twonn != pytest.approx(unit.twonn, rel=1e-3)
    assert intrinsic_dimension(x, metric="dot").vectors == "raw"
    assert (measured_vectors("cosine"), measured_vectors("l2"), measured_vectors("dot")) == ("unit", "raw", "raw")
    with pytest.raises(InvalidInputError, match="unknown metric 'manhattan'"):
        intrinsic_dimension(x, metric="manhattan")


def test_duplicates_are_at_distance_zero() -> None:
    """Neighbour distances come from the vectors, not from float32 search scores (whose cancellation puts a
    duplicate at a small non-zero distance): TwoNN leaves such a point out."""
    from embspace.analysis.diagnostics import _knn_distances

    rng = np.random.default_rng(8)
    x = rng.standard_normal((50, 6)).astype(np.float32) * 100
    x[1] = x[0]
    d = _knn_distances(x, 3)
    assert d[0, 0] == 0.0 and d[1, 0] == 0.0 and (d[2:, 0] > 0).all()
    assert (np.diff(d, axis=1) >= 0).all()
    u = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
    assert _knn_distances(u, 3, "cosine")[0, 0] == 0.0
