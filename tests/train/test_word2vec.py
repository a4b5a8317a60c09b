from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from train_testing import topic_corpus, topic_purity

from embspace.errors import InvalidInputError, NotFittedError
from embspace.train import Word2Vec
from embspace.train import _checkpoint as checkpoint_mod
from embspace.train._device import cuda_available

FAST = {"dim": 24, "window": 3, "min_count": 1, "negative": 5, "epochs": 4, "sample": 0.0, "progress": False}


@pytest.mark.parametrize("architecture", ["skipgram", "cbow"])
def test_learns_topic_structure(corpus: list[list[str]], architecture: str) -> None:
    model = Word2Vec(architecture=architecture, workers=2, **FAST).fit(corpus)  # type: ignore[arg-type]
    space = model.space_
    assert len(space) == 100 and space.dim == 24 and space.metric == "cosine"
    assert space.counts is not None and list(space.counts) == sorted(space.counts, reverse=True)
    assert space.provenance.model == "embspace.word2vec"
    assert space.provenance.config["architecture"] == architecture
    assert topic_purity(space) > 0.9
    assert model.loss_history_[-1] < model.loss_history_[0]
    assert model.words_per_second_ > 0


def test_same_seed_one_worker_is_identical_and_seed_matters(corpus: list[list[str]]) -> None:
    a = Word2Vec(workers=1, seed=7, **FAST).fit(corpus).space_.vectors
    b = Word2Vec(workers=1, seed=7, **FAST).fit(corpus).space_.vectors
    c = Word2Vec(workers=1, seed=8, **FAST).fit(corpus).space_.vectors
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_subsampling_and_file_input(tmp_path: Path) -> None:
    path = tmp_path / "corpus.txt"
    path.write_text("\n".join(" ".join(s) for s in topic_corpus(2000)))
    model = Word2Vec(**{**FAST, "sample": 1e-3}, workers=2).fit(path)
    assert topic_purity(model.space_) > 0.85


def test_not_fitted_and_bad_settings(corpus: list[list[str]]) -> None:
    model = Word2Vec()
    with pytest.raises(NotFittedError):
        _ = model.space_
    with pytest.raises(InvalidInputError, match="architecture"):
        Word2Vec(architecture="skipthought", progress=False).fit(corpus)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="min_count=1000"):
        Word2Vec(min_count=1000, progress=False).fit(corpus)
    with pytest.raises(InvalidInputError, match="device"):
        Word2Vec(device="tpu", **FAST).fit(corpus)


def test_partial_fit_adds_words_and_keeps_learning(corpus: list[list[str]]) -> None:
    model = Word2Vec(workers=1, **FAST).fit(corpus)
    before = model.space_
    new = [[f"t0w{i % 20}" if j % 2 else "newword" for j in range(12)] for i in range(300)]
    model.partial_fit(new, epochs=2)
    after = model.space_
    assert "newword" in after and "newword" not in before
    assert after.keys[: len(before)] == before.keys
    assert after.space_id != before.space_id  # continued training moves the coordinates
    assert not np.array_equal(np.asarray(after["t0w1"]), np.asarray(before["t0w1"]))  # in the new text
    # not in the new text: its input vector is untouched
    np.testing.assert_array_equal(np.asarray(after["t1w1"]), np.asarray(before["t1w1"]))
    near = after.neighbors("newword", k=10).keys
    assert sum(k.startswith("t0") for k in near) >= 6  # it learned the company it keeps


