"""Bounded work: what keeps slow requests from freezing the server or piling up without limit.

- The event loop never runs expensive work. Every route that does some is a plain ``def`` (FastAPI runs
  it in its worker thread pool), and the search handler, which is ``async`` for the search shortcut,
  hands the search (and the index sync it may start) to that pool too (:func:`off_loop`). ``/health``
  is ``async`` and cheap: it answers on the event loop, whatever the pool is busy with.
- :class:`Admission` bounds the work waiting for the pool: at most ``max_pending`` requests in flight
  (``/health`` and the public pages not counted); one more is answered at once with 503 ``busy`` and
  ``Retry-After`` instead of queueing without end.
- The worker threads run at a lower priority than the event loop (:func:`lower_worker_threads`, set by
  ``embspace serve``): when the pool's work (encodes, index builds, dedups, and the threads of PyTorch and
  FAISS they start) takes every core, the operating system still gives the event loop a core the moment it
  has a request to answer.
- :class:`EncodeGate` bounds text encoding, on every route that encodes text (``/encode``,
  ``/v1/embeddings``, ``/add`` and ``/upsert`` with texts, search by text, ``/classify``, ``/retrieve``, a map's
  text query), all through :meth:`EncodeGate.encoding`: at most ``max_chars`` characters per request (413
  ``too_much_text``) and at most ``max_concurrent`` encodes at once (503 ``busy`` with ``Retry-After`` for one
  more; routes that encode on behalf of a search or a write wait up to :data:`ENCODE_WAIT_S` for a slot
  first). ``/encode`` and ``/v1/embeddings`` also cut each text to what the model reads
  (:data:`CHARS_PER_TOKEN` characters per token of its maximum length) before it is tokenised; texts stored
  by ``/add`` are kept whole.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Awaitable, Callable, Iterator, MutableMapping, Sequence
from contextlib import contextmanager
from typing import Any, Final, TypeVar

from starlette.concurrency import run_in_threadpool

from ..errors import EmbspaceError, InvalidInputError
from .config import DEFAULT_MAX_ENCODE_CHARS, DEFAULT_MAX_ENCODES, DEFAULT_MAX_PENDING

__all__ = ["CHARS_PER_TOKEN", "DEFAULT_MAX_ENCODES", "DEFAULT_MAX_ENCODE_CHARS", "DEFAULT_MAX_PENDING",
           "ENCODE_WAIT_S", "RETRY_AFTER_S", "WORKER_NICE", "Admission", "BusyError", "EncodeGate", "TooMuchTextError",
           "lower_worker_threads", "off_loop"]

T = TypeVar("T")

#: A text is cut to ``CHARS_PER_TOKEN`` x the model's maximum length (in tokens) before it is tokenised: a
#: token of the model's vocabulary rarely spans more characters, so the cut text still fills the model.
CHARS_PER_TOKEN: Final = 32
#: What ``Retry-After`` says (seconds) on a 503 ``busy``.
RETRY_AFTER_S: Final = 1
#: How long a search, a write or a classification waits for an encode slot before its 503 ``busy`` (seconds):
#: their encodes are short, and a client of the search API does not expect to retry.
ENCODE_WAIT_S: Final = 10.0

#: How many ``nice`` steps below the event loop the server's worker threads run. A CPU-bound thread at +10
#: weighs about a tenth of one at 0 with the Linux scheduler: four encodes on two cores (each with its own
#: PyTorch threads) kept the event loop waiting for a core, ``/health`` 100-130 ms; at +10 it gets one at once.
WORKER_NICE: Final = 10


def lower_worker_threads(nice: int = WORKER_NICE) -> bool:
    """Make every thread this process starts from now on run ``nice`` steps below the thread that calls this
    (the event loop's, in ``embspace serve``); the threads they start in turn (PyTorch's and FAISS's OpenMP
    threads) inherit it. Only on Linux, where a priority belongs to a thread (elsewhere it would lower the
    whole process: nothing is done and False returned). A process cannot raise a thread's priority back
    without privileges: call it only in a process that serves (the server's, not a library user's).

    The hook is :func:`threading.setprofile`'s: each new thread calls it once, lowers itself, and removes it.
    """
    if not sys.platform.startswith("linux") or nice <= 0:
        return False
    target = min(19, os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) + nice)

    def lower(frame: Any, event: str, arg: Any) -> None:
        sys.setprofile(None)
        tid = threading.get_native_id()
        try:
            if os.getpriority(os.PRIO_PROCESS, tid) < target:
                os.setpriority(os.PRIO_PROCESS, tid, target)
        except OSError:  # pragma: no cover - a sandbox that forbids it: the thread runs at the loop's priority
            pass

    threading.setprofile(lower)
    return True


class BusyError(EmbspaceError):
    """The server has as much work as it takes: retry after :attr:`retry_after` seconds (503)."""

    def __init__(self, message: str, *, retry_after: int = RETRY_AFTER_S) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class TooMuchTextError(InvalidInputError):
    """A request carries more text than the server encodes at once (413)."""


async def off_loop(lock: threading.RLock, fn: Callable[[], T]) -> T:
    """``fn()`` under ``lock``, in the worker thread pool: the event loop neither waits for the lock nor runs
    the work (a search may first bring the index up to date with the table, which takes seconds after many
    writes)."""

    def blocking() -> T:
        with lock:
            return fn()

    return await run_in_threadpool(blocking)


class EncodeGate:
    """The bounds of text encoding: ``max_chars`` characters per request, ``max_concurrent`` encodes at once."""

    def __init__(self, max_chars: int = DEFAULT_MAX_ENCODE_CHARS, max_concurrent: int = DEFAULT_MAX_ENCODES) -> None:
        if max_chars < 1 or max_concurrent < 1:
            raise InvalidInputError(f"max_chars and max_concurrent must be at least 1, got {max_chars} and "
                                    f"{max_concurrent}")
        self.max_chars = int(max_chars)
        self.max_concurrent = int(max_concurrent)
        self._slots = threading.BoundedSemaphore(self.max_concurrent)

    def check(self, texts: Sequence[str | None], *, field: str = "texts") -> None:
        """:class:`TooMuchTextError` (413) when ``texts`` hold more than ``max_chars`` characters together."""
        total = sum(len(t) for t in texts if t is not None)
        if total > self.max_chars:
            raise TooMuchTextError(f"{field} hold{'s' if field in {'text', 'query', 'input'} else ''} {total:,} "
                                   f"characters; this server encodes at most {self.max_chars:,} per request: send "
                                   "them in smaller batches")

    @contextmanager
    def encoding(self, texts: Sequence[str | None], *, field: str = "texts", wait: float = 0.0) -> Iterator[None]:
        """What every route that encodes text runs its encode in: ``texts`` (all the request's texts to
        encode) checked against the character limit (:meth:`check`, 413), then one encode slot held
        meanwhile (:meth:`slot`: 503 ``busy`` when none frees within ``wait`` seconds)."""
        self.check(texts, field=field)
        with self.slot(wait=wait):
            yield

    def cut(self, texts: Sequence[str], enc: Any) -> list[str]:
        """Each of ``texts`` cut to what ``enc`` reads (:data:`CHARS_PER_TOKEN` characters per token of its
        maximum length): nothing beyond it is tokenised."""
        limit = getattr(enc, "max_length", None)
        if not isinstance(limit, int) or limit <= 0:
            return list(texts)
        cut = limit * CHARS_PER_TOKEN
        return [t[:cut] for t in texts]

    @contextmanager
    def slot(self, *, wait: float = 0.0) -> Iterator[None]:
        """One of the encode slots, or :class:`BusyError` when none frees within ``wait`` seconds (0: at once)."""
        got = self._slots.acquire(timeout=wait) if wait > 0 else self._slots.acquire(blocking=False)
        if not got:
            raise BusyError(f"this server runs {self.max_concurrent} encodes at once already; retry in "
                            f"{RETRY_AFTER_S} s")
        try:
            yield
        finally:
            self._slots.release()


Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: Paths that cost nothing and are never refused as busy.
_FREE = frozenset({"/health"})


class Admission:
    """At most ``max_pending`` requests in flight; one more is answered 503 ``busy`` with ``Retry-After``
    at once (the work behind a busy server waits in a bounded queue, not an endless one). ``/health`` and
    the public pages are not counted."""

    def __init__(self, app: ASGIApp, *, max_pending: int = DEFAULT_MAX_PENDING) -> None:
        self.app = app
        self.max_pending = int(max_pending)
        self.pending = 0  # changed on the event loop only

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        from ._guard import is_public, reply  # here: _guard's errors import the resources, which import this

        if scope["type"] != "http" or scope.get("path") in _FREE or is_public(scope):
            await self.app(scope, receive, send)
            return
        if self.pending >= self.max_pending:
            await reply(send, 503, "busy", f"this server has {self.pending} requests in flight, as many as it "
                        f"takes; retry in {RETRY_AFTER_S} s", [(b"retry-after", str(RETRY_AFTER_S).encode())],
                        path=str(scope.get("path", "")))
            return
        self.pending += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.pending -= 1
