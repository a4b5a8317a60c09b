"""load_mnist on IDX files written here (and on the shared MNIST when present)."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from embspace.data import load_mnist
from embspace.errors import CorruptDataError, InvalidInputError

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data" / "images" / "mnist"


def _write(folder: Path, images: np.ndarray, labels: np.ndarray, gz: bool = True) -> None:
    def idx(arr: np.ndarray) -> bytes:
        head = bytes([0, 0, 0x08, arr.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in arr.shape)
        return head + arr.astype(np.uint8).tobytes()

    for name, arr in (("t10k-images-idx3-ubyte", images), ("t10k-labels-idx1-ubyte", labels)):
        data = idx(arr)
        if gz:
            (folder / (name + ".gz")).write_bytes(gzip.compress(data))
        else:
            (folder / name).write_bytes(data)


@pytest.mark.parametrize("gz", [True, False])
def test_reads_idx_files(tmp_path: Path, gz: bool) -> None:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (5, 28, 28)).astype(np.uint8)
    labels = np.array([3, 1, 4, 1, 5], np.uint8)
    _write(tmp_path, images, labels, gz)
    x, y = load_mnist(tmp_path)
    np.testing.assert_array_equal(x, images)
    assert y.dtype == np.int64 and y.tolist() == [3, 1, 4, 1, 5]


def test_missing_and_corrupt_files(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="t10k-images"):
        load_mnist(tmp_path)
    with pytest.raises(InvalidInputError):
        load_mnist(tmp_path, "validation")
    _write(tmp_path, np.zeros((3, 28, 28)), np.zeros(2))
    with pytest.raises(CorruptDataError, match="3 images but 2 labels"):
        load_mnist(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(b"not an idx file"))
    with pytest.raises(CorruptDataError, match="IDX"):
        load_mnist(tmp_path)


@pytest.mark.skipif(not SHARED.is_dir(), reason=f"MNIST not found at {SHARED}")
def test_shared_mnist_test_split() -> None:
    x, y = load_mnist(SHARED)
    assert x.shape == (10000, 28, 28) and sorted(set(y.tolist())) == list(range(10))
