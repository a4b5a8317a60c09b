"""TripletLoss: an anchor nearer its positive than its negative by a margin, with in-batch mining."""

from __future__ import annotations

import torch
from torch import nn

from ..errors import InvalidInputError
from ._distances import check_batch, check_distance, check_pairs, distance_matrix, pair_distance

__all__ = ["TripletLoss"]

MININGS = ("batch_hard", "semi_hard", "all")


class TripletLoss(nn.Module):
    """``max(0, d(a, p) − d(a, n) + margin)`` (Weinberger & Saul 2009; Schroff et al. 2015).

    Two ways to call it:

    - ``loss(anchor, positive, negative)``: given triplets, three ``(n, dim)`` tensors, mean over them;
    - ``loss(embeddings, labels)``: triplets mined in the batch (same label = positive), by ``mining``:

      ``"batch_hard"`` (Hermans, Beyer & Leibe 2017): each anchor with its farthest positive and its
      nearest negative; mean over the anchors that have both.
      ``"semi_hard"`` (FaceNet): each (anchor, positive) pair with the nearest negative that is still
      farther than the positive (``d_ap < d_an``); where none is, the farthest negative; mean over the pairs.
      ``"all"``: every valid triplet; mean over the triplets with a positive loss (the "active" ones,
      as Hermans et al.'s batch-all), 0 when none is.

      A batch needs classes with at least two members: use a sampler that guarantees positives
      (:class:`embspace.train.ClassBalancedSampler`).

    Parameters
    ----------
    margin
        The required gap between the negative and the positive distance.
    mining
        ``"batch_hard"`` (default), ``"semi_hard"`` or ``"all"``.
    distance
        ``"euclidean"`` (default) or ``"cosine"`` (``1 − cos``).
    """

    def __init__(self, margin: float = 1.0, mining: str = "batch_hard", distance: str = "euclidean") -> None:
        super().__init__()
        if not margin >= 0:
            raise InvalidInputError(f"margin must be non-negative, got {margin!r}")
        if mining not in MININGS:
            raise InvalidInputError(f"mining must be one of {list(MININGS)}, got {mining!r}")
        self.margin = float(margin)
        self.mining = mining
        self.distance = check_distance(distance)

    def forward(self, a: torch.Tensor, b: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        if c is not None:  # explicit triplets
            check_pairs(a, b, "anchor and positive")
            check_pairs(a, c, "anchor and negative")
            return torch.relu(pair_distance(a, b, self.distance) - pair_distance(a, c, self.distance)
                              + self.margin).mean()
        check_batch(a, b)
        d = distance_matrix(a, self.distance)
        same = b[:, None] == b[None, :]
        eye = torch.eye(len(b), dtype=torch.bool, device=a.device)
        pos = same & ~eye
        neg = ~same
        if not bool(pos.any()) or not bool(neg.any()):
            raise InvalidInputError("no triplet in this batch: it needs a class with two members and another class; "
                                    "sample batches with embspace.train.ClassBalancedSampler")
        if self.mining == "batch_hard":
            hardest_pos = torch.where(pos, d, torch.zeros_like(d)).max(1).values
            hardest_neg = torch.where(neg, d, torch.full_like(d, float("inf"))).min(1).values
            ok = pos.any(1) & neg.any(1)
            return torch.relu(hardest_pos - hardest_neg + self.margin)[ok].mean()
        ai, pi = pos.nonzero(as_tuple=True)
        d_ap = d[ai, pi]  # (P,)
        d_an = d[ai]  # (P, n): the anchors' distances to every row
        negs = neg[ai]
        if self.mining == "semi_hard":
            inf = torch.full_like(d_an, float("inf"))
            beyond = negs & (d_an > d_ap[:, None])
            nearest_beyond = torch.where(beyond, d_an, inf).min(1).values
            farthest = torch.where(negs, d_an, -inf).max(1).values
            chosen = torch.where(beyond.any(1), nearest_beyond, farthest)
            ok = negs.any(1)
            return torch.relu(d_ap - chosen + self.margin)[ok].mean()
        losses = torch.relu(d_ap[:, None] - d_an + self.margin)[negs]
        active = losses > 1e-16
        if not bool(active.any()):
            return losses.sum() * 0.0
        return losses[active].mean()

    def extra_repr(self) -> str:
        return f"margin={self.margin}, mining={self.mining!r}, distance={self.distance!r}"
