"""Geometry of embedding spaces: diagnostics (norms, anisotropy, intrinsic dimension, hubness), fixes
(centring, all-but-the-top, whitening, standardisation) that map new vectors too, CSLS and mutual-proximity
re-scoring against hubs, neighbourhood stability, and the HTML report, clustering and
near-duplicates, and the comparison of two spaces (Procrustes, CKA, neighbour overlap).

See docs/analysis.md.
"""

from .clustering import Clustering, dedup, distinctive_terms, hdbscan, kmeans
from .compare import Alignment, Comparison, cka, compare, neighbor_overlap, procrustes, shared_keys
from .diagnostics import (
    Anisotropy,
    Hubness,
    IntrinsicDimension,
    Norms,
    anisotropy,
    hubness,
    intrinsic_dimension,
    mle_dimension,
    norms,
    summary,
    twonn,
)
from .fixes import FixedSpace, FixReport, Transform, all_but_the_top, center, standardize, whiten
from .maps import Projection, map_path, project
from .report import Report, report
from .rescoring import RescoredSpace, csls, mutual_proximity
from .stability import Stability, stability

__all__ = [
    "Alignment", "Anisotropy", "Clustering", "Comparison", "FixReport", "FixedSpace", "Hubness",
    "IntrinsicDimension", "Norms", "Projection", "Report", "RescoredSpace", "Stability", "Transform", "all_but_the_top",
    "anisotropy", "center", "cka", "compare", "csls", "dedup", "distinctive_terms", "hdbscan", "hubness",
    "intrinsic_dimension", "kmeans", "map_path", "mle_dimension", "mutual_proximity", "neighbor_overlap", "norms",
    "procrustes", "project", "report", "shared_keys", "stability", "standardize", "summary", "twonn", "whiten",
]
