"""The result of a nearest-neighbour search: keys, scores and row ids."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, overload

import numpy as np

from .. import _html
from .._types import FloatArray, IntArray

__all__ = ["SearchResult"]


@dataclass(frozen=True, eq=False)
class SearchResult:
    """Hits of one query, or of a batch of queries, best first.

    Scores are always *higher is more similar*, whatever the metric: cosine similarity for
    ``cosine``, the inner product for ``dot``, and the negated Euclidean distance for ``l2``.

    For a single query, ``keys`` is a list of ``k`` keys and ``scores``/``ids`` have shape
    ``(k,)``. For a batch of ``nq`` queries, ``keys`` is a list of ``nq`` lists and
    ``scores``/``ids`` have shape ``(nq, k)``; ``result[i]`` is the single result of query ``i``.

    Attributes
    ----------
    keys
        The keys of the hits.
    scores
        float32 similarity scores, higher is more similar.
    ids
        int64 row ids of the hits in the searched space.
    """

    keys: list[str] | list[list[str]]
    scores: FloatArray
    ids: IntArray

    @property
    def batched(self) -> bool:
        """True when this holds the hits of several queries."""
        return self.scores.ndim == 2

    @property
    def top(self) -> str | list[str]:
        """The best key (single query) or the best key of each query (batch)."""
        if self.batched:
            return [row[0] if row else "" for row in self.keys]  # type: ignore[misc, unused-ignore]
        return self.keys[0] if self.keys else ""  # type: ignore[return-value, unused-ignore]

    def __len__(self) -> int:
        return len(self.keys)

    @overload
    def __getitem__(self, i: int) -> Any: ...
    @overload
    def __getitem__(self, i: slice) -> SearchResult: ...
    def __getitem__(self, i: int | slice) -> Any:
        """Batch: the single result of query ``i``. Single: the ``(key, score)`` of hit ``i``."""
        if self.batched:
            if isinstance(i, slice):
                return SearchResult(self.keys[i], self.scores[i], self.ids[i])
            return SearchResult(list(self.keys[i]), self.scores[i], self.ids[i])  # type: ignore[arg-type, unused-ignore]
        if isinstance(i, slice):
            return SearchResult(self.keys[i], self.scores[i], self.ids[i])
        return (self.keys[i], float(self.scores[i]))

    def __iter__(self) -> Iterator[Any]:
        for i in range(len(self)):
            yield self[i]

    def to_list(self) -> list[Any]:
        """``[(key, score), ...]``, or one such list per query for a batch."""
        if self.batched:
            return [self[i].to_list() for i in range(len(self))]
        return [(k, float(s)) for k, s in zip(self.keys, self.scores.tolist(), strict=True)]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready ``{"keys": ..., "scores": ..., "ids": ...}``."""
        return {"keys": self.keys, "scores": self.scores.tolist(), "ids": self.ids.tolist()}

    def __repr__(self) -> str:
        if self.batched:
            return f"SearchResult(queries={len(self)}, k={self.scores.shape[1]}, top={self.top!r})"
        pairs = ", ".join(f"{k!r}: {s:.4f}" for k, s in self.to_list()[:10])
        more = ", ..." if len(self) > 10 else ""
        return f"SearchResult({{{pairs}{more}}})"

    def _repr_html_(self) -> str:
        """A compact table for notebooks: rank, key and score of the first hits (of the first queries)."""
        if not self.batched:
            rows = ((r + 1, k, float(s)) for r, (k, s) in enumerate(zip(self.keys, self.scores, strict=True)))
            return _html.frame("SearchResult", _html.table(rows, ["rank", "key", "score"], total=len(self),
                                                           more="more hits"), subtitle=f"{len(self):,} hits")
        nq, k = len(self), int(self.scores.shape[1])
        per_query = min(k, _html.MAX_ROWS // 2)
        parts = []
        for q in range(min(nq, _html.MAX_ITEMS)):
            keys, scores = self.keys[q], self.scores[q, :per_query].tolist()
            rows = ((r + 1, keys[r], float(s)) for r, s in enumerate(scores))
            hits = _html.table(rows, ["rank", "key", "score"], total=k, limit=per_query, more="more hits")
            parts.append(_html.Html(f'<div style="display:inline-block;vertical-align:top;margin-right:12px">'
                                    f"query {q}{hits}</div>"))
        if nq > _html.MAX_ITEMS:
            parts.append(_html.note(f"… {nq - _html.MAX_ITEMS:,} more queries"))
        return _html.frame("SearchResult", *parts, subtitle=f"{nq:,} queries x {k:,} hits")

    @staticmethod
    def empty(batched: bool, nq: int = 0) -> SearchResult:
        if batched:
            keys: list[list[str]] = [[] for _ in range(nq)]
            return SearchResult(keys, np.zeros((nq, 0), np.float32), np.zeros((nq, 0), np.int64))
        return SearchResult([], np.zeros(0, np.float32), np.zeros(0, np.int64))
