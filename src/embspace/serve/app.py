"""The HTTP API: one FastAPI app over a server's collections, spaces and recommenders.

Every request and response body is a model of :mod:`embspace.apps.models` — the library's own — so
the OpenAPI schema (``/openapi.json``, browsable at ``/docs``) is the library's contract. Every error is
``{"error": {"code", "message", "detail"}}`` with a stable ``code`` (see :data:`ERROR_CODES`).

Safety: an API key (when configured) is required on every request, compared in constant time; without
one, only loopback clients are served. Bodies over ``max_body`` bytes are refused before they are read
whole; ``k`` and batch sizes are bounded by the models; resources are addressed by name, never by path.
"""

from __future__ import annotations

import gc
import hmac
import ipaddress
import logging
import os
import re
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, ValidationError

try:
    from fastapi import FastAPI, Query, Request
    from fastapi import Path as Path_
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, Response
    from starlette.concurrency import run_in_threadpool
    from starlette.exceptions import HTTPException as StarletteHTTPException
except ImportError as e:  # pragma: no cover - the serve extra is missing
    from ..errors import MissingDependencyError

    raise MissingDependencyError("fastapi", "serve", "the HTTP API") from e

from .._version import __version__
from ..apps.schemas import (
    AnalogyRequest,
    ClassifyRequest,
    ClassifyResponse,
    CollectionCreate,
    CollectionInfo,
    CountResponse,
    DedupRequest,
    DedupResponse,
    DeleteRequest,
    EncodeRequest,
    EncodeResponse,
    ErrorResponse,
    GetRequest,
    Health,
    Hits,
    ItemsRequest,
    MapHits,
    MapInfo,
    MapPoint,
    MapPointsRequest,
    MapQuery,
    MapSelection,
    MapSource,
    NeighborsRequest,
    RecommenderInfo,
    RecommendRequest,
    RetrieveRequest,
    RetrieveResponse,
    SearchRequest,
    SimilarityRequest,
    SimilarityResponse,
    SpaceInfo,
    StoredItem,
    Summary,
    WriteResponse,
)
from ..errors import (
    DimensionMismatchError,
    EmbspaceError,
    IncompatibleSpaceError,
    InvalidInputError,
    MissingDependencyError,
    NotFittedError,
    UnknownKeyError,
    ZeroVectorError,
)
from ._resources import ConflictError, NotFoundError, ReadOnlyError, Resources, Served

__all__ = ["CONFIG_ENV", "DEFAULT_MAX_BODY", "ERROR_CODES", "Guard", "ServeConfig", "app_from_env", "create_app",
           "export_config", "is_loopback", "open_resources"]

log = logging.getLogger("embspace.serve")

#: The largest request body accepted by default (bytes): 10,000 384-d vectors as JSON fit.
DEFAULT_MAX_BODY = 64 * 1024 * 1024
#: The most items a dedup or summary request may scan (larger ones: use the CLI).
MAX_SCAN = 200_000
#: The web projector's built files (committed; rebuilt from projector/ with npm).
PROJECTOR_DIR = Path(__file__).parent / "static" / "projector"
#: Paths served without the API key (static files with no data in them: the projector's page and code,
#: which then asks for the key); the loopback rule still applies to them when no key is configured.
PUBLIC_PREFIX = "/projector"
#: What a map shows (the path segment of the map routes).
Source = Literal["space", "collection"]

#: Library errors -> (HTTP status, stable code); the first matching class wins.
ERROR_CODES: list[tuple[type[BaseException], int, str]] = [
    (NotFoundError, 404, "not_found"),
    (UnknownKeyError, 404, "unknown_key"),
    (ConflictError, 409, "conflict"),
    (ReadOnlyError, 403, "read_only"),
    (DimensionMismatchError, 422, "dimension_mismatch"),
    (IncompatibleSpaceError, 422, "incompatible_space"),
    (ZeroVectorError, 422, "zero_vector"),
    (NotFittedError, 422, "not_fitted"),
    (MissingDependencyError, 501, "missing_dependency"),
    (InvalidInputError, 422, "invalid_input"),
    (EmbspaceError, 422, "invalid_input"),
]
_HTTP_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
               405: "method_not_allowed", 413: "payload_too_large", 415: "unsupported_media_type"}
