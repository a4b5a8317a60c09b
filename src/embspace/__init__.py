"""embspace: the whole life of an embedding space, from one library, one CLI and one HTTP API.

Meaning becomes geometry: learn a space from raw data or encode with a pretrained model, store and
index it, look into its geometry, evaluate it, and use it.
"""

from . import errors
from ._version import __version__
from .errors import (
    CorruptDataError,
    DimensionMismatchError,
    EmbspaceError,
    IncompatibleSpaceError,
    MissingDependencyError,
    NotFittedError,
    UnknownKeyError,
)
from .space import EmbeddingSpace, EmbeddingVector, Provenance, SearchResult, detect_format, load, save

__all__ = [
    "CorruptDataError",
    "DimensionMismatchError",
    "EmbeddingSpace",
    "EmbeddingVector",
    "EmbspaceError",
    "IncompatibleSpaceError",
    "MissingDependencyError",
    "NotFittedError",
    "Provenance",
    "SearchResult",
    "UnknownKeyError",
    "__version__",
    "detect_format",
    "errors",
    "load",
    "save",
]
