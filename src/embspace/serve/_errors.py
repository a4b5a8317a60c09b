"""Errors as HTTP answers: every error is ``{"error": {"code", "message", "detail"}}`` with a stable code.

:data:`ERROR_CODES` maps the library's errors to statuses and codes; :func:`install_error_handlers` makes
an app answer them (and the framework's own errors) in that shape; :func:`error_body` is the same body for
the ASGI middlewares of :mod:`._guard`, which answer before the app runs.

The OpenAI-compatible routes (paths under :data:`OPENAI_PREFIX`, ``/v1``) answer every error in OpenAI's
shape instead, ``{"error": {"message", "type", "param", "code"}}`` (:func:`openai_error_body`), so the
``openai`` client, LangChain and LlamaIndex read them: the same statuses and stable codes, with OpenAI's own
codes where it has one (``invalid_api_key``, ``model_not_found``).
"""

from __future__ import annotations

import errno
import json
import logging
import sqlite3
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from ..errors import (
    CollectionLockedError,
    DimensionMismatchError,
    EmbspaceError,
    IncompatibleSpaceError,
    InvalidInputError,
    MissingDependencyError,
    NotFittedError,
    SnapshotChangedError,
    UnknownKeyError,
    ZeroVectorError,
)
from ._resources import WRITE_WAIT, ConflictError, NotFoundError, ReadOnlyError
from .schemas import ErrorResponse, OpenAIErrorResponse

__all__ = ["ERROR_CODES", "ERROR_RESPONSES", "OPENAI_ERROR_RESPONSES", "OPENAI_PREFIX", "DiskFullError",
           "OpenAIRequestError", "disk_full", "error_body", "install_error_handlers", "is_openai_path",
           "openai_error_body"]

log = logging.getLogger("embspace.serve")

#: Library errors -> (HTTP status, stable code); the first matching class wins.
ERROR_CODES: list[tuple[type[BaseException], int, str]] = [
    (NotFoundError, 404, "not_found"),
    (UnknownKeyError, 404, "unknown_key"),
    (ConflictError, 409, "conflict"),
    (CollectionLockedError, 409, "locked"),
    (SnapshotChangedError, 409, "snapshot_changed"),
    (ReadOnlyError, 403, "read_only"),
    (DimensionMismatchError, 422, "dimension_mismatch"),
    (IncompatibleSpaceError, 422, "incompatible_space"),
    (ZeroVectorError, 422, "zero_vector"),
    (NotFittedError, 422, "not_fitted"),
    (MissingDependencyError, 501, "missing_dependency"),
    (InvalidInputError, 422, "invalid_input"),
    (EmbspaceError, 422, "invalid_input"),
]
#: The framework's HTTP errors -> stable code.
HTTP_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
              405: "method_not_allowed", 413: "payload_too_large", 415: "unsupported_media_type",
              421: "misdirected_request", 507: "insufficient_storage"}
#: The refusals of the guards and the framework every operation may give (both error shapes).
_COMMON = [(400, "the request could not be read: an invalid Content-Length, or a body that is no JSON text"),
           (401, "missing or wrong API key"), (413, "request body too large"),
           (415, "a request body that is not JSON (send 'Content-Type: application/json')"),
           (421, "addressed to a name this server does not answer to (its Host header; see --allowed-host)"),
           (507, "no space left on device: the message says what was kept")]
#: The error answers every operation may give, for the OpenAPI schema.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse, "description": desc} for status, desc in sorted(
        [*_COMMON, (403, "refused: remote client without an API key, a web page of another origin, or read-only"),
         (404, "no such resource or key"), (409, "exists already, or another process is writing the collection"),
         (422, "invalid input")])}

#: The path prefix of the OpenAI-compatible routes, whose errors take OpenAI's shape.
OPENAI_PREFIX = "/v1"
#: Our stable codes that OpenAI names otherwise.
OPENAI_CODES = {"unauthorized": "invalid_api_key"}
#: The error answers of the OpenAI-compatible operations, for the OpenAPI schema.
OPENAI_ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": OpenAIErrorResponse, "description": desc} for status, desc in sorted(
        [*[c for c in _COMMON if c[0] != 400],
         (400, "refused input (token arrays, dimensions larger than the model's), or a body that cannot be read"),
         (403, "refused: remote client without an API key, or a web page of another origin"),
         (404, "no such model"), (422, "the body does not fit the schema")])}


class OpenAIRequestError(InvalidInputError):
    """A request the OpenAI-compatible routes refuse, with OpenAI's ``param`` and ``code`` (and a status)."""

    def __init__(self, message: str, *, status: int = 400, param: str | None = None,
                 code: str = "invalid_input") -> None:
        super().__init__(message)
        self.status = status
        self.param = param
        self.code = code


class DiskFullError(EmbspaceError, OSError):
    """A write that found no space left on device; the message says what was kept (answered 507)."""


def disk_full(exc: BaseException | None) -> bool:
    """Whether ``exc`` (or an error it was raised from) is a full disk: ``OSError`` ENOSPC (or EDQUOT, a full
    quota) or SQLite's ``SQLITE_FULL`` ("database or disk is full")."""
    seen = 0
    while exc is not None and seen < 20:
        if isinstance(exc, DiskFullError):
            return True
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
            return True
        if isinstance(exc, sqlite3.Error) and (getattr(exc, "sqlite_errorcode", None) == 13  # SQLITE_FULL
                                               or "database or disk is full" in str(exc)):
            return True
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return False


