"""Learners: word2vec (skip-gram, CBOW), GloVe and matrix factorisation; compiled CPU kernels and a PyTorch engine."""

from .glove import GloVe
from .matrix_factorization import MatrixFactorization
from .word2vec import Word2Vec

__all__ = ["GloVe", "MatrixFactorization", "Word2Vec"]
