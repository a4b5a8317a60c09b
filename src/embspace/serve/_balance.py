"""Even keep-alive connections across worker processes.

uvicorn's workers race to ``accept`` on one shared socket, and a keep-alive connection stays with the
worker that won it. Under a steady load the split can be very uneven (31 of 32 connections on one worker
was measured), and the loaded worker's queue then sets the latency tail while the other idles. Each worker
therefore publishes how many clients it is serving (those heard from in the last second) in a small
shared file; a worker holding more than its fair share asks one client at a time to reconnect, by ending
a response with ``Connection: close`` (HTTP/1.1; every client library reconnects on its own). The new
connection lands wherever the accept race puts it, which is most often the less busy worker: the split
evens out within a few reconnects and no request fails.
"""

from __future__ import annotations

import fcntl
import math
import mmap
import os
import time
from pathlib import Path

import numpy as np

__all__ = ["SLOTS", "Balancer", "create_balance_file"]

#: Workers that can share one balance file.
SLOTS = 64
_FIELDS = 3  # pid, clients, update time (ns)
#: A client not heard from for this long no longer counts as served.
WINDOW_S = 1.0
#: How often a worker publishes its count, and at most how often it asks a client to reconnect.
PUBLISH_S = 0.05
SHED_S = 0.2  # one client at a time: the split settles, then stays (a fair share is never asked to move)


def create_balance_file(directory: str | Path | None = None) -> Path:
    """A fresh, zeroed balance file (in /dev/shm when there is one)."""
    import tempfile

    where = directory if directory is not None else ("/dev/shm" if os.path.isdir("/dev/shm") else None)
    fd, name = tempfile.mkstemp(prefix="embspace-balance-", dir=where)
    os.ftruncate(fd, SLOTS * _FIELDS * 8)
    os.close(fd)
    return Path(name)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Balancer:
    """One worker's view of the balance file at ``path``: :meth:`shed` says when to close a connection."""

    def __init__(self, path: str | Path, *, pid: int | None = None) -> None:
        self._file = open(path, "r+b")  # noqa: SIM115 - kept open for the worker's life
        self._map = mmap.mmap(self._file.fileno(), SLOTS * _FIELDS * 8)
        self.table = np.ndarray((SLOTS, _FIELDS), np.int64, buffer=self._map)
        self.pid = os.getpid() if pid is None else pid
        self.slot = self._claim()
        self.clients: dict[object, float] = {}
        self._published = 0.0
        self._last_shed = 0.0

    def _claim(self) -> int:
        fcntl.flock(self._file.fileno(), fcntl.LOCK_EX)
        try:
            for i in range(SLOTS):
                pid = int(self.table[i, 0])
                if pid in (0, self.pid) or not _alive(pid):
                    self.table[i] = (self.pid, 0, time.monotonic_ns())
                    return i
        finally:
            fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)
        raise RuntimeError(f"more than {SLOTS} workers share one balance file")

    def _fair_share(self, now_ns: int) -> int:
        total = 0
        workers = 0
        for pid, count, stamp in self.table.tolist():
            if pid == 0 or (pid != self.pid and not _alive(pid)):
                continue
            workers += 1
            if now_ns - stamp <= 2 * WINDOW_S * 1e9:  # an idle worker's old count is stale: it serves none
                total += count
        return math.ceil(total / max(workers, 1))

    def shed(self, client: object) -> bool:
        """Note a request from ``client`` (its (host, port)); True when this worker holds more than its fair
        share of the clients and this connection should close after its response."""
        now = time.monotonic()
        self.clients[client] = now
        if now - self._published < PUBLISH_S:
            return False
        self._published = now
        cutoff = now - WINDOW_S
        for c in [c for c, t in self.clients.items() if t < cutoff]:
            del self.clients[c]
        now_ns = time.monotonic_ns()
        self.table[self.slot, 1:] = (len(self.clients), now_ns)
        if len(self.clients) <= self._fair_share(now_ns) or now - self._last_shed < SHED_S:
            return False
        self._last_shed = now
        del self.clients[client]
        self.table[self.slot, 1] = len(self.clients)
        return True

    def close(self) -> None:
        self.table[self.slot] = 0
        del self.table
        self._map.close()
        self._file.close()
