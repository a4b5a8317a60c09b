"""SmallConvNet: a compact CNN image encoder (with an optional projection head) for small images."""

from __future__ import annotations

import torch
from torch import nn

from ..errors import InvalidInputError

__all__ = ["SmallConvNet"]


class SmallConvNet(nn.Module):
    """A 3-block CNN (two conv-BN-ReLU per block, ×2 width per block, max-pool; global average pool)
    → ``dim`` features; with ``head_dim`` a SimCLR projection head (ReLU-Linear-ReLU-Linear) follows,
    and :attr:`backbone` alone gives the features (SimCLR probes the features before the head).

    Input: float ``(n, in_channels, h, w)`` batches (28×28 MNIST at width 32: about 0.3M parameters).
    ``seed`` seeds the initial weights without touching torch's global generator (None: use it).
    """

    def __init__(self, in_channels: int = 1, *, width: int = 32, dim: int = 128, head_dim: int | None = None,
                 seed: int | None = 0) -> None:
        super().__init__()
        if min(in_channels, width, dim) < 1 or (head_dim is not None and head_dim < 1):
            raise InvalidInputError("in_channels, width, dim and head_dim must be positive")
        self.config = {"in_channels": in_channels, "width": width, "dim": dim, "head_dim": head_dim}
        with torch.random.fork_rng(devices=[], enabled=seed is not None):
            if seed is not None:
                torch.manual_seed(seed)
            layers: list[nn.Module] = []
            c = in_channels
            for out in (width, 2 * width, 4 * width):
                layers += [nn.Conv2d(c, out, 3, padding=1, bias=False), nn.BatchNorm2d(out), nn.ReLU(inplace=True),
                           nn.Conv2d(out, out, 3, padding=1, bias=False), nn.BatchNorm2d(out), nn.ReLU(inplace=True),
                           nn.MaxPool2d(2)]
                c = out
            layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, dim)]
            self.backbone = nn.Sequential(*layers)
            self.head: nn.Module = (nn.Sequential(nn.ReLU(), nn.Linear(dim, dim), nn.ReLU(), nn.Linear(dim, head_dim))
                                    if head_dim is not None else nn.Identity())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(x))  # type: ignore[no-any-return]
