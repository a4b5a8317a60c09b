"""The ASGI middlewares in front of the API, one job each (outermost first):

1. :class:`AccessGuard` — who may ask: the API key on every request (``Authorization: Bearer KEY``, what
   OpenAI clients send, or ``X-API-Key: KEY``; compared in constant time), or, on a server without a key,
   loopback clients only. Checked before anything of the body is read.
2. :class:`BrowserGuard` — what a web page may make a browser send: the ``Host`` the request was addressed to
   must be one of the server's names (loopback names and the bound address; more with ``allowed_hosts``),
   else 421 — a page of ``rebind.attacker.example`` whose name was re-pointed at 127.0.0.1 (DNS rebinding)
   is refused; a request body must be JSON (``Content-Type: application/json``), else 415 — the only bodies a
   page can send without a CORS preflight are ``text/plain``, form and multipart ones; and, on a server without
   a key, an unsafe method (POST, PUT, PATCH, DELETE) from a web page of another origin than the server's own
   and its CORS origins is refused (403).
3. :class:`BodyLimit` — how much they may send: bodies over ``max_body`` bytes are refused (413), by
   Content-Length at once or while streaming; the app only ever sees a whole body. A JSON body with a lone
   UTF-16 surrogate escape (``"\\ud800"``, which no UTF-8 text holds) is refused (422). A body to a route that
   takes only texts (:data:`TEXT_ROUTES`) too big for the encode limit is refused (413 ``too_much_text``) before
   it is read: parsing it would hold the event loop for seconds.
4. :class:`LoadShedder` — where a connection should live: with several worker processes on one port, a
   worker holding more than its share of the clients ends a response with ``Connection: close``
   (see :mod:`._balance`).
5. :class:`SearchShortcut` — the hot path: ``POST /collections/{name}/search`` goes straight to the
   search handler (:func:`~embspace.serve.routers.collections.search_json`), skipping the framework's
   routing (about a third of a fast search's server time). The route calls that very handler; a request
   the handler refuses (any error) takes the framework's route with the error in its scope
   (:data:`SEARCH_ERROR`): the route raises it, without searching again, and the framework formats it as
   for every other route.

:func:`install_guards` puts them on an app in that order.
"""

from __future__ import annotations

import hmac
import re
import warnings
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import TYPE_CHECKING, Any

from ._errors import error_body, is_openai_path, openai_error_body
from .config import is_loopback

if TYPE_CHECKING:
    from fastapi import FastAPI

    from ._balance import Balancer

__all__ = [
    "LOOPBACK_NAMES",
    "PUBLIC_PATHS",
    "PUBLIC_PREFIX",
    "PUBLIC_PREFIXES",
    "SEARCH_ERROR",
    "TEXT_ROUTES",
    "AccessGuard",
    "BodyLimit",
    "BrowserGuard",
    "LoadShedder",
    "SearchShortcut",
    "deprecated_guard",
    "host_name",
    "install_guards",
    "is_json",
    "is_public",
    "lone_surrogate",
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
#: The search handler: (collection name, request body) -> the JSON answer.
SearchHandler = Callable[[str, bytes], Awaitable[bytes]]

#: Paths served without the API key (static files with no data in them: the projector's page and code, the
#: API docs' pages and files, which then ask for the key); the loopback rule still applies to them when no
#: key is configured. The schema (/openapi.json) needs the key.
PUBLIC_PREFIXES = ("/projector", "/docs", "/redoc")
#: Single paths served without the API key: the front page (links only).
PUBLIC_PATHS = frozenset({"/"})
#: The projector's prefix (the first public one; kept for callers of the former single prefix).
PUBLIC_PREFIX = PUBLIC_PREFIXES[0]


def is_public(scope: Scope) -> bool:
    """Whether the request is a GET (or HEAD) of a page or file served without the API key."""
    path = str(scope.get("path", ""))
    return scope.get("method") in ("GET", "HEAD") and (path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES))


async def reply(send: Send, status: int, code: str, message: str,
                headers: Sequence[tuple[bytes, bytes]] = (), *, path: str = "") -> None:
    """Answer with an error without calling the app: the API's error shape, or OpenAI's on the OpenAI-compatible
    routes (``path`` under ``/v1``)."""
    body = openai_error_body(status, code, message) if is_openai_path(path) else error_body(code, message)
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            *headers]})
    await send({"type": "http.response.body", "body": body})


def _header(scope: Scope, name: bytes) -> bytes | None:
    for k, v in scope.get("headers", ()):
        if k.lower() == name:
            return bytes(v)
    return None


