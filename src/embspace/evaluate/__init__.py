"""Evaluation: word analogies, word similarity, bias tests (``weat``, ``seat``, ``weat_test``), retrieval on
BEIR-layout datasets (``compare_models`` puts several models side by side; ``compare_encoders`` measures how
much of a teacher a fast student keeps), and recommendations."""

from .. import _deprecation
from ._beir import BeirDataset, load_beir
from ._compare import compare_models, comparison_table
from ._encoder_comparison import EncoderComparison, compare_encoders
from ._recommendation import (
    RecommendationResult,
    catalogue_coverage,
    mae,
    map_at_k,
    ndcg_at_k,
    precision_at_k,
    recall_at_k,
    recommendation,
    rmse,
)
from ._retrieval import RetrievalResult, ranking_metrics, retrieval
from ._transfer import ClusteringScore, ProbeResult, clustering, knn_accuracy, knn_label_errors, linear_probe
from ._weat import SEAT_TEMPLATES, WEAT_TESTS, WeatResult, load_weat_lists, seat, seat_test, weat, weat_test
from ._word_analogy import AnalogyResult, AnalogySection, analogy, read_analogies
from ._word_similarity import SimilarityResult, read_word_pairs, word_similarity

__all__ = [
           "SEAT_TEMPLATES",
           "WEAT_TESTS",
           "AnalogyResult",
           "AnalogySection",
           "BeirDataset",
           "ClusteringScore",
           "EncoderComparison",
           "ProbeResult",
           "RecommendationResult",
           "RetrievalResult",
           "SimilarityResult",
           "WeatResult",
           "analogy",
           "catalogue_coverage",
           "clustering",
           "compare_encoders",
           "compare_models",
           "comparison_table",
           "knn_accuracy",
           "knn_label_errors",
           "linear_probe",
           "load_beir",
           "load_weat_lists",
           "mae",
           "map_at_k",
           "ndcg_at_k",
           "precision_at_k",
           "ranking_metrics",
           "read_analogies",
           "read_word_pairs",
           "recall_at_k",
           "recommendation",
           "retrieval",
           "rmse",
           "seat",
           "seat_test",
           "weat",
           "weat_test",
           "word_similarity",
]

#: Old name (one release): ``compare`` (now ``compare_models``; ``embspace.analysis.compare_spaces`` compares spaces).
__getattr__ = _deprecation.renamed(__name__, {"compare": "compare_models"})
