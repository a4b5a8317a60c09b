"""Space comparison on spaces with a known relation."""

from __future__ import annotations

import numpy as np
import pytest

from embspace import EmbeddingSpace
from embspace.analysis import cka, compare_spaces, neighbor_overlap, procrustes
from embspace.errors import InvalidInputError


def _pair(n: int = 1500, dim: int = 32, noise: float = 0.0, seed: int = 0) -> tuple[EmbeddingSpace, EmbeddingSpace]:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, dim))
    q, _ = np.linalg.qr(rng.standard_normal((dim, dim)))
    y = x @ q + noise * rng.standard_normal((n, dim))
    keys = [f"w{i}" for i in range(n)]
    counts = np.arange(n, 0, -1)
    return (EmbeddingSpace(keys, x.astype(np.float32), counts=counts),
            EmbeddingSpace(keys[::-1], y[::-1].astype(np.float32)))  # another key order


def test_a_rotated_copy_is_aligned_exactly() -> None:
    a, b = _pair()
    al = procrustes(a, b)
    assert al.accuracy == 1.0 and al.mean_cosine > 0.9999
    np.testing.assert_allclose(al(a.vectors[:3]), b.vectors[[b.index_of(k) for k in a.keys[:3]]], atol=1e-4)
    assert cka(a, b) == pytest.approx(1.0, abs=1e-9)
    ov, per, keys = neighbor_overlap(a, b, k=10)
    assert ov == 1.0 and len(keys) == 1500 and per.min() == 1.0


def test_noise_lowers_every_figure_and_the_moved_keys_are_found() -> None:
    a, b = _pair(noise=0.3, seed=1)
    vecs = b.vectors.copy()
    moved = [b.index_of(f"w{i}") for i in (3, 5, 8)]
    vecs[moved] = np.random.default_rng(9).standard_normal((3, 32)).astype(np.float32) * 3
    b = EmbeddingSpace(b.keys, vecs)
    c = compare_spaces(a, b, k=10, top=1000)
    assert c.shared == 1000 and c.procrustes_accuracy is not None and 0.5 < c.procrustes_accuracy < 1.0
    assert 0.5 < c.cka < 1.0 and 0.1 < c.neighbor_overlap < 1.0
    assert {"w3", "w5", "w8"} <= {k for k, _ in c.most_moved[:10]}
    assert "Procrustes" in c.explanation


def test_held_out_evaluation_and_errors() -> None:
    a, b = _pair(noise=0.1, seed=2)
    al = procrustes(a, b, keys=[f"w{i}" for i in range(500)], eval_keys=[f"w{i}" for i in range(500, 1500)])
    assert al.accuracy > 0.95 and len(al.keys) == 500 and len(al.eval_keys) == 1000
    small = EmbeddingSpace(["w0", "w1"], np.zeros((2, 8), np.float32))
    with pytest.raises(InvalidInputError, match="dimension"):
        procrustes(a, small)
    assert cka(a, EmbeddingSpace(a.keys, a.vectors[:, :16])) > 0.3  # CKA works across dimensions
    with pytest.raises(InvalidInputError, match="share"):
        cka(a, EmbeddingSpace(["zz", "yy"], np.ones((2, 32), np.float32)))