def _replaying(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that gives ``body`` whole once, then what ``receive`` gives (the disconnect, when it comes)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


class AccessGuard:
    """Who may ask: with ``api_key``, every request carries it (``Authorization: Bearer KEY`` or
    ``X-API-Key: KEY``; 401 otherwise) except GETs of the public pages (:func:`is_public`); without one, only
    loopback clients are served (403 otherwise)."""

    def __init__(self, app: ASGIApp, *, api_key: str | None) -> None:
        self.app = app
        self.key = api_key.encode() if api_key else None

    def authorized(self, scope: Scope) -> bool:
        """Whether the request carries the key (compared in constant time)."""
        if self.key is None:
            return False
        given = _header(scope, b"x-api-key")
        auth = _header(scope, b"authorization") or b""
        if given is None and auth[:7].lower() == b"bearer ":
            given = auth[7:].strip()
        # compare_digest takes time independent of where the strings differ (their lengths may leak)
        return given is not None and hmac.compare_digest(given, self.key)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            if self.key is not None:
                if not is_public(scope) and not self.authorized(scope):
                    await reply(send, 401, "unauthorized", "an API key is required: send 'Authorization: Bearer "
                                "KEY' (an OpenAI client's api_key) or 'X-API-Key: KEY'",
                                [(b"www-authenticate", b"Bearer")], path=str(scope.get("path", "")))
                    return
            else:
                client = scope.get("client")
                if client and not is_loopback(str(client[0])):
                    await reply(send, 403, "forbidden", "this server has no API key and serves loopback clients "
                                "only; restart it with --api-key to serve others", path=str(scope.get("path", "")))
                    return
        await self.app(scope, receive, send)


#: The names a server answers to by default, whatever its address: requests to them come from this machine.
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
#: Methods that change nothing (browsers send them across origins freely; they never carry a body we read).
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def host_name(value: str) -> str:
    """The host of a ``Host`` header or an address, lower-case, without port, brackets or trailing dot:
    ``"[::1]:8000"`` -> ``"::1"``, ``"LocalHost.:80"`` -> ``"localhost"``."""
    value = value.strip().lower()
    if value.startswith("["):
        end = value.find("]")
        return value[1:end] if end > 0 else value
    if value.count(":") == 1:  # host:port (an IPv6 address without brackets has several)
        value = value.split(":", 1)[0]
    return value.rstrip(".")


def is_json(content_type: bytes | None) -> bool:
    """Whether a Content-Type names JSON (``application/json`` or ``application/*+json``, any parameters)."""
    if content_type is None:
        return False
    media = content_type.split(b";", 1)[0].strip().lower()
    return media == b"application/json" or (media.startswith(b"application/") and media.endswith(b"+json"))


# a JSON escape: a valid surrogate pair, a lone surrogate (group 1), or any other escape (skipped whole, so that
# an escaped backslash followed by "ud800" is not read as an escape)
_ESCAPE = re.compile(rb"\\(?:u[dD][89abAB][0-9a-fA-F]{2}\\u[dD][c-fC-F][0-9a-fA-F]{2}"
                     rb"|(u[dD][89a-fA-F][0-9a-fA-F]{2})|.)", re.DOTALL)


def lone_surrogate(body: bytes) -> int | None:
    """The offset of the first lone UTF-16 surrogate escape (``\\ud800`` unpaired) in a JSON body, or None.
    Python's JSON parser turns one into a string no UTF-8 can hold: refused at the door, it never reaches a
    collection, a log or an answer."""
    if b"\\u" not in body:
        return None
    for m in _ESCAPE.finditer(body):
        if m.group(1) is not None:
            return m.start()
    return None


class BrowserGuard:
    """What a web page may make a browser send (see the module's docstring).

    ``hosts``: the names the server answers to besides :data:`LOOPBACK_NAMES` (its bound address, the user's
    ``allowed_hosts``); a request addressed to another (its ``Host`` header) is refused with 421 — when the
    server has no key, or when ``hosts`` were named (a keyed server on a public address answers to any name
    unless told its names). ``keyed``: the server requires an API key (a web page cannot send it, so the
    Origin check is left to CORS). ``origins``: the CORS origins, whose pages may call the API."""

    def __init__(self, app: ASGIApp, *, keyed: bool, hosts: Sequence[str] = (), check_hosts: bool | None = None,
                 origins: Sequence[str] = ()) -> None:
        self.app = app
        self.keyed = keyed
        names = [host_name(h) for h in (*LOOPBACK_NAMES, *hosts) if h.strip()]
        self.hosts = frozenset(n for n in names if n not in ("0.0.0.0", "::"))  # "any address" is no name
        self.check_hosts = (not keyed) if check_hosts is None else check_hosts
        self.origins = frozenset(o.rstrip("/").lower() for o in origins)

    def _refusal(self, scope: Scope) -> tuple[int, str, str] | None:
        host = _header(scope, b"host")
        if self.check_hosts and host is not None and host_name(host.decode("latin-1")) not in self.hosts:
            return (421, "misdirected_request",
                    f"this server answers requests addressed to {', '.join(sorted(self.hosts))}, not "
                    f"{host.decode('latin-1')[:100]!r} (a web page reaching it under another name is refused: DNS "
                    "rebinding); to serve it under that name, start it with --allowed-host NAME "
                    "(ServeConfig.allowed_hosts)")
        if scope.get("method") in SAFE_METHODS:
            return None
        origin = _header(scope, b"origin")
        if not self.keyed and origin is not None and "*" not in self.origins:
            given = origin.decode("latin-1").rstrip("/").lower()
            own = {f"{scheme}://{host.decode('latin-1').lower()}" for scheme in ("http", "https")} if host else set()
            if given not in self.origins and given not in own:
                return (403, "forbidden_origin",
                        f"a web page of {given[:100]!r} may not change or query this server (it has no API key); "
                        "to let that page call it, start the server with --cors-origin ORIGIN (and --api-key)")
        length = _header(scope, b"content-length")
        has_body = _header(scope, b"transfer-encoding") is not None or (length is not None and length.strip()
                                                                         not in (b"", b"0"))
        if has_body and not is_json(_header(scope, b"content-type")):
            given_type = (_header(scope, b"content-type") or b"none").decode("latin-1")[:100]
            return (415, "unsupported_media_type",
                    f"the request body must be JSON sent as 'Content-Type: application/json' (got {given_type!r})")
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            refused = self._refusal(scope)
            if refused is not None:
                await reply(send, *refused, path=str(scope.get("path", "")))
                return
        await self.app(scope, receive, send)


#: The routes whose body is texts and little else (refused by size when it cannot fit the encode limit).
TEXT_ROUTES = frozenset({"/encode", "/v1/embeddings"})
BYTES_PER_CHAR = 6  # the most JSON spends on one character of text: a \uXXXX escape
TEXT_ROUTE_SLACK = 64 << 10  # the rest of such a document: keys, the model's name, options


class BodyLimit:
    """How much a client may send: at most ``max_body`` bytes, refused (413) by Content-Length before
    reading, or as soon as a streamed body passes it. The body is read whole before the app runs, so
    the app never parses a truncated document."""

    def __init__(self, app: ASGIApp, *, max_body: int, max_text_chars: int | None = None) -> None:
        self.app = app
        self.max_body = int(max_body)
        self.max_text_chars = max_text_chars

    def _too_much_text(self, scope: Scope, n: int) -> str | None:
        """Why a body of ``n`` bytes to a route that takes only texts cannot fit ``max_text_chars`` characters,
        or None: refused before it is read or parsed (parsing 50 MB of JSON holds the event loop for seconds)."""
        if self.max_text_chars is None or scope.get("method") != "POST" or scope.get("path") not in TEXT_ROUTES:
            return None
        bound = self.max_text_chars * BYTES_PER_CHAR + TEXT_ROUTE_SLACK
        if n <= bound:
            return None
        return (f"the request body has {n:,} bytes, more than {self.max_text_chars:,} characters of text can take "
                f"({bound:,} bytes: {BYTES_PER_CHAR} a character at most, escapes included): this server encodes at "
                f"most {self.max_text_chars:,} characters per request; send the texts in smaller batches")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = _header(scope, b"content-length")
        if length is not None:
            try:
                n = int(length)
            except ValueError:
                await reply(send, 400, "bad_request", "invalid Content-Length", path=str(scope.get("path", "")))
                return
            if n > self.max_body:
                await reply(send, 413, "payload_too_large",
                            f"the request body has {n} bytes; this server takes at most {self.max_body}",
                            path=str(scope.get("path", "")))
                return
            if (why := self._too_much_text(scope, n)) is not None:
                await reply(send, 413, "too_much_text", why, path=str(scope.get("path", "")))
                return
        chunks: list[bytes] = []
        seen = 0
        while True:
            msg = await receive()
            if msg["type"] != "http.request":  # the client went away
                return
            chunk = msg.get("body", b"")
            seen += len(chunk)
            if seen > self.max_body:
                await reply(send, 413, "payload_too_large", f"the request body exceeds {self.max_body} bytes",
                            path=str(scope.get("path", "")))
                return
            if (why := self._too_much_text(scope, seen)) is not None:
                await reply(send, 413, "too_much_text", why, path=str(scope.get("path", "")))
                return
            chunks.append(chunk)
            if not msg.get("more_body", False):
                break
        body = b"".join(chunks)
        at = lone_surrogate(body) if is_json(_header(scope, b"content-type")) else None
        if at is not None:
            await reply(send, 422, "invalid_unicode", f"the request body holds a lone UTF-16 surrogate escape at byte "
                        f"{at} ({body[at:at + 6].decode('ascii', 'replace')}), which is no character: send valid "
                        "Unicode text (a character beyond U+FFFF is a pair of surrogates, high then low)",
                        path=str(scope.get("path", "")))
            return
        await self.app(scope, _replaying(body, receive), send)


class LoadShedder:
    """Where a connection should live: with a ``balancer`` (several workers share the port), a worker
    holding more than its fair share of the clients ends this response with ``Connection: close``; the
    client reconnects, most often to a less busy worker. Without one, it passes requests through."""

    def __init__(self, app: ASGIApp, *, balancer: Balancer | None) -> None:
        self.app = app
        self.balancer = balancer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.balancer is None or not self.balancer.shed(
                tuple(scope.get("client") or ())):
            await self.app(scope, receive, send)
            return

        async def closing(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), (b"connection", b"close")]}
            await send(message)

        await self.app(scope, receive, closing)


