"""MetricProjection: metric learning on an existing space — a projection under which labelled classes gather."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from ..errors import InvalidInputError
from ..space.embedding_space import EmbeddingSpace
from ._base import Learner

__all__ = ["MetricProjection"]


class MetricProjection(Learner):
    """Learn a map (a seeded :class:`~embspace.train.MLP`) of a space's vectors with
    :class:`~embspace.losses.TripletLoss` or :class:`~embspace.losses.ContrastiveLoss` (cosine
    distance) on the labelled keys, through :class:`~embspace.train.ContrastiveTrainer` (class-balanced
    batches); then map every vector of the space.

    Parameters
    ----------
    loss
        ``"triplet"`` (default) or ``"contrastive"``.
    mining
        Triplet mining: ``"batch_hard"``, ``"semi_hard"`` or ``"all"``.
    margin
        The loss's margin, in cosine distance.
    dim, hidden
        Output dimensions; hidden width of the map.
    epochs, batch_size, learning_rate, device, seed, progress
        As for :class:`~embspace.train.ContrastiveTrainer`.

    Attributes
    ----------
    space_
        The fitted space, every vector mapped (metric cosine; its own provenance).
    trainer_
        The trainer (``loss_history_``, ``embed``).
    """

    def __init__(self, *, loss: str = "triplet", mining: str = "batch_hard", margin: float = 0.2, dim: int = 64,
                 hidden: int = 256, epochs: int = 20, batch_size: int = 128, learning_rate: float = 1e-3,
                 device: str = "auto", seed: int = 0, progress: bool = True) -> None:
        self.loss = loss
        self.mining = mining
        self.margin = margin
        self.dim = dim
        self.hidden = hidden
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.device = device
        self.seed = seed
        self.progress = progress

    def fit(self, space: EmbeddingSpace, labels: Mapping[str, Any]) -> MetricProjection:
        """Train on the keys of ``labels`` that ``space`` holds (``{key: label}``); returns ``self``."""
        from ..losses import ContrastiveLoss, TripletLoss
        from .contrastive_trainer import ContrastiveTrainer
        from .mlp import MLP

        if self.loss not in ("triplet", "contrastive"):
            raise InvalidInputError(f"loss must be 'triplet' or 'contrastive', got {self.loss!r}")
        keys = [k for k in labels if k in space]
        if len(keys) < 4:
            raise InvalidInputError(f"only {len(keys)} labelled keys are in the space; need at least 4")
        fn = (TripletLoss(self.margin, mining=self.mining, distance="cosine") if self.loss == "triplet"
              else ContrastiveLoss(self.margin, distance="cosine"))
        x = np.stack([space[k] for k in keys]).astype(np.float32)
        y = np.array([labels[k] for k in keys])
        self.trainer_ = ContrastiveTrainer(MLP(space.dim, self.dim, hidden=self.hidden, seed=self.seed), fn,
                                           epochs=self.epochs, batch_size=self.batch_size,
                                           learning_rate=self.learning_rate, device=self.device, seed=self.seed,
                                           progress=self.progress).fit(x, y)
        self.space_ = self.trainer_.encode_space(np.asarray(space.vectors, np.float32), list(space.keys))
        return self

    def transform(self, vectors: EmbeddingSpace | npt.ArrayLike) -> npt.NDArray[np.float32]:
        """Map vectors (a space's, or an ``(n, dim)`` array) with the learned projection."""
        self.check_is_fitted("trainer_")
        x = np.asarray(vectors.vectors if isinstance(vectors, EmbeddingSpace) else vectors, np.float32)
        return self.trainer_.embed(np.atleast_2d(x))
