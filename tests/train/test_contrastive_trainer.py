"""ContrastiveTrainer and ClassBalancedSampler on tiny seeded problems."""

from __future__ import annotations

import numpy as np
import pytest

from embspace.errors import InvalidInputError, NotFittedError
from embspace.train import ClassBalancedSampler, ContrastiveTrainer
from embspace.train._device import cuda_available

torch = pytest.importorskip("torch")
from embspace.losses import ContrastiveLoss, InfoNCELoss, NTXentLoss, TripletLoss  # noqa: E402


def test_sampler_batches_always_hold_positives_and_cover_the_data() -> None:
    labels = np.repeat(np.arange(10), [7, 5, 3, 2, 9, 4, 4, 6, 8, 1])  # the last class has one example
    s = ClassBalancedSampler(labels, classes_per_batch=4, samples_per_class=3, seed=1)
    assert s.dropped_classes == [9]
    seen: list[int] = []
    for b in s:
        counts = np.unique(labels[b], return_counts=True)[1]
        assert (counts >= 2).all() and len(counts) >= 2
        seen += b.tolist()
    assert len(seen) == len(set(seen))  # each example at most once per epoch
    assert len(seen) >= 0.8 * (len(labels) - 1)
    first = [b.tolist() for b in s]
    assert first == [b.tolist() for b in s]  # the same epoch repeats
    s.set_epoch(1)
    assert first != [b.tolist() for b in s]
    with pytest.raises(InvalidInputError):
        ClassBalancedSampler([0, 0, 1], 2, 2)  # only one class with positives
    with pytest.raises(InvalidInputError):
        ClassBalancedSampler([0, 0, 1, 1], 1, 2)


def _blobs(n: int = 240, classes: int = 4, dim: int = 10, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((classes, dim)) * 1.5
    y = rng.integers(0, classes, n)
    return (centres[y] + rng.standard_normal((n, dim))).astype(np.float32), y


def _knn_accuracy(z: np.ndarray, y: np.ndarray) -> float:
    z = z / np.linalg.norm(z, axis=1, keepdims=True)
    s = z @ z.T
    np.fill_diagonal(s, -np.inf)
    return float((y[s.argmax(1)] == y).mean())


def _net(dim: int = 10, out: int = 8) -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(dim, 32), torch.nn.ReLU(), torch.nn.Linear(32, out))


@pytest.mark.parametrize("loss", [TripletLoss(margin=0.5, mining="batch_hard"), TripletLoss(mining="semi_hard"),
                                  TripletLoss(mining="all"), ContrastiveLoss(margin=1.0)])
def test_labelled_training_separates_the_classes(loss: torch.nn.Module) -> None:
    x, y = _blobs()
    tr = ContrastiveTrainer(_net(), loss, epochs=15, batch_size=32, learning_rate=3e-3, device="cpu",
                            progress=False)
    before = _knn_accuracy(tr.encoder(torch.from_numpy(x)).detach().numpy(), y)
    tr.fit(x, y)
    after = _knn_accuracy(tr.embed(x), y)
    assert after >= max(before, 0.9)
    assert tr.loss_history_[-1] < tr.loss_history_[0]


