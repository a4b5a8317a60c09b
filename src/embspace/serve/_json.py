"""Request bodies parsed by orjson: the event loop is held for a quarter of the time.

FastAPI parses a JSON body with the standard library's ``json.loads`` on the event loop, and the parse
holds the interpreter lock from the first byte to the last: every other request, ``/health`` included,
waits for it. The abuse run (``benchmarks/abuse.py``) measured 120 ms for a 1 MB body on a loaded
2-core machine — the largest ``/health`` stalls of every scenario that sends big bodies (adds of
thousands of vectors, 60,000-key filters). A worker thread does not help (the parser never lets the lock
go); a faster parser does: orjson reads the same documents 4-5x faster (a 7.8 MB batch of 1,000
384-d vectors: 366 ms with ``json.loads``, 83 ms with orjson, same machine, same load).

The answers do not change: every document orjson refuses (``NaN``, lone surrogate escapes, bad syntax,
...) is handed to ``json.loads``, which decides as before, so the errors and the leniency of the API are
the standard library's; and a document with an integer of 19 or more digits — one that may exceed what
orjson keeps exact (it reads integers outside 64 bits, -9223372036854775809 for one, as floats, where
Python keeps them whole) — is read by ``json.loads`` from the start. What orjson does read, it reads to
the same values (floats correctly rounded, the last of duplicate keys). Only the speed differs, on the
documents that matter. :class:`JSONRoute` is the route class of every router of the API.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Coroutine
from typing import Any

import orjson
from fastapi import Request, Response
from fastapi.routing import APIRoute

__all__ = ["JSONRequest", "JSONRoute", "parse_json"]


# an integer of 19 digits or more (-2**63 has 19; one of 18 or fewer is exact in orjson): a digit run that is
# not part of a fraction ("0.0012345678901234567", common in vectors) nor followed by one or an exponent
_LONG_INTEGER = re.compile(rb"(?<![\d.])\d{19,}(?![\d.eE])")
# that regex scans a 3.4 MB batch of vectors in ~40 ms, three times orjson's parse, holding the event loop: a
# translation (~2 ms) first finds whether 19 digits follow a character an integer can follow at all ("#" for
# the start of the body, a separator, a space or a sign); only a body where they do is searched by the regex
_STARTS_AND_DIGITS = bytes.maketrans(b"0123456789:,[ \t\n\r-", b"0" * 10 + b"#" * 8)
_MAYBE_LONG = b"#" + b"0" * 19


def _has_long_integer(body: bytes) -> bool:
    return _MAYBE_LONG in (b"#" + body).translate(_STARTS_AND_DIGITS) and _LONG_INTEGER.search(body) is not None


def parse_json(body: bytes | str) -> Any:
    """``body`` parsed: by orjson, or by ``json.loads`` where orjson refuses it or might read an integer
    inexactly (same values either way)."""
    if _has_long_integer(body.encode() if isinstance(body, str) else body):
        return json.loads(body)
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return json.loads(body)  # the standard library's answer, its error included


class JSONRequest(Request):
    """A request whose :meth:`json` is :func:`parse_json` (read once, then kept)."""

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = parse_json(await self.body())
        return self._json


class JSONRoute(APIRoute):
    """An API route that parses its JSON body with :func:`parse_json`."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            return await handler(JSONRequest(request.scope, request.receive))

        return route
