"""InfoNCELoss and MultipleNegativesRankingLoss: in-batch negatives for aligned pairs."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import InvalidInputError
from ._distances import check_pairs

__all__ = ["InfoNCELoss", "MultipleNegativesRankingLoss"]


class InfoNCELoss(nn.Module):
    """InfoNCE with in-batch negatives (van den Oord et al. 2018): ``loss(queries, keys[, negatives])``.

    Row i of ``queries`` ``(n, dim)`` should match row i of ``keys`` ``(n, dim)``; the other keys of the
    batch (and every row of ``negatives`` ``(m, dim)``, extra hard negatives, if given) are its
    negatives. Scores are cosines divided by the temperature; the loss is the cross entropy of
    picking the right key, mean over the queries.

    Parameters
    ----------
    temperature
        Softmax temperature ``t`` > 0 (scores are ``cos / t``); default 0.07, CLIP's initial value.
    symmetric
        Also pick each query for its key and average the two directions: CLIP's loss (Radford et
        al. 2021). Not with ``negatives``.
    learn_temperature
        Make ``log(1/t)`` a trained parameter (CLIP), clamped to scores of at most 100 × cos.
    """

    def __init__(self, temperature: float = 0.07, *, symmetric: bool = False, learn_temperature: bool = False) -> None:
        super().__init__()
        if not temperature > 0:
            raise InvalidInputError(f"temperature must be positive, got {temperature!r}")
        self.symmetric = bool(symmetric)
        scale = torch.tensor(math.log(1.0 / temperature), dtype=torch.float32)
        self.log_scale = nn.Parameter(scale, requires_grad=bool(learn_temperature))

    @property
    def temperature(self) -> float:
        return float(1.0 / self.scale.detach())

    @property
    def scale(self) -> torch.Tensor:
        return self.log_scale.clamp(max=math.log(100.0)).exp()

    def forward(self, queries: torch.Tensor, keys: torch.Tensor, negatives: torch.Tensor | None = None) -> torch.Tensor:
        check_pairs(queries, keys, "queries and keys")
        q = F.normalize(queries, dim=1)
        k = F.normalize(keys, dim=1)
        if negatives is not None:
            if self.symmetric:
                raise InvalidInputError("extra negatives apply to one direction; use symmetric=False")
            if negatives.ndim != 2 or negatives.shape[1] != keys.shape[1]:
                raise InvalidInputError(f"negatives must be (m, {keys.shape[1]}), got {tuple(negatives.shape)}")
            k = torch.cat([k, F.normalize(negatives, dim=1)])
        logits = self.scale * (q @ k.T)
        target = torch.arange(q.shape[0], device=q.device)
        loss = F.cross_entropy(logits, target)
        if self.symmetric:
            loss = 0.5 * (loss + F.cross_entropy(logits.T, target))
        return loss

    def extra_repr(self) -> str:
        return (f"temperature={self.temperature:.4g}, symmetric={self.symmetric}, "
                f"learn_temperature={self.log_scale.requires_grad}")


class MultipleNegativesRankingLoss(InfoNCELoss):
    """The sentence-transformers name of :class:`InfoNCELoss` for (anchor, positive[, hard negative])
    pairs: cosines times ``scale`` (default 20, i.e. temperature 0.05), one direction.

    ``loss(anchors, positives[, negatives])``.
    """

    def __init__(self, scale: float = 20.0) -> None:
        if not scale > 0:
            raise InvalidInputError(f"scale must be positive, got {scale!r}")
        super().__init__(temperature=1.0 / scale)

    def extra_repr(self) -> str:
        return f"scale={float(self.scale.detach()):.4g}"
