"""Each loss against a value computed by hand (small tensors, explicit formulas)."""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")

from embspace.errors import InvalidInputError  # noqa: E402
from embspace.losses import (  # noqa: E402
    ContrastiveLoss,
    InfoNCELoss,
    MultipleNegativesRankingLoss,
    NTXentLoss,
    TripletLoss,
)


def t(rows: list[list[float]]) -> torch.Tensor:
    return torch.tensor(rows, dtype=torch.float64)


def test_contrastive_pairs_by_hand() -> None:
    a = t([[0, 0], [0, 0], [0, 0]])
    b = t([[3, 4], [0.3, 0.4], [1, 0]])  # distances 5, 0.5, 1
    same = torch.tensor([1, 0, 0])
    # ½·5² ; ½·(1 − 0.5)² ; ½·max(0, 1 − 1)²
    want = (0.5 * 25 + 0.5 * 0.25 + 0.0) / 3
    assert ContrastiveLoss(margin=1.0)(a, b, same).item() == pytest.approx(want)


def test_contrastive_labelled_batch_uses_every_pair() -> None:
    x = t([[0, 0], [1, 0], [0, 2]])
    labels = torch.tensor([0, 0, 1])
    # pairs: (0,1) same, d 1 -> ½; (0,2) diff, d 2 -> 0 (margin 1.5); (1,2) diff, d √5 -> 0
    assert ContrastiveLoss(margin=1.5)(x, labels).item() == pytest.approx(0.5 / 3)
    # margin 3: (0,2): ½·1² ; (1,2): ½·(3 − √5)²
    want = (0.5 + 0.5 + 0.5 * (3 - math.sqrt(5)) ** 2) / 3
    assert ContrastiveLoss(margin=3.0)(x, labels).item() == pytest.approx(want)


def test_contrastive_cosine_distance() -> None:
    a, b = t([[1, 0]]), t([[0, 1]])  # cos 0 -> distance 1
    assert ContrastiveLoss(distance="cosine")(a, b, torch.tensor([1])).item() == pytest.approx(0.5)


def test_triplet_explicit_by_hand() -> None:
    a, p, n = t([[0, 0], [0, 0]]), t([[1, 0], [2, 0]]), t([[0, 3], [0, 1.5]])
    # relu(1 − 3 + 1) = 0 ; relu(2 − 1.5 + 1) = 1.5
    assert TripletLoss(margin=1.0)(a, p, n).item() == pytest.approx(0.75)


# points on a line: class 0 at 0 and 1, class 1 at 1.5 and 4
LINE = t([[0.0], [1.0], [1.5], [4.0]])
LABELS = torch.tensor([0, 0, 1, 1])


def test_triplet_batch_hard_by_hand() -> None:
    # anchor 0: hardest pos 1, nearest neg 1.5 -> relu(1 − 1.5 + 1) = 0.5
    # anchor 1: pos 1, neg 0.5 -> 1.5 ; anchor 1.5: pos 2.5, neg 0.5 -> 3 ; anchor 4: pos 2.5, neg 3 -> 0.5
    loss = TripletLoss(margin=1.0, mining="batch_hard")(LINE, LABELS)
    assert loss.item() == pytest.approx((0.5 + 1.5 + 3.0 + 0.5) / 4)


def test_triplet_semi_hard_by_hand() -> None:
    # (a, p, d_ap) -> negatives' distances -> chosen (nearest farther than d_ap, else farthest)
    # (0, 1, 1): {1.5, 4} -> 1.5 -> relu(1 − 1.5 + 1) = 0.5
    # (1, 0, 1): {0.5, 3} -> 3 -> 0 (margin 1: relu(1 − 3 + 1) = 0)
    # (1.5, 4, 2.5): {1.5, 0.5} -> none farther -> farthest 1.5 -> relu(2.5 − 1.5 + 1) = 2
    # (4, 1.5, 2.5): {4, 3} -> 3 -> relu(2.5 − 3 + 1) = 0.5
    loss = TripletLoss(margin=1.0, mining="semi_hard")(LINE, LABELS)
    assert loss.item() == pytest.approx((0.5 + 0.0 + 2.0 + 0.5) / 4)


def test_triplet_all_averages_the_active_triplets() -> None:
    losses = []
    pts = [0.0, 1.0, 1.5, 4.0]
    lab = [0, 0, 1, 1]
    for a in range(4):
        for p in range(4):
            for n in range(4):
                if a != p and lab[a] == lab[p] and lab[n] != lab[a]:
                    losses.append(max(0.0, abs(pts[a] - pts[p]) - abs(pts[a] - pts[n]) + 1.0))
    active = [v for v in losses if v > 0]
    assert TripletLoss(margin=1.0, mining="all")(LINE, LABELS).item() == pytest.approx(sum(active) / len(active))
    far = t([[0.0], [0.1], [10.0], [10.1]])
    assert TripletLoss(margin=1.0, mining="all")(far, LABELS).item() == 0.0


