"""Geometry of embedding spaces: diagnostics (norms, anisotropy, intrinsic dimension, hubness), fixes
(centring, all-but-the-top, whitening, standardisation, PCA truncation) that map new vectors too, CSLS and
mutual-proximity re-scoring against hubs, neighbourhood stability, and the HTML report, clustering and
near-duplicates (``find_duplicates``), 2-D/3-D maps (``project`` makes a ``SpaceMap``), and the comparison
of two spaces (``compare_spaces``: Procrustes, CKA, neighbour overlap), and the budget of a space (``budget``: quality,
memory and speed of truncated dimensions, int8 and binary precision with rescoring, on your own queries), concept
directions (``direction``, ``remove``) and debiasing fixes (``hard_debias``, ``inlp``).

See docs/analysis.md; the words are in docs/glossary.md.
"""

from .. import _deprecation
from ..index.calibration import Calibration
from ..index.quantized_space import QuantizedSpace, quantize
from .budget import BudgetCandidate, BudgetReport, budget, pareto_front
from .clustering import Clustering, distinctive_terms, find_duplicates, hdbscan, kmeans
from .compare import (
    Alignment,
    SpaceComparison,
    cka,
    compare_spaces,
    linear_cka,
    neighbor_overlap,
    procrustes,
    shared_keys,
)
from .debias import GENDER_PAIRS, bias_recovery, hard_debias, inlp
from .diagnostics import (
    Anisotropy,
    Hubness,
    IntrinsicDimension,
    Norms,
    anisotropy,
    hubness,
    intrinsic_dimension,
    measured_vectors,
    mle_dimension,
    norms,
    summary,
    twonn,
)
from .directions import Direction, direction, remove
from .fixes import FixedSpace, FixReport, Transform, all_but_the_top, center, pca_truncate, standardize, whiten
from .layers import LayerMetrics, LayerReport, layers
from .maps import SpaceMap, map_path, project
from .report import Report, report
from .rescoring import RescoredSpace, csls, mutual_proximity
from .stability import Stability, stability

__all__ = [
    "GENDER_PAIRS", "Alignment", "Anisotropy", "BudgetCandidate", "BudgetReport", "Calibration", "Clustering",
    "Direction", "FixReport", "FixedSpace", "Hubness", "IntrinsicDimension", "LayerMetrics", "LayerReport", "Norms",
    "QuantizedSpace", "Report", "RescoredSpace", "SpaceComparison", "SpaceMap", "Stability", "Transform",
    "all_but_the_top", "anisotropy", "bias_recovery", "budget", "center", "cka", "compare_spaces", "csls", "direction",
    "distinctive_terms", "find_duplicates", "hard_debias", "hdbscan", "hubness", "inlp", "intrinsic_dimension",
    "kmeans", "layers", "linear_cka", "map_path", "measured_vectors", "mle_dimension", "mutual_proximity",
    "neighbor_overlap", "norms", "pareto_front", "pca_truncate", "procrustes", "project", "quantize", "remove",
    "report", "shared_keys", "stability", "standardize", "summary", "twonn", "whiten"
]

# The submodule `compare` (analysis/compare.py) would otherwise hide the deprecated function of that name.
globals().pop("compare", None)

#: Old names (one release): the function `compare`, `Comparison`, `dedup` and `Projection`.
__getattr__ = _deprecation.renamed(__name__, {"compare": "compare_spaces", "Comparison": "SpaceComparison",
                                              "dedup": "find_duplicates", "Projection": "SpaceMap"})
