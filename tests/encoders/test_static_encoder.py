"""StaticEncoder: mean and SIF of word vectors, checked against hand computations, with OOV reports."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np
import pytest

import embspace
from embspace.data import TextCorpus
from embspace.encoders.encoder import Encoder
from embspace.encoders.static_encoder import OOVReport, OOVWarning, StaticEncoder
from embspace.errors import IncompatibleSpaceError, InvalidInputError, NotFittedError

WORDS = {"the": [1.0, 0.0, 0.0], "cat": [0.0, 2.0, 0.0], "dog": [0.0, 0.0, 3.0], "sat": [1.0, 1.0, 1.0]}
COUNTS = {"the": 50, "cat": 20, "dog": 20, "sat": 10}  # p = .5, .2, .2, .1
A = 0.1  # SIF weights a / (a + p): the 1/6, cat 1/3, dog 1/3, sat 1/2
WEIGHT = {"the": 1 / 6, "cat": 1 / 3, "dog": 1 / 3, "sat": 1 / 2}
TEXTS = ["The cat sat", "dog dog cat", "the dog", "sat on the mat", "Cat"]
TOKEN = re.compile(r"[a-z]+").findall


@pytest.fixture()
def space() -> embspace.EmbeddingSpace:
    return embspace.EmbeddingSpace.from_dict(WORDS, counts=COUNTS)


def _vec(word: str) -> np.ndarray:
    return np.asarray(WORDS[word], np.float64)


def _weighted(tokens: list[str], weights: dict[str, float] | None = None) -> np.ndarray:
    known = [t for t in tokens if t in WORDS]
    if not known:
        return np.zeros(3)
    return sum(((weights or {}).get(t, 1.0) * _vec(t) for t in known), np.zeros(3)) / len(known)


def _sif_expected(texts: list[str], weights: dict[str, float]) -> tuple[np.ndarray, np.ndarray]:
    x = np.stack([_weighted(t.lower().split(), weights) for t in texts])
    u = np.linalg.svd(x, full_matrices=False)[2][0]  # first right singular vector, no centring
    return x - np.outer(x @ u, u), u


def test_mean_is_the_average_of_known_raw_word_vectors(space: embspace.EmbeddingSpace) -> None:
    enc = StaticEncoder(space)
    assert isinstance(enc, Encoder) and enc.modality == "text" and enc.dim == 3
    assert enc.is_fitted
    out = enc.encode(["The cat sat", "dog dog cat", "the zebra cat"], normalize=False)
    assert out.dtype == np.float32 and out.shape == (3, 3) and out.flags.c_contiguous
    np.testing.assert_allclose(out[0], [2 / 3, 1, 1 / 3], rtol=1e-6)
    np.testing.assert_allclose(out[1], [0, 2 / 3, 2], rtol=1e-6)  # a repeated word counts each time
    np.testing.assert_allclose(out[2], [0.5, 1, 0], rtol=1e-6)  # the unknown word is dropped
    unit = enc.encode(["The cat sat", "dog dog cat", "the zebra cat"])
    np.testing.assert_allclose(unit, out / np.linalg.norm(out, axis=1, keepdims=True), rtol=1e-6)
    assert out.space_id == enc.space_id == unit.space_id


def test_sif_weights_and_principal_component_removal_match_numpy_svd(space: embspace.EmbeddingSpace) -> None:
    enc = StaticEncoder(space, method="sif", sif_a=A)
    assert not enc.is_fitted
    out = enc.encode(TEXTS, normalize=False)  # first call: learns the component from these texts
    expected, u = _sif_expected(TEXTS, WEIGHT)
    np.testing.assert_allclose(out, expected, atol=1e-6)
    assert enc.is_fitted
    assert abs(float(enc.component_ @ u)) == pytest.approx(1.0, abs=1e-6)
    np.testing.assert_allclose(np.asarray(out) @ enc.component_, 0, atol=1e-6)  # no projection left
    # normalize=True gives the unit rows of the same vectors
    np.testing.assert_allclose(enc.encode(TEXTS), expected / np.linalg.norm(expected, axis=1, keepdims=True),
                               atol=1e-6)


def test_sif_without_counts_uses_zipf_from_rank_and_warns() -> None:
    no_counts = embspace.EmbeddingSpace.from_dict(WORDS)  # rows: the, cat, dog, sat = ranks 1..4
    with pytest.warns(UserWarning, match="Zipf"):
        enc = StaticEncoder(no_counts, method="sif", sif_a=A)
    harmonic = sum(1 / r for r in range(1, 5))
    weights = {w: A / (A + 1 / (r * harmonic)) for r, w in enumerate(WORDS, start=1)}
    expected, _ = _sif_expected(TEXTS, weights)
    np.testing.assert_allclose(enc.encode(TEXTS, normalize=False), expected, atol=1e-6)
    assert enc.provenance.config["frequencies"] == "zipf"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        StaticEncoder(no_counts)  # mean needs no frequencies: no warning


def test_vectorised_encoding_equals_a_per_text_loop() -> None:
    rng = np.random.default_rng(0)
    vocab = [f"w{i}" for i in range(300)]
    counts = rng.integers(1, 1000, size=300)
    words = embspace.EmbeddingSpace(vocab, rng.standard_normal((300, 8)), counts=counts)
    texts = [" ".join(rng.choice([*vocab, "oov1", "oov2"], size=rng.integers(0, 12))) for _ in range(400)]
    vec = {w: np.asarray(words.vectors[i], np.float64) for i, w in enumerate(vocab)}
    p = counts / counts.sum()
    weight = {w: 1e-3 / (1e-3 + p[i]) for i, w in enumerate(vocab)}

    def avg(text: str, weighted: bool) -> np.ndarray:
        known = [t for t in text.split() if t in vec]
        rows = [vec[t] * (weight[t] if weighted else 1.0) for t in known]
        return np.mean(rows, axis=0) if rows else np.zeros(8)

    with pytest.warns(OOVWarning, match="no word in the vocabulary"):
        mean = StaticEncoder(words).encode(texts, normalize=False, batch_size=37)
    np.testing.assert_allclose(mean, np.stack([avg(t, False) for t in texts]), atol=1e-5)
    x = np.stack([avg(t, True) for t in texts])
    u = np.linalg.svd(x, full_matrices=False)[2][0]
    with pytest.warns(OOVWarning):
        sif = StaticEncoder(words, method="sif").encode(texts, normalize=False, batch_size=37)
    np.testing.assert_allclose(sif, x - np.outer(x @ u, u), atol=1e-5)


def test_oov_report_numbers_and_empty_items_are_zero_rows(space: embspace.EmbeddingSpace) -> None:
    enc = StaticEncoder(space)
    with pytest.raises(NotFittedError, match="no text was encoded yet"):
        _ = enc.last_report_
    texts = ["the cat zebra", "zebra yak", "", "dog"]
    with pytest.warns(OOVWarning, match=r"2 of 4 texts have no word in the vocabulary.*texts 1, 2") as rec:
        out = enc.encode(texts)
    assert len(rec) == 1  # oov_rate is exactly 0.5: no second warning
    report = enc.last_report_
    assert report == OOVReport(n_items=4, n_tokens=6, n_oov_tokens=3, oov_rate=0.5, empty_items=(1, 2),
                               top_oov=(("zebra", 2), ("yak", 1)))
    assert not np.any(out[1]) and not np.any(out[2])  # zero rows stay zero after normalisation
    np.testing.assert_allclose(np.linalg.norm(out[[0, 3]], axis=1), 1.0, rtol=1e-6)
    assert "3 unknown (50.0%)" in str(report) and "'zebra' (2)" in str(report)
    # the same report whatever the batch size (indices are global)
    with pytest.warns(OOVWarning):
        enc.encode(texts, batch_size=1)
    assert enc.last_report_ == report


def test_high_oov_rate_warns_and_top_oov_is_capped(space: embspace.EmbeddingSpace) -> None:
    enc = StaticEncoder(space)
    unknown = [f"u{i}" for i in range(25)]
    text = " ".join(["the", *unknown, "u0", "u0", "u1"])
    with pytest.warns(OOVWarning, match=r"not in the vocabulary \(most common: 'u0', 'u1'"):
        enc.encode([text])
    report = enc.last_report_
    assert report.n_tokens == 29 and report.n_oov_tokens == 28 and report.empty_items == ()
    assert report.oov_rate == pytest.approx(28 / 29)
    assert len(report.top_oov) == 20 and report.top_oov[:2] == (("u0", 3), ("u1", 2))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        enc.encode(["the cat", "dog sat"])  # clean input: no warning
    assert enc.last_report_.n_oov_tokens == 0 and enc.last_report_.oov_rate == 0.0
    empty = enc.encode([])
    assert empty.shape == (0, 3) and enc.last_report_.n_items == 0


def test_sif_component_is_fixed_once_learned(space: embspace.EmbeddingSpace) -> None:
    enc = StaticEncoder(space, method="sif", sif_a=A)
    first = enc.encode(["the cat sat", "dog dog cat"])
    sid, comp = enc.space_id, enc.component_.copy()
    single = enc.encode(["the cat sat"])  # one text is fine now: the component is kept
    enc.encode(["sat sat the", "dog", "cat the dog sat"])
    again = enc.encode(["the cat sat"])
    np.testing.assert_array_equal(single, again)
    np.testing.assert_allclose(single[0], first[0], atol=1e-6)
    np.testing.assert_array_equal(enc.component_, comp)
    assert enc.space_id == sid == again.space_id


def test_fit_then_encode_equals_encode_first(space: embspace.EmbeddingSpace) -> None:
    fitted = StaticEncoder(space, method="sif", sif_a=A)
    assert fitted.fit(TEXTS) is fitted
    assert fitted.last_report_.n_items == len(TEXTS)
    auto = StaticEncoder(space, method="sif", sif_a=A)
    np.testing.assert_array_equal(auto.encode(TEXTS), fitted.encode(TEXTS))
    assert auto.space_id == fitted.space_id  # same texts -> same component -> same coordinate system
    mean = StaticEncoder(space)
    assert mean.fit(TEXTS) is mean  # nothing to learn
    with pytest.raises(NotFittedError, match="only method='sif'"):
        _ = mean.component_


def test_sif_needs_two_known_texts_to_learn_the_component(space: embspace.EmbeddingSpace) -> None:
    enc = StaticEncoder(space, method="sif")
    with pytest.raises(NotFittedError, match="no principal component yet"):
        _ = enc.component_
    with pytest.raises(NotFittedError, match=r"call encoder.fit\(texts\)"):
        enc.encode(["the cat sat"])
    with pytest.raises(NotFittedError, match=r"1 contain a known word.*'zebra' \(1\)"):
        enc.encode(["the cat", "zebra yak"])  # the error carries the OOV report
    with pytest.raises(InvalidInputError, match="at least two texts"):
        enc.fit(["the cat", "zebra"])
    assert not enc.is_fitted


def test_provenance_follows_the_word_space_and_the_refit(space: embspace.EmbeddingSpace) -> None:
    enc = StaticEncoder(space)
    assert enc.name == "static-mean(unknown)" and enc.revision == space.space_id
    assert enc.provenance.config["revision"] == space.space_id
    assert enc.provenance.config["method"] == "mean" and enc.provenance.config["lowercase"] is True
    assert StaticEncoder(space).space_id == enc.space_id  # deterministic
    other_words = embspace.EmbeddingSpace.from_dict({**WORDS, "cat": [0.0, 2.5, 0.0]}, counts=COUNTS)
    assert StaticEncoder(other_words).space_id != enc.space_id
    assert StaticEncoder(space, lowercase=False).space_id != enc.space_id
    assert StaticEncoder(space, tokenizer=TOKEN).space_id != enc.space_id
    assert StaticEncoder(space, tokenizer=TOKEN).provenance.config["tokenizer"] == "re:'[a-z]+':findall"

    sif = StaticEncoder(space, method="sif", sif_a=A)
    assert sif.name == "static-sif(unknown)" and sif.space_id != enc.space_id
    assert sif.provenance.config["principal_component"] is None
    unfitted_id = sif.space_id
    sif.fit(TEXTS)
    first_id = sif.space_id
    assert first_id != unfitted_id and sif.provenance.config["principal_component"]
    assert StaticEncoder(space, method="sif", sif_a=1e-3).fit(TEXTS).space_id != first_id
    docs = sif.encode_space(TEXTS)
    assert docs.space_id == first_id and docs.keys == tuple(TEXTS)
    before = sif.encode(["the cat"])[0]
    sif.fit(["dog sat", "dog dog the", "sat"])  # another sample: another component
    assert sif.space_id != first_id
    with pytest.raises(IncompatibleSpaceError):
        docs.neighbors(sif.encode(["the cat"])[0], k=1)  # new queries never mix with old documents
    assert docs.neighbors(before, k=1).keys[0] in TEXTS
    sif.fit(TEXTS)
    assert sif.space_id == first_id  # the same sample gives back the same coordinate system


def test_tokenisation_matches_the_training_corpus_reader(space: embspace.EmbeddingSpace, tmp_path: Path) -> None:
    lines = ["The Cat, sat on the MAT.", "dog's   day\tout", "Ünïcode Wörds here"]
    (tmp_path / "corpus.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    for kwargs in ({}, {"tokenizer": TOKEN}, {"lowercase": False}, {"lowercase": False, "tokenizer": TOKEN}):
        trained = list(TextCorpus(tmp_path / "corpus.txt", **kwargs))  # type: ignore[arg-type]
        enc = StaticEncoder(space, **kwargs)  # type: ignore[arg-type]
        assert [enc.tokenize(line) for line in lines] == trained
    assert StaticEncoder(space).tokenize("The Cat, sat.") == ["the", "cat,", "sat."]
    assert StaticEncoder(space, tokenizer=TOKEN).tokenize("The Cat, sat.") == ["the", "cat", "sat"]
    # the words are found only when the tokeniser splits as at training time
    with pytest.warns(OOVWarning):
        StaticEncoder(space).encode(["Cat, dog."])
    assert StaticEncoder(space, tokenizer=TOKEN).encode(["Cat, dog."]).any()
    with pytest.warns(OOVWarning):  # "The" is unknown when not lower-cased
        StaticEncoder(space, lowercase=False).encode(["The"])


@pytest.fixture(scope="module")
def demo() -> embspace.EmbeddingSpace:
    from embspace.data import demo_words

    return demo_words()


PARAPHRASES = [
    ("The cat sat on the mat.", "A kitten was sitting on the rug.", "The stock market fell sharply today."),
    ("The stock market fell sharply today.", "Shares dropped steeply on the exchange.",
     "He played the guitar in a rock band."),
    ("The river flooded the village after heavy rain.", "Heavy rain caused floods in the town.",
     "The court sentenced him to prison."),
]


@pytest.mark.parametrize("method", ["mean", "sif"])
def test_paraphrases_are_closer_than_unrelated_sentences(demo: embspace.EmbeddingSpace, method: str) -> None:
    from embspace.data import python_help_sentences

    enc = StaticEncoder(demo, method=method, tokenizer=TOKEN)  # type: ignore[arg-type]
    assert enc.dim == demo.dim and enc.revision == demo.space_id
    assert enc.name == f"static-{method}({demo.provenance.model})"
    if method == "sif":
        enc.fit(python_help_sentences(200) + [s for triple in PARAPHRASES for s in triple])
    for a, b, unrelated in PARAPHRASES:
        v = enc.encode([a, b, unrelated])
        assert float(v[0] @ v[1]) > float(v[0] @ v[2]) + 0.2, (a, b, unrelated)
    assert enc.last_report_.n_oov_tokens == 0


def test_bad_input_is_refused(space: embspace.EmbeddingSpace) -> None:
    with pytest.raises(TypeError, match="EmbeddingSpace"):
        StaticEncoder({"cat": [1.0]})  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="empty"):
        StaticEncoder(embspace.EmbeddingSpace([], np.zeros((0, 3))))
    with pytest.raises(InvalidInputError, match="unknown method 'max'"):
        StaticEncoder(space, method="max")  # type: ignore[arg-type]
    for bad in (0, -1.0, float("nan"), float("inf"), True, "0.1"):
        with pytest.raises(InvalidInputError, match="sif_a"):
            StaticEncoder(space, method="sif", sif_a=bad)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="tokenizer must be a callable"):
        StaticEncoder(space, tokenizer="split")  # type: ignore[arg-type]
    enc = StaticEncoder(space)
    one = enc.encode("the cat")  # one text: one (dim,) vector; a list: (n, dim)
    assert one.shape == (space.dim,) and one.space_id == enc.space_id
    np.testing.assert_array_equal(one, enc.encode(["the cat"])[0])  # the same rows averaged the same way
    with pytest.raises(TypeError, match="wrap a single text in a list"):
        enc.encode_space("the cat")
    with pytest.raises(TypeError, match="item #1 is int"):
        enc.encode(["the cat", 3])
    with pytest.raises(TypeError, match="wrap a single text"):
        enc.fit("the cat")
    with pytest.raises(TypeError, match="tokenize takes a str"):
        enc.tokenize(3)  # type: ignore[arg-type]
    for bad_bs in (0, -2, 1.5, True):
        with pytest.raises(InvalidInputError, match="batch_size"):
            enc.encode(["the cat"], batch_size=bad_bs)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="must return a list of str"):
        StaticEncoder(space, tokenizer=str.lower).encode(["the cat"])
    with pytest.raises(TypeError, match="unhashable token"):
        StaticEncoder(space, tokenizer=lambda s: [[s]]).encode(["the cat"])  # type: ignore[arg-type, return-value]

