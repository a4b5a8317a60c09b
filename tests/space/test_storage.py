"""Compact storage of the own format: float16 and int8 (per-row scale)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import embspace
from embspace.errors import CorruptDataError, InvalidInputError


@pytest.fixture
def space() -> embspace.EmbeddingSpace:
    rng = np.random.default_rng(0)
    return embspace.EmbeddingSpace([f"w{i}" for i in range(300)], rng.standard_normal((300, 64)),
                                   counts=np.arange(300, 0, -1), metric="cosine")


@pytest.mark.parametrize(("dtype", "tol", "ratio"), [("float16", 1e-3, 0.55), ("int8", 0.01, 0.3)])
def test_quantised_round_trip(space: embspace.EmbeddingSpace, tmp_path: Path, dtype: str, tol: float,
                              ratio: float) -> None:
    full, small = tmp_path / "full", tmp_path / "small"
    space.save(full)
    space.save(small, dtype=dtype)
    assert (small / "vectors.npy").stat().st_size < ratio * (full / "vectors.npy").stat().st_size
    back = embspace.load(small)
    assert back.vectors.dtype == np.float32 and back.keys == space.keys and back.space_id == space.space_id
    assert back.counts is not None and (back.counts == space.counts).all()
    keys = list(space.keys[:40])
    assert np.abs(back.similarity_matrix(keys) - space.similarity_matrix(keys)).max() < tol
    a, b = back.neighbors("w0", k=5).keys, space.neighbors("w0", k=5).keys
    assert a[0] == b[0] and len(set(a) & set(b)) >= 4  # near-ties of random data may swap


def test_bad_storage(space: embspace.EmbeddingSpace, tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="storage dtype"):
        space.save(tmp_path / "x", dtype="int4")
    space.save(tmp_path / "q", dtype="int8")
    (tmp_path / "q" / "scales.npy").unlink()
    with pytest.raises(CorruptDataError, match=r"scales\.npy"):
        embspace.load(tmp_path / "q")
