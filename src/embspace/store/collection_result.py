"""The result of a collection search: a SearchResult whose hits can carry their metadata, text and vector.

``Collection.search(query, k, include=("metadata", "text", "vector"))`` returns the hits with what
was asked, read in one batched query (SQLite) or in the search request itself (Milvus), so that
callers do not search and then fetch each hit's data. By default nothing extra is read.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal, TypeAlias, overload

import numpy as np

from .._types import FloatArray
from ..errors import InvalidInputError
from ..space.search_result import SearchResult

__all__ = ["INCLUDE", "CollectionResult", "Include", "IncludeArg", "check_include", "text_of"]

#: What a collection search can return with each hit besides its key and score.
Include: TypeAlias = Literal["metadata", "text", "vector"]
#: The ``include=`` argument of a search: one of :data:`Include`, or several.
IncludeArg: TypeAlias = Include | Iterable[Include]
INCLUDE: Final[tuple[Include, ...]] = ("metadata", "text", "vector")
#: The metadata field read as an item's text when it has no stored text (where collections written before the
#: text column, by RAG ingestion or the demo, keep it).
TEXT_FIELD: Final = "text"

Meta: TypeAlias = dict[str, Any] | None


def check_include(include: IncludeArg | None) -> frozenset[str]:
    """The set of extras asked for by ``include`` (a name or names of :data:`INCLUDE`), checked."""
    if include is None:
        return frozenset()
    names = [include] if isinstance(include, str) else list(include)
    for name in names:
        if name not in INCLUDE:
            raise InvalidInputError(f"include: unknown field {name!r}; choose among {', '.join(map(repr, INCLUDE))}")
    return frozenset(names)


def text_of(metadata: Mapping[str, Any] | None) -> str | None:
    """The fallback text of an item without a stored one: its metadata's ``"text"`` field when that is a
    string, else None."""
    text = None if metadata is None else metadata.get(TEXT_FIELD)
    return text if isinstance(text, str) else None


@dataclass(frozen=True, eq=False, repr=False)
class CollectionResult(SearchResult):
    """Hits of a collection search (see :class:`~embspace.SearchResult`), with the extras asked by ``include=``.

    Each extra is None unless the search asked for it; otherwise it is aligned with ``keys``:

    Attributes
    ----------
    metadata
        Each hit's metadata dict (a list for one query, a list of lists for a batch).
    texts
        Each hit's stored text (see ``Collection.add(..., texts=)``); for an item without one, the
        ``"text"`` field of its metadata when that is a string (where collections written before
        the text column keep a passage's text), else None.
    vectors
        float32 ``(k, dim)`` for one query, ``(nq, k, dim)`` for a batch: each hit's stored vector
        (unit length under cosine). The rows of a batch's missing hits (a query with fewer than
        ``k`` matches) are zeros.

    A hit whose item was deleted between the search and the read of its data (by another writer) has
    None as metadata and text and a zero vector.
    """

    metadata: list[Any] | None = None  # list[dict | None], or one such list per query
    texts: list[Any] | None = None  # list[str | None], or one such list per query
    vectors: FloatArray | None = None

    @overload
    def __getitem__(self, i: int) -> Any: ...
    @overload
    def __getitem__(self, i: slice) -> CollectionResult: ...
    def __getitem__(self, i: int | slice) -> Any:
        """Batch: the single result of query ``i`` (with its extras). Single: the ``(key, score)`` of hit ``i``."""
        if not self.batched and isinstance(i, int):
            return (self.keys[i], float(self.scores[i]))
        if self.batched and not isinstance(i, slice):
            keys: Any = list(self.keys[i])
        else:
            keys = self.keys[i]
        return CollectionResult(keys, self.scores[i], self.ids[i],
                                metadata=None if self.metadata is None else self.metadata[i],
                                texts=None if self.texts is None else self.texts[i],
                                vectors=None if self.vectors is None else self.vectors[i])

    def __iter__(self) -> Iterator[Any]:
        for i in range(len(self)):
            yield self[i]

    def to_records(self) -> list[Any]:
        """``[{"key", "score", and the extras asked: "metadata", "text", "vector" (a list)}, ...]``, or one
        such list per query for a batch."""
        if self.batched:
            return [self[i].to_records() for i in range(len(self))]
        out: list[dict[str, Any]] = []
        for r, (key, score) in enumerate(zip(self.keys, self.scores.tolist(), strict=True)):
            rec: dict[str, Any] = {"key": key, "score": float(score)}
            if self.metadata is not None:
                rec["metadata"] = self.metadata[r]
            if self.texts is not None:
                rec["text"] = self.texts[r]
            if self.vectors is not None:
                rec["vector"] = self.vectors[r].tolist()
            out.append(rec)
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready ``{"keys", "scores", "ids"}``, plus ``"metadata"``, ``"texts"``, ``"vectors"`` when asked."""
        d = super().to_dict()
        if self.metadata is not None:
            d["metadata"] = self.metadata
        if self.texts is not None:
            d["texts"] = self.texts
        if self.vectors is not None:
            d["vectors"] = self.vectors.tolist()
        return d

    def __repr__(self) -> str:
        return "CollectionResult" + super().__repr__().removeprefix("SearchResult")

    @staticmethod
    def of(result: SearchResult) -> CollectionResult:
        """``result`` as a CollectionResult without extras."""
        if isinstance(result, CollectionResult):
            return result
        return CollectionResult(result.keys, result.scores, result.ids)

    @staticmethod
    def empty(batched: bool, nq: int = 0) -> CollectionResult:
        return CollectionResult.of(SearchResult.empty(batched, nq))


#: What a backend read for one hit: (metadata, text, vector), each None when not asked or not found.
Row: TypeAlias = tuple[Meta, str | None, FloatArray | None]


def attach(result: SearchResult, include: frozenset[str], dim: int, handles: list[list[Any]],
           found: Mapping[Any, Row]) -> CollectionResult:
    """``result`` with the extras in ``include``. ``handles[q]`` names the hits of query ``q`` (the ids or
    the keys of its hits, as many as it has keys) and ``found`` maps a handle to what was read; a hit
    absent from it (an item deleted meanwhile) gets None and a zero vector."""
    batched = result.batched
    width = int(result.scores.shape[-1])
    none: Row = (None, None, None)
    got = [[found.get(h, none) for h in row[:width]] for row in handles]
    metadata = texts = vectors = None
    if "metadata" in include:
        m = [[g[0] for g in row] for row in got]
        metadata = m if batched else m[0]
    if "text" in include:
        t = [[g[1] for g in row] for row in got]
        texts = t if batched else t[0]
    if "vector" in include:
        v = np.zeros((len(got), width, dim), np.float32)
        for r, row in enumerate(got):
            for c, g in enumerate(row):
                if g[2] is not None:
                    v[r, c] = g[2]
        vectors = v if batched else v[0]
    return CollectionResult(result.keys, result.scores, result.ids, metadata=metadata,
                            texts=texts, vectors=vectors)