def test_checkpoint_resume_equals_uninterrupted(corpus: list[list[str]], tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    settings = {**FAST, "epochs": 3}
    full = Word2Vec(workers=1, **settings).fit(corpus).space_.vectors

    ckpt = tmp_path / "ckpt"
    real_save = checkpoint_mod.save
    calls = {"n": 0}

    def save_then_crash(*args: Any, **kwargs: Any) -> None:
        real_save(*args, **kwargs)
        calls["n"] += 1
        if calls["n"] == 1:  # after the first epoch's checkpoint: simulate a kill
            raise KeyboardInterrupt

    monkeypatch.setattr(checkpoint_mod, "save", save_then_crash)
    with pytest.raises(KeyboardInterrupt):
        Word2Vec(workers=1, **settings).fit(corpus, checkpoint=ckpt)
    monkeypatch.setattr(checkpoint_mod, "save", real_save)
    state = checkpoint_mod.load_any(ckpt)
    assert (state.epoch, state.job) == (1, 0)
    resumed = Word2Vec(workers=1, **settings).fit(corpus, checkpoint=ckpt)
    np.testing.assert_array_equal(resumed.space_.vectors, full)
    assert len(resumed.loss_history_) == 3
    with pytest.raises(InvalidInputError, match="other settings"):
        Word2Vec(workers=1, **{**settings, "dim": 8}).fit(corpus, checkpoint=ckpt)


def test_checkpoint_mid_epoch_resume(corpus: list[list[str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An interruption in the middle of an epoch saves where it stopped; resuming finishes the run."""
    from embspace.train import word2vec as w2v_mod

    monkeypatch.setattr(w2v_mod, "_JOB_WORDS", 500)
    ckpt = tmp_path / "ckpt"
    settings = {**FAST, "epochs": 2}
    full = Word2Vec(workers=1, **settings).fit(corpus).space_.vectors
    real_save = checkpoint_mod.save
    calls = {"n": 0}

    def save_then_crash(*args: Any, **kwargs: Any) -> None:
        real_save(*args, **kwargs)
        calls["n"] += 1
        if calls["n"] == 1:
            raise KeyboardInterrupt

    monkeypatch.setattr(checkpoint_mod, "save", save_then_crash)
    with pytest.raises(KeyboardInterrupt):
        Word2Vec(workers=1, **settings).fit(corpus, checkpoint=ckpt, checkpoint_every=0.0)
    monkeypatch.setattr(checkpoint_mod, "save", real_save)
    state = checkpoint_mod.load_any(ckpt)
    assert state.epoch == 0 and state.job > 0
    resumed = Word2Vec(workers=1, **settings).fit(corpus, checkpoint=ckpt)
    np.testing.assert_array_equal(resumed.space_.vectors, full)


def test_save_and_load_learner(corpus: list[list[str]], tmp_path: Path) -> None:
    model = Word2Vec(workers=1, **FAST).fit(corpus)
    model.save(tmp_path / "learner")
    again = Word2Vec.load(tmp_path / "learner")
    np.testing.assert_array_equal(again.space_.vectors, model.space_.vectors)
    assert again.vocab_.words == model.vocab_.words
    again.partial_fit(corpus[:200], epochs=1)
    assert len(again.loss_history_) == len(model.loss_history_) + 1


@pytest.mark.parametrize("architecture", ["skipgram", "cbow"])
def test_torch_engine_runs_on_cpu(architecture: str) -> None:
    """The accelerator engine's code path, exercised on the CPU (fast smoke test)."""
    pytest.importorskip("torch")
    small = topic_corpus(300, length=8)
    model = Word2Vec(architecture=architecture, device="torch-cpu", **{**FAST, "epochs": 2})  # type: ignore[arg-type]
    model.fit(small)
    assert model.space_.provenance.config["engine"] == "torch"
    assert np.isfinite(model.space_.vectors).all() and len(model.loss_history_) == 2


@pytest.mark.slow
@pytest.mark.parametrize("architecture", ["skipgram", "cbow"])
def test_torch_engine_learns_the_same_structure(corpus: list[list[str]], architecture: str) -> None:
    pytest.importorskip("torch")
    model = Word2Vec(architecture=architecture, device="torch-cpu", **{**FAST, "epochs": 6})  # type: ignore[arg-type]
    model.fit(corpus)
    assert topic_purity(model.space_) > 0.9


@pytest.mark.gpu
@pytest.mark.skipif(not cuda_available(), reason="needs a CUDA GPU")
def test_cuda_engine() -> None:  # pragma: no cover - runs only where a GPU is present
    model = Word2Vec(device="cuda", **FAST).fit(topic_corpus())
    assert topic_purity(model.space_) > 0.9


def test_a_list_of_paths_with_a_missing_file_is_an_error(tmp_path: Path) -> None:
    real = tmp_path / "corpus.txt"
    real.write_text("a b c\n" * 10)
    with pytest.raises(FileNotFoundError, match=r"missing\.txt"):
        Word2Vec(**FAST).fit([str(real), str(tmp_path / "missing.txt")])
