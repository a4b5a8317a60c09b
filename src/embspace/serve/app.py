"""The HTTP API: one FastAPI app over a server's collections, spaces and recommenders.

:func:`create_app` only assembles: the routes (:mod:`embspace.serve.routers`, one router per resource),
the error answers (:mod:`._errors`: every error is ``{"error": {"code", "message", "detail"}}`` with a
stable ``code``, see :data:`ERROR_CODES`) and the middlewares in front (:mod:`._guard`: the API key or
loopback-only, the Host allow-list, JSON bodies and the Origin check, the body limit, load shedding across
workers, the search shortcut; and, when origins are given, CORS in front of them all, so that browsers'
preflights are answered before the key is asked for).
Request and response bodies are the library's own models (:mod:`embspace.apps.schemas`) and the API's
(:mod:`.schemas`), so the OpenAPI schema (``/openapi.json``, browsable offline at ``/docs`` and ``/redoc``)
is the library's contract.
"""

from __future__ import annotations

import functools
import gc
import os
import sys
from collections.abc import Sequence
from typing import Any

try:
    from fastapi import FastAPI, Request, Response
except ImportError as e:  # pragma: no cover - the serve extra is missing
    from ..errors import MissingDependencyError

    raise MissingDependencyError("fastapi", "serve", "the HTTP API") from e

from .._version import __version__
from ..errors import InvalidInputError
from ._balance import Balancer
from ._errors import ERROR_CODES, ERROR_RESPONSES, _error, install_error_handlers
from ._guard import deprecated_guard, install_guards
from ._resources import Resources
from ._work import DEFAULT_MAX_PENDING, Admission, BusyError, TooMuchTextError, lower_worker_threads
from .config import CONFIG_ENV, DEFAULT_MAX_BODY, ServeConfig, is_loopback
from .routers import ROUTERS, collections
from .schemas import SearchRequest

__all__ = ["CONFIG_ENV", "DEFAULT_MAX_BODY", "ERROR_CODES", "ServeConfig", "app_from_env", "base_url", "create_app",
           "export_config", "install_cors", "is_loopback", "open_resources", "prepare"]

#: How long a thread may hold the interpreter lock while another waits for it (Python's default: 5 ms). The
#: event loop gives the lock up at every system call of a request (accept, read, write) and waits up to this
#: long each time to get it back from a worker thread doing CPU-bound work (a dedup, an index build): tens of
#: hand-overs per request made ``/health`` wait 200-300 ms behind a dedup. 1 ms cuts that wait five-fold.
SWITCH_INTERVAL_S = 0.001

#: The cyclic garbage collector's thresholds in a server (Python's default: 700, 10, 10). A request that builds
#: hundreds of thousands of objects (a 90,000-key filter, a batch of 5,000 items) set off a full collection
#: every few thousand of them, each 30-90 ms holding the interpreter lock (``/health`` waited behind it, whatever
#: thread allocated); at 50,000 objects a young collection (5-25 ms) starts rarely and a full one more rarely
#: still. Garbage without cycles is freed at once either way (reference counting); only cycles wait longer.
GC_THRESHOLDS = (50_000, 20, 100)

DESCRIPTION = ("Semantic search, RAG retrieval, neighbours, analogies, recommendation, dedup and zero-shot "
               "classification over embedding spaces. Errors are {\"error\": {\"code\", \"message\", \"detail\"}} "
               "with a stable code.")


def base_url(host: str, port: int) -> str:
    """``http://HOST:PORT`` (an IPv6 address in brackets)."""
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def open_resources(cfg: ServeConfig) -> Resources:
    """The collections, spaces and recommenders ``cfg`` serves."""
    return Resources(cfg.data_dir, cfg.paths, encoder=cfg.encoder, readonly=cfg.readonly,
                     url=base_url(cfg.host, cfg.port) if cfg.port else None, max_encode_chars=cfg.max_encode_chars,
                     max_encodes=cfg.max_encodes)


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
    balancer = Balancer(cfg.balance) if cfg.balance else None
    app = create_app(resources, api_key=cfg.api_key, max_body=cfg.max_body, balancer=balancer,
                     cors_origins=cfg.cors_origins, max_pending=cfg.max_pending, host=cfg.host,
                     allowed_hosts=cfg.allowed_hosts)
    app.state.balancer = balancer
    prepare(app)
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    lower_worker_threads()
    # everything loaded so far (models, indexes, the app) lives as long as the server: keep it out of the
    # cyclic garbage collector's full passes, which otherwise stall every request in flight now and then
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
    return app


def _with_own_models(app: FastAPI) -> None:
    """Add to the app's schema the models that routes parse themselves (the search body)."""
    base_openapi = app.openapi

    def openapi() -> dict[str, Any]:
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


