"""Distiller: a static encoder from a tiny transformer teacher (built from a config), Zipf and corpus weights,
corpus words, save/load, provenance and errors."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from embspace.encoders import DistilledEncoder, get_encoder
from embspace.errors import InvalidInputError, NotFittedError
from embspace.train import Distiller

pytest.importorskip("sentence_transformers")

CORPUS = ["the cat sat on the mat", "a dog in the river", "money in the bank account", "she opened a long text",
          "the cats sat on the mats", "cats and dogs", "the mats of the cats", "a long word"]


@pytest.fixture(scope="module")
def teacher(tmp_path_factory: pytest.TempPathFactory) -> Any:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "encoders"))
    from text_testing import build_st

    return get_encoder(build_st(tmp_path_factory.mktemp("teacher")), device="cpu")


@pytest.fixture(autouse=True)
def _cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EMBSPACE_CACHE", str(tmp_path / "cache"))


def test_token_rows_are_the_teachers_vectors_and_texts_their_weighted_mean(teacher: Any) -> None:
    d = Distiller(pca_dims=None, progress=False).fit(teacher)
    enc = d.encoder_
    assert isinstance(enc, DistilledEncoder) and enc.dim == 16
    cat = teacher._tokenizer.convert_tokens_to_ids("cat")
    # the teacher's mean output state of "[CLS] cat [SEP]", through the teacher's own code path
    ids = np.array([[teacher._tokenizer.cls_token_id, cat, teacher._tokenizer.sep_token_id]])
    states = teacher._torch_states(ids, np.ones_like(ids)).detach().numpy()[0]
    np.testing.assert_allclose(d.token_vectors_[cat], states.mean(0), atol=1e-5)  # same ops, other batch shape
    special = teacher._tokenizer.all_special_ids
    assert np.all(enc.weights[special] == 0) and np.all(d.token_vectors_[special] == 0)
    text = "the cat sat on the mat"
    tok = enc.tokenize([text])[0]
    w = enc.weights[tok].astype(np.float64)
    expected = (w[:, None] * enc.vectors[tok]).sum(0) / w.sum()
    # float32 product vs float64 reference: agreement to float32 rounding of values of size ~1
    np.testing.assert_allclose(np.asarray(enc.encode(text, normalize=False)), expected, atol=1e-5)
    # PCA without reduction is a rotation of the centred token vectors: distances are kept
    keep = enc.weights > 0
    rows = d.token_vectors_[keep].astype(np.float64)
    a, b = rows[0] - rows[1], enc.vectors[keep][0] - enc.vectors[keep][1]
    assert np.linalg.norm(a) == pytest.approx(np.linalg.norm(b), rel=1e-4)
    assert d.explained_variance_ == pytest.approx(1.0)


def test_zipf_weights_grow_with_the_token_id_and_corpus_weights_follow_counts(teacher: Any) -> None:
    zipf = Distiller(pca_dims=4, progress=False).fit(teacher).encoder_
    assert zipf.info["frequencies"] == "zipf" and zipf.info["sif_a"] == 1e-4 and zipf.dim == 4
    kept = zipf.weights[zipf.weights > 0]
    assert np.all(np.diff(kept) > 0)  # rank r: p ~ 1/r, weight a/(a+p) increases with the rank
    corpus = Distiller(pca_dims=4, progress=False).fit(teacher, corpus=CORPUS).encoder_
    assert corpus.info["frequencies"] == "corpus" and corpus.info["corpus_texts"] == len(CORPUS)
    assert corpus.info["corpus_hash"] and corpus.space_id != zipf.space_id
    vocab = teacher._tokenizer.get_vocab()
    # "the" is the most common token of the corpus, "river" appears once, "##ing" never (the largest weight, 1)
    assert corpus.weights[vocab["the"]] < corpus.weights[vocab["river"]] < corpus.weights[vocab["##ing"]] == 1.0
    # the corpus' common component is folded into the rows: the corpus texts' vectors have mean zero (the mean was
    # learnt on these very texts; float32 rows, so zero to float32 rounding)
    assert corpus.info["common_component"] is True
    np.testing.assert_allclose(np.asarray(corpus.encode(CORPUS, normalize=False)).mean(axis=0), 0.0, atol=1e-5)
    idf = Distiller(pca_dims=4, progress=False, weighting="idf").fit(teacher, corpus=CORPUS).encoder_
    n = len(CORPUS)
    assert idf.weights[vocab["river"]] == pytest.approx(np.log((n + 1) / 2))  # in one text of eight
    assert idf.weights[vocab["the"]] < idf.weights[vocab["river"]]
    unused = Distiller(pca_dims=4, progress=False, frequencies="zipf").fit(teacher, corpus=CORPUS).encoder_
    assert unused.info["frequencies"] == "zipf" and unused.info["corpus_hash"]


def test_corpus_words_join_the_vocabulary_with_the_teachers_vector(teacher: Any) -> None:
    d = Distiller(pca_dims=None, vocabulary="teacher+corpus", min_count=2, progress=False).fit(teacher, corpus=CORPUS)
    enc = d.encoder_
    assert enc.info["corpus_words"] >= 2  # "cats", "mats" (split by the tokenizer into cat ##s, mat ##s)
    base = teacher._tokenizer.vocab_size if hasattr(teacher._tokenizer, "vocab_size") else None
    ids = enc.tokenize(["the cats on mats"])[0]
    assert len(ids) == 4 and base is not None and ids[1] >= base and ids[3] >= base
    seq = teacher._tokenizer("cats", add_special_tokens=True)["input_ids"]
    arr = np.array([seq])
    whole = teacher._torch_states(arr, np.ones_like(arr)).detach().numpy()[0].mean(0)
    np.testing.assert_allclose(d.token_vectors_[ids[1]], whole, atol=1e-5)  # same ops, other batch shape


def test_cache_save_load_round_trip_and_provenance(teacher: Any, tmp_path: Path) -> None:
    first = Distiller(pca_dims=8, progress=False).fit(teacher)
    assert list((tmp_path / "cache" / "distill").glob("*.npy"))  # the teacher's token vectors were cached
    second = Distiller(pca_dims=8, progress=False).fit(teacher)  # from the cache: the same arrays
    np.testing.assert_array_equal(first.token_vectors_, second.token_vectors_)
    path = first.save(tmp_path / "student")
    loaded = get_encoder(path)
    assert isinstance(loaded, DistilledEncoder) and loaded.space_id == first.encoder_.space_id
    cfg = loaded.provenance.config
    assert cfg["teacher"] == teacher.name and cfg["teacher_space_id"] == teacher.space_id and cfg["pca_dims"] == 8
    np.testing.assert_array_equal(np.asarray(loaded.encode(CORPUS, progress=False)),
                                  np.asarray(first.encoder_.encode(CORPUS, progress=False)))  # same code path


def test_errors(teacher: Any) -> None:
    with pytest.raises(NotFittedError):
        Distiller().save("nowhere")
    with pytest.raises(InvalidInputError, match="needs a corpus"):
        Distiller(frequencies="corpus", progress=False).fit(teacher)
    with pytest.raises(InvalidInputError, match="needs a corpus"):
        Distiller(vocabulary="teacher+corpus", progress=False).fit(teacher)
    with pytest.raises(InvalidInputError, match="needs a corpus"):
        Distiller(weighting="idf", progress=False).fit(teacher)
    with pytest.raises(InvalidInputError, match="unknown frequencies"):
        Distiller(frequencies="counts", progress=False).fit(teacher)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="pca_dims"):
        Distiller(pca_dims=0, progress=False).fit(teacher)
    with pytest.raises(InvalidInputError, match="sif_a"):
        Distiller(sif_a=2.0, progress=False).fit(teacher)
    with pytest.raises(InvalidInputError, match="transformer text encoder"):
        Distiller(progress=False).fit(object())
    with pytest.raises(InvalidInputError, match="one string"):
        Distiller(progress=False).fit(teacher, corpus="the cat")  # type: ignore[arg-type]


def _texts(n: int, seed: int = 0) -> list[str]:
    words = ["cat", "dog", "mat", "river", "bank", "money", "long", "text", "sat", "opened", "word", "account"]
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(words, size=int(rng.integers(2, 9)))) for _ in range(n)]


def test_tuning_moves_the_rows_towards_the_teachers_text_vectors(teacher: Any) -> None:
    texts = _texts(300)
    d = Distiller(pca_dims=None, weighting="idf", tune_epochs=8, tune_batch=32, progress=False).fit(teacher,
                                                                                                   corpus=texts)
    h = d.tune_history_
    assert h[0]["epoch"] == 0 and 2 <= len(h) <= 9
    best = max(x["heldout_cosine"] for x in h)
    assert best > h[0]["heldout_cosine"] + 0.05  # held-out texts: the regression generalises beyond its batches
    info = d.encoder_.info
    assert info["tune_texts"] == 300 and info["tune_heldout_cosine"][0] == pytest.approx(h[0]["heldout_cosine"],
                                                                                         abs=1e-4)
    untuned = Distiller(pca_dims=None, weighting="idf", tune_epochs=0, progress=False).fit(teacher, corpus=texts)
    assert untuned.tune_history_ == [] and "tune_texts" not in untuned.encoder_.info
    assert untuned.encoder_.space_id != d.encoder_.space_id
    # the default tunes when there is a corpus (10 epochs at most) and not without one
    assert Distiller(progress=False)._epochs(True) == 10 and Distiller(progress=False)._epochs(False) == 0


def test_tuning_with_given_targets_equals_tuning_with_the_teachers_own_pass(teacher: Any) -> None:
    import torch

    torch.set_num_threads(1)  # one thread: the same summation order in both fits
    texts = _texts(120, seed=1)
    own = Distiller(pca_dims=8, tune_epochs=3, tune_batch=16, progress=False).fit(teacher, corpus=texts)
    y = np.asarray(teacher.encode(texts, normalize=False, progress=False))
    given = Distiller(pca_dims=8, tune_epochs=3, tune_batch=16, progress=False).fit(teacher, corpus=texts, targets=y)
    # the same targets, seeds and operations; PCA's eigen-solver may flip nothing (fixed signs) but rounds: 1e-5
    np.testing.assert_allclose(given.encoder_.vectors, own.encoder_.vectors, atol=1e-5)
    with pytest.raises(InvalidInputError, match="one teacher vector per corpus text"):
        Distiller(progress=False).fit(teacher, corpus=texts, targets=y[:-1])
    with pytest.raises(InvalidInputError, match="dims but the teacher"):
        Distiller(progress=False).fit(teacher, corpus=texts, targets=np.zeros((len(texts), 3)))
    with pytest.raises(InvalidInputError, match="NaN"):
        Distiller(progress=False).fit(teacher, corpus=texts, targets=np.full_like(y, np.nan))
    with pytest.raises(InvalidInputError, match="tune_epochs needs a corpus"):
        Distiller(tune_epochs=2, progress=False).fit(teacher)
    with pytest.raises(InvalidInputError, match="tune_epochs must be"):
        Distiller(tune_epochs=-1, progress=False).fit(teacher, corpus=texts)
    with pytest.raises(InvalidInputError, match="tune_lr"):
        Distiller(tune_lr=0.0, progress=False).fit(teacher, corpus=texts)
