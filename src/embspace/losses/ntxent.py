"""NTXentLoss: SimCLR's normalised temperature-scaled cross entropy over two views of a batch."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import InvalidInputError
from ._distances import check_pairs

__all__ = ["NTXentLoss"]


class NTXentLoss(nn.Module):
    """SimCLR's loss (Chen et al. 2020): ``NTXentLoss(t)(z1, z2)`` with ``z1[i]``, ``z2[i]`` two views of
    example i.

    Over the 2N views, each view is an anchor whose positive is its partner and whose negatives are
    the other 2N − 2 views:

        ℓ(a) = −log( exp(cos(a, a⁺)/t) / Σ_{b ≠ a} exp(cos(a, b)/t) )

    averaged over the 2N anchors.

    Parameters
    ----------
    temperature
        ``t`` > 0 (default 0.5, SimCLR's value for small batches).
    """

    def __init__(self, temperature: float = 0.5) -> None:
        super().__init__()
        if not temperature > 0:
            raise InvalidInputError(f"temperature must be positive, got {temperature!r}")
        self.temperature = float(temperature)

    def forward(self, z1: torch.Tensor, z2: torch.Tensor) -> torch.Tensor:
        check_pairs(z1, z2, "the two views")
        n = z1.shape[0]
        if n < 2:
            raise InvalidInputError("NT-Xent needs at least 2 examples (4 views) per batch")
        z = F.normalize(torch.cat([z1, z2]), dim=1)
        logits = (z @ z.T) / self.temperature
        logits = logits.masked_fill(torch.eye(2 * n, dtype=torch.bool, device=z.device), float("-inf"))
        partner = torch.cat([torch.arange(n, 2 * n), torch.arange(0, n)]).to(z.device)
        return F.cross_entropy(logits, partner)

    def extra_repr(self) -> str:
        return f"temperature={self.temperature}"
