"""embspace: the whole life of an embedding space, from one library, one CLI and one HTTP API.

Meaning becomes geometry: learn a space from raw data or encode with a pretrained model, store and
index it, look into its geometry, evaluate it, and use it.
"""

from . import errors
from ._open import open  # embspace.open(path), like gzip.open: shadows the builtin here only (unused here)
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

_LAZY = {  # heavy modules (numba, torch) load on first use
    "Word2Vec": ("embspace.train", "Word2Vec"),
    "GloVe": ("embspace.train", "GloVe"),
    "FastText": ("embspace.train", "FastText"),
    "TextCorpus": ("embspace.data.corpus", "TextCorpus"),
    "Vocab": ("embspace.data.vocab", "Vocab"),
    "evaluate": ("embspace.evaluate", None),
    "data": ("embspace.data", None),
    "train": ("embspace.train", None),
    "Collection": ("embspace.store.collection", "Collection"),
    "encoders": ("embspace.encoders", None),
    "get_encoder": ("embspace.encoders", "get_encoder"),
    "index": ("embspace.index", None),
    "store": ("embspace.store", None),
}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        mod = importlib.import_module(module)
        return mod if attr is None else getattr(mod, attr)
    raise AttributeError(f"module 'embspace' has no attribute {name!r}")


__all__ = [
    "Collection",
    "CorruptDataError",
    "DimensionMismatchError",
    "EmbeddingSpace",
    "EmbeddingVector",
    "EmbspaceError",
    "FastText",
    "GloVe",
    "IncompatibleSpaceError",
    "MissingDependencyError",
    "NotFittedError",
    "Provenance",
    "SearchResult",
    "TextCorpus",
    "UnknownKeyError",
    "Vocab",
    "Word2Vec",
    "__version__",
    "data",
    "detect_format",
    "encoders",
    "errors",
    "evaluate",
    "get_encoder",
    "index",
    "load",
    "open",
    "save",
    "store",
    "train",
]
