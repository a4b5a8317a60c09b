"""MatryoshkaLoss: one loss over the first d dimensions of the embeddings, for several d at once."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import InvalidInputError

__all__ = ["MatryoshkaLoss", "check_dims"]

#: Rows whose norms are all within this of 1 are taken as unit-length embeddings (re-normalised when cut).
UNIT_TOLERANCE = 1e-3


def check_dims(dims: Sequence[int], what: str = "dims") -> tuple[int, ...]:
    """``dims`` as a tuple of positive ints in strictly descending order, else an InvalidInputError."""
    if isinstance(dims, str | bytes) or not isinstance(dims, Sequence):
        raise InvalidInputError(f"{what} must be a sequence of ints (e.g. (384, 256, 128, 64)), got {dims!r}")
    out = tuple(dims)
    if not out:
        raise InvalidInputError(f"{what} is empty; give the dimensions to train for, e.g. (384, 256, 128, 64)")
    for d in out:
        if not isinstance(d, int) or isinstance(d, bool) or d < 1:
            raise InvalidInputError(f"{what} must hold positive ints, got {d!r} in {list(out)}")
    if any(a <= b for a, b in itertools.pairwise(out)):
        raise InvalidInputError(f"{what} must be in descending order without repeats, got {list(out)}; "
                                f"e.g. {sorted(set(out), reverse=True)}")
    return out


class MatryoshkaLoss(nn.Module):
    """Matryoshka Representation Learning (Kusupati et al. 2022, "Matryoshka Representation
    Learning", NeurIPS): the weighted sum of ``inner_loss`` over the first ``d`` dimensions of the
    embeddings, for every ``d`` of ``dims``, so that each prefix is a good embedding on its own and
    the vectors can be truncated (``get_encoder(..., dim=128)``) at little cost.

    ``loss(*inputs)`` calls ``inner_loss`` once per ``d`` with every embedding input (a 2-D floating
    tensor ``(n, dim)`` whose width is the embeddings' ``dim``, that of the first one) cut to its first
    ``d`` columns; other inputs (labels, pair flags) pass unchanged. Cut rows of unit-length embeddings
    are re-normalised to unit length, as a truncating encoder does (what a Euclidean loss with a margin
    expects); cut rows of other embeddings pass as they are (the cosine losses normalise their inputs
    themselves). Works with every loss of :mod:`embspace.losses` that takes embeddings, e.g.
    :class:`MultipleNegativesRankingLoss` (what :func:`embspace.train.finetune` uses with
    ``matryoshka_dims=``), :class:`InfoNCELoss`, :class:`TripletLoss`, :class:`ContrastiveLoss`.

    Parameters
    ----------
    inner_loss
        The loss module to apply at every size (its own parameters, such as a learned temperature, are
        trained too).
    dims
        The sizes, positive and in descending order, each at most the embeddings' dimension; usually
        the full dimension first (384 for MiniLM).
    weights
        One non-negative weight per size (default 1 each).
    """

    def __init__(self, inner_loss: nn.Module, dims: Sequence[int] = (384, 256, 128, 64, 32),
                 weights: Sequence[float] | None = None) -> None:
        super().__init__()
        if not isinstance(inner_loss, nn.Module):
            raise InvalidInputError(f"inner_loss must be a loss module (see embspace.losses), got "
                                    f"{type(inner_loss).__name__}")
        self.dims = check_dims(dims)
        if weights is None:
            w = (1.0,) * len(self.dims)
        else:
            if isinstance(weights, str | bytes) or not isinstance(weights, Sequence):
                raise InvalidInputError(f"weights must be a sequence of numbers, got {weights!r}")
            if len(weights) != len(self.dims):
                raise InvalidInputError(f"weights must have one entry per dimension: {len(self.dims)} dims "
                                        f"{list(self.dims)}, {len(weights)} weights {list(weights)}")
            try:
                w = tuple(float(x) for x in weights)
            except (TypeError, ValueError):
                raise InvalidInputError(f"weights must be numbers, got {list(weights)}") from None
            if not all(math.isfinite(x) and x >= 0 for x in w) or not any(x > 0 for x in w):
                raise InvalidInputError(f"weights must be finite, non-negative and not all 0, got {list(w)}")
        self.weights = w
        self.inner_loss = inner_loss

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        full = next((int(x.shape[1]) for x in inputs if _is_embedding(x)), None)
        if full is None:
            raise InvalidInputError("MatryoshkaLoss found no embeddings among its inputs (2-D floating tensors)")
        if self.dims[0] > full:
            raise InvalidInputError(f"MatryoshkaLoss dims {list(self.dims)} go up to {self.dims[0]}, but the "
                                    f"embeddings have {full} dimensions; give dims of at most {full} (e.g. "
                                    f"{[d for d in self.dims if d <= full] or [full]})")
        unit = [_is_embedding(x, full) and _unit_rows(x) for x in inputs]
        total: torch.Tensor | None = None
        for d, w in zip(self.dims, self.weights, strict=True):
            if w == 0:
                continue
            cut = [_cut(x, d, u) if _is_embedding(x, full) else x for x, u in zip(inputs, unit, strict=True)]
            value = w * self.inner_loss(*cut)
            total = value if total is None else total + value
        assert total is not None  # weights are not all 0 (checked in __init__)
        return total

    def extra_repr(self) -> str:
        return f"dims={list(self.dims)}, weights={list(self.weights)}"


def _is_embedding(x: object, width: int | None = None) -> bool:
    return (isinstance(x, torch.Tensor) and x.ndim == 2 and x.is_floating_point()
            and (width is None or int(x.shape[1]) == width))


def _unit_rows(x: torch.Tensor) -> bool:
    with torch.no_grad():
        return bool(((x.norm(dim=1) - 1).abs() <= UNIT_TOLERANCE).all()) if len(x) else False


def _cut(x: torch.Tensor, d: int, unit: bool) -> torch.Tensor:
    head = x[:, :d]
    return F.normalize(head, dim=1) if unit else head
