"""SubwordFiller: n-gram vectors regressed on an existing space answer its held-out (unknown) words."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import embspace
from embspace import EmbeddingSpace
from embspace.errors import InvalidInputError, NotFittedError
from embspace.space import SubwordSpace
from embspace.train import SubwordFiller


def _spelled_space(seed: int = 0, n: int = 3000, dim: int = 16) -> EmbeddingSpace:
    """Each vector is a noisy sum of vectors of the word's letter trigrams: spelling predicts meaning."""
    rng = np.random.default_rng(seed)
    words = sorted({"".join(rng.choice(list("abcdefghij"), rng.integers(4, 9))) for _ in range(n)})
    tri: dict[str, np.ndarray] = {}
    rows = []
    for w in words:
        b = f"<{w}>"
        v = np.zeros(dim)
        for i in range(len(b) - 2):
            v += tri.setdefault(b[i : i + 3], rng.standard_normal(dim))
        rows.append(v + 0.3 * rng.standard_normal(dim))
    return EmbeddingSpace(words, np.array(rows, np.float32))


def test_held_out_words_are_rebuilt_from_their_ngrams(tmp_path: Path) -> None:
    space = _spelled_space()
    filler = SubwordFiller(buckets=100_000, holdout=0.1, seed=0).fit(space)
    assert len(filler.holdout_words_) == round(0.1 * len(space))
    assert filler.holdout_cosine_ > 0.8  # a random direction would be ~0
    filled = filler.space_
    assert isinstance(filled, SubwordSpace)
    np.testing.assert_array_equal(filled.vectors, space.vectors)  # the vocabulary is unchanged
    assert filled.space_id == space.space_id  # same coordinates: vectors of either query the other
    assert filled.provenance.config["subwords"]["filled_by"]["learner"] == "embspace.subword-filler"
    # an unknown word spelled like known ones lands among them
    probe = filled.keys[0] + "j"
    assert probe not in filled
    assert filled.similarity(probe, filled.keys[0]) > 0.5
    assert filler.iterations_ >= 1
    # and it travels as a fastText .bin with its unknown words
    back = embspace.load(filled.save(tmp_path / "filled.bin", format="fasttext"))
    np.testing.assert_allclose(np.asarray(back.vector(probe)), np.asarray(filled.vector(probe)), rtol=1e-5,
                               atol=1e-6)  # float32 sums in another order
    np.testing.assert_allclose(back.vectors, space.vectors, rtol=1e-4, atol=1e-5)  # own rows derived in float64


def test_random_vectors_cannot_be_filled() -> None:
    """Where spelling says nothing, the held-out cosine says so (the measure can fail)."""
    spelled = _spelled_space()
    rng = np.random.default_rng(1)
    noise = EmbeddingSpace(spelled.keys, rng.standard_normal((len(spelled), 16)).astype(np.float32))
    assert SubwordFiller(buckets=100_000, holdout=0.1).fit(noise).holdout_cosine_ < 0.2


def test_errors() -> None:
    with pytest.raises(NotFittedError):
        SubwordFiller().space_  # noqa: B018
    space = _spelled_space(n=50)
    for bad in ({"minn": 0}, {"minn": 5, "maxn": 4}, {"buckets": 0}, {"holdout": 1.0}, {"l2": -1.0}):
        with pytest.raises(InvalidInputError):
            SubwordFiller(**bad).fit(space)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="EmbeddingSpace"):
        SubwordFiller().fit([[1.0]])  # type: ignore[arg-type]
    assert np.isnan(SubwordFiller(holdout=0.0).fit(space).holdout_cosine_)
