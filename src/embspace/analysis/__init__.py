"""Geometry of embedding spaces: diagnostics (norms, anisotropy, intrinsic dimension, hubness) and
fixes (centring, all-but-the-top, whitening, standardisation) that map new vectors too.

See docs/analysis.md.
"""

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
    twonn,
)
from .fixes import FixedSpace, FixReport, Transform, all_but_the_top, center, standardize, whiten

__all__ = ["Anisotropy", "FixReport", "FixedSpace", "Hubness", "IntrinsicDimension", "Norms", "Transform",
           "all_but_the_top", "anisotropy", "center", "hubness", "intrinsic_dimension", "mle_dimension", "norms",
           "standardize", "twonn", "whiten"]
