"""Fixtures of the space tests: the toy space of the issue and small seeded random spaces."""

from __future__ import annotations

import numpy as np
import pytest
from space_testing import TOY

from embspace import EmbeddingSpace


@pytest.fixture
def toy() -> EmbeddingSpace:
    return EmbeddingSpace.from_dict(TOY)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)


@pytest.fixture
def small_space(rng: np.random.Generator) -> EmbeddingSpace:
    """40 random 8-d vectors keyed w0..w39, with counts 40..1 (most frequent first)."""
    keys = [f"w{i}" for i in range(40)]
    return EmbeddingSpace(keys, rng.standard_normal((40, 8)), counts=np.arange(40, 0, -1))
