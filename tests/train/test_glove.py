from __future__ import annotations

import numpy as np
import pytest
from train_testing import topic_corpus, topic_purity

from embspace.errors import InvalidInputError, NotFittedError
from embspace.train import GloVe
from embspace.train._device import cuda_available

FAST = {"dim": 16, "window": 4, "min_count": 1, "epochs": 25, "x_max": 10.0, "progress": False}


@pytest.fixture(scope="module")
def corpus() -> list[list[str]]:
    return topic_corpus(noise=0.25)


def test_learns_topic_structure(corpus: list[list[str]]) -> None:
    model = GloVe(workers=2, **FAST).fit(corpus)
    space = model.space_
    assert len(space) == 100 and space.dim == 16 and space.provenance.model == "embspace.glove"
    assert topic_purity(space) > 0.9
    assert model.loss_history_[-1] < model.loss_history_[0]
    assert model.cooccurrence_nnz_ > 0 and model.peak_memory_ > 0
    assert set(model.timings_) == {"vocabulary", "cooccurrence", "training", "total"}


def test_one_worker_same_seed_is_repeatable(corpus: list[list[str]]) -> None:
    a = GloVe(workers=1, seed=3, **{**FAST, "epochs": 3}).fit(corpus).space_.vectors
    b = GloVe(workers=1, seed=3, **{**FAST, "epochs": 3}).fit(corpus).space_.vectors
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("streamed", [False, True])
def test_each_epoch_takes_a_fresh_order(corpus: list[list[str]], monkeypatch: pytest.MonkeyPatch,
                                        streamed: bool) -> None:
    """The records are reshuffled every epoch (in memory, or within each block read from disk), the
    same records each time, and the order is seeded."""
    import embspace.train._glove_kernels as kernels
    import embspace.train.glove as glove_mod

    if streamed:
        monkeypatch.setattr(glove_mod.GloVe, "_records_budget", lambda self, budget: 1000 * 12, raising=False)
    real = kernels.glove_epoch

    def orders(seed: int) -> list[np.ndarray]:
        seen: list[np.ndarray] = []

        def spy(rows, cols, vals, start, stop, *rest):  # type: ignore[no-untyped-def]
            if start == 0:  # one worker: the whole block
                seen.append(np.stack([rows, cols], axis=1).copy())
            return real(rows, cols, vals, start, stop, *rest)

        monkeypatch.setattr(kernels, "glove_epoch", spy)
        GloVe(workers=1, seed=seed, **{**FAST, "epochs": 3}).fit(corpus)
        per_epoch = len(seen) // 3
        assert len(seen) == 3 * per_epoch and (per_epoch > 1) == streamed
        return [np.concatenate(seen[e * per_epoch:(e + 1) * per_epoch]) for e in range(3)]

    first, again, other = orders(5), orders(5), orders(6)
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a, b)  # seeded
    assert not np.array_equal(first[0], first[1]) and not np.array_equal(first[1], first[2])
    for later in first[1:]:  # the same records, in another order
        np.testing.assert_array_equal(np.unique(later, axis=0), np.unique(first[0], axis=0))
    assert not np.array_equal(first[1], other[1])


@pytest.mark.parametrize("workers", [1, 2, 3])
def test_two_directions_of_a_record_are_never_applied_at_the_same_step(
        corpus: list[list[str]], monkeypatch: pytest.MonkeyPatch, workers: int) -> None:
    """Every direction of every record is applied exactly once per epoch, and a record's two
    directions are half a worker's range apart: never back to back, never by two threads at once."""
    import embspace.train._glove_kernels as kernels

    real = kernels.glove_epoch
    calls: list[tuple[int, int, int, int]] = []

    def spy(rows, cols, vals, start, stop, shift, *rest):  # type: ignore[no-untyped-def]
        calls.append((len(rows), start, stop, shift))
        return real(rows, cols, vals, start, stop, shift, *rest)

    monkeypatch.setattr(kernels, "glove_epoch", spy)
    GloVe(workers=workers, **{**FAST, "epochs": 1}).fit(corpus)
    assert len(calls) == workers
    n = calls[0][0]
    first = np.full(n, -1)  # step at which each record's direction is applied
    second = np.full(n, -1)
    thread_first = np.full(n, -1)
    thread_second = np.full(n, -1)
    for p, (_, start, stop, shift) in enumerate(sorted(calls, key=lambda c: c[1])):
        steps = np.arange(stop - start)
        first[start:stop] = steps
        thread_first[start:stop] = p
        q = (np.arange(start, stop) + shift) % n
        second[q] = steps
        thread_second[q] = p
    assert (first >= 0).all() and (second >= 0).all()  # each direction once
    same_step = (first == second) & (thread_first != thread_second)
    assert not same_step.any()
    gap = np.abs(first - second)
    assert gap.min() >= n // (2 * workers) - 1


