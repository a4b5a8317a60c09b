"""Deprecated alias of :mod:`embspace.apps.schemas` (the wire schemas), kept for one release.

The HTTP-only models it also held (errors, health, the create, read and write requests) moved to
:mod:`embspace.serve.schemas`; they are forwarded from there lazily, on first use. That import points up
(apps -> serve) and is the one allowed exception of the layer contract: a deprecated shim, removed with it.
"""

import importlib

from .. import _deprecation
from . import schemas as _schemas
from .schemas import *  # noqa: F403
from .schemas import __all__ as _apps_all

_deprecation.moved_module(__name__, _schemas.__name__)

#: Moved to embspace.serve.schemas (HTTP-only).
_TO_SERVE = frozenset({
    "AnalogyRequest", "CollectionCreate", "CollectionInfo", "CountResponse", "DedupRequest", "DeleteRequest",
    "EncodeRequest", "EncodeResponse", "ErrorBody", "ErrorResponse", "GetRequest", "Health", "Item", "ItemsRequest",
    "MapPointsRequest", "MapSelection", "MapSource", "NeighborsRequest", "RecommendRequest", "RecommenderInfo",
    "SearchRequest", "SimilarityRequest", "SimilarityResponse", "SpaceInfo", "StoredItem", "WriteResponse",
})

__all__ = sorted([*_apps_all, *_TO_SERVE])


def __getattr__(name: str) -> object:  # the schemas' other public names (NAME_PATTERN, MAX_ROWS...)
    if name.startswith("__"):
        raise AttributeError(name)
    if name in _TO_SERVE:
        return getattr(importlib.import_module("embspace.serve.schemas"), name)
    return getattr(_schemas, name)