def test_views_mode_and_pairs_mode_and_seeded_runs_repeat() -> None:
    x, _ = _blobs()

    def jitter(b: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        return b + 0.3 * torch.randn(b.shape, generator=g, device=b.device)

    runs = [ContrastiveTrainer(_net(), NTXentLoss(0.5), augment=jitter, epochs=3, batch_size=64, device="cpu",
                               progress=False, seed=3).fit(x) for _ in range(2)]
    np.testing.assert_array_equal(runs[0].embed(x), runs[1].embed(x))
    assert runs[0].loss_history_ == runs[1].loss_history_

    # pairs: a second tower maps a noisy copy into the first tower's space
    rng = np.random.default_rng(1)
    other = (x @ rng.standard_normal((10, 10))).astype(np.float32)  # the same examples, mixed
    torch.manual_seed(1)
    tower2 = torch.nn.Sequential(torch.nn.Linear(10, 32), torch.nn.ReLU(), torch.nn.Linear(32, 8))
    loss = InfoNCELoss(0.1, symmetric=True, learn_temperature=True)
    tr = ContrastiveTrainer(_net(), loss, second_encoder=tower2, epochs=30, batch_size=60, learning_rate=3e-3,
                            device="cpu", progress=False).fit(x, pairs=other)
    a, b = tr.embed(x, normalize=True), tr.embed(other, tower="second", normalize=True)
    hit = float(((a @ b.T).argmax(1) == np.arange(len(x))).mean())
    assert hit > 0.5, hit  # chance: 1/240
    sa = tr.encode_space(x, [f"x{i}" for i in range(len(x))])
    sb = tr.encode_space(other, [f"o{i}" for i in range(len(x))], tower="second")
    assert sa.space_id == sb.space_id
    # space_: the training inputs' space (keys: row numbers), computed once
    assert tr.space_ is tr.space_ and list(tr.space_.keys[:2]) == ["0", "1"] and tr.space_.space_id == sa.space_id
    np.testing.assert_array_equal(tr.space_.vectors, sa.vectors)  # the same encoder on the same rows
    with pytest.warns(DeprecationWarning, match="encode_space"):
        old = tr.space([f"x{i}" for i in range(len(x))], x)
    assert old.keys == sa.keys and old.space_id == sa.space_id


def test_bad_inputs_and_not_fitted() -> None:
    x, y = _blobs(20)
    tr = ContrastiveTrainer(_net(), NTXentLoss(), device="cpu", progress=False)
    with pytest.raises(NotFittedError):
        tr.embed(x)
    with pytest.raises(InvalidInputError, match="augment"):
        tr.fit(x)
    with pytest.raises(InvalidInputError, match="not both"):
        tr.fit(x, y, pairs=x)
    with pytest.raises(InvalidInputError, match="one entry per example"):
        tr.fit(x, y[:5])
    with pytest.raises(InvalidInputError):
        ContrastiveTrainer("not a module", NTXentLoss(), progress=False).fit(x, y)
    with pytest.raises(InvalidInputError):
        ContrastiveTrainer(_net(), NTXentLoss(), epochs=0, progress=False).fit(x, y)


def test_checkpoints_resume_where_training_stopped(tmp_path) -> None:  # type: ignore[no-untyped-def]
    x, y = _blobs(120)
    kw = {"epochs": 4, "batch_size": 32, "device": "cpu", "progress": False, "seed": 2}
    full = ContrastiveTrainer(_net(), TripletLoss(), **kw).fit(x, y)  # type: ignore[arg-type]
    part = ContrastiveTrainer(_net(), TripletLoss(), checkpoint_dir=tmp_path, **{**kw, "epochs": 4})  # type: ignore[arg-type]
    # stop after 2 epochs: a run with the same settings, interrupted by the loss raising
    calls = {"n": 0}
    real = part.loss.forward

    def stop_after_two_epochs(*a: torch.Tensor) -> torch.Tensor:
        calls["n"] += 1
        if calls["n"] > 2 * len(ClassBalancedSampler(y, 8, 4)):
            raise KeyboardInterrupt
        return real(*a)

    part.loss.forward = stop_after_two_epochs  # type: ignore[method-assign]
    with pytest.raises(KeyboardInterrupt):
        part.fit(x, y)
    part.loss.forward = real  # type: ignore[method-assign]
    resumed = ContrastiveTrainer(_net(), TripletLoss(), checkpoint_dir=tmp_path, **kw).fit(x, y)  # type: ignore[arg-type]
    assert len(resumed.loss_history_) == 4
    np.testing.assert_allclose(resumed.loss_history_, full.loss_history_, rtol=1e-5)
    np.testing.assert_allclose(resumed.embed(x), full.embed(x), rtol=1e-4, atol=1e-5)


@pytest.mark.skipif(not cuda_available(), reason="needs a CUDA GPU")
def test_cuda_training() -> None:  # pragma: no cover - runs only with a GPU
    x, y = _blobs()
    tr = ContrastiveTrainer(_net(), TripletLoss(margin=0.5), epochs=15, batch_size=32, learning_rate=3e-3,
                            device="cuda", progress=False).fit(x, y)
    assert _knn_accuracy(tr.embed(x), y) >= 0.9


def test_metric_projection_gathers_labelled_classes_of_a_space() -> None:
    from embspace import EmbeddingSpace
    from embspace.train import MetricProjection

    rng = np.random.default_rng(0)
    y = rng.integers(0, 4, 300)
    x = np.hstack([np.eye(4)[y] * 2.0, rng.standard_normal((300, 20)) * 1.2]).astype(np.float32)
    space = EmbeddingSpace([f"k{i}" for i in range(300)], x)
    labels = {f"k{i}": int(y[i]) for i in range(240)}  # the last 60 stay unlabelled
    m = MetricProjection(dim=8, epochs=15, device="cpu", progress=False).fit(space, labels)
    z = m.space_.vectors
    assert m.space_.dim == 8 and len(m.space_) == 300
    assert _knn_accuracy(np.asarray(z), y) > _knn_accuracy(x, y) + 0.1  # unlabelled rows gather too
    np.testing.assert_allclose(m.transform(x[:3]), z[:3], atol=1e-6)
    with pytest.raises(InvalidInputError):
        MetricProjection(loss="arcface", progress=False).fit(space, labels)
    with pytest.raises(NotFittedError):
        MetricProjection().transform(x)


def test_matryoshka_loss_trains_the_prefix_too() -> None:
    """With MatryoshkaLoss the first 2 of 8 dimensions separate the classes on their own; the same training
    with the plain loss leaves them weaker."""
    from embspace.losses import MatryoshkaLoss

    x, y = _blobs(classes=6)
    scores = {}
    for name, loss in (("plain", TripletLoss(margin=0.5)),
                       ("matryoshka", MatryoshkaLoss(TripletLoss(margin=0.5), dims=(8, 4, 2)))):
        tr = ContrastiveTrainer(_net(), loss, epochs=15, batch_size=48, learning_rate=3e-3, device="cpu",
                                progress=False).fit(x, y)
        z = tr.embed(x)
        scores[name] = (_knn_accuracy(z, y), _knn_accuracy(z[:, :2], y))
        assert tr.loss_history_[-1] < tr.loss_history_[0]
    assert scores["matryoshka"][0] >= 0.85  # the full vectors still work
    assert scores["matryoshka"][1] > scores["plain"][1], scores
