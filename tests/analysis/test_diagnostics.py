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
