"""Learners: word2vec (skip-gram, CBOW), GloVe, matrix factorisation (compiled CPU kernels and a
PyTorch engine), and contrastive/metric learning of any PyTorch encoder."""

from .contrastive_trainer import ContrastiveTrainer
from .glove import GloVe
from .matrix_factorization import MatrixFactorization
from .sampler import ClassBalancedSampler
from .word2vec import Word2Vec

__all__ = ["ClassBalancedSampler", "ContrastiveTrainer", "GloVe", "MatrixFactorization", "Word2Vec"]
