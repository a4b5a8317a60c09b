"""MatryoshkaLoss against a hand computation: the weighted sum of the inner loss over prefix slices."""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")

from embspace.errors import InvalidInputError  # noqa: E402
from embspace.losses import (  # noqa: E402
    ContrastiveLoss,
    InfoNCELoss,
    MatryoshkaLoss,
    MultipleNegativesRankingLoss,
    TripletLoss,
)


def t(rows: list[list[float]]) -> torch.Tensor:
    return torch.tensor(rows, dtype=torch.float64)


def _mnrl_by_hand(q: list[list[float]], k: list[list[float]], scale: float) -> float:
    """Cross entropy of picking key i for query i, scores = scale * cosine, mean over the queries."""
    def unit(v: list[float]) -> list[float]:
        n = math.sqrt(sum(x * x for x in v))
        return [x / n for x in v]

    qs, ks = [unit(v) for v in q], [unit(v) for v in k]
    total = 0.0
    for i, a in enumerate(qs):
        logits = [scale * sum(x * y for x, y in zip(a, b, strict=True)) for b in ks]
        total += -logits[i] + math.log(sum(math.exp(z) for z in logits))
    return total / len(qs)


def test_matryoshka_mnrl_by_hand() -> None:
    q = [[1.0, 0.5, -0.2, 0.3], [0.1, 1.0, 0.4, -0.5], [-0.3, 0.2, 1.0, 0.7]]
    k = [[0.9, 0.1, 0.3, -0.2], [0.2, 0.8, -0.1, 0.6], [0.1, -0.4, 0.9, 0.2]]
    loss = MatryoshkaLoss(MultipleNegativesRankingLoss(scale=20.0), dims=(4, 2, 1), weights=(1.0, 0.5, 0.25))
    want = sum(w * _mnrl_by_hand([r[:d] for r in q], [r[:d] for r in k], 20.0)
               for d, w in ((4, 1.0), (2, 0.5), (1, 0.25)))
    assert loss(t(q), t(k)).item() == pytest.approx(want, rel=1e-9)
    # default weights: 1 each
    plain = MatryoshkaLoss(InfoNCELoss(temperature=0.5), dims=(4, 2))
    want = sum(_mnrl_by_hand([r[:d] for r in q], [r[:d] for r in k], 2.0) for d in (4, 2))
    assert plain(t(q), t(k)).item() == pytest.approx(want, rel=1e-9)


def test_matryoshka_renormalises_cut_unit_rows_and_passes_labels() -> None:
    # unit rows: a Euclidean loss sees the cut rows re-normalised, as a truncating encoder gives them
    x = torch.nn.functional.normalize(t([[3, 4, 0, 0], [0, 0, 1, 1], [1, 1, 1, 1]]), dim=1)
    labels = torch.tensor([0, 0, 1])
    inner = ContrastiveLoss(margin=1.5)
    head = torch.nn.functional.normalize(x[:, :2], dim=1)
    want = inner(x, labels) + inner(head, labels)
    assert MatryoshkaLoss(inner, dims=(4, 2))(x, labels).item() == pytest.approx(want.item())
    # other rows pass cut as they are
    y = t([[3, 4, 0, 0], [0, 0, 1, 1], [1, 1, 1, 1]])
    want = inner(y, labels) + inner(y[:, :2], labels)
    assert MatryoshkaLoss(inner, dims=(4, 2))(y, labels).item() == pytest.approx(want.item())
    # explicit triplets: every embedding input is cut
    a, p, n = t([[1, 0, 0]]), t([[0.9, 0.1, 5]]), t([[0, 1, 0]])
    tl = TripletLoss(margin=0.5)
    want = tl(a, p, n) + tl(a[:, :1], p[:, :1], n[:, :1])
    assert MatryoshkaLoss(tl, dims=(3, 1))(a, p, n).item() == pytest.approx(want.item())


def test_matryoshka_gradients_reach_the_inner_loss_parameters() -> None:
    inner = InfoNCELoss(learn_temperature=True)
    loss = MatryoshkaLoss(inner, dims=(3, 2))
    assert any(p is inner.log_scale for p in loss.parameters())
    q = t([[1, 0.2, 0.1], [0.1, 1, 0.3]]).requires_grad_()
    loss(q, t([[1, 0, 0], [0, 1, 0]])).backward()
    assert q.grad is not None and inner.log_scale.grad is not None
    assert "dims=[3, 2]" in repr(loss)


@pytest.mark.parametrize("kwargs, match", [
    ({"dims": (128, 256)}, "descending"),
    ({"dims": (256, 256)}, "descending"),
    ({"dims": (64, 0)}, "positive"),
    ({"dims": ()}, "empty"),
    ({"dims": "384"}, "sequence"),
    ({"dims": (64, 32), "weights": (1.0,)}, "one entry per dimension"),
    ({"dims": (64, 32), "weights": (1.0, -1.0)}, "non-negative"),
    ({"dims": (64, 32), "weights": (0, 0)}, "not all 0"),
])
def test_matryoshka_refuses_bad_settings(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(InvalidInputError, match=match):
        MatryoshkaLoss(MultipleNegativesRankingLoss(), **kwargs)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="loss module"):
        MatryoshkaLoss("mnrl", dims=(4,))  # type: ignore[arg-type]


def test_matryoshka_dims_beyond_the_embeddings_are_refused() -> None:
    loss = MatryoshkaLoss(MultipleNegativesRankingLoss(), dims=(8, 4))
    with pytest.raises(InvalidInputError, match="embeddings have 3 dimensions"):
        loss(t([[1, 0, 0], [0, 1, 0]]), t([[1, 0, 0], [0, 1, 0]]))
