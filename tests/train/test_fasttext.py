"""FastText: word2vec with fastText character n-grams (compiled CPU engine), its SubwordSpace and .bin files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import embspace
from embspace.errors import InvalidInputError, NotFittedError
from embspace.space import SubwordSpace
from embspace.train import FastText, Word2Vec

FAST = {"dim": 24, "window": 3, "min_count": 1, "negative": 5, "epochs": 4, "sample": 0.0, "progress": False,
        "buckets": 5000}
LETTERS = list("abcdefghijklmnopqrstuvwxyz")


def _spelled_corpus(seed: int = 0, n_sentences: int = 3000, length: int = 12) -> tuple[list[list[str]], list[str]]:
    """Five topics of 20 words; each topic's words share a stem ("<stem><ending>"), and endings are shared
    across topics, so only the stem tells a topic. The keys of topic_purity are mapped to the words."""
    rng = np.random.default_rng(seed)
    stems = ["".join(rng.choice(LETTERS, 4)) for _ in range(5)]
    endings = ["".join(rng.choice(LETTERS, 3)) for _ in range(20)]
    words = [f"{stems[t]}{endings[w]}" for t in range(5) for w in range(20)]
    out = []
    for _ in range(n_sentences):
        t = rng.integers(5)
        out.append([words[t * 20 + w] for w in rng.integers(20, size=length)])
    return out, stems


def _random_corpus(seed: int = 0) -> tuple[list[list[str]], dict[str, str]]:
    """The topic corpus with random spellings: the n-grams carry no topic, the contexts do."""
    rng = np.random.default_rng(seed)
    names = {f"t{t}w{w}": "".join(rng.choice(LETTERS, 7)) for t in range(5) for w in range(20)}
    out = []
    for _ in range(3000):
        t = rng.integers(5)
        out.append([names[f"t{t}w{w}"] for w in rng.integers(20, size=12)])
    return out, names


def _purity(space: SubwordSpace, names: dict[str, str], k: int = 5) -> float:
    """topic_purity's measure through the random spellings: the share of each word's k nearest neighbours
    that come from its own topic."""
    topic = {v: key.split("w")[0] for key, v in names.items()}
    words = list(names.values())
    res = space.neighbors(words, k=k)
    return float(np.mean([topic[n] == topic[q] for q, row in zip(words, res.keys, strict=True) for n in row]))


@pytest.mark.parametrize("architecture", ["skipgram", "cbow"])
def test_learns_contexts_not_only_spellings(architecture: str) -> None:
    corpus, names = _random_corpus()
    model = FastText(architecture=architecture, workers=2, **FAST).fit(corpus)  # type: ignore[arg-type]
    space = model.space_
    assert isinstance(space, SubwordSpace) and len(space) == 100 and space.dim == 24
    assert space.provenance.model == "embspace.fasttext"
    assert space.provenance.config["architecture"] == architecture
    assert space.provenance.config["subwords"]["bucket"] == 5000
    assert _purity(space, names) > 0.9
    assert model.loss_history_[-1] < model.loss_history_[0]
    assert model.words_per_second_ > 0


@pytest.mark.parametrize("architecture", ["skipgram", "cbow"])
def test_unknown_words_land_by_their_stem(architecture: str) -> None:
    corpus, stems = _spelled_corpus()
    space = FastText(architecture=architecture, workers=1, **FAST).fit(corpus).space_  # type: ignore[arg-type]
    hits = 0
    for stem in stems:
        unseen = stem + "zqx"  # an ending never seen
        assert unseen not in space
        top = space.neighbors(unseen, k=5).keys
        hits += sum(w.startswith(stem) for w in top)
    assert hits / 25 >= 0.96  # trained: 25 of 25; untrained vectors (alpha=1e-6) share the stem too: 21 of 25
    # the vocabulary's vector is fastText's getWordVector: the mean of the word's own and n-gram rows
    word = space.keys[0]
    assert space.can_embed(word)


def test_same_seed_one_worker_is_identical_and_seed_matters() -> None:
    corpus, _ = _random_corpus()
    a = FastText(workers=1, seed=7, **FAST).fit(corpus).space_  # type: ignore[arg-type]
    b = FastText(workers=1, seed=7, **FAST).fit(corpus).space_  # type: ignore[arg-type]
    c = FastText(workers=1, seed=8, **FAST).fit(corpus).space_  # type: ignore[arg-type]
    np.testing.assert_array_equal(a.vectors, b.vectors)
    np.testing.assert_array_equal(a.ngram_vectors, b.ngram_vectors)
    assert not np.array_equal(a.vectors, c.vectors)


def test_buckets_are_allocated_for_the_ngrams_seen() -> None:
    corpus, _ = _random_corpus()
    model = FastText(workers=1, **{**FAST, "buckets": 2_000_000}).fit(corpus)  # type: ignore[arg-type]
    mem = model.memory_
    space = model.space_
    # 100 words of 7 letters: 22 n-grams each, nearly all distinct -> ~2,200 rows, not 2,000,000
    assert 1500 < mem["ngram_rows"] < 2300 == 100 * 23
    assert mem["input_bytes"] == (100 + mem["ngram_rows"]) * 24 * 4
    assert mem["dense_input_bytes"] == (100 + 2_000_000) * 24 * 4
    assert len(space.bucket_ids) == mem["ngram_rows"] and space.bucket == 2_000_000


def test_maxn_zero_is_word2vec_with_fasttexts_init() -> None:
    corpus, _ = _random_corpus()
    model = FastText(workers=2, **{**FAST, "minn": 0, "maxn": 0}).fit(corpus)  # type: ignore[arg-type]
    assert type(model.space_) is embspace.EmbeddingSpace
    assert model.memory_["ngram_rows"] == 0


def test_settings_errors_and_not_fitted() -> None:
    with pytest.raises(NotFittedError):
        FastText().space_  # noqa: B018
    corpus, _ = _random_corpus()
    for bad in ({"minn": 4, "maxn": 3}, {"minn": 0, "maxn": 3}, {"buckets": 0}, {"device": "tpu"},
                {"architecture": "glove"}):
        with pytest.raises(InvalidInputError):
            FastText(**{**FAST, **bad}).fit(corpus)  # type: ignore[arg-type]
    model = FastText(workers=1, **FAST).fit(corpus)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="partial_fit"):
        model.partial_fit(corpus)  # type: ignore[arg-type]
    assert isinstance(FastText(), Word2Vec)


def test_saved_bin_loads_in_gensim_with_the_same_vectors(tmp_path: Path) -> None:
    from gensim.models.fasttext import load_facebook_model, load_facebook_vectors

    corpus, stems = _spelled_corpus()
    space = FastText(workers=2, **{**FAST, "buckets": 20_000}).fit(corpus).space_  # type: ignore[arg-type]
    path = space.save(tmp_path / "model.bin", format="fasttext")
    wv = load_facebook_vectors(str(path))
    assert list(wv.index_to_key) == list(space.keys)
    unknown = [s + "zqx" for s in stems] + ["disc0unt", "qq"]
    for word in [*space.keys, *unknown]:
        # gensim averages the same float32 rows in another order
        np.testing.assert_allclose(wv[word], space.vector(word), rtol=1e-4, atol=1e-6)
    full = load_facebook_model(str(path))  # the output matrix is the trained one
    np.testing.assert_array_equal(full.syn1neg, space._sub.output_vectors)
    back = embspace.load(path)
    assert isinstance(back, SubwordSpace)
    np.testing.assert_allclose(back.vectors, space.vectors, rtol=1e-5, atol=1e-6)


def test_learner_save_and_load(tmp_path: Path) -> None:
    corpus, _ = _random_corpus()
    model = FastText(workers=1, **FAST).fit(corpus)  # type: ignore[arg-type]
    model.save(tmp_path / "learner")
    back = FastText.load(tmp_path / "learner")
    assert isinstance(back, FastText) and back.maxn == 6
    np.testing.assert_array_equal(back.space_.vectors, model.space_.vectors)
    np.testing.assert_array_equal(np.asarray(back.space_.vector("zzzyyy")), np.asarray(model.space_.vector("zzzyyy")))


def test_checkpoint_resume_equals_uninterrupted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The Word2Vec checkpoint machinery carries the n-gram rows too (one worker: bit for bit)."""
    from embspace.train import _checkpoint as checkpoint_mod

    corpus, _ = _random_corpus()
    settings = {**FAST, "epochs": 3}
    whole = FastText(workers=1, **settings).fit(corpus).space_  # type: ignore[arg-type]
    real_save = checkpoint_mod.save
    calls = {"n": 0}

    def save_then_crash(*args: Any, **kwargs: Any) -> None:
        real_save(*args, **kwargs)
        calls["n"] += 1
        if calls["n"] == 1:  # after the first epoch's checkpoint: simulate a kill
            raise KeyboardInterrupt

    monkeypatch.setattr(checkpoint_mod, "save", save_then_crash)
    with pytest.raises(KeyboardInterrupt):
        FastText(workers=1, **settings).fit(corpus, checkpoint=tmp_path / "ckpt")  # type: ignore[arg-type]
    monkeypatch.setattr(checkpoint_mod, "save", real_save)
    assert checkpoint_mod.load_any(tmp_path / "ckpt").epoch == 1
    resumed = FastText(workers=1, **settings).fit(corpus, checkpoint=tmp_path / "ckpt")  # type: ignore[arg-type]
    np.testing.assert_array_equal(resumed.space_.vectors, whole.vectors)
    np.testing.assert_array_equal(resumed.space_.ngram_vectors, whole.ngram_vectors)
    with pytest.raises(InvalidInputError, match="other settings"):
        FastText(workers=1, **{**settings, "maxn": 5}).fit(corpus, checkpoint=tmp_path / "ckpt")  # type: ignore[arg-type]


