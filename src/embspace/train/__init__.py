"""Learners: word2vec (skip-gram, CBOW), GloVe, matrix factorisation (compiled CPU kernels and a
PyTorch engine), and contrastive/metric learning of any PyTorch encoder."""

from typing import Any

from .contrastive_trainer import ContrastiveTrainer
from .glove import GloVe
from .matrix_factorization import MatrixFactorization
from .metric_projection import MetricProjection
from .sampler import ClassBalancedSampler
from .word2vec import Word2Vec

__all__ = [
    "MLP",
    "ClassBalancedSampler",
    "ContrastiveTrainer",
    "GloVe",
    "ImageAugment",
    "MatrixFactorization",
    "MetricProjection",
    "SmallConvNet",
    "Word2Vec",
]


def __getattr__(name: str) -> Any:
    """PyTorch modules load on first use, so ``import embspace.train`` works without torch."""
    if name == "SmallConvNet":
        from .conv_net import SmallConvNet

        return SmallConvNet
    if name == "MLP":
        from .mlp import MLP

        return MLP
    if name == "ImageAugment":
        from .image_augment import ImageAugment

        return ImageAugment
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
