"""DistilledEncoder: the weighted mean of token rows, batching/threads, save and load through get_encoder, errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from embspace.encoders import DistilledEncoder, get_encoder
from embspace.errors import InvalidInputError

pytest.importorskip("tokenizers")

TEXTS = ["the cat sat on the mat", "a dog in the river", "money in the bank account", "she opened a long text",
         "the the the cat", "zzzz qqqq", ""]


@pytest.fixture(scope="module")
def tokenizer_json(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny WordPiece tokenizer of the test BERT (tokenizer.json)."""
    from text_testing import build_hf_bert

    return build_hf_bert(tmp_path_factory.mktemp("tok")) / "tokenizer.json"


def _encoder(tokenizer_json: Path, dims: int = 6, seed: int = 0, **kwargs: object) -> DistilledEncoder:
    from tokenizers import Tokenizer

    vocab = Tokenizer.from_file(str(tokenizer_json)).get_vocab_size()
    rng = np.random.default_rng(seed)
    vectors = rng.normal(size=(vocab, dims)).astype(np.float32)
    weights = rng.uniform(0.1, 1.0, size=vocab).astype(np.float32)
    weights[:5] = 0.0  # [PAD] [UNK] [CLS] [SEP] [MASK]: skipped, as the Distiller leaves special tokens
    return DistilledEncoder(tokenizer_json, vectors, weights, info={"teacher": "test"}, **kwargs)  # type: ignore[arg-type]


def _reference(enc: DistilledEncoder, text: str) -> np.ndarray:
    ids = enc.tokenize([text])[0]
    w = enc.weights[ids].astype(np.float64)
    if w.sum() == 0:
        return np.zeros(enc.dim)
    return (w[:, None] * enc.vectors[ids].astype(np.float64)).sum(0) / w.sum()


def test_vector_is_the_weighted_mean_of_its_token_rows(tokenizer_json: Path) -> None:
    enc = _encoder(tokenizer_json)
    got = np.asarray(enc.encode(TEXTS, normalize=False, progress=False))
    assert got.shape == (len(TEXTS), 6) and got.dtype == np.float32
    for text, row in zip(TEXTS, got, strict=True):
        # float32 sparse product vs a float64 reference: equal to float32 rounding (|v| ~ 1, a few terms)
        np.testing.assert_allclose(row, _reference(enc, text), atol=1e-5)
    assert np.all(got[TEXTS.index("zzzz qqqq")] == 0) and np.all(got[-1] == 0)  # no known token: a zero vector
    unit = np.asarray(enc.encode(TEXTS[:4], progress=False))
    np.testing.assert_allclose(np.linalg.norm(unit, axis=1), 1.0, rtol=1e-5)
    single = enc.encode("the cat sat on the mat", normalize=False)
    assert single.shape == (6,)
    np.testing.assert_allclose(single, got[0], atol=1e-6)


def test_batches_and_threads_give_the_same_vectors(tokenizer_json: Path) -> None:
    texts = [f"{a} {b} the {c}" for a in ("cat", "dog", "bank") for b in ("sat", "river", "money")
             for c in ("mat", "account", "text", "word")] * 40  # 1,440 texts: several chunks per thread pool
    one = np.asarray(_encoder(tokenizer_json, threads=1).encode(texts, progress=False))
    many = np.asarray(_encoder(tokenizer_json, threads=4, batch_size=500).encode(texts, progress=False))
    # the same float32 products, split differently over rows: each row's sum is computed identically
    np.testing.assert_allclose(one, many, atol=1e-6)
    streamed = np.concatenate(list(_encoder(tokenizer_json).encode_iter(iter(texts), batch_size=333)))
    np.testing.assert_allclose(streamed, one, atol=1e-6)


def test_save_and_get_encoder_round_trip(tokenizer_json: Path, tmp_path: Path) -> None:
    enc = _encoder(tokenizer_json)
    path = enc.save(tmp_path / "model")
    loaded = get_encoder(path)
    assert isinstance(loaded, DistilledEncoder)
    assert loaded.space_id == enc.space_id and loaded.name == enc.name and loaded.dim == enc.dim
    assert loaded.provenance.config["teacher"] == "test"
    np.testing.assert_array_equal(np.asarray(loaded.encode(TEXTS, progress=False)),
                                  np.asarray(enc.encode(TEXTS, progress=False)))  # same arrays, same code path
    enc.save(path)  # overwriting a distilled model directory is allowed
    other = _encoder(tokenizer_json, seed=1)
    assert other.space_id != enc.space_id  # other vectors: another coordinate system


def test_the_options_every_model_gets_are_taken(tokenizer_json: Path, tmp_path: Path) -> None:
    # `embspace encode --model DISTILLED_DIR` failed: the CLI gives every model device= (and maybe precision=),
    # which a static encoder's constructor did not take
    from typer.testing import CliRunner

    from embspace.cli.app import app
    from embspace.errors import InvalidInputError

    path = _encoder(tokenizer_json).save(tmp_path / "model")
    assert get_encoder(path, device="auto", precision="fp32").dim == 6
    assert get_encoder(path, device="cpu").dim == 6
    with pytest.raises(InvalidInputError, match="CPU"):
        get_encoder(path, device="cuda")
    with pytest.raises(InvalidInputError, match="float32"):
        get_encoder(path, precision="int8")
    lines = [t for t in TEXTS if t]  # a file has no empty records
    (tmp_path / "texts.txt").write_text("\n".join(lines) + "\n")
    r = CliRunner().invoke(app, ["encode", str(tmp_path / "texts.txt"), "-o", str(tmp_path / "space"), "--model",
                                 str(path), "--quiet"])
    assert r.exit_code == 0, r.output
    import embspace

    space = embspace.open(tmp_path / "space")
    assert len(space) == len(set(lines)) and space.dim == 6


def test_errors(tokenizer_json: Path, tmp_path: Path) -> None:
    enc = _encoder(tokenizer_json)
    with pytest.raises(InvalidInputError, match="one value per row"):
        DistilledEncoder(tokenizer_json, enc.vectors, enc.weights[:-1])
    with pytest.raises(InvalidInputError, match="one row per token id"):
        DistilledEncoder(tokenizer_json, enc.vectors[:3], enc.weights[:3])
    with pytest.raises(InvalidInputError, match="non-negative"):
        DistilledEncoder(tokenizer_json, enc.vectors, -enc.weights)
    with pytest.raises(TypeError, match="expected str"):
        enc.encode(["ok", 3])  # type: ignore[list-item]
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "file.txt").write_text("x")
    with pytest.raises(InvalidInputError, match="not a distilled model directory"):
        enc.save(tmp_path / "taken")
    with pytest.raises(InvalidInputError, match="not a distilled model directory"):
        DistilledEncoder.load(tmp_path / "taken")
    path = enc.save(tmp_path / "m")
    with pytest.raises(InvalidInputError, match="dim="):
        get_encoder(path, dim=3)
