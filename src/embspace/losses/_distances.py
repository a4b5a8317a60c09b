"""Pairwise distances shared by the margin losses."""

from __future__ import annotations

from typing import Any

from ..errors import InvalidInputError

DISTANCES = ("euclidean", "cosine")


def check_distance(distance: str) -> str:
    if distance not in DISTANCES:
        raise InvalidInputError(f"distance must be one of {list(DISTANCES)}, got {distance!r}")
    return distance


def pair_distance(a: Any, b: Any, distance: str) -> Any:
    """Row-wise distance of two ``(n, d)`` tensors: Euclidean, or ``1 − cosine``."""
    import torch.nn.functional as F

    if distance == "cosine":
        return 1.0 - F.cosine_similarity(a, b, dim=1)
    return (a - b).pow(2).sum(1).clamp_min(1e-12).sqrt()


def distance_matrix(x: Any, distance: str) -> Any:
    """All pairwise distances of the rows of ``x`` ``(n, d)`` → ``(n, n)``; the diagonal is exactly 0.

    Euclidean distances come from the Gram matrix (one matmul); a tiny floor under the square root
    keeps the gradient finite where two rows coincide.
    """
    import torch
    import torch.nn.functional as F

    if distance == "cosine":
        z = F.normalize(x, dim=1)
        d = 1.0 - z @ z.T
    else:
        sq = (x * x).sum(1)
        d2 = (sq[:, None] + sq[None, :] - 2.0 * (x @ x.T)).clamp_min(0.0)
        d = (d2 + 1e-12).sqrt()
    return d * (1.0 - torch.eye(len(x), device=x.device, dtype=x.dtype))


def check_batch(embeddings: Any, labels: Any) -> None:
    if embeddings.ndim != 2:
        raise InvalidInputError(f"embeddings must be (n, dim), got shape {tuple(embeddings.shape)}")
    if labels.ndim != 1 or labels.shape[0] != embeddings.shape[0]:
        raise InvalidInputError(f"labels must be 1-D with one label per embedding ({embeddings.shape[0]}), "
                                f"got shape {tuple(labels.shape)}")


def check_pairs(a: Any, b: Any, what: str = "the two inputs") -> None:
    if a.ndim != 2 or b.ndim != 2 or a.shape != b.shape:
        raise InvalidInputError(f"{what} must both be (n, dim) with the same shape, got {tuple(a.shape)} and "
                                f"{tuple(b.shape)}")
