"""Neighbourhood stability across runs and under random subspaces."""

from __future__ import annotations

import numpy as np
import pytest

from embspace import EmbeddingSpace
from embspace.analysis import stability
from embspace.errors import InvalidInputError


def _space(x: np.ndarray, counts: np.ndarray | None = None) -> EmbeddingSpace:
    return EmbeddingSpace([f"k{i}" for i in range(len(x))], x.astype(np.float32), counts=counts)


def test_a_rotated_run_is_perfectly_stable_a_noisy_one_is_not() -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1200, 30))
    q, _ = np.linalg.qr(rng.standard_normal((30, 30)))
    a, rotated = _space(x), _space(x @ q)
    same = stability([a, rotated], k=10, sample=300)
    assert same.mode == "runs" and same.mean_overlap == pytest.approx(1.0)
    noisy = stability([a, _space(x + rng.standard_normal(x.shape) * 0.8)], k=10, sample=300)
    assert 0.0 < noisy.mean_overlap < 0.8
    assert noisy.least_stable[0][1] == min(noisy.per_key) and len(noisy.keys) == 300


def test_runs_use_only_shared_keys_and_report_frequency() -> None:
    rng = np.random.default_rng(1)
    x = rng.standard_normal((800, 20))
    counts = np.arange(800, 0, -1)
    # rare keys (high rows) get more noise in the second run: their neighbours move more
    noise = rng.standard_normal(x.shape) * np.linspace(0.0, 1.5, 800)[:, None]
    a = _space(x, counts)
    b = EmbeddingSpace([f"k{i}" for i in range(700)] + [f"other{i}" for i in range(100)],
                       (x + noise).astype(np.float32))
    st = stability([a, b], k=5, sample=400)
    assert all(not key.startswith("other") for key in st.keys)
    assert st.frequency_correlation is not None and st.frequency_correlation > 0.3
    assert "rare keys" in st.explanation


def test_one_space_uses_random_subspaces() -> None:
    rng = np.random.default_rng(2)
    low = rng.standard_normal((1000, 3)) @ rng.standard_normal((3, 60))  # a 3-d subspace: robust
    st = stability(_space(low), k=10, rounds=3, sample=200)
    assert st.mode == "coordinates" and st.rounds == 3 and st.mean_overlap > 0.8
    iid = stability(_space(rng.standard_normal((1000, 60))), k=10, rounds=3, sample=200)
    assert iid.mean_overlap < 0.5 < st.mean_overlap


def test_stability_rejects_bad_arguments() -> None:
    s = _space(np.random.default_rng(0).standard_normal((50, 4)))
    with pytest.raises(InvalidInputError):
        stability(s, fraction=1.0)
    with pytest.raises(InvalidInputError):
        stability(s, k=0)
    with pytest.raises(InvalidInputError):
        stability([s, EmbeddingSpace(["x", "y"], np.ones((2, 4), np.float32))])