def test_streams_records_when_they_do_not_fit(corpus: list[list[str]], monkeypatch: pytest.MonkeyPatch) -> None:
    """With a budget below the records' size, training reads them from disk in blocks."""
    from embspace.data import cooccurrence

    seen: list[int] = []
    real = cooccurrence.Cooccurrence.blocks

    def spy(self: cooccurrence.Cooccurrence, records: int):  # type: ignore[no-untyped-def]
        for b in real(self, records):
            seen.append(len(b))
            yield b

    monkeypatch.setattr(cooccurrence.Cooccurrence, "blocks", spy)
    monkeypatch.setattr(cooccurrence.Cooccurrence, "load", lambda self: (_ for _ in ()).throw(AssertionError))
    import embspace.train.glove as glove_mod

    monkeypatch.setattr(glove_mod.GloVe, "_records_budget", lambda self, budget: 1000 * 12, raising=False)
    model = GloVe(workers=2, **FAST).fit(corpus)
    assert len(seen) > FAST["epochs"]  # several blocks per epoch
    assert topic_purity(model.space_) > 0.85


def test_errors(corpus: list[list[str]]) -> None:
    with pytest.raises(NotFittedError):
        _ = GloVe().space_
    with pytest.raises(InvalidInputError, match="x_max"):
        GloVe(x_max=0, progress=False).fit(corpus)
    with pytest.raises(InvalidInputError, match="max_memory"):
        GloVe(dim=2000, max_memory="20MB", min_count=1, progress=False).fit(topic_corpus(50, words_per_topic=20000))


def test_torch_engine_runs_on_cpu() -> None:
    pytest.importorskip("torch")
    model = GloVe(device="torch-cpu", **{**FAST, "epochs": 3}).fit(topic_corpus(300, length=8))
    assert model.space_.provenance.config["engine"] == "torch"
    assert np.isfinite(model.space_.vectors).all() and len(model.loss_history_) == 3


@pytest.mark.gpu
@pytest.mark.skipif(not cuda_available(), reason="needs a CUDA GPU")
def test_cuda_engine(corpus: list[list[str]]) -> None:  # pragma: no cover - runs only with a GPU
    assert topic_purity(GloVe(device="cuda", **FAST).fit(corpus).space_) > 0.9


def test_kernel_applies_both_directions_once_half_a_block_apart() -> None:
    """The compiled epoch against a plain-Python transcription of the documented update order."""
    from embspace.train._glove_kernels import glove_epoch

    rng = np.random.default_rng(0)
    vocab, dim, n = 7, 4, 9
    rows = rng.integers(0, vocab, n).astype(np.int32)
    cols = rng.integers(0, vocab, n).astype(np.int32)
    rows[2] = cols[2] = 3  # a diagonal record
    vals = rng.uniform(0.5, 20.0, n).astype(np.float32)
    w0 = (rng.random((2 * vocab, dim), dtype=np.float32) - 0.5) / dim
    b0 = (rng.random(2 * vocab, dtype=np.float32) - 0.5) / dim
    w, b, g, gb = w0.copy(), b0.copy(), np.ones((2 * vocab, dim)), np.ones(2 * vocab)
    cost, count = glove_epoch(rows, cols, vals, 0, n, n // 2, w, g, b, gb, vocab, 10.0, 0.75, 0.05, 100.0)
    assert count == 2 * n - int((rows == cols).sum())  # a diagonal record: once, with twice its value

    rw, rb, rg, rgb = w0.astype(np.float64), b0.astype(np.float64), np.ones((2 * vocab, dim)), np.ones(2 * vocab)
    expected = 0.0
    for r in range(n):
        q = (r + n // 2) % n
        steps = [(int(rows[r]), int(cols[r]) + vocab, float(vals[r]) * (2 if rows[r] == cols[r] else 1))]
        if rows[q] != cols[q]:
            steps.append((int(cols[q]), int(rows[q]) + vocab, float(vals[q])))
        for i, j, x in steps:
            diff = rw[i] @ rw[j] + rb[i] + rb[j] - np.log(x)
            fdiff = diff * min(1.0, (x / 10.0) ** 0.75)
            expected += 0.5 * fdiff * diff
            t1, t2 = np.clip(fdiff * rw[j], -100, 100) * 0.05, np.clip(fdiff * rw[i], -100, 100) * 0.05
            up1, up2 = t1 / np.sqrt(rg[i]), t2 / np.sqrt(rg[j])
            rg[i] += t1 * t1
            rg[j] += t2 * t2
            rw[i] -= up1
            rw[j] -= up2
            rb[i] -= fdiff / np.sqrt(rgb[i])
            rb[j] -= fdiff / np.sqrt(rgb[j])
            rgb[i] += fdiff * fdiff
            rgb[j] += fdiff * fdiff
    np.testing.assert_allclose(w, rw, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(b, rb, rtol=1e-4, atol=1e-6)
    assert cost == pytest.approx(expected, rel=1e-4)