#: What a 507 says when the route could not tell more.
DISK_FULL = ("no space left on device: this request's changes may not have been kept, and every write answered "
             "before it is (the collection stays consistent); free some space and send it again")


def is_openai_path(path: str) -> bool:
    """Whether ``path`` is one of the OpenAI-compatible routes (answered in OpenAI's error shape)."""
    return path == OPENAI_PREFIX or path.startswith(OPENAI_PREFIX + "/")


def _openai_error(status: int, code: str, message: str, param: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": "server_error" if status >= 500 else "invalid_request_error",
                      "param": param, "code": OPENAI_CODES.get(code, code)}}


def openai_error_body(status: int, code: str, message: str, param: str | None = None) -> bytes:
    """The JSON body of an error answer in OpenAI's shape: ``{"error": {"message", "type", "param", "code"}}``
    (``type`` is ``invalid_request_error`` for a 4xx, ``server_error`` for a 5xx)."""
    return OpenAIErrorResponse.model_validate(_openai_error(status, code, message, param)).model_dump_json().encode()


def error_body(code: str, message: str, detail: Any = None) -> bytes:
    """The JSON body of an error answer."""
    return ErrorResponse.model_validate({"error": {"code": code, "message": message, "detail": detail}}
                                        ).model_dump_json().encode()


class _SafeJSON(JSONResponse):
    """A JSON answer that renders any text: one that UTF-8 cannot hold (a lone surrogate from a path or a
    stored value) is written with ASCII escapes instead of failing the answer (a 500 and a reset connection)."""

    def render(self, content: Any) -> bytes:
        try:
            return super().render(content)
        except UnicodeEncodeError:
            return json.dumps(content, ensure_ascii=True, allow_nan=False, separators=(",", ":")).encode("ascii")


def _error(request: Request, status: int, code: str, message: str, detail: Any = None, *,
           param: str | None = None, headers: dict[str, str] | None = None) -> JSONResponse:
    """The error answer, in OpenAI's shape on the OpenAI-compatible routes."""
    if is_openai_path(request.url.path):
        return _SafeJSON(_openai_error(status, code, message, param), status_code=status, headers=headers)
    return _SafeJSON({"error": {"code": code, "message": message, "detail": detail}}, status_code=status,
                     headers=headers)


def _locked_message(exc: CollectionLockedError) -> str:
    """A locked collection, in words for an HTTP client (the library's message gives Python advice). The
    other process is named by its pid only: its command line is nothing a remote client needs."""
    what = f"the collection {exc.path.name!r}" if exc.path is not None else "the collection"
    who = f" (pid {exc.holder['pid']})" if exc.holder and exc.holder.get("pid") else ""
    return (f"{what} is being written by another process{who}; this server waited {WRITE_WAIT:g} s for it. "
            "Retry when that process is done")


async def _library_error(request: Request, exc: Exception) -> JSONResponse:
    if disk_full(exc):
        return _error(request, 507, "insufficient_storage", str(exc) if isinstance(exc, DiskFullError) else DISK_FULL)
    if isinstance(exc, OpenAIRequestError):
        return _error(request, exc.status, exc.code, str(exc), param=exc.param)
    for cls, status, code in ERROR_CODES:
        if isinstance(exc, cls):
            msg = str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)
            if isinstance(exc, CollectionLockedError):
                msg = _locked_message(exc)
            return _error(request, status, code, msg)
    return _error(request, 422, "invalid_input", str(exc))  # pragma: no cover - EmbspaceError is last in the table


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    detail = [{"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")), "type": str(e.get("type", ""))}
              for e in exc.errors()[:20]]
    first = detail[0] if detail else {"loc": [], "msg": "invalid request"}
    where = ".".join(str(x) for x in first["loc"])
    param = str(first["loc"][1]) if first["loc"][:1] == ["body"] and len(first["loc"]) > 1 else where  # the field
    return _error(request, 422, "validation_error", f"{where}: {first['msg']}" if where else str(first["msg"]),
                  detail, param=param or None)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    # the framework's headers go with it; a 405 names every method the path takes (Allow)
    headers = dict(exc.headers) if exc.headers else {}
    if exc.status_code == 405:
        headers["Allow"] = ", ".join(_allowed_methods(request)) or headers.get("Allow", "")
    return _error(request, exc.status_code, HTTP_CODES.get(exc.status_code, "http_error"), str(exc.detail),
                  headers=headers or None)


def _allowed_methods(request: Request) -> list[str]:
    """The methods of every route matching the request's path (the framework's 405 names only its first)."""
    routes = getattr(request.app.router, "routes", ())
    return [m for m in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")
            if any(route.matches({**request.scope, "method": m})[0] == Match.FULL for route in routes)]


async def _internal_error(request: Request, exc: Exception) -> JSONResponse:
    if disk_full(exc):  # not a bug: the device is full (the store rolls a failed write back)
        log.warning("no space left on device on %s %s: %s", request.method, request.url.path, exc)
        return _error(request, 507, "insufficient_storage", DISK_FULL)
    log.exception("internal error on %s %s", request.method, request.url.path)
    return _error(request, 500, "internal_error", "the server failed on this request; its log has the details")


def install_error_handlers(app: FastAPI) -> None:
    """Make ``app`` answer library errors, invalid requests, HTTP errors and bugs in the one error shape."""
    app.add_exception_handler(EmbspaceError, _library_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _internal_error)
