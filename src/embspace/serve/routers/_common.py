"""What the routers share: the server's resources (a FastAPI dependency), typed access to the served
objects, the one-of check, request vectors and geometry summaries."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Annotated, Any

import numpy as np
import numpy.typing as npt
from fastapi import Depends, Request

from ...analysis import summary
from ...apps.schemas import Summary
from ...errors import InvalidInputError
from ...space import EmbeddingSpace
from ...store import Collection
from ...train.recommender import Recommender
from .._resources import NotFoundError, Resources, Served
from .._work import ENCODE_WAIT_S

__all__ = ["MAX_SCAN", "ResourcesDep", "as_collection", "as_recommender", "as_space", "check_served",
           "encoding", "get_resources", "holding", "one_of", "summary_of", "using_collection", "vector"]

#: The most items a dedup or summary request may scan (larger ones: use the CLI).
MAX_SCAN = 200_000


async def get_resources(request: Request) -> Resources:
    """The server's :class:`~embspace.serve.Resources` (``app.state.resources``): a dependency of every route."""
    resources: Resources = request.app.state.resources
    return resources


#: A route parameter receiving the server's resources.
ResourcesDep = Annotated[Resources, Depends(get_resources)]


# The served objects: Resources opens each kind as one class (a Collection, an EmbeddingSpace, a
# Recommender); these give the routes that type, checked.
def as_collection(served: Served) -> Collection:
    """The collection ``served`` holds."""
    obj = served.obj
    if not isinstance(obj, Collection):
        raise TypeError(f"{served.kind} {served.name!r} holds a {type(obj).__name__}, not a Collection")
    return obj


def as_space(served: Served) -> EmbeddingSpace:
    """The space ``served`` holds."""
    obj = served.obj
    if not isinstance(obj, EmbeddingSpace):
        raise TypeError(f"{served.kind} {served.name!r} holds a {type(obj).__name__}, not an EmbeddingSpace")
    return obj


def as_recommender(served: Served) -> Recommender:
    """The recommendation model ``served`` holds."""
    obj = served.obj
    if not isinstance(obj, Recommender):
        raise TypeError(f"{served.kind} {served.name!r} holds a {type(obj).__name__}, not a Recommender")
    return obj


def check_served(resources: Resources, served: Served) -> None:
    """Refuse (404) a resource no longer served: a collection deleted (``DELETE /collections/X``) while this
    request waited for its lock is closed, and using it would fail ("closed database")."""
    try:
        current: Served | None = resources.get(served.kind, served.name)
    except NotFoundError:
        current = None
    if current is not served:
        raise NotFoundError(f"the {served.kind} {served.name!r} was deleted while this request waited for it")


@contextmanager
def holding(resources: Resources, served: Served) -> Iterator[Served]:
    """``served`` under its lock, checked to be still served once the lock is held (:func:`check_served`)."""
    with served.lock:
        check_served(resources, served)
        yield served


@contextmanager
def using_collection(resources: Resources, name: str) -> Iterator[Collection]:
    """The collection called ``name``, used under its lock (a 404 when it was deleted meanwhile)."""
    with holding(resources, resources.get("collection", name)) as served:
        yield as_collection(served)


def encoding(resources: Resources, texts: Sequence[str | None] | None, *, field: str = "texts"
             ) -> AbstractContextManager[None]:
    """Where a route that encodes on behalf of a write, a search or a classification encodes ``texts`` (all
    of the request's): the server's :class:`~embspace.serve._work.EncodeGate` — at most ``max_encode_chars``
    characters (413 ``too_much_text``), one of the ``max_encodes`` slots held meanwhile (waited for up to
    :data:`~embspace.serve._work.ENCODE_WAIT_S`, then 503 ``busy``). ``None``: nothing is encoded."""
    if texts is None:
        return nullcontext()
    return resources.encode_gate.encoding(texts, field=field, wait=ENCODE_WAIT_S)


def one_of(**given: object) -> str:
    """The name of the one argument given (not None); an error when none or several are."""
    present = [k for k, v in given.items() if v is not None]
    if len(present) != 1:
        raise InvalidInputError(f"give exactly one of {', '.join(given)} (got {', '.join(present) or 'none'})")
    return present[0]


def vector(values: Sequence[float]) -> npt.NDArray[np.float32]:
    """A request's vector as float32 (components beyond float32's range refused)."""
    with np.errstate(over="ignore"):
        arr = np.asarray(values, np.float32)
    if not np.isfinite(arr).all():
        raise InvalidInputError("the vector has components beyond float32's range")
    return arr


def summary_of(space: EmbeddingSpace) -> Summary:
    """The geometry summary of ``space``, measured on a seeded sample (too few rows: a clear 422)."""
    parts: dict[str, Any] = summary(space, sample=10_000, k=10)
    return Summary(size=len(space), dim=space.dim, metric=space.metric, **parts)
