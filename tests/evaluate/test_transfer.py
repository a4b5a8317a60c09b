"""Linear probe and clustering scores on frozen vectors."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from embspace import EmbeddingSpace
from embspace.errors import InvalidInputError
from embspace.evaluate import clustering, linear_probe

MNIST = Path(__file__).resolve().parents[3] / "shared" / "data" / "images" / "mnist"


def _classes(seed: int = 0, sep: float = 4.0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(3), 200)
    centres = rng.standard_normal((3, 16)) * sep
    return (centres[y] + rng.standard_normal((600, 16))).astype(np.float32), y


def test_probe_cross_validation_and_held_out() -> None:
    x, y = _classes()
    r = linear_probe(x, y, cv=5)
    assert len(r.folds) == 5 and r.accuracy > 0.98
    space = EmbeddingSpace([f"k{i}" for i in range(600)], x)
    held = linear_probe(space, y, test=(x[:100], y[:100]), standardize=True)
    assert held.accuracy > 0.98 and held.n_test == 100 and held.macro_f1 is not None
    hard = linear_probe(*_classes(sep=0.0), cv=3)  # no signal: chance level
    assert hard.accuracy < 0.5
    with pytest.raises(InvalidInputError):
        linear_probe(x, y[:10])
    with pytest.raises(InvalidInputError):
        linear_probe(x, np.zeros(600))


def test_clustering_score_against_labels() -> None:
    x, y = _classes(1, sep=6.0)
    s = clustering(x, y)
    assert s.k == 3 and s.nmi > 0.95 and s.ari > 0.95 and s.v_measure > 0.95
    noise = clustering(*_classes(2, sep=0.0))
    assert noise.nmi < 0.1


def _idx(path: Path) -> np.ndarray:
    with gzip.open(path) as f:
        raw = f.read()
    dims = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(dims))
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * dims).reshape(shape)


@pytest.mark.skipif(not (MNIST / "t10k-images-idx3-ubyte.gz").is_file(), reason=f"MNIST not at {MNIST}")
def test_mnist_probe_matches_scikit_learn_on_the_same_split() -> None:
    from sklearn.linear_model import LogisticRegression

    images = _idx(MNIST / "t10k-images-idx3-ubyte.gz")[:4000].reshape(4000, 784).astype(np.float32) / 255
    labels = _idx(MNIST / "t10k-labels-idx1-ubyte.gz")[:4000]
    train, test = slice(0, 3000), slice(3000, 4000)
    ours = linear_probe(images[train], labels[train], test=(images[test], labels[test]), max_iter=200)
    ref = LogisticRegression(max_iter=200).fit(images[train], labels[train]).score(images[test], labels[test])
    assert ours.accuracy == pytest.approx(ref, abs=1e-9) and ours.accuracy > 0.85


def test_knn_label_errors_measure_how_much_each_neighbourhood_disagrees() -> None:
    from embspace import EmbeddingSpace
    from embspace.errors import InvalidInputError
    from embspace.evaluate import knn_label_errors

    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(size=(50, 4)) + 10, rng.normal(size=(50, 4)) - 10]).astype(np.float32)
    space = EmbeddingSpace([f"k{i}" for i in range(100)], x, metric="l2")
    labels = ["a"] * 50 + ["b"] * 50
    clean = knn_label_errors(space, labels, k=5)
    assert clean.shape == (100,) and clean.dtype == np.float32 and clean.max() == 0.0
    noisy = list(labels)
    noisy[0] = "b"  # one mislabelled point: all its neighbours disagree with it
    err = knn_label_errors(space, noisy, k=5)
    assert err[0] == 1.0 and 0 < err[1:50].max() <= 0.2 and err[50:].max() == 0.0
    with pytest.raises(InvalidInputError, match="one label per key"):
        knn_label_errors(space, labels[:10])
