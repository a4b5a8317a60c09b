"""Fixes: what they change, and that new vectors map into the fixed space."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from embspace import EmbeddingSpace
from embspace.analysis import Transform, all_but_the_top, anisotropy, center, standardize, whiten
from embspace.errors import DimensionMismatchError, InvalidInputError


def _leaning(n: int = 2000, dim: int = 50, seed: int = 0) -> EmbeddingSpace:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, dim)).astype(np.float32) * np.linspace(0.5, 2.0, dim).astype(np.float32)
    x[:, 3] += 6.0  # a common direction along coordinate 3
    return EmbeddingSpace([f"k{i}" for i in range(n)], x)


def test_center_removes_the_common_direction_and_maps_new_vectors() -> None:
    space = _leaning()
    fixed = center(space)
    assert fixed.report.mean_cosine_before > 0.25 and abs(fixed.report.mean_cosine_after) < 0.02
    assert fixed.report.isotropy_after > fixed.report.isotropy_before
    mean = space.vectors.mean(axis=0)
    new = np.ones((3, 50), np.float32)
    np.testing.assert_allclose(fixed.transform(new), new - mean, atol=1e-5)
    np.testing.assert_allclose(fixed.transform(new[0]), new[0] - mean, atol=1e-5)
    assert fixed.provenance.model.endswith("+center") and fixed.space_id != space.space_id
    assert fixed.keys == space.keys and "isotropy" in fixed.report.explanation


def test_all_but_the_top_removes_the_top_components() -> None:
    space = _leaning()
    fixed = all_but_the_top(space, d=2)
    x = fixed.vectors.astype(np.float64)
    _, _, vt = np.linalg.svd(space.vectors - space.vectors.mean(axis=0), full_matrices=False)
    assert np.abs(x @ vt[:2].T).max() < 1e-3
    with pytest.raises(InvalidInputError):
        all_but_the_top(space, d=50)


def test_pca_whitening_gives_identity_covariance_and_reduces_dimension() -> None:
    space = _leaning()
    fixed = whiten(space)
    np.testing.assert_allclose(np.cov(fixed.vectors, rowvar=False), np.eye(50), atol=1e-3)
    small = whiten(space, dim=10)
    assert small.dim == 10 and small.transform.out_dim == 10 and small.transform(np.zeros(50)).shape == (10,)
    zca = whiten(space, kind="zca")
    np.testing.assert_allclose(np.cov(zca.vectors, rowvar=False), np.eye(50), atol=1e-3)
    with pytest.raises(InvalidInputError):
        whiten(space, dim=10, kind="zca")


def test_standardize_evens_out_a_rogue_dimension_and_reports_an_evaluation() -> None:
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2000, 40)).astype(np.float32)
    x[:, 7] = x[:, 7] * 30 + 40  # dominates every cosine
    space = EmbeddingSpace([f"k{i}" for i in range(2000)], x)
    assert [d for d, _ in anisotropy(space).rogue_dimensions] == [7]
    calls: list[int] = []

    def evaluate(s: EmbeddingSpace) -> float:
        calls.append(s.dim)
        return float(anisotropy(s).isotropy)

    fixed = standardize(space, evaluate=evaluate)
    assert anisotropy(fixed).rogue_dimensions == []
    assert calls == [40, 40] and fixed.report.evaluation_after is not None
    assert fixed.report.evaluation_after > fixed.report.evaluation_before  # type: ignore[operator]


def test_transform_save_load_and_checks(tmp_path: Path) -> None:
    fixed = whiten(_leaning(), dim=8)
    p = fixed.transform.save(tmp_path / "t.npz")
    back = Transform.load(p)
    v = np.random.default_rng(2).standard_normal((4, 50)).astype(np.float32)
    np.testing.assert_allclose(back(v), fixed.transform(v), atol=1e-6)
    assert back.kind == "whiten-pca" and back.params == {"kind": "pca", "dim": 8}
    with pytest.raises(DimensionMismatchError):
        fixed.transform(np.zeros((2, 49), np.float32))
