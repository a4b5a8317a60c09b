"""Encoders' dim= (Matryoshka truncation) and matryoshka_dims, on the tiny model built here (no downloads)."""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest

from embspace.encoders import DimensionTruncationWarning, SentenceEncoder, get_encoder, matryoshka_dims
from embspace.encoders.matryoshka import FINETUNE_FILE, truncation_warning
from embspace.errors import DimensionMismatchError, IncompatibleSpaceError, InvalidInputError

pytest.importorskip("sentence_transformers")

TEXTS = ["the cat sat on the mat", "a river bank", "money in the bank account", "she opened a long text"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from text_testing import build_st

    return build_st(tmp_path_factory.mktemp("tiny"))


@pytest.fixture(scope="module")
def tiny_matryoshka(tiny: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny model as `finetune(..., matryoshka_dims=(16, 8, 4))` leaves it: the dims recorded beside it."""
    out = tmp_path_factory.mktemp("mrl") / "tiny-mrl"
    shutil.copytree(tiny, out)
    (out / FINETUNE_FILE).write_text(json.dumps({"loss": "MatryoshkaLoss(MultipleNegativesRankingLoss)",
                                                 "matryoshka_dims": [16, 8, 4]}), "utf-8")
    return out


def test_dim_truncates_then_renormalises(tiny_matryoshka: Path) -> None:
    full = get_encoder(str(tiny_matryoshka), device="cpu")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a trained size: no warning
        cut = get_encoder(str(tiny_matryoshka), device="cpu", dim=8)
    assert (cut.dim, cut.full_dim, full.dim) == (8, 16, 16)
    v = np.asarray(cut.encode(TEXTS, progress=False))
    f = np.asarray(full.encode(TEXTS, progress=False))
    assert v.shape == (4, 8) and v.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, rtol=1e-5)
    head = f[:, :8] / np.linalg.norm(f[:, :8], axis=1, keepdims=True)
    np.testing.assert_allclose(v, head, atol=1e-5)  # two encode calls: equal up to float rounding
    raw = np.asarray(cut.encode(TEXTS, normalize=False, progress=False))
    np.testing.assert_allclose(raw, np.asarray(full.encode(TEXTS, normalize=False, progress=False))[:, :8],
                               atol=1e-5)
    assert cut.encode("a river bank", progress=False).shape == (8,)
    assert cut.encode([], progress=False).shape == (0, 8)
    assert "dim=8 of 16" in repr(cut)


def test_provenance_records_the_truncation(tiny_matryoshka: Path) -> None:
    full = SentenceEncoder(tiny_matryoshka, device="cpu")
    cut = SentenceEncoder(tiny_matryoshka, device="cpu", dim=8)
    space = cut.encode_space(TEXTS, progress=False)
    assert space.provenance.config["truncate_dim"] == 8 and space.provenance.config["full_dim"] == 16
    assert space.dim == 8 and space.space_id == cut.space_id != full.space_id
    assert "truncate_dim" not in full.provenance.config  # full vectors keep the space id they always had
    assert "first 8 of 16 dimensions" in space.provenance.describe()


def test_warning_when_not_trained_for_the_size(tiny: Path, tiny_matryoshka: Path) -> None:
    with pytest.warns(DimensionTruncationWarning, match="not trained for truncation"):
        get_encoder(str(tiny), device="cpu", dim=8)
    with pytest.warns(DimensionTruncationWarning, match="trained for truncation \\(Matryoshka\\) to 16, 8, 4 "
                                                        "dimensions, not to 6"):
        get_encoder(str(tiny_matryoshka), device="cpu", dim=6)
    assert issubclass(DimensionTruncationWarning, UserWarning)


@pytest.mark.parametrize("bad", [0, -1, 17, True, 8.0])
def test_bad_dim_is_refused(tiny: Path, bad: object) -> None:
    with pytest.raises(InvalidInputError, match="dim must be an int between 1 and 16"):
        get_encoder(str(tiny), device="cpu", dim=bad)


def test_matryoshka_dims_reads_what_finetune_and_cards_record(tiny: Path, tiny_matryoshka: Path,
                                                              tmp_path: Path) -> None:
    assert matryoshka_dims(tiny) is None and matryoshka_dims(str(tiny)) is None
    assert matryoshka_dims(tiny_matryoshka) == (16, 8, 4)
    assert matryoshka_dims(get_encoder(str(tiny_matryoshka), device="cpu")) == (16, 8, 4)
    assert matryoshka_dims("minilm") is None
    assert matryoshka_dims("nomic-ai/nomic-embed-text-v1.5") == (768, 512, 256, 128, 64)
    assert matryoshka_dims("nomic-embed-text-v1.5") == (768, 512, 256, 128, 64)  # without the organisation
    assert matryoshka_dims("Qwen/Qwen3-Embedding-0.6B") == ()  # trained for any size
    assert matryoshka_dims("someone/my-matryoshka-model") == ()
    card = tmp_path / "card"
    card.mkdir()
    # sentence-transformers' cards give the loss's parameters as JSON
    (card / "README.md").write_text('### MatryoshkaLoss\n```json\n{\n    "loss": "MultipleNegativesRankingLoss",\n    '
                                    '"matryoshka_dims": [\n        768,\n        512,\n        128\n    ]\n}\n```\n')
    assert matryoshka_dims(card) == (768, 512, 128)
    (card / "README.md").write_text("Trained with MatryoshkaLoss.\n")
    assert matryoshka_dims(card) == ()
    # every card sentence-transformers writes links its Matryoshka blog post: the word alone is not a loss
    (card / "README.md").write_text("See [Matryoshka embeddings](https://huggingface.co/blog/matryoshka).\n")
    assert matryoshka_dims(card) is None


def test_truncation_warning_texts() -> None:
    assert truncation_warning("m", (384, 128), 128, 384) is None
    assert truncation_warning("m", (), 100, 384) is None
    assert truncation_warning("m", None, 384, 384) is None
    text = truncation_warning("m", None, 128, 384)
    assert text is not None and "not trained for truncation (Matryoshka)" in text and "384,256,128,64" in text


def test_truncated_and_full_vectors_do_not_mix(tiny_matryoshka: Path, tmp_path: Path) -> None:
    from embspace import Collection

    full = get_encoder(str(tiny_matryoshka), device="cpu")
    cut = get_encoder(str(tiny_matryoshka), device="cpu", dim=8)
    cut4 = get_encoder(str(tiny_matryoshka), device="cpu", dim=4)
    space8 = cut.encode_space(TEXTS, progress=False)
    with pytest.raises(IncompatibleSpaceError, match="truncated and full vectors"):
        space8.neighbors(full.encode("a river bank", progress=False)[:8])  # same size, not the same vectors
    with pytest.raises(IncompatibleSpaceError, match="truncated"):
        _ = cut.encode("a river bank", progress=False)[:4] + cut4.encode("a river bank", progress=False)
    coll = Collection.create(tmp_path / "c", encoder=full)
    coll.add(["a"], ["the cat sat on the mat"])
    with pytest.raises(IncompatibleSpaceError, match="first 8 of 16 dimensions"):
        coll.add(["b"], cut.encode(["a river bank"], progress=False))
    with pytest.raises(IncompatibleSpaceError, match="truncated"):
        coll.add_space(space8)
    with pytest.raises(IncompatibleSpaceError):
        coll.encoder = cut
    with pytest.raises((IncompatibleSpaceError, DimensionMismatchError)):
        coll.search(cut.encode("a river bank", progress=False), k=1)
    coll.close()
    # a collection of truncated vectors reopens with its truncated encoder (by name: the bundled MiniLM)
    with pytest.warns(DimensionTruncationWarning):
        minilm32 = get_encoder("minilm", device="cpu", dim=32)
    small = Collection.create(tmp_path / "small", encoder=minilm32)
    small.add(["a", "b"], ["the cat sat on the mat", "a river bank"])
    small.close()
    with pytest.warns(DimensionTruncationWarning):
        again = Collection.open(tmp_path / "small")
        assert again.dim == 32 and again.encoder.dim == 32
    assert again.search("a river bank", k=1).keys[0] == "b"
    again.close()


def test_dim_is_for_text_encoders(tmp_path: Path) -> None:
    from embspace import EmbeddingSpace

    EmbeddingSpace(["cat", "dog"], np.eye(2, 4, dtype=np.float32)).save(tmp_path / "words")
    with pytest.raises(InvalidInputError, match=r"dim= \(truncating the vectors\) is for text encoders"):
        get_encoder(f"static:{tmp_path / 'words'}", dim=2)