@pytest.mark.parametrize("architecture", ["skipgram", "cbow"])
def test_torch_engine_runs_on_cpu(architecture: str) -> None:
    """The accelerator engine's code path (n-gram rows gathered and scattered per pair), on the CPU."""
    pytest.importorskip("torch")
    corpus, names = _random_corpus()
    model = FastText(architecture=architecture, device="torch-cpu", **{**FAST, "epochs": 3})  # type: ignore[arg-type]
    model.fit(corpus[:1500])
    space = model.space_
    assert space.provenance.config["engine"] == "torch"
    assert np.isfinite(space.vectors).all() and np.isfinite(space.ngram_vectors).all()
    assert model.loss_history_[-1] < model.loss_history_[0]
    assert _purity(space, names) > 0.9  # untrained: 0.15


def test_torch_gather_is_the_mean_of_the_rows() -> None:
    torch = pytest.importorskip("torch")
    from embspace.train._w2v_torch import TorchFastText

    rng = np.random.default_rng(0)
    syn0 = rng.standard_normal((7, 3)).astype(np.float32)
    syn1 = np.zeros((3, 3), np.float32)
    ptr = np.array([0, 2, 5, 6])  # word 0: rows 0, 3; word 1: rows 1, 4, 5; word 2: row 2
    rows = np.array([0, 3, 1, 4, 5, 2], np.int32)
    eng = TorchFastText(syn0, syn1, "cpu", "skipgram", 2, 2, np.full(3, 1 / 3), np.ones(3, np.float32), ptr, rows)
    total, count = eng._gather(torch.tensor([1, 0, 1]))
    np.testing.assert_allclose(total.numpy() / count.numpy()[:, None],
                               [syn0[[1, 4, 5]].mean(0), syn0[[0, 3]].mean(0), syn0[[1, 4, 5]].mean(0)], rtol=1e-6)
    before = syn0.copy()
    eng._scatter(torch.tensor([2, 1]), torch.ones((2, 3)))
    eng.sync()
    # every row of words 2 and 1 (rows 2; 1, 4, 5) receives the whole gradient; the others none
    np.testing.assert_allclose(syn0 - before, [[0] * 3, [1] * 3, [1] * 3, [0] * 3, [1] * 3, [1] * 3, [0] * 3],
                               atol=1e-6)  # float32 additions
