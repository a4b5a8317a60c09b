"""ContrastiveLoss: pull similar pairs together, push dissimilar ones beyond a margin."""

from __future__ import annotations

import torch
from torch import nn

from ..errors import InvalidInputError
from ._distances import check_batch, check_distance, check_pairs, distance_matrix, pair_distance

__all__ = ["ContrastiveLoss"]


class ContrastiveLoss(nn.Module):
    """Hadsell, Chopra & LeCun (2006): ``½ y d² + ½ (1 − y) max(0, margin − d)²``, mean over pairs.

    Two ways to call it:

    - ``loss(a, b, same)``: pairs, ``a`` and ``b`` ``(n, dim)``, ``same`` ``(n,)`` 1 (similar) or 0;
    - ``loss(embeddings, labels)``: every pair of a batch ``(n, dim)`` with class ``labels`` ``(n,)``
      (pairs of one class are similar), mean over the ``n(n−1)/2`` pairs.

    Parameters
    ----------
    margin
        Dissimilar pairs closer than this are pushed apart.
    distance
        ``"euclidean"`` (default) or ``"cosine"`` (``1 − cos``).
    """

    def __init__(self, margin: float = 1.0, distance: str = "euclidean") -> None:
        super().__init__()
        if not margin > 0:
            raise InvalidInputError(f"margin must be positive, got {margin!r}")
        self.margin = float(margin)
        self.distance = check_distance(distance)

    def forward(self, a: torch.Tensor, b: torch.Tensor, same: torch.Tensor | None = None) -> torch.Tensor:
        if same is None:  # (embeddings, labels)
            check_batch(a, b)
            n = a.shape[0]
            if n < 2:
                raise InvalidInputError("a batch of labelled embeddings needs at least two rows")
            d = distance_matrix(a, self.distance)
            iu = torch.triu_indices(n, n, offset=1, device=a.device)
            d = d[iu[0], iu[1]]
            y = (b[iu[0]] == b[iu[1]]).to(a.dtype)
        else:
            check_pairs(a, b)
            if same.ndim != 1 or same.shape[0] != a.shape[0]:
                raise InvalidInputError(f"same must be (n,) with n = {a.shape[0]}, got {tuple(same.shape)}")
            d = pair_distance(a, b, self.distance)
            y = same.to(a.dtype)
        return self._loss(d, y)

    def _loss(self, d: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        hinge = torch.relu(self.margin - d)
        return 0.5 * (y * d.pow(2) + (1.0 - y) * hinge.pow(2)).mean()

    def extra_repr(self) -> str:
        return f"margin={self.margin}, distance={self.distance!r}"
