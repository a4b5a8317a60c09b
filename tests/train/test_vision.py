"""ImageAugment, SmallConvNet and a small SimCLR run on synthetic images."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from embspace.errors import InvalidInputError  # noqa: E402
from embspace.evaluate import knn_accuracy  # noqa: E402
from embspace.losses import NTXentLoss  # noqa: E402
from embspace.train import ContrastiveTrainer, ImageAugment, SmallConvNet  # noqa: E402


def _shapes(n: int = 96, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Bars (label 0) and boxes (label 1) at random places, 16×16."""
    rng = np.random.default_rng(seed)
    x = np.zeros((n, 1, 16, 16), np.float32)
    y = rng.integers(0, 2, n)
    for i in range(n):
        r, c = rng.integers(2, 8, 2)
        if y[i] == 0:
            x[i, 0, r : r + 7, c + 2 : c + 4] = 1.0
        else:
            x[i, 0, r : r + 6, c : c + 6] = 1.0
            x[i, 0, r + 2 : r + 4, c + 2 : c + 4] = 0.0
    return x, y


def test_augment_is_random_seeded_and_in_range() -> None:
    x = torch.from_numpy(_shapes(8)[0])
    aug = ImageAugment()
    g1, g2, g3 = (torch.Generator().manual_seed(s) for s in (1, 1, 2))
    a, b, c = aug(x, g1), aug(x, g2), aug(x, g3)
    assert a.shape == x.shape and float(a.min()) >= 0.0 and float(a.max()) <= 1.0
    assert torch.equal(a, b) and not torch.equal(a, c) and not torch.equal(a, x)
    plain = ImageAugment(scale=(1.0, 1.0), rotation=0, translate=0, jitter=0, erase=0, noise=0)
    assert torch.allclose(plain(x, g1), x, atol=1e-5)  # the identity warp keeps the image
    with pytest.raises(InvalidInputError):
        aug(x[0], g1)
    with pytest.raises(InvalidInputError):
        ImageAugment(erase=1.5)


def test_conv_net_shapes_and_seeded_init() -> None:
    state = torch.random.get_rng_state()
    a, b = SmallConvNet(width=4, dim=8, head_dim=3, seed=5), SmallConvNet(width=4, dim=8, head_dim=3, seed=5)
    assert torch.equal(torch.random.get_rng_state(), state)  # the global generator is left alone
    x = torch.rand(2, 1, 28, 28)
    a.eval()
    b.eval()
    assert torch.equal(a(x), b(x)) and a(x).shape == (2, 3) and a.backbone(x).shape == (2, 8)
    with pytest.raises(InvalidInputError):
        SmallConvNet(width=0)


def test_simclr_learns_shape_features_without_labels() -> None:
    x, y = _shapes(160)
    torch.manual_seed(0)
    net = SmallConvNet(width=8, dim=16, head_dim=8, seed=0)
    aug = ImageAugment(scale=(0.9, 1.1), rotation=10, translate=0.05)
    tr = ContrastiveTrainer(net, NTXentLoss(0.5), augment=aug, epochs=6, batch_size=32, learning_rate=3e-3,
                            device="cpu", progress=False).fit(x)
    assert tr.loss_history_[-1] < tr.loss_history_[0]
    with torch.no_grad():
        f = net.backbone(torch.from_numpy(x)).numpy()
    assert knn_accuracy(f[:120], y[:120], f[120:], y[120:], k=5) >= 0.9


def test_knn_accuracy_votes_and_checks() -> None:
    x = np.array([[0, 1], [0, 1.1], [1, 0], [1.1, 0]], np.float32)
    q = np.array([[0.1, 1], [1, 0.2]], np.float32)
    assert knn_accuracy(x, [0, 0, 1, 1], q, [0, 1], k=3) == 1.0
    assert knn_accuracy(x, ["a", "a", "b", "b"], q, ["b", "a"], k=1, metric="l2") == 0.0
    with pytest.raises(InvalidInputError):
        knn_accuracy(x, [0, 0, 1], q, [0, 1])
    with pytest.raises(InvalidInputError):
        knn_accuracy(x, [0, 0, 1, 1], q, [0, 1], metric="dot")


def test_small_conv_net_stages_are_spaces_equal_to_a_plain_forward_pass() -> None:
    from embspace.errors import IncompatibleSpaceError

    net = SmallConvNet(width=4, dim=8, head_dim=3, seed=5)
    net.train()
    x = torch.rand(7, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    spaces = net.encode(x, batch_size=3, normalize=False)
    assert net.training  # the mode is restored
    assert list(spaces) == ["block1", "block2", "block3", "features", "head"]
    net.eval()
    with torch.no_grad():
        by_hand = {"block1": net.backbone[:7](x).mean((2, 3)), "block2": net.backbone[:14](x).mean((2, 3)),
                   "block3": net.backbone[:21](x).mean((2, 3)), "features": net.backbone(x), "head": net(x)}
    for stage, want in by_hand.items():
        got, ref = spaces[stage].vectors.astype(np.float64), want.numpy().astype(np.float64)
        # batches of 3 vs all 7 in one pass: equal up to float32 summation order
        cos = (got * ref).sum(1) / np.linalg.norm(got, axis=1) / np.linalg.norm(ref, axis=1)
        assert cos.min() >= 0.9999, stage
        assert spaces[stage].provenance.config["layer"] == stage
    assert [spaces[s].dim for s in by_hand] == [4, 8, 16, 8, 3]
    assert len({s.space_id for s in spaces.values()}) == 5
    with pytest.raises(IncompatibleSpaceError):
        spaces["block2"].neighbors(spaces["features"]["0"])  # the same size (8), another stage
    before = spaces["features"].space_id
    with torch.no_grad():
        net.backbone[-1].bias.add_(1.0)  # "retrained": another space
    assert net.encode(x[:2], layers=["features"])["features"].space_id != before
    assert list(SmallConvNet(width=4, dim=8, seed=5).encode(x[:2])) == ["block1", "block2", "block3", "features"]
    with pytest.raises(InvalidInputError, match="unknown stage"):
        net.encode(x, layers=["head", "block9"])
    with pytest.raises(InvalidInputError, match="keys"):
        net.encode(x, keys=["a"])
