"""SQLite helpers shared by the encoding cache and collections."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from typing import Any

MAX_PARAMS = 900  # below SQLite's default limit of bound parameters in one statement


def select_in(db: sqlite3.Connection, sql: str, values: Sequence[Any]) -> Iterator[tuple[Any, ...]]:
    """Rows of ``sql`` whose ``IN ({in})`` is filled with ``values``, queried in chunks the driver accepts."""
    for s in range(0, len(values), MAX_PARAMS):
        part = list(values[s : s + MAX_PARAMS])
        yield from db.execute(sql.format(**{"in": ",".join("?" * len(part))}), part)