_SEARCH_PATH = re.compile(r"^/collections/([^/]+)/search$")


#: The scope key under which :class:`SearchShortcut` hands the search's error to the search route.
SEARCH_ERROR = "embspace.search_error"


class SearchShortcut:
    """The hot path: ``POST /collections/{name}/search`` answered by ``search`` — the search route's own
    handler — without the framework's routing and dependency solving. Anything the handler raises sends the
    request down the framework's route with the error (:data:`SEARCH_ERROR`), which the route raises and the
    framework formats."""

    def __init__(self, app: ASGIApp, *, search: SearchHandler) -> None:
        self.app = app
        self.search = search

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        match = _SEARCH_PATH.match(scope["path"]) if scope["type"] == "http" and scope["method"] == "POST" else None
        if match is None:
            await self.app(scope, receive, send)
            return
        msg = await receive()  # BodyLimit has read the body: it comes whole, in one message
        body = msg.get("body", b"") if msg["type"] == "http.request" else b""
        try:
            answer = await self.search(match.group(1), body)
        except Exception as e:  # the framework's route raises it (no second search) and reports it properly
            scope[SEARCH_ERROR] = e
            await self.app(scope, _replaying(body, receive), send)
            return
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(answer)).encode())]})
        await send({"type": "http.response.body", "body": answer})