def prepare(app: FastAPI) -> None:
    """Do now what the framework does on the first requests, on the event loop, where it would hold up every
    other request (``/health`` froze 0.2-0.9 s after a start): build every route's request models (FastAPI
    builds those of an included router when a request first reaches it; a 405, which tries every route, built
    them all) and the OpenAPI schema (``/openapi.json``). A path no route has walks every route once."""
    probe = {"type": "http", "path": "/\x00", "root_path": "", "method": "GET", "headers": [], "query_string": b""}
    for route in app.router.routes:
        route.matches(dict(probe))
    app.openapi()


def create_app(resources: Resources, *, api_key: str | None = None, max_body: int = DEFAULT_MAX_BODY,
               balancer: Balancer | None = None, cors_origins: Sequence[str] = (),
               max_pending: int = DEFAULT_MAX_PENDING, host: str | None = None,
               allowed_hosts: Sequence[str] = ()) -> FastAPI:
    """The FastAPI app serving ``resources``.

    Parameters
    ----------
    resources
        What to serve (see :class:`~embspace.serve.Resources`); the routes find it at ``app.state.resources``.
    api_key
        Required on every request when given (``Authorization: Bearer KEY`` or ``X-API-Key: KEY``);
        without it only loopback clients are served.
    max_body
        The largest request body, in bytes.
    balancer
        A :class:`~embspace.serve._balance.Balancer` when several worker processes share the port.
    cors_origins
        Origins (``http://localhost:3000``; ``"*"`` for any) whose web pages may call the API from a browser.
        None by default: browsers then refuse cross-origin calls (their preflights get no CORS answer).
    max_pending
        The most requests in flight (``/health`` and the public pages not counted); one more is answered 503
        ``busy`` with ``Retry-After`` (:class:`~embspace.serve._work.Admission`).
    host
        The address the server is bound to: requests addressed to it (``Host: HOST:PORT``) are served, like
        those addressed to a loopback name (``localhost``, ``127.0.0.1``, ``[::1]``, any port).
    allowed_hosts
        More names the server answers to (``Host`` headers, any port). Without a key, a request addressed to
        any other name is refused (421): a web page cannot reach the server by re-pointing its own name at it
        (DNS rebinding). With a key, the names are checked only when ``allowed_hosts`` are given.
    """
    # the docs pages are the home router's (offline: no CDN), not FastAPI's
    app = FastAPI(title="embspace", version=__version__, responses=ERROR_RESPONSES, description=DESCRIPTION,
                  docs_url=None, redoc_url=None, telemetry={"tracing": False, "metrics": False, "logs": False})
    app.state.resources = resources
    for router in ROUTERS:
        app.include_router(router)
    _with_own_models(app)
    install_error_handlers(app)
    _install_work_errors(app)
    install_guards(app, api_key=api_key, max_body=max_body, balancer=balancer,
                   search=functools.partial(collections.search_json, resources),
                   allowed_hosts=[*([host] if host else []), *allowed_hosts],
                   check_hosts=not api_key or bool(allowed_hosts), cors_origins=cors_origins,
                   max_text_chars=resources.encode_gate.max_chars)
    app.add_middleware(Admission, max_pending=max_pending)  # outside the guards: counts every request in flight
    if cors_origins:
        install_cors(app, cors_origins)
    return app


def _install_work_errors(app: FastAPI) -> None:
    """The answers of bounded work (:mod:`._work`): 503 ``busy`` with ``Retry-After``, 413 ``too_much_text``
    (OpenAI's shape on its routes, like every error)."""

    async def busy(request: Request, exc: Exception) -> Response:
        answer = _error(request, 503, "busy", str(exc))
        answer.headers["Retry-After"] = str(getattr(exc, "retry_after", 1))
        return answer

    async def too_much(request: Request, exc: Exception) -> Response:
        return _error(request, 413, "too_much_text", str(exc), param="input")

    app.add_exception_handler(BusyError, busy)
    app.add_exception_handler(TooMuchTextError, too_much)


def install_cors(app: FastAPI, origins: Sequence[str]) -> None:
    """Let web pages of ``origins`` call the API from a browser: Starlette's CORS middleware, outermost, so a
    preflight (``OPTIONS`` with ``Access-Control-Request-Method``) is answered before the API key is checked
    (browsers send it without one) and every answer, refusals included, carries the CORS headers. Credentials
    (cookies) are not allowed: the API key goes in a header."""
    from starlette.middleware.cors import CORSMiddleware

    # any request header: OpenAI's browser client sends its own (x-stainless-*) besides the key
    app.add_middleware(CORSMiddleware, allow_origins=list(origins), allow_methods=["*"], allow_headers=["*"],
                       expose_headers=["*"], allow_credentials=False, max_age=600)


def __getattr__(name: str) -> Any:
    return deprecated_guard(__name__, name)
