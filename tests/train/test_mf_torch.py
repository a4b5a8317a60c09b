"""The PyTorch matrix-factorisation engine (CUDA/MPS), exercised on the CPU through device='torch-cpu'."""

from __future__ import annotations

import numpy as np
import pytest
from train_testing import low_rank_ratings, two_tastes

from embspace import evaluate
from embspace.data import Interactions
from embspace.train import MatrixFactorization
from embspace.train._device import cuda_available

pytest.importorskip("torch")


def test_torch_als_solves_the_same_rows_as_the_cpu_kernel() -> None:
    data, _, _ = two_tastes(4)
    kw = {"objective": "als", "dim": 8, "epochs": 4, "regularization": 0.5, "alpha": 5.0, "seed": 3,
          "progress": False}
    cpu = MatrixFactorization(**kw).fit(data)  # type: ignore[arg-type]
    gpu_like = MatrixFactorization(device="torch-cpu", **kw).fit(data)  # type: ignore[arg-type]
    np.testing.assert_allclose(gpu_like.item_space_.vectors, cpu.item_space_.vectors, atol=2e-4)
    np.testing.assert_allclose(gpu_like.user_space_.vectors, cpu.user_space_.vectors, atol=2e-4)
    np.testing.assert_allclose(gpu_like.loss_history_, cpu.loss_history_, rtol=1e-3)
    assert gpu_like.item_space_.provenance.config["engine"] == "torch"
    assert cpu.item_space_.provenance.config["engine"] == "numba"


@pytest.mark.parametrize("objective", ["bpr", "als"])
def test_torch_implicit_objectives_learn_the_users_own_kind(objective: str) -> None:
    data, _, groups = two_tastes()
    m = MatrixFactorization(objective=objective, dim=8, device="torch-cpu", progress=False, seed=1).fit(data)
    rec = m.recommender_
    same = sum(sum((int(k[1:]) // 30) == g for k in rec.recommend(f"u{u}", k=5).keys) for u, g in enumerate(groups))
    assert same / (5 * len(groups)) > 0.9
    assert m.loss_history_[-1] < m.loss_history_[0]


def test_torch_explicit_fits_low_rank_ratings_like_the_cpu_kernel() -> None:
    data = low_rank_ratings()
    assert data.ratings is not None
    kw = {"dim": 8, "epochs": 80, "regularization": 0.01, "progress": False}
    cpu = MatrixFactorization(**kw).fit(data)  # type: ignore[arg-type]
    gpu_like = MatrixFactorization(device="torch-cpu", **kw).fit(data)  # type: ignore[arg-type]
    baseline = evaluate.rmse(np.full(len(data), data.ratings.mean()), data.ratings)
    err_cpu = evaluate.rmse(cpu.recommender_.predict(data.users, data.items), data.ratings)
    err_torch = evaluate.rmse(gpu_like.recommender_.predict(data.users, data.items), data.ratings)
    assert err_torch < 0.3 * baseline and err_torch < 1.5 * err_cpu


def test_unknown_and_unavailable_devices_are_refused() -> None:
    from embspace.errors import InvalidInputError

    data = Interactions({"user": ["a", "b"], "item": ["x", "y"], "rating": [1.0, 2.0]})
    with pytest.raises(InvalidInputError, match="unknown device"):
        MatrixFactorization(device="tpu", progress=False).fit(data)
    if not cuda_available():
        with pytest.raises(InvalidInputError, match="no CUDA GPU"):
            MatrixFactorization(device="cuda", progress=False).fit(data)


@pytest.mark.skipif(not cuda_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("objective", ["explicit", "als", "bpr"])
def test_cuda_engine(objective: str) -> None:  # pragma: no cover - runs only with a GPU
    if objective == "explicit":
        data = low_rank_ratings()
        m = MatrixFactorization(dim=8, epochs=80, regularization=0.01, device="cuda", progress=False).fit(data)
        assert data.ratings is not None
        pred = m.recommender_.predict(data.users, data.items)
        assert evaluate.rmse(pred, data.ratings) < 0.3 * float(np.std(data.ratings))
        return
    data, _, groups = two_tastes()
    m = MatrixFactorization(objective=objective, dim=8, device="cuda", progress=False, seed=1).fit(data)
    rec = m.recommender_
    same = sum(sum((int(k[1:]) // 30) == g for k in rec.recommend(f"u{u}", k=5).keys) for u, g in enumerate(groups))
    assert same / (5 * len(groups)) > 0.9