def install_guards(app: FastAPI, *, api_key: str | None, max_body: int, balancer: Balancer | None = None,
                   search: SearchHandler | None = None, allowed_hosts: Sequence[str] = (),
                   check_hosts: bool | None = None, cors_origins: Sequence[str] = (),
                   max_text_chars: int | None = None) -> None:
    """Put the middlewares on ``app``: :class:`AccessGuard` outermost, then :class:`BrowserGuard` (with the
    server's names ``allowed_hosts`` and its ``cors_origins``), :class:`BodyLimit`, :class:`LoadShedder` and
    (given the search handler) :class:`SearchShortcut`."""
    # each add_middleware wraps what was added before: add the innermost first
    if search is not None:
        app.add_middleware(SearchShortcut, search=search)
    app.add_middleware(LoadShedder, balancer=balancer)
    app.add_middleware(BodyLimit, max_body=max_body, max_text_chars=max_text_chars)
    app.add_middleware(BrowserGuard, keyed=bool(api_key), hosts=list(allowed_hosts), check_hosts=check_hosts,
                       origins=list(cors_origins))
    app.add_middleware(AccessGuard, api_key=api_key)


# -- deprecated ------------------------------------------------------------------------------------------
class LegacyGuard:
    """The former all-in-one middleware ``Guard`` (deprecated): the access guard, body limit and load shedder
    in a row. ``fast_search`` is ignored (create_app installs the search shortcut)."""

    def __init__(self, app: ASGIApp, *, api_key: str | None, max_body: int, fast_search: Any = None,
                 balancer: Balancer | None = None) -> None:
        self.app = AccessGuard(BodyLimit(LoadShedder(app, balancer=balancer), max_body=max_body), api_key=api_key)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)


def deprecated_guard(module: str, name: str) -> type[LegacyGuard]:
    """The module ``__getattr__`` of :mod:`embspace.serve` and :mod:`embspace.serve.app`, where ``Guard`` was
    public: ``Guard`` warns and gives :class:`LegacyGuard`; any other name is missing."""
    if name != "Guard":
        raise AttributeError(f"module {module!r} has no attribute {name!r}")
    warnings.warn(f"{module}.Guard is deprecated: create_app installs the middlewares of embspace.serve._guard "
                  "(AccessGuard, BodyLimit, LoadShedder, SearchShortcut)", DeprecationWarning, stacklevel=3)
    return LegacyGuard
