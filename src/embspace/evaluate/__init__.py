"""Evaluation: word analogies and word similarity (more tasks follow: retrieval, probes, clustering)."""

from ._word_analogy import AnalogyResult, AnalogySection, analogy, read_analogies
from ._word_similarity import SimilarityResult, read_word_pairs, word_similarity

__all__ = ["AnalogyResult", "AnalogySection", "SimilarityResult", "analogy", "read_analogies", "read_word_pairs",
           "word_similarity"]
