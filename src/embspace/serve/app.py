"""The HTTP API: one FastAPI app over a server's collections, spaces and recommenders.

:func:`create_app` only assembles: the routes (:mod:`embspace.serve.routers`, one router per resource),
the error answers (:mod:`._errors`: every error is ``{"error": {"code", "message", "detail"}}`` with a
stable ``code``, see :data:`ERROR_CODES`) and the middlewares in front (:mod:`._guard`: the API key or
loopback-only, the body limit, load shedding across workers, the search shortcut). Request and response
bodies are the library's own models (:mod:`embspace.apps.schemas`) and the API's (:mod:`.schemas`), so the
OpenAPI schema (``/openapi.json``, browsable at ``/docs``) is the library's contract.
"""

from __future__ import annotations

import functools
import gc
import os
from typing import Any

try:
    from fastapi import FastAPI
except ImportError as e:  # pragma: no cover - the serve extra is missing
    from ..errors import MissingDependencyError

    raise MissingDependencyError("fastapi", "serve", "the HTTP API") from e

from .._version import __version__
from ..errors import InvalidInputError
from ._balance import Balancer
from ._errors import ERROR_CODES, ERROR_RESPONSES, install_error_handlers
from ._guard import deprecated_guard, install_guards
from ._resources import Resources
from .config import CONFIG_ENV, DEFAULT_MAX_BODY, ServeConfig, is_loopback
from .routers import ROUTERS, collections
from .schemas import SearchRequest

__all__ = ["CONFIG_ENV", "DEFAULT_MAX_BODY", "ERROR_CODES", "ServeConfig", "app_from_env", "create_app",
           "export_config", "is_loopback", "open_resources"]

DESCRIPTION = ("Semantic search, RAG retrieval, neighbours, analogies, recommendation, dedup and zero-shot "
               "classification over embedding spaces. Errors are {\"error\": {\"code\", \"message\", \"detail\"}} "
               "with a stable code.")


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
    balancer = Balancer(cfg.balance) if cfg.balance else None
    app = create_app(resources, api_key=cfg.api_key, max_body=cfg.max_body, balancer=balancer)
    app.state.balancer = balancer
    # everything loaded so far (models, indexes, the app) lives as long as the server: keep it out of the
    # cyclic garbage collector's full passes, which otherwise stall every request in flight now and then
    gc.collect()
    gc.freeze()
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


def create_app(resources: Resources, *, api_key: str | None = None, max_body: int = DEFAULT_MAX_BODY,
               balancer: Balancer | None = None) -> FastAPI:
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
    """
    app = FastAPI(title="embspace", version=__version__, responses=ERROR_RESPONSES, description=DESCRIPTION,
                  telemetry={"tracing": False, "metrics": False, "logs": False})
    app.state.resources = resources
    for router in ROUTERS:
        app.include_router(router)
    _with_own_models(app)
    install_error_handlers(app)
    install_guards(app, api_key=api_key, max_body=max_body, balancer=balancer,
                   search=functools.partial(collections.search_json, resources))
    return app


def __getattr__(name: str) -> Any:
    return deprecated_guard(__name__, name)
