"""Collections: create, list, drop; add, upsert, delete, get, count; search (the hot path) and summary."""

from __future__ import annotations

from typing import Annotated

import numpy as np
import numpy.typing as npt
from fastapi import APIRouter, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import ValidationError

from ...apps.schemas import Hits, Summary
from ...errors import InvalidInputError
from ...store import Collection, Include
from .._errors import DiskFullError, disk_full
from .._guard import SEARCH_ERROR
from .._json import JSONRoute
from .._resources import NotFoundError, Resources, Served
from .._work import off_loop
from ..schemas import (
    CollectionCreate,
    CollectionInfo,
    CountResponse,
    DeleteRequest,
    ErrorResponse,
    GetRequest,
    ItemsPage,
    ItemsPageRequest,
    ItemsRequest,
    SearchRequest,
    StoredItem,
    WriteResponse,
)
from ._common import (
    MAX_SCAN,
    ResourcesDep,
    as_collection,
    check_served,
    encoding,
    holding,
    one_of,
    summary_of,
    using_collection,
    vector,
)

__all__ = ["router", "search", "search_hits", "search_json", "search_now"]

router = APIRouter(route_class=JSONRoute)

#: The largest answer of ``/get`` (bytes, about): its vectors (as JSON numbers) and texts.
MAX_ANSWER = 64 * 1024 * 1024
#: Bytes of one vector component as a JSON number, about (``-0.123456789, ``).
FLOAT_BYTES = 14


def collection_info(served: Served) -> CollectionInfo:
    col = as_collection(served)
    info = col.info()
    return CollectionInfo(name=served.name, count=info["count"], dim=info["dim"], metric=info["metric"],
                          index=info["index"], encoder=info.get("encoder"), writable=col.writable,
                          rescore=info.get("rescore"))


@router.get("/collections", tags=["collections"])
def list_collections(resources: ResourcesDep) -> list[CollectionInfo]:
    """Every served collection."""
    out = []
    for name in resources.names("collection"):
        try:
            with holding(resources, resources.get("collection", name)) as served:
                out.append(collection_info(served))
        except NotFoundError:  # deleted since the names were read
            continue
    return out


@router.post("/collections", status_code=201, tags=["collections"])
def create_collection(req: CollectionCreate, resources: ResourcesDep) -> CollectionInfo:
    """A new, empty collection in the server's data directory."""
    served = resources.create_collection(req.name, dim=req.dim, encoder=req.encoder, metric=req.metric,
                                         index=req.index, rescore=req.rescore)
    with served.lock:
        return collection_info(served)


@router.get("/collections/{name}", tags=["collections"])
def get_collection(name: str, resources: ResourcesDep) -> CollectionInfo:
    """Size, dimension, metric, index and encoder of a collection."""
    with holding(resources, resources.get("collection", name)) as served:
        return collection_info(served)


@router.delete("/collections/{name}", status_code=204, response_class=Response, tags=["collections"])
def drop_collection(name: str, resources: ResourcesDep) -> None:
    """Delete a collection created through the API (with all its items)."""
    resources.drop_collection(name)


def write(resources: Resources, name: str, req: ItemsRequest, *, replace: bool) -> WriteResponse:
    """Add (or, with ``replace``, upsert) the request's items: every item with a vector (all of one length;
    each may also carry its text, kept with it), or every item with a text and no vector (encoded)."""
    with_vector = {it.vector is not None for it in req.items}
    if len(with_vector) != 1 or (with_vector == {False} and any(it.text is None for it in req.items)):
        raise InvalidInputError("every item needs a text or a vector, the same for all items of one request: "
                                "texts to encode, or vectors (each may carry its text too)")
    keys = [it.key for it in req.items]
    texts = [it.text for it in req.items]
    data: npt.NDArray[np.float32] | None = None
    if with_vector == {True}:
        if len({len(it.vector or ()) for it in req.items}) != 1:
            raise InvalidInputError("the vectors of one request must all have the same length")
        data = np.stack([vector(it.vector) for it in req.items if it.vector is not None])
    metas = [it.metadata for it in req.items]
    with using_collection(resources, name) as col, encoding(resources, texts if data is None else None):
        before = col.count()
        try:
            n = (col.upsert if replace else col.add)(keys, data, metas, texts=texts)
        except Exception as e:
            if disk_full(e):
                raise DiskFullError(_kept(col, before, len(keys))) from e
            raise
    return WriteResponse(count=int(n))


