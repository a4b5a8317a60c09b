"""Metric and contrastive losses, one ``torch.nn.Module`` per file.

Pair/triplet losses (:class:`ContrastiveLoss`, :class:`TripletLoss`) take explicit pairs/triplets
or a labelled batch to mine; view/pair losses (:class:`NTXentLoss`, :class:`InfoNCELoss`,
:class:`MultipleNegativesRankingLoss`) take two aligned ``(n, dim)`` batches and use the rest of the
batch as negatives. :class:`MatryoshkaLoss` wraps any of them to train every prefix of the embeddings
(the first 256, 128, 64... dimensions) as an embedding of its own. Train any encoder with them
through :class:`embspace.train.ContrastiveTrainer`.
Needs PyTorch (the ``train`` extra).
"""

from __future__ import annotations

try:
    import torch  # noqa: F401
except ImportError:  # pragma: no cover - torch is in the train extra
    from ..errors import MissingDependencyError

    raise MissingDependencyError("torch", "train", "embspace.losses") from None

from .contrastive import ContrastiveLoss
from .infonce import InfoNCELoss, MultipleNegativesRankingLoss
from .matryoshka import MatryoshkaLoss
from .ntxent import NTXentLoss
from .triplet import TripletLoss

__all__ = ["ContrastiveLoss", "InfoNCELoss", "MatryoshkaLoss", "MultipleNegativesRankingLoss", "NTXentLoss",
           "TripletLoss"]
