"""pca_truncate: a PCA projection learnt on the space, applied to new queries, saved with it, never mixed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from embspace import EmbeddingSpace
from embspace.analysis import FixedSpace, pca_truncate
from embspace.errors import IncompatibleSpaceError, InvalidInputError
from embspace.space.provenance import Provenance
from embspace.space.vector import EmbeddingVector


def _space(n: int = 1500, dim: int = 24, seed: int = 0) -> EmbeddingSpace:
    """Most variance in a few directions (a random rotation of decaying scales), as real embeddings have."""
    rng = np.random.default_rng(seed)
    rot, _ = np.linalg.qr(rng.standard_normal((dim, dim)))
    x = (rng.standard_normal((n, dim)) * np.geomspace(4.0, 0.05, dim)) @ rot.T + 0.3
    prov = Provenance(model="some-model", config={"revision": "r1"})
    return EmbeddingSpace([f"k{i}" for i in range(n)], x.astype(np.float32), provenance=prov)


def test_pca_truncate_projects_the_space_and_new_queries_alike() -> None:
    space = _space()
    fixed = pca_truncate(space, 6)
    assert isinstance(fixed, FixedSpace) and fixed.dim == 6 and fixed.keys == space.keys
    x = space.vectors.astype(np.float64)
    mean = x.mean(axis=0)
    _, s, vt = np.linalg.svd(x - mean, full_matrices=False)
    components = vt[:6]  # the top principal axes, up to sign
    queries = np.random.default_rng(1).standard_normal((5, 24)).astype(np.float32)
    by_hand = (queries - mean) @ components.T
    got = fixed.transform(queries)
    signs = np.sign((got * by_hand).sum(axis=0))  # an axis and its opposite are the same axis
    # float32 transform against a float64 SVD: equal to rounding
    np.testing.assert_allclose(got, by_hand * signs, atol=1e-4)
    np.testing.assert_allclose(fixed.vectors, (x - mean) @ components.T * signs, atol=1e-4)
    np.testing.assert_allclose(fixed.transform(queries[0]), got[0], atol=1e-6)
    # the kept dimensions carry the top variance: most of it here
    kept = fixed.vectors.astype(np.float64).var(axis=0, ddof=1).sum()
    assert kept == pytest.approx((s[:6] ** 2).sum() / (len(x) - 1), rel=1e-4)
    assert kept / x.var(axis=0, ddof=1).sum() > 0.85


def test_pca_truncate_provenance_and_round_trip(tmp_path: Path) -> None:
    space = _space()
    fixed = pca_truncate(space, 8)
    fix = fixed.provenance.config["fix"]
    assert fix["kind"] == "pca-truncate" and fix["dim"] == 8 and fix["full_dim"] == 24
    assert fixed.provenance.model == "some-model+pca-truncate" and fixed.space_id != space.space_id
    assert "PCA to 8 of 24 dimensions" in fixed.provenance.describe()
    fixed.save(tmp_path / "pca")
    back = FixedSpace.load(tmp_path / "pca")
    assert back.space_id == fixed.space_id and back.transform.kind == "pca-truncate"
    q = np.ones(24, np.float32)
    np.testing.assert_allclose(back.transform(q), fixed.transform(q), atol=1e-6)


def test_pca_and_first_k_vectors_never_mix_even_at_equal_size() -> None:
    space = _space()
    fixed = pca_truncate(space, 8)
    first8 = Provenance(model="some-model", config={"revision": "r1", "truncate_dim": 8, "full_dim": 24})
    q = EmbeddingVector(np.ones(8, np.float32), first8.space_id, first8.describe())
    with pytest.raises(IncompatibleSpaceError, match="truncated and full vectors"):
        fixed.neighbors(q, k=3)
    full = EmbeddingVector(np.ones(24, np.float32), space.space_id, space.provenance.describe())
    with pytest.raises(IncompatibleSpaceError, match="PCA to 8 of 24"):
        fixed.neighbors(full[:8], k=3)  # a full vector cut by hand is not a PCA vector
    mapped = fixed.transform(np.ones(24, np.float32))  # the way in: the space's transform
    assert len(fixed.neighbors(mapped, k=3).keys) == 3


@pytest.mark.parametrize("bad", [0, 25, -3, 2.5, True])
def test_pca_truncate_refuses_bad_dims(bad: object) -> None:
    with pytest.raises(InvalidInputError, match="between 1 and the space's dimension 24"):
        pca_truncate(_space(), bad)  # type: ignore[arg-type]
