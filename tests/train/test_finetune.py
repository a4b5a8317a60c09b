"""finetune: a tiny sentence-transformers model learns to pair its training texts, and reloads."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("sentence_transformers")

from embspace.encoders import get_encoder
from embspace.errors import InvalidInputError
from embspace.train import finetune

# texts in the tiny model's vocabulary (text_testing.WORDS); the documents share words, so pairing is learnt
DOCS = ["the cat sat on the mat", "a dog in the river", "money in the bank account", "she opened a long text",
        "we sat on a bank", "the word is long", "a river of money", "she is a dog"]
QUERIES = ["cat mat", "dog river", "money account", "opened text", "we bank", "word long", "river money", "she dog"]


def _text_testing() -> Any:
    """tests/encoders/text_testing.py: the tiny sentence-transformers model these tests train."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "encoders"))
    import text_testing

    return text_testing


def _recall_at_1(enc: object, queries: list[str], docs: list[str]) -> float:
    q = enc.encode(queries, progress=False)  # type: ignore[attr-defined]
    d = enc.encode(docs, progress=False)  # type: ignore[attr-defined]
    return float(((q @ d.T).argmax(1) == np.arange(len(queries))).mean())


def test_finetune_learns_the_pairs_and_saves_a_loadable_model(tmp_path: Path) -> None:
    build_st = _text_testing().build_st

    base = build_st(tmp_path / "base")
    before = _recall_at_1(get_encoder(str(base), device="cpu"), QUERIES, DOCS)
    out = finetune(list(zip(QUERIES, DOCS, strict=True)), tmp_path / "tuned", model=base, epochs=30, batch_size=8,
                   learning_rate=2e-3, device="cpu", progress=False)
    tuned = get_encoder(str(out), device="cpu")
    after = _recall_at_1(tuned, QUERIES, DOCS)
    assert after == 1.0 and after > before
    meta = json.loads((out / "embspace_finetune.json").read_text("utf-8"))
    assert meta["pairs"] == 8 and meta["loss_history"][-1] < meta["loss_history"][0]
    assert tuned.space_id != get_encoder(str(base), device="cpu").space_id  # a new coordinate system


def test_finetune_refuses_bad_pairs(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError):
        finetune([("only one", "pair")], tmp_path / "x")
    with pytest.raises(InvalidInputError):
        finetune([("a", "b"), ("c", "")], tmp_path / "x")
    assert not (tmp_path / "x").exists()


def test_finetune_matryoshka_records_the_dims(tmp_path: Path) -> None:
    import warnings

    from embspace.encoders import matryoshka_dims

    base = _text_testing().build_st(tmp_path / "base")
    out = finetune(list(zip(QUERIES, DOCS, strict=True)), tmp_path / "mrl", model=base, epochs=3, batch_size=8,
                   learning_rate=2e-3, device="cpu", progress=False, matryoshka_dims=(16, 8, 4))
    meta = json.loads((out / "embspace_finetune.json").read_text("utf-8"))
    assert meta["matryoshka_dims"] == [16, 8, 4] and meta["loss"].startswith("MatryoshkaLoss")
    assert "MatryoshkaLoss" in (out / "README.md").read_text("utf-8")  # the card names the loss
    assert matryoshka_dims(out) == (16, 8, 4) and matryoshka_dims(str(out)) == (16, 8, 4)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a size it was trained for: no DimensionTruncationWarning
        enc = get_encoder(str(out), device="cpu", dim=8)
    assert matryoshka_dims(enc) == (16, 8, 4)
    assert enc.encode(QUERIES[:2], progress=False).shape == (2, 8)
    assert matryoshka_dims(base) is None


def test_finetune_refuses_bad_matryoshka_dims(tmp_path: Path) -> None:
    base = _text_testing().build_st(tmp_path / "base")
    pairs = list(zip(QUERIES, DOCS, strict=True))
    with pytest.raises(InvalidInputError, match="makes 16-dimensional"):
        finetune(pairs, tmp_path / "x", model=base, device="cpu", progress=False, matryoshka_dims=(32, 16))
    with pytest.raises(InvalidInputError, match="descending"):
        finetune(pairs, tmp_path / "x", model=base, device="cpu", progress=False, matryoshka_dims=(4, 8))
    with pytest.raises(InvalidInputError, match="needs matryoshka_dims"):
        finetune(pairs, tmp_path / "x", model=base, device="cpu", progress=False, matryoshka_weights=(1.0,))
    assert not (tmp_path / "x").exists()
