"""MLP: a seeded two-layer projection (Linear-ReLU-Linear), the trained head over frozen vectors."""

from __future__ import annotations

import torch
from torch import nn

from ..errors import InvalidInputError

__all__ = ["MLP"]


class MLP(nn.Sequential):
    """``Linear(in_dim, hidden) → ReLU → Linear(hidden, out_dim)`` with PyTorch's default initialisation,
    drawn from ``seed`` without touching torch's global generator (None: draw from it).

    Used as the trained projection over frozen vectors: the text tower of
    :class:`~embspace.train.TwoTowerClip`, the map of :class:`~embspace.train.MetricProjection`.
    """

    def __init__(self, in_dim: int, out_dim: int, *, hidden: int = 256, seed: int | None = 0) -> None:
        if min(in_dim, out_dim, hidden) < 1:
            raise InvalidInputError(f"in_dim, out_dim and hidden must be positive, got {in_dim}, {out_dim}, {hidden}")
        with torch.random.fork_rng(devices=[], enabled=seed is not None):
            if seed is not None:
                torch.manual_seed(seed)
            super().__init__(nn.Linear(in_dim, hidden), nn.ReLU(), nn.Linear(hidden, out_dim))
        self.config = {"in_dim": in_dim, "out_dim": out_dim, "hidden": hidden}
