"""The one learner contract: settings from the __init__ signature, one not-fitted check, products ending in _."""

from __future__ import annotations

import inspect

import pytest

from embspace.errors import InvalidInputError, NotFittedError
from embspace.train import (
    ContrastiveTrainer,
    GloVe,
    Learner,
    MatrixFactorization,
    MetricProjection,
    TwoTowerClip,
    Word2Vec,
)

LEARNERS: list[type[Learner]] = [Word2Vec, GloVe, MatrixFactorization, MetricProjection, TwoTowerClip]


def _make(cls: type[Learner]) -> Learner:
    return cls()


@pytest.mark.parametrize("cls", LEARNERS, ids=lambda c: c.__name__)
def test_get_params_reads_the_init_signature_and_set_params_round_trips(cls: type[Learner]) -> None:
    model = _make(cls)
    names = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
    params = model.get_params()
    assert list(params) == names
    clone = cls(**params)
    assert clone.get_params() == params and repr(clone) == repr(model)
    assert model.set_params(seed=7) is model and model.get_params()["seed"] == 7
    assert "seed=7" in repr(model) and "seed" not in repr(clone)  # repr shows what differs from the defaults
    with pytest.raises(InvalidInputError, match="no setting 'sede'"):
        model.set_params(sede=1)


@pytest.mark.parametrize("cls", LEARNERS, ids=lambda c: c.__name__)
def test_not_fitted_is_one_error_naming_the_learner_and_fit(cls: type[Learner]) -> None:
    model = _make(cls)
    with pytest.raises(NotFittedError, match=rf"this {cls.__name__} is not fitted yet: call fit\("):
        model.check_is_fitted()
    with pytest.raises(NotFittedError, match=r"before using space_"):
        model.check_is_fitted("_space")


def test_products_end_in_underscore_before_fit_they_raise() -> None:
    with pytest.raises(NotFittedError, match=r"call fit\(corpus\) before using space_"):
        _ = Word2Vec().space_
    with pytest.raises(NotFittedError, match=r"call fit\(interactions\) before using recommender_"):
        _ = MatrixFactorization().user_space_
    with pytest.raises(NotFittedError, match="MetricProjection"):
        MetricProjection().transform([[0.0]])
    with pytest.raises(NotFittedError, match="TwoTowerClip"):
        TwoTowerClip().encode_text(["a"])


def test_contrastive_trainer_follows_the_contract() -> None:
    torch = pytest.importorskip("torch")
    from embspace.losses import NTXentLoss

    tr = ContrastiveTrainer(torch.nn.Linear(2, 2), NTXentLoss(), epochs=3, progress=False)
    params = tr.get_params()
    assert list(params)[:2] == ["encoder", "loss"] and params["epochs"] == 3
    assert repr(tr).startswith("ContrastiveTrainer(encoder=Linear(") and "epochs=3" in repr(tr)
    with pytest.raises(NotFittedError, match=r"ContrastiveTrainer is not fitted yet: call fit\(x\)"):
        _ = tr.space_


def test_repr_counts_an_objective_dependent_default_as_a_default() -> None:
    assert repr(MatrixFactorization()) == "MatrixFactorization()"
    assert repr(MatrixFactorization(objective="als")) == "MatrixFactorization(objective='als')"  # 15 epochs: its own
    assert repr(MatrixFactorization(objective="bpr", epochs=5)) == "MatrixFactorization(objective='bpr', epochs=5)"
