"""Evaluation: word analogies, word similarity, and retrieval on BEIR-layout datasets."""

from ._beir import BeirDataset, load_beir
from ._compare import compare, comparison_table
from ._retrieval import RetrievalResult, ranking_metrics, retrieval
from ._transfer import ClusteringScore, ProbeResult, clustering, linear_probe
from ._word_analogy import AnalogyResult, AnalogySection, analogy, read_analogies
from ._word_similarity import SimilarityResult, read_word_pairs, word_similarity

__all__ = [
           "AnalogyResult",
           "AnalogySection",
           "BeirDataset",
           "ClusteringScore",
           "ProbeResult",
           "RetrievalResult",
           "SimilarityResult",
           "analogy",
           "clustering",
           "compare",
           "comparison_table",
           "linear_probe",
           "load_beir",
           "ranking_metrics",
           "read_analogies",
           "read_word_pairs",
           "retrieval",
           "word_similarity",
]
