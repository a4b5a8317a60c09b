"""Near-match suggestions for unknown keys."""

from __future__ import annotations

import difflib
from collections.abc import Sequence

_MAX_CANDIDATES = 50_000


def suggest(key: str, keys: Sequence[str], n: int = 5) -> list[str]:
    """Up to ``n`` keys close to ``key``: case variants first, then by edit similarity.

    Large vocabularies are pre-filtered to keys of similar length sharing a first letter, so this
    stays fast on a million keys.
    """
    if not isinstance(key, str) or not keys:
        return []
    low = key.lower()
    exact_case = [k for k in keys if len(k) == len(key) and k.lower() == low and k != key][:n]
    if len(keys) > _MAX_CANDIDATES:
        first = low[:1]
        pool = [k for k in keys if abs(len(k) - len(key)) <= 2 and k[:1].lower() == first]
        pool = pool[:_MAX_CANDIDATES]
    else:
        pool = list(keys)
    close = difflib.get_close_matches(key, pool, n=n, cutoff=0.6)
    if not close and low != key:
        close = difflib.get_close_matches(low, pool, n=n, cutoff=0.6)
    out: list[str] = []
    for k in exact_case + close:
        if k not in out and k != key:
            out.append(k)
    return out[:n]
