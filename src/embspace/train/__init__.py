"""Learners: word2vec (skip-gram, CBOW) and GloVe; compiled CPU kernels and a PyTorch engine."""

from .glove import GloVe
from .word2vec import Word2Vec

__all__ = ["GloVe", "Word2Vec"]