def test_triplet_refuses_a_batch_without_positives() -> None:
    with pytest.raises(InvalidInputError, match="ClassBalancedSampler"):
        TripletLoss()(LINE, torch.tensor([0, 1, 2, 3]))
    with pytest.raises(InvalidInputError):
        TripletLoss(mining="hardest")


def test_ntxent_by_hand() -> None:
    z1, z2 = t([[1, 0], [0, 1]]), t([[1, 0], [-1, 0]])
    temp = 0.5
    views = [[1, 0], [0, 1], [1, 0], [-1, 0]]
    partner = [2, 3, 0, 1]
    total = 0.0
    for i, a in enumerate(views):
        sims = {j: (a[0] * b[0] + a[1] * b[1]) / temp for j, b in enumerate(views) if j != i}
        total += -(sims[partner[i]] - math.log(sum(math.exp(s) for s in sims.values())))
    assert NTXentLoss(temp)(z1, z2).item() == pytest.approx(total / 4)
    # scale does not matter: the views are normalised
    assert NTXentLoss(temp)(3 * z1, z2).item() == pytest.approx(total / 4)


def test_infonce_and_mnrl_by_hand() -> None:
    q, k = t([[1, 0], [0, 1]]), t([[1, 0], [1, 1]])
    c = 1 / math.sqrt(2)
    s = 10.0  # temperature 0.1
    # query 0: scores (1, c)·s, target 0 ; query 1: scores (0, c)·s, target 1
    l0 = -(s - math.log(math.exp(s) + math.exp(c * s)))
    l1 = -(c * s - math.log(1 + math.exp(c * s)))
    assert InfoNCELoss(temperature=0.1)(q, k).item() == pytest.approx((l0 + l1) / 2, rel=1e-6)
    # the other direction: key 0 scores (1, 0)·s, key 1 scores (c, c)·s
    k0 = -(s - math.log(math.exp(s) + 1))
    k1 = -(c * s - math.log(2 * math.exp(c * s)))
    sym = InfoNCELoss(temperature=0.1, symmetric=True)(q, k).item()
    assert sym == pytest.approx(((l0 + l1) / 2 + (k0 + k1) / 2) / 2, rel=1e-6)
    assert MultipleNegativesRankingLoss(scale=10.0)(q, k).item() == pytest.approx((l0 + l1) / 2, rel=1e-6)
    # a hard negative adds a column
    neg = t([[0, 1]])
    l0n = -(s - math.log(math.exp(s) + math.exp(c * s) + 1))
    l1n = -(c * s - math.log(1 + math.exp(c * s) + math.exp(s)))
    assert MultipleNegativesRankingLoss(10.0)(q, k, neg).item() == pytest.approx((l0n + l1n) / 2, rel=1e-6)


def test_learned_temperature_gets_a_gradient_and_losses_backpropagate() -> None:
    loss_fn = InfoNCELoss(0.07, symmetric=True, learn_temperature=True)
    q = torch.randn(8, 4, requires_grad=True)
    k = torch.randn(8, 4)
    loss_fn(q, k).backward()
    assert loss_fn.log_scale.grad is not None and q.grad is not None
    assert loss_fn.temperature == pytest.approx(0.07)
    for loss in (TripletLoss(mining="batch_hard"), TripletLoss(mining="semi_hard"), TripletLoss(mining="all"),
                 ContrastiveLoss()):
        x = torch.randn(6, 3, requires_grad=True)
        loss(x, torch.tensor([0, 0, 1, 1, 2, 2])).backward()
        assert x.grad is not None and torch.isfinite(x.grad).all()


def test_bad_shapes_and_settings_are_refused() -> None:
    with pytest.raises(InvalidInputError):
        NTXentLoss(0.0)
    with pytest.raises(InvalidInputError):
        NTXentLoss()(t([[1, 0]]), t([[1, 0]]))  # one example
    with pytest.raises(InvalidInputError):
        InfoNCELoss()(t([[1, 0]]), t([[1, 0, 0]]))
    with pytest.raises(InvalidInputError):
        ContrastiveLoss(margin=0)
    with pytest.raises(InvalidInputError):
        ContrastiveLoss()(t([[1, 0], [0, 1]]), torch.tensor([0]))
    with pytest.raises(InvalidInputError):
        MultipleNegativesRankingLoss(scale=-1)