def _kept(col: Collection, before: int, sent: int) -> str:
    """What a write that ran out of disk space kept, in words (the store writes a batch in one transaction)."""
    try:
        now = col.count()
    except Exception:  # the database cannot even be read now: say what is known
        now = None
    if now == before:
        kept = (f"none of this request's {sent} items were written: the collection holds its {before} items as "
                "before (a write is one transaction)")
    else:
        kept = (f"the collection now holds {now if now is not None else 'an unknown number of'} items ({before} before "
                "this request): its items were kept")
    return f"no space left on device: {kept}; free some space and send the request again"


@router.post("/collections/{name}/add", tags=["collections"])
def add(name: str, req: ItemsRequest, resources: ResourcesDep) -> WriteResponse:
    """Add items (texts are encoded by the collection's encoder); an existing key is a conflict."""
    return write(resources, name, req, replace=False)


@router.post("/collections/{name}/upsert", tags=["collections"])
def upsert(name: str, req: ItemsRequest, resources: ResourcesDep) -> WriteResponse:
    """Add items, replacing those whose key exists."""
    return write(resources, name, req, replace=True)


@router.post("/collections/{name}/delete", tags=["collections"])
def delete(name: str, req: DeleteRequest, resources: ResourcesDep) -> WriteResponse:
    """Delete items by key, or every item matching a filter."""
    one_of(keys=req.keys, where=req.where)
    with using_collection(resources, name) as col:
        return WriteResponse(count=int(col.delete(req.keys, where=req.where)))