_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse, "description": desc} for status, desc in
    [(401, "missing or wrong API key"), (403, "refused: remote client without an API key, or read-only"),
     (404, "no such resource or key"), (409, "exists already"), (413, "request body too large"),
     (422, "invalid input")]}


def _error_body(code: str, message: str, detail: Any = None) -> bytes:
    return ErrorResponse.model_validate({"error": {"code": code, "message": message, "detail": detail}}
                                        ).model_dump_json().encode()


Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


async def _reply(send: Send, status: int, code: str, message: str,
                 headers: Sequence[tuple[bytes, bytes]] = ()) -> None:
    body = _error_body(code, message)
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            *headers]})
    await send({"type": "http.response.body", "body": body})


def is_loopback(host: str) -> bool:
    """True for addresses only this machine can reach (127.0.0.0/8, ::1, localhost)."""
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return host == "localhost"


_SEARCH_PATH = re.compile(r"^/collections/([^/]+)/search$")


class Guard:
    """ASGI middleware: the API key (or loopback-only without one), and the request size limit."""

    def __init__(self, app: Any, *, api_key: str | None, max_body: int,
                 fast_search: Callable[[str, bytes], bytes | None] | None = None, balancer: Any = None) -> None:
        self.app = app
        self.key = api_key.encode() if api_key else None
        self.max_body = int(max_body)
        self.fast_search = fast_search
        self.balancer = balancer  # a serve._balance.Balancer when several workers share the port

    def _authorized(self, headers: dict[bytes, bytes]) -> bool:
        assert self.key is not None
        given = headers.get(b"x-api-key")
        auth = headers.get(b"authorization", b"")
        if given is None and auth[:7].lower() == b"bearer ":
            given = auth[7:].strip()
        # compare_digest takes time independent of where the strings differ (their lengths may leak)
        return given is not None and hmac.compare_digest(given, self.key)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.lower(): v for k, v in scope.get("headers", [])}
        public = scope.get("method") in ("GET", "HEAD") and str(scope.get("path", "")).startswith(PUBLIC_PREFIX)
        if self.key is not None:
            if not public and not self._authorized(headers):
                await _reply(send, 401, "unauthorized", "an API key is required: send 'Authorization: Bearer KEY' "
                             "or 'X-API-Key: KEY'", [(b"www-authenticate", b"Bearer")])
                return
        else:
            client = scope.get("client")
            if client and not is_loopback(str(client[0])):
                await _reply(send, 403, "forbidden", "this server has no API key and serves loopback clients "
                             "only; restart it with --api-key to serve others")
                return
        length = headers.get(b"content-length")
        if length is not None:
            try:
                n = int(length)
            except ValueError:
                await _reply(send, 400, "bad_request", "invalid Content-Length")
                return
            if n > self.max_body:
                await _reply(send, 413, "payload_too_large",
                             f"the request body has {n} bytes; this server takes at most {self.max_body}")
                return
        # read the body (at most max_body bytes) before the app sees it: an over-long stream is refused
        # whole, and the app never parses a truncated document
        chunks: list[bytes] = []
        seen = 0
        while True:
            msg = await receive()
            if msg["type"] != "http.request":  # the client went away
                return
            chunk = msg.get("body", b"")
            seen += len(chunk)
            if seen > self.max_body:
                await _reply(send, 413, "payload_too_large", f"the request body exceeds {self.max_body} bytes")
                return
            chunks.append(chunk)
            if not msg.get("more_body", False):
                break
        body = b"".join(chunks)
        # several workers: one holding more than its share of the clients asks this one to reconnect
        close = self.balancer is not None and self.balancer.shed(tuple(scope.get("client") or ()))
        if self.fast_search is not None and scope["method"] == "POST":
            match = _SEARCH_PATH.match(scope["path"])
            answer = self.fast_search(match.group(1), body) if match else None
            if answer is not None:  # the hot path: about a third of a search's server time is the framework
                reply = [(b"content-type", b"application/json"), (b"content-length", str(len(answer)).encode())]
                await send({"type": "http.response.start", "status": 200,
                            "headers": [*reply, (b"connection", b"close")] if close else reply})
                await send({"type": "http.response.body", "body": answer})
                return
        if close:
            inner_send = send

            async def send(message: Message) -> None:
                if message["type"] == "http.response.start":
                    message = {**message, "headers": [*message.get("headers", []), (b"connection", b"close")]}
                await inner_send(message)

        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # after the body: the disconnect message, when it comes

        await self.app(scope, replay, send)


