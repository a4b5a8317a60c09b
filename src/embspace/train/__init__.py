"""Learners: word2vec (skip-gram, CBOW), fastText (subword n-grams), GloVe, matrix factorisation (compiled
CPU kernels and a PyTorch engine, producing a :class:`Recommender`), contrastive/metric learning of any PyTorch
encoder, a CLIP-style two-tower model, static distillation of a transformer text encoder (:class:`Distiller`),
a CLAP-style audio-text model (:class:`TwoTowerClap`), and fine-tuning of sentence encoders.

Every learner follows one contract (:class:`Learner`): settings in ``__init__``, ``fit(data) -> self``,
learned state ending in ``_``, ``get_params``/``set_params``, ``NotFittedError`` before ``fit``.
"""

from typing import Any

from ._base import Learner
from .contrastive_trainer import ContrastiveTrainer
from .distiller import Distiller
from .fasttext import FastText
from .finetune import finetune  # binds the function over the same-named submodule
from .glove import GloVe
from .matrix_factorization import MatrixFactorization
from .metric_projection import MetricProjection
from .recommender import Recommender
from .sampler import ClassBalancedSampler
from .subword_filler import SubwordFiller
from .two_tower_clap import SpecAugment, TwoTowerClap
from .two_tower_clip import TwoTowerClip
from .word2vec import Word2Vec

__all__ = [
    "MLP",
    "ClassBalancedSampler",
    "ContrastiveTrainer",
    "Distiller",
    "FastText",
    "GloVe",
    "ImageAugment",
    "Learner",
    "MatrixFactorization",
    "MetricProjection",
    "Recommender",
    "SmallConvNet",
    "SpecAugment",
    "SubwordFiller",
    "TwoTowerClap",
    "TwoTowerClip",
    "Word2Vec",
    "finetune",
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
