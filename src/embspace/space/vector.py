"""Vectors that remember which space they came from."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import IncompatibleSpaceError
from .provenance import mixing_error

__all__ = ["EmbeddingVector", "origin_of"]


class EmbeddingVector(np.ndarray):  # type: ignore[type-arg, unused-ignore]
    """A float32 NumPy array tagged with the coordinate system (``space_id``) it lives in.

    ``space["king"]`` returns one. It behaves exactly like an ``ndarray``; arithmetic between
    tagged vectors keeps the tag, so ``space["king"] - space["man"] + space["woman"]`` can be
    passed back to :meth:`EmbeddingSpace.neighbors`. Mixing vectors of two different spaces in
    arithmetic, or querying a space with a vector of another, raises
    :class:`~embspace.errors.IncompatibleSpaceError` naming both. Plain arrays carry no tag and are
    accepted anywhere (the caller vouches for them).
    """

    space_id: str | None
    space_name: str | None

    def __new__(cls, data: Any, space_id: str | None, space_name: str | None = None) -> EmbeddingVector:
        obj = np.asarray(data).view(cls)
        obj.space_id = space_id
        obj.space_name = space_name or space_id
        return obj

    def __array_finalize__(self, obj: Any) -> None:
        self.space_id = getattr(obj, "space_id", None)
        self.space_name = getattr(obj, "space_name", None)

    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
        tag: tuple[str, str | None] | None = None
        args = []
        for x in inputs:
            if isinstance(x, EmbeddingVector):
                if x.space_id is not None:
                    if tag is not None and tag[0] != x.space_id:
                        raise IncompatibleSpaceError(
                            f"cannot combine a vector of {tag[1]} with a vector of {x.space_name}: "
                            f"{mixing_error(tag[1], x.space_name)}"
                        )
                    tag = (x.space_id, x.space_name)
                args.append(x.view(np.ndarray))
            else:
                args.append(x)
        out = kwargs.get("out")
        if out is not None:
            kwargs["out"] = tuple(o.view(np.ndarray) if isinstance(o, EmbeddingVector) else o for o in out)
        result = getattr(ufunc, method)(*args, **kwargs)
        if tag is None:
            return result
        return _wrap(result, tag)

    def __reduce__(self) -> Any:  # pickles as a plain array: the tag is a runtime guard only
        return np.asarray(self).__reduce__()

    def __repr__(self) -> str:
        body = np.array2string(np.asarray(self), threshold=8, edgeitems=3, precision=4)
        return f"EmbeddingVector({body}, space={self.space_name})"


def _wrap(result: Any, tag: tuple[str, str | None]) -> Any:
    if isinstance(result, tuple):
        return tuple(_wrap(r, tag) for r in result)
    if isinstance(result, np.ndarray) and result.ndim > 0 and result.dtype.kind == "f":
        return EmbeddingVector(result, tag[0], tag[1])
    return result


def origin_of(x: Any) -> tuple[str, str | None] | None:
    """The ``(space_id, name)`` tag of a vector, or ``None`` for an untagged array."""
    if isinstance(x, EmbeddingVector) and x.space_id is not None:
        return (x.space_id, x.space_name)
    return None