#: The environment variable holding a :class:`ServeConfig` as JSON, for :func:`app_from_env`.
CONFIG_ENV = "EMBSPACE_SERVE_CONFIG"


class ServeConfig(BaseModel):
    """What ``embspace serve`` serves and how (passed to worker processes as JSON)."""

    data_dir: str
    paths: list[str] = []
    encoder: str = "minilm"
    readonly: bool = False
    api_key: str | None = None
    max_body: int = DEFAULT_MAX_BODY
    balance: str | None = None  # the workers' shared balance file (serve._balance), when there are several


def open_resources(cfg: ServeConfig) -> Resources:
    """The collections, spaces and recommenders ``cfg`` serves."""
    return Resources(cfg.data_dir, cfg.paths, encoder=cfg.encoder, readonly=cfg.readonly)


def export_config(cfg: ServeConfig) -> None:
    """Put ``cfg`` in the environment, where :func:`app_from_env` (each uvicorn worker) reads it."""
    os.environ[CONFIG_ENV] = cfg.model_dump_json()


def app_from_env() -> FastAPI:
    """The app described by ``$EMBSPACE_SERVE_CONFIG`` (uvicorn's factory for each worker process)."""
    raw = os.environ.get(CONFIG_ENV)
    if not raw:
        raise InvalidInputError(f"{CONFIG_ENV} is not set; start the server with `embspace serve`")
    cfg = ServeConfig.model_validate_json(raw)
    resources = open_resources(cfg)
    balancer = None
    if cfg.balance:
        from ._balance import Balancer

        balancer = Balancer(cfg.balance)
    app = create_app(resources, api_key=cfg.api_key, max_body=cfg.max_body, balancer=balancer)
    app.state.balancer = balancer
    # everything loaded so far (models, indexes, the app) lives as long as the server: keep it out of the
    # cyclic garbage collector's full passes, which otherwise stall every request in flight now and then
    gc.collect()
    gc.freeze()
    return app


