"""Near-duplicate groups of a collection or a space."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import InvalidInputError
from ..space.embedding_space import EmbeddingSpace
from .schemas import DedupResponse

if TYPE_CHECKING:
    from ..store import BaseCollection, FilterLike

__all__ = ["find_duplicates"]


def find_duplicates(source: EmbeddingSpace | BaseCollection, threshold: float = 0.95, *,
                    where: FilterLike = None) -> DedupResponse:
    """Groups of near-duplicates (cosine similarity >= ``threshold``, connected) among the vectors of
    ``source``: an :class:`~embspace.EmbeddingSpace` or a collection (its items matching ``where``).

    Every pair above the threshold is found below 100,000 vectors (then each vector's 20 nearest are
    checked; see :func:`embspace.analysis.find_duplicates`, which this calls). Groups are largest first.
    """
    from ..analysis.clustering import find_duplicates as find_in_space

    if isinstance(source, EmbeddingSpace):
        if where is not None:
            raise InvalidInputError("where filters the items of a collection; a space has no metadata")
        space = source
    else:
        space = source.to_space(where)
    if len(space) < 2:
        return DedupResponse(threshold=threshold, groups=[])
    return DedupResponse(threshold=threshold, groups=find_in_space(space, threshold))