@router.post("/collections/{name}/get", tags=["collections"])
def get_items(name: str, req: GetRequest, resources: ResourcesDep) -> list[StoredItem]:
    """Stored items by key, with their metadata and text (an unknown key is a 404 naming it)."""
    keys = list(dict.fromkeys(req.keys))  # a key asked for twice is answered once: the answer grows with the items
    with using_collection(resources, name) as col:
        if req.vectors and len(keys) * col.dim * FLOAT_BYTES > MAX_ANSWER:
            most = max(1, MAX_ANSWER // (col.dim * FLOAT_BYTES))
            raise InvalidInputError(f"{len(keys):,} vectors of {col.dim} components would make an answer of about "
                                    f"{len(keys) * col.dim * FLOAT_BYTES / 2**20:,.0f} MB (at most "
                                    f"{MAX_ANSWER / 2**20:,.0f}): ask for at most {most:,} keys with vectors at a time")
        got = col.get(keys, vectors=req.vectors, strict=True)
    size = sum(len(g["text"] or "") for g in got)
    if size > MAX_ANSWER:
        raise InvalidInputError(f"the texts of these {len(keys):,} items hold {size:,} characters (an answer holds at "
                                f"most {MAX_ANSWER:,}): ask for fewer keys at a time")
    return [StoredItem(key=g["key"], metadata=g["metadata"], text=g["text"],
                       vector=np.asarray(g["vector"], np.float32).tolist() if req.vectors else None) for g in got]


@router.post("/collections/{name}/items", tags=["collections"], responses={409: {
    "model": ErrorResponse, "description": "snapshot_changed: the collection changed since the first page in a way "
    "the pages cannot hide (an item deleted or replaced); read again from the first page"}})
def list_items(name: str, req: ItemsPageRequest, resources: ResourcesDep) -> ItemsPage:
    """A page of the collection's items (matching ``where``), in insertion order, with each item's metadata and
    text (and vector when asked): no ``cursor`` for the first page, then the ``next`` of the previous page until
    it is null.

    All the pages of one read show the collection as it was at the first page (one snapshot across
    requests): items added since are left out, and no key comes twice. When an item was deleted or replaced
    since the first page (or the database was restored), the pages could not hide it without mixing versions:
    a later page is then a 409 ``snapshot_changed`` — read again from the first page."""
    with using_collection(resources, name) as col:
        limit = req.limit
        if req.vectors:  # the answer stays within MAX_ANSWER: fewer items per page (next follows on)
            limit = min(limit, max(1, MAX_ANSWER // (col.dim * FLOAT_BYTES)))
        page = col.page(limit, cursor=req.cursor, where=req.where, vectors=req.vectors, max_text=MAX_ANSWER)
    return ItemsPage(items=[StoredItem(key=r["key"], metadata=r["metadata"], text=r["text"],
                                       vector=r["vector"].tolist() if req.vectors else None) for r in page.records],
                     next=page.next)


@router.get("/collections/{name}/count", tags=["collections"])
def count(name: str, resources: ResourcesDep,
          where: Annotated[str | None, Query(max_length=10_000, description="a filter string")] = None
          ) -> CountResponse:
    """Items in the collection (matching ``where``)."""
    with using_collection(resources, name) as col:
        return CountResponse(count=int(col.count(where)))


# -- search: the hot path ------------------------------------------------------------------------------
#: The most candidates one search re-scores (k x rescore), each a float vector read from the mapped file.
MAX_RESCORED = 20_000


def search_now(resources: Resources, served: Served, by: str, req: SearchRequest) -> Hits:
    """Run a search, each hit with its metadata and text when asked (the caller holds the collection's lock);
    they come with the search (``include=``), read in one query for all hits. A text is encoded within the
    server's encode limits (:func:`~._common.encoding`)."""
    col = as_collection(served)
    depth = col.rescore if req.rescore is None else req.rescore
    if depth and req.k * depth > MAX_RESCORED:  # each candidate is a float vector read: bounded per request
        raise InvalidInputError(f"k x rescore = {req.k} x {depth} = {req.k * depth:,} candidates to re-score; a "
                                f"search re-scores at most {MAX_RESCORED:,}: ask fewer hits (k) or a smaller "
                                "rescore")
    include: list[Include] = []
    if req.metadata:
        include.append("metadata")
    if req.include_text:
        include.append("text")
    if by == "key":
        res = col.search(key=req.key, k=req.k, where=req.where, include=include, rescore=req.rescore)
    elif by == "text":
        if col.encoder_spec is None:
            raise InvalidInputError(f"the collection {served.name!r} has no encoder: search it by vector or key")
        with encoding(resources, [req.text or ""], field="text"):
            res = col.search(req.text, req.k, where=req.where, include=include, rescore=req.rescore)
    else:
        res = col.search(vector(req.vector or []), req.k, where=req.where, include=include, rescore=req.rescore)
    return Hits.of(res)  # with the hits' metadata when the search included it


async def search_hits(resources: Resources, name: str, req: SearchRequest) -> Hits:
    """The hits of ``req`` in the collection called ``name``."""
    by = one_of(text=req.text, vector=req.vector, key=req.key)
    served = resources.get("collection", name)
    # always in the worker thread pool, never on the event loop: even a vector search may first bring the
    # index up to date with the table (seconds after many writes) or compile a large filter, and the event
    # loop answers every other request (/health included) meanwhile

    def run() -> Hits:
        check_served(resources, served)  # deleted while this waited for its lock: a 404, not a closed database
        return search_now(resources, served, by, req)

    return await off_loop(served.lock, run)


async def search_json(resources: Resources, name: str, body: bytes) -> bytes:
    """The search handler: the JSON hits of the search request ``body`` in the collection called ``name``.

    The body is validated by pydantic straight from bytes and the hits serialised by it (no generic
    dependency solving or response re-validation). Both ways in call it: the route below, and the app's
    :class:`~embspace.serve._guard.SearchShortcut`, which answers searches before routing."""
    try:
        req = SearchRequest.model_validate_json(body)
    except ValidationError as e:
        raise RequestValidationError([{**err, "loc": ("body", *err["loc"])} for err in e.errors()]) from None
    hits = await search_hits(resources, name, req)
    return hits.model_dump_json().encode()


# the schema of the body is SearchRequest, which the handler parses itself
@router.post("/collections/{name}/search", tags=["collections"], response_model=Hits,
             openapi_extra={"requestBody": {"required": True, "content": {"application/json": {
                 "schema": {"$ref": "#/components/schemas/SearchRequest"}}}}})
async def search(name: str, request: Request) -> Response:
    """The k nearest items to a text, a vector or a stored item, under an optional metadata filter."""
    failed = request.scope.get(SEARCH_ERROR)
    if isinstance(failed, Exception):  # the SearchShortcut ran this handler already: its error, not a 2nd search
        raise failed
    resources: Resources = request.app.state.resources
    return Response(await search_json(resources, name, await request.body()), media_type="application/json")


@router.get("/collections/{name}/summary", tags=["analysis"])
def collection_summary(name: str, resources: ResourcesDep) -> Summary:
    """Geometry of the collection's vectors: norms, anisotropy, intrinsic dimension, hubness."""
    with using_collection(resources, name) as col:
        if col.count() > MAX_SCAN:
            raise InvalidInputError(f"a summary over HTTP reads at most {MAX_SCAN:,} items; run "
                                    "`embspace analyze` on an export")
        space = col.to_space()
    return summary_of(space)
