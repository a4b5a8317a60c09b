"""Geometry of embedding spaces: diagnostics (norms, anisotropy, intrinsic dimension, hubness).

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

__all__ = ["Anisotropy", "Hubness", "IntrinsicDimension", "Norms", "anisotropy", "hubness", "intrinsic_dimension",
           "mle_dimension", "norms", "twonn"]
