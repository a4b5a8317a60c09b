"""GetResult: the items :meth:`Collection.get <embspace.store.Collection.get>` found, and the keys it did not."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

__all__ = ["GetResult"]


class GetResult(list[dict[str, Any]]):
    """The items found by ``get``: a list of ``{"key", "vector", "metadata", "text"}`` dicts (no ``"vector"``
    when read with ``vectors=False``), in the order the keys were asked, for the keys that exist.

    ``missing`` lists the keys asked for that the collection does not hold (as strings, in the order
    asked); ``bool(result.missing)`` tells whether anything was missing. ``get(..., strict=True)``
    raises :class:`~embspace.errors.UnknownKeyError` instead.

    >>> r = GetResult([{"key": "a", "metadata": {}, "text": None}], missing=["b"])
    >>> [item["key"] for item in r], r.missing
    (['a'], ['b'])
    """

    missing: list[str]

    def __init__(self, items: Iterable[dict[str, Any]] = (), missing: Iterable[str] = ()) -> None:
        super().__init__(items)
        self.missing = list(missing)

    def __repr__(self) -> str:
        return f"GetResult({list.__repr__(self)}, missing={self.missing!r})"