def create_app(resources: Resources, *, api_key: str | None = None, max_body: int = DEFAULT_MAX_BODY,
               balancer: Any = None) -> FastAPI:
    """The FastAPI app serving ``resources``.

    Parameters
    ----------
    resources
        What to serve (see :class:`~embspace.serve.Resources`).
    api_key
        Required on every request when given (``Authorization: Bearer KEY`` or ``X-API-Key: KEY``);
        without it only loopback clients are served.
    max_body
        The largest request body, in bytes.
    balancer
        A :class:`~embspace.serve._balance.Balancer` when several worker processes share the port.
    """
    app = FastAPI(title="embspace", version=__version__, responses=_ERRORS,
                  telemetry={"tracing": False, "metrics": False, "logs": False},
                  description="Semantic search, RAG retrieval, neighbours, analogies, recommendation, dedup and "
                              "zero-shot classification over embedding spaces. Errors are "
                              "{\"error\": {\"code\", \"message\", \"detail\"}} with a stable code.")
    app.state.resources = resources
    base_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        """FastAPI's schema plus the models that routes parse themselves (the search body)."""
        if app.openapi_schema is None:
            schema = base_openapi()
            own = SearchRequest.model_json_schema(ref_template="#/components/schemas/{model}")
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            for name, sub in own.pop("$defs", {}).items():
                components.setdefault(name, sub)
            components["SearchRequest"] = own
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

    # -- errors --------------------------------------------------------------------------------------
    def error(status: int, code: str, message: str, detail: Any = None) -> JSONResponse:
        return JSONResponse({"error": {"code": code, "message": message, "detail": detail}}, status_code=status)

    @app.exception_handler(EmbspaceError)
    async def library_error(request: Request, exc: EmbspaceError) -> JSONResponse:
        for cls, status, code in ERROR_CODES:
            if isinstance(exc, cls):
                msg = str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)
                return error(status, code, msg)
        return error(422, "invalid_input", str(exc))  # pragma: no cover - EmbspaceError is last in the table

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        detail = [{"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")), "type": str(e.get("type", ""))}
                  for e in exc.errors()[:20]]
        first = detail[0] if detail else {"loc": [], "msg": "invalid request"}
        where = ".".join(str(x) for x in first["loc"])
        return error(422, "validation_error", f"{where}: {first['msg']}" if where else str(first["msg"]), detail)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        return error(exc.status_code, code, str(exc.detail))

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception) -> JSONResponse:
        log.exception("internal error on %s %s", request.method, request.url.path)
        return error(500, "internal_error", "the server failed on this request; its log has the details")

    # -- helpers -------------------------------------------------------------------------------------
    def one_of(**given: Any) -> str:
        present = [k for k, v in given.items() if v is not None]
        if len(present) != 1:
            raise InvalidInputError(f"give exactly one of {', '.join(given)} (got {', '.join(present) or 'none'})")
        return present[0]

    def vector(values: list[float]) -> np.ndarray[Any, np.dtype[np.float32]]:
        with np.errstate(over="ignore"):
            arr = np.asarray(values, np.float32)
        if not np.isfinite(arr).all():
            raise InvalidInputError("the vector has components beyond float32's range")
        return arr

    async def locked(served: Served, fn: Callable[[], Any], *, inline: bool) -> Any:
        """``fn()`` under the resource's lock: right here when ``inline`` and the lock is free, else in the
        thread pool (so the event loop never waits for a lock or a long computation)."""
        if inline and served.lock.acquire(blocking=False):
            try:
                return fn()
            finally:
                served.lock.release()

        def blocking() -> Any:
            with served.lock:
                return fn()

        return await run_in_threadpool(blocking)

    def collection_info(served: Served) -> CollectionInfo:
        info = served.obj.info()
        return CollectionInfo(name=served.name, count=info["count"], dim=info["dim"], metric=info["metric"],
                              index=info["index"], encoder=info.get("encoder"), writable=served.obj.writable)

    def summary_of(space: Any) -> Summary:
        from ..analysis import summary

        parts = summary(space, sample=10_000, k=10)  # measured on a seeded sample; too few rows: a clear 422
        return Summary(size=len(space), dim=space.dim, metric=space.metric, **parts)

    resources_ = resources

    # -- health --------------------------------------------------------------------------------------
    @app.get("/health", tags=["server"])
    def health() -> Health:
        """What this server offers."""
        return Health(version=__version__, encoders=resources_.encoders(),
                      collections=resources_.names("collection"), spaces=resources_.names("space"),
                      recommenders=resources_.names("recommender"))

    @app.post("/encode", tags=["server"])
    def encode(req: EncodeRequest) -> EncodeResponse:
        """Sentence vectors of texts (unit length), from one of the server's encoders."""
        enc = resources_.encoder(req.encoder)
        vecs = np.asarray(enc.encode(req.texts, normalize=True, progress=False), np.float32)
        return EncodeResponse(encoder=str(enc.name), dim=int(vecs.shape[1]), vectors=vecs.tolist())

    @app.post("/classify", tags=["apps"])
    def classify(req: ClassifyRequest) -> ClassifyResponse:
        """Zero-shot classification of texts over labels with the server's text encoder."""
        result: ClassifyResponse = resources_.classifier().run(req)
        return result

    # -- collections ---------------------------------------------------------------------------------
    @app.get("/collections", tags=["collections"])
    def list_collections() -> list[CollectionInfo]:
        """Every served collection."""
        out = []
        for name in resources_.names("collection"):
            served = resources_.get("collection", name)
            with served.lock:
                out.append(collection_info(served))
        return out

    @app.post("/collections", status_code=201, tags=["collections"])
    def create_collection(req: CollectionCreate) -> CollectionInfo:
        """A new, empty collection in the server's data directory."""
        served = resources_.create_collection(req.name, dim=req.dim, encoder=req.encoder, metric=req.metric,
                                              index=req.index)
        with served.lock:
            return collection_info(served)

    @app.get("/collections/{name}", tags=["collections"])
    def get_collection(name: str) -> CollectionInfo:
        """Size, dimension, metric, index and encoder of a collection."""
        served = resources_.get("collection", name)
        with served.lock:
            return collection_info(served)

    @app.delete("/collections/{name}", status_code=204, response_class=Response, tags=["collections"])
    def drop_collection(name: str) -> None:
        """Delete a collection created through the API (with all its items)."""
        resources_.drop_collection(name)

    def write(name: str, req: ItemsRequest, *, replace: bool) -> WriteResponse:
        kinds = {("text" if it.text is not None else "vector" if it.vector is not None else "none")
                 for it in req.items}
        if "none" in kinds or len(kinds) != 1 or any(it.text is not None and it.vector is not None
                                                       for it in req.items):
            raise InvalidInputError("every item needs a text or a vector (one of the two), the same for all items "
                                    "of one request")
        keys = [it.key for it in req.items]
        data: Any = ([it.text for it in req.items] if kinds == {"text"}
                     else np.stack([vector(it.vector) for it in req.items if it.vector is not None])
                     if len({len(it.vector or ()) for it in req.items}) == 1
                     else None)
        if data is None:
            raise InvalidInputError("the vectors of one request must all have the same length")
        metas = [it.metadata for it in req.items]
        with resources_.using("collection", name) as col:
            n = col.upsert(keys, data, metas) if replace else col.add(keys, data, metas)
        return WriteResponse(count=int(n))

    @app.post("/collections/{name}/add", tags=["collections"])
    def add(name: str, req: ItemsRequest) -> WriteResponse:
        """Add items (texts are encoded by the collection's encoder); an existing key is a conflict."""
        return write(name, req, replace=False)

    @app.post("/collections/{name}/upsert", tags=["collections"])
    def upsert(name: str, req: ItemsRequest) -> WriteResponse:
        """Add items, replacing those whose key exists."""
        return write(name, req, replace=True)

    @app.post("/collections/{name}/delete", tags=["collections"])
    def delete(name: str, req: DeleteRequest) -> WriteResponse:
        """Delete items by key, or every item matching a filter."""
        one_of(keys=req.keys, where=req.where)
        with resources_.using("collection", name) as col:
            return WriteResponse(count=int(col.delete(req.keys, where=req.where)))

    @app.post("/collections/{name}/get", tags=["collections"])
    def get_items(name: str, req: GetRequest) -> list[StoredItem]:
        """Stored items by key (an unknown key is a 404 naming it)."""
        with resources_.using("collection", name) as col:
            got = col.get(req.keys, vectors=req.vectors)
        return [StoredItem(key=g["key"], metadata=g["metadata"],
                           vector=np.asarray(g["vector"], np.float32).tolist() if req.vectors else None) for g in got]

    @app.get("/collections/{name}/count", tags=["collections"])
    def count(name: str, where: Annotated[str | None, Query(max_length=10_000,
                                                            description="a filter string")] = None) -> CountResponse:
        """Items in the collection (matching ``where``)."""
        with resources_.using("collection", name) as col:
            return CountResponse(count=int(col.count(where)))

    # The hot path: the body is validated by pydantic straight from bytes and the hits serialised by it
    # (no generic dependency solving or response re-validation); the schema is the same SearchRequest.
    @app.post("/collections/{name}/search", tags=["collections"], response_model=Hits,
              openapi_extra={"requestBody": {"required": True, "content": {"application/json": {
                  "schema": {"$ref": "#/components/schemas/SearchRequest"}}}}})
    async def search(name: str, request: Request) -> Response:
        """The k nearest items to a text, a vector or a stored item, under an optional metadata filter."""
        try:
            req = SearchRequest.model_validate_json(await request.body())
        except ValidationError as e:
            raise RequestValidationError([{**err, "loc": ("body", *err["loc"])} for err in e.errors()]) from None
        hits = await search_hits(name, req)
        return Response(hits.model_dump_json(), media_type="application/json")

    def search_now(served: Served, by: str, req: SearchRequest) -> Hits:
        """Run a search (the caller holds the collection's lock)."""
        col = served.obj
        if by == "key":
            res = col.search(key=req.key, k=req.k, where=req.where)
        else:
            if by == "text" and col.encoder_spec is None:
                raise InvalidInputError(f"the collection {served.name!r} has no encoder: search it by vector or key")
            query: Any = req.text if by == "text" else vector(req.vector or [])
            res = col.search(query, req.k, where=req.where)
        metas = ({g["key"]: g["metadata"] for g in col.get(list(res.keys), vectors=False)}
                 if req.metadata and len(res.keys)
                 else None)
        return Hits.of(res, metas)

    async def search_hits(name: str, req: SearchRequest) -> Hits:
        by = one_of(text=req.text, vector=req.vector, key=req.key)
        served = resources_.get("collection", name)
        # a vector or key search takes a millisecond: answered on the event loop when the collection is
        # free (no thread hand-off); a text (encoded first) or a busy collection goes to the thread pool
        hits: Hits = await locked(served, lambda: search_now(served, by, req), inline=by != "text")
        return hits

    def fast_search(name: str, body: bytes) -> bytes | None:
        """The search route without the framework (called by :class:`Guard` on the event loop): a vector or
        key search of a free collection, answered straight from the parsed body. Anything else — text (which
        is encoded in the thread pool), a busy collection, any error — returns None and takes the framework's
        route, which answers it (and formats errors) exactly as before."""
        try:
            req = SearchRequest.model_validate_json(body)
            by = one_of(text=req.text, vector=req.vector, key=req.key)
            served = resources_.get("collection", name)
        except (ValidationError, EmbspaceError):
            return None
        if by == "text" or not served.lock.acquire(blocking=False):
            return None
        try:
            return search_now(served, by, req).model_dump_json().encode()
        except Exception:  # the framework's route runs it again and reports the error properly
            return None
        finally:
            served.lock.release()

    @app.post("/collections/{name}/retrieve", tags=["apps"])
    def retrieve(name: str, req: RetrieveRequest) -> RetrieveResponse:
        """RAG passages for a query (hybrid BM25 + vector by default), with source and offsets to cite."""
        from ..apps.retriever import Retriever

        served = resources_.get("collection", name)
        with served.lock:
            retriever = served.cache.get("retriever")
            if retriever is None:
                retriever = served.cache["retriever"] = Retriever(served.obj)
            result: RetrieveResponse = retriever.run(req)
            return result

    @app.post("/collections/{name}/dedup", tags=["apps"])
    def dedup_collection(name: str, req: DedupRequest) -> DedupResponse:
        """Groups of near-duplicate items (cosine >= threshold)."""
        from ..apps.dedup import find_duplicates

        with resources_.using("collection", name) as col:
            n = col.count(req.where)
            if n > MAX_SCAN:
                raise InvalidInputError(f"dedup over HTTP scans at most {MAX_SCAN:,} items, this is {n:,}; narrow it "
                                        "with where, or run `embspace dedup`")
            return find_duplicates(col, req.threshold, where=req.where)

    @app.get("/collections/{name}/summary", tags=["analysis"])
    def collection_summary(name: str) -> Summary:
        """Geometry of the collection's vectors: norms, anisotropy, intrinsic dimension, hubness."""
        with resources_.using("collection", name) as col:
            if col.count() > MAX_SCAN:
                raise InvalidInputError(f"a summary over HTTP reads at most {MAX_SCAN:,} items; run "
                                        "`embspace analyze` on an export")
            space = col.to_space()
        return summary_of(space)

    # -- spaces --------------------------------------------------------------------------------------
    def space_info(served: Served) -> SpaceInfo:
        s = served.obj
        return SpaceInfo(name=served.name, size=len(s), dim=s.dim, metric=s.metric, normalized=bool(s.normalized),
                         model=s.provenance.model if s.provenance is not None else None)

    @app.get("/spaces", tags=["spaces"])
    def list_spaces() -> list[SpaceInfo]:
        """Every served space."""
        return [space_info(resources_.get("space", n)) for n in resources_.names("space")]

    @app.get("/spaces/{name}", tags=["spaces"])
    def get_space(name: str) -> SpaceInfo:
        """Size, dimension, metric and model of a space."""
        return space_info(resources_.get("space", name))

    @app.post("/spaces/{name}/neighbors", tags=["spaces"])
    def neighbors(name: str, req: NeighborsRequest) -> Hits:
        """Exact nearest neighbours of a key (itself left out) or of a vector."""
        by = one_of(key=req.key, vector=req.vector)
        space = resources_.get("space", name).obj
        return Hits.of(space.neighbors(req.key if by == "key" else vector(req.vector or []), k=req.k))

    @app.post("/spaces/{name}/analogy", tags=["spaces"])
    def analogy(name: str, req: AnalogyRequest) -> Hits:
        """a is to b as c is to ? — the k best answers, a, b and c left out."""
        space = resources_.get("space", name).obj
        return Hits.of(space.analogy(req.a, req.b, req.c, k=req.k, method=req.method))

    @app.post("/spaces/{name}/similarity", tags=["spaces"])
    def similarity(name: str, req: SimilarityRequest) -> SimilarityResponse:
        """The similarity (the space's metric, higher is closer) of each pair of keys."""
        space = resources_.get("space", name).obj
        return SimilarityResponse(scores=[float(space.similarity(a, b)) for a, b in req.pairs])

    @app.post("/spaces/{name}/dedup", tags=["apps"])
    def dedup_space(name: str, req: DedupRequest) -> DedupResponse:
        """Groups of near-duplicate keys (cosine >= threshold)."""
        from ..apps.dedup import find_duplicates

        served = resources_.get("space", name)
        if len(served.obj) > MAX_SCAN:
            raise InvalidInputError(f"dedup over HTTP scans at most {MAX_SCAN:,} vectors, this space has "
                                    f"{len(served.obj):,}; run `embspace dedup`")
        return find_duplicates(served.obj, req.threshold, where=req.where)  # a space is read-only: no lock

    @app.get("/spaces/{name}/summary", tags=["analysis"])
    def space_summary(name: str) -> Summary:
        """Geometry of the space: norms, anisotropy, intrinsic dimension, hubness (measured once, kept)."""
        served = resources_.get("space", name)
        with served.lock:
            if "summary" not in served.cache:
                served.cache["summary"] = summary_of(served.obj)
            result: Summary = served.cache["summary"]
            return result

    # -- recommenders --------------------------------------------------------------------------------
    @app.get("/recommenders", tags=["recommend"])
    def list_recommenders() -> list[RecommenderInfo]:
        """Every served recommendation model."""
        out = []
        for n in resources_.names("recommender"):
            m = resources_.get("recommender", n).obj
            out.append(RecommenderInfo(name=n, users=len(m.user_space_), items=len(m.item_space_),
                                       dim=int(m.dim), objective=m.objective))
        return out

    @app.post("/recommenders/{name}/recommend", tags=["recommend"])
    def recommend(name: str, req: RecommendRequest) -> Hits:
        """Items for a known user, or for a new user given items they liked."""
        by = one_of(user=req.user, items=req.items)
        with resources_.using("recommender", name) as model:
            if by == "user":
                return Hits.of(model.recommend(req.user, req.k, exclude_seen=req.exclude_seen))
            return Hits.of(model.recommend_for_new_user(req.items or [], req.k))

    # -- maps and the web projector ------------------------------------------------------------------
    def map_of(kind: str, name: str) -> tuple[Served, Any]:
        """The served resource and its MapView (opened once: a saved map, else a PCA map computed now)."""
        from ..apps.map_view import MapView

        served = resources_.get(kind, name)
        with served.lock:
            # a collection written since its map was opened: open it again (new items, deleted ones)
            version = getattr(served.obj, "version", None) if kind == "collection" else None
            if "map" not in served.cache or served.cache.get("map_version") != version:
                encoder = None
                if kind == "space":
                    model = served.obj.provenance.model if served.obj.provenance is not None else None
                    encoder = resources_.encoder_for(model)
                view = MapView.open(served.obj, served.path if served.path.is_dir() else None, encoder=encoder,
                                    name=name)
                view.warm()
                served.cache["map"], served.cache["map_version"] = view, version
            return served, served.cache["map"]

    def on_map(kind: str, name: str, fn: Callable[[Any], Any]) -> Any:
        served, view = map_of(kind, name)
        if kind == "space":
            return fn(view)  # spaces are read-only: no lock
        with served.lock:
            return fn(view)

    @app.get("/maps", tags=["projector"])
    def list_maps() -> list[MapSource]:
        """Every space and collection the projector can show."""
        from ..apps.map_view import find_map

        out = []
        for kind in ("space", "collection"):
            for n in resources_.names(kind):
                served = resources_.get(kind, n)
                size = len(served.obj) if kind == "space" else served.obj.count()
                saved = find_map(served.path if served.path.is_dir() else None) is not None
                out.append(MapSource(source=kind, name=n, size=size, saved=saved))
        return out

    @app.get("/maps/{source}/{name}", tags=["projector"])
    def get_map(source: Source, name: str) -> MapInfo:
        """A map's size, method, axes and the fields it can be coloured by."""
        info: MapInfo = on_map(source, name, lambda v: v.info())
        return info

    def binary(arr: np.ndarray[Any, Any], **headers: str) -> Response:
        data = np.ascontiguousarray(arr).astype(arr.dtype.newbyteorder("<"), copy=False).tobytes()
        return Response(data, media_type="application/octet-stream",
                        headers={"Cache-Control": "no-store", **headers})

    @app.get("/maps/{source}/{name}/coords", tags=["projector"], response_class=Response,
             responses={200: {"content": {"application/octet-stream": {}},
                              "description": "float32 little-endian, (size, n_components), row-major"}})
    def map_coords(source: Source, name: str) -> Response:
        """The map's positions as raw float32 (row-major, little-endian); X-Components gives the width."""
        coords = on_map(source, name, lambda v: v.coords())
        return binary(coords, **{"X-Components": str(coords.shape[1]), "X-Rows": str(coords.shape[0])})

    @app.get("/maps/{source}/{name}/fields/{field}", tags=["projector"], response_class=Response,
             responses={200: {"content": {"application/octet-stream": {}},
                              "description": "int32 category codes or float32 values, one per map row"}})
    def map_field(source: Source, name: str, field: Annotated[str, Path_(max_length=64)]) -> Response:
        """One field per map row: int32 codes into the field's categories (X-Field-Type: categorical) or
        float32 values (numeric; NaN where missing)."""
        desc, values = on_map(source, name, lambda v: v.field(field))
        return binary(values, **{"X-Field-Type": desc.type})

    @app.post("/maps/{source}/{name}/points", tags=["projector"])
    def map_points(source: Source, name: str, req: MapPointsRequest) -> list[MapPoint]:
        """Key, text and metadata of map rows (the hover labels)."""
        points: list[MapPoint] = on_map(source, name, lambda v: v.points(req.rows))
        return points

    @app.post("/maps/{source}/{name}/keys", tags=["projector"])
    def map_keys(source: Source, name: str, req: MapSelection) -> list[str]:
        """The keys of map rows (a lasso selection, exported as ids)."""
        keys: list[str] = on_map(source, name, lambda v: v.keys(req.rows))
        return keys

    @app.post("/maps/{source}/{name}/query", tags=["projector"])
    def map_query(source: Source, name: str, req: MapQuery) -> MapHits:
        """Neighbours of a point, a search (a key, or text through the encoder) or an analogy, answered by the
        index, with each hit's map row."""
        hits: MapHits = on_map(source, name, lambda v: v.query(req))
        return hits

    @app.get("/projector", include_in_schema=False)
    def projector_root() -> RedirectResponse:
        return RedirectResponse("/projector/")

    @app.get("/projector/", include_in_schema=False)
    def projector_page() -> FileResponse:
        return FileResponse(PROJECTOR_DIR / "index.html", headers={"Cache-Control": "no-cache"})

    @app.get("/projector/{asset}", include_in_schema=False)
    def projector_asset(asset: str) -> FileResponse:
        allowed = {p.name: p for p in PROJECTOR_DIR.iterdir() if p.is_file()} if PROJECTOR_DIR.is_dir() else {}
        if asset not in allowed:  # only the built files, by exact name: nothing else on disk is reachable
            raise NotFoundError(f"no projector file {asset!r}")
        return FileResponse(allowed[asset], headers={"Cache-Control": "no-cache"})

    app.add_middleware(Guard, api_key=api_key, max_body=max_body, fast_search=fast_search, balancer=balancer)
    return app
