"""Compiled (numba) kernels for co-occurrence counting and merging."""

from __future__ import annotations

import numpy as np
from numba import njit

EMPTY = np.int64(-1)


@njit(inline="always")
def _slot(key: np.int64, mask: np.int64) -> np.int64:
    h = np.uint64(key) * np.uint64(0x9E3779B97F4A7C15)
    return np.int64(h >> np.uint64(20)) & mask


@njit(nogil=True, cache=True)
def count(tokens: np.ndarray, sent_lens: np.ndarray, s0: int, s1: int, pos: int, window: int, vocab: int,
          dense: np.ndarray, dense_words: int, keys: np.ndarray, vals: np.ndarray, fill: int,
          max_fill: int) -> tuple[int, int, int]:
    """Add the 1/distance-weighted co-occurrences of sentences ``s0:s1`` (first token at ``pos``).

    A pair (a, b) is stored once, canonically with a <= b: in ``dense`` (row-major
    ``dense_words x dense_words``) when both words are among the ``dense_words`` most frequent,
    else in the open-addressing hash table ``keys``/``vals`` (key ``a * vocab + b``, empty slots
    ``-1``). Stops at a sentence boundary once the table holds ``max_fill`` entries and returns
    ``(next sentence, its first token, fill)`` so the caller can spill and resume.
    """
    mask = np.int64(keys.shape[0] - 1)
    s = s0
    while s < s1:
        if fill >= max_fill:
            return s, pos, fill
        length = sent_lens[s]
        for i in range(length):
            wi = np.int64(tokens[pos + i])
            lo = max(0, i - window)
            for j in range(i - 1, lo - 1, -1):
                wj = np.int64(tokens[pos + j])
                w = 1.0 / (i - j)
                if wi <= wj:
                    a, b = wi, wj
                else:
                    a, b = wj, wi
                if b < dense_words:
                    dense[a * dense_words + b] += w
                else:
                    key = a * vocab + b
                    h = _slot(key, mask)
                    while True:
                        k = keys[h]
                        if k == key:
                            vals[h] += w
                            break
                        if k == EMPTY:
                            keys[h] = key
                            vals[h] = w
                            fill += 1
                            break
                        h = (h + 1) & mask
        pos += length
        s += 1
    return s, pos, fill


@njit(nogil=True, cache=True)
def reduce_sorted(keys: np.ndarray, vals: np.ndarray) -> int:
    """Sum the values of equal adjacent keys in place; returns the number of unique keys."""
    n = keys.shape[0]
    if n == 0:
        return 0
    out = 0
    for i in range(1, n):
        if keys[i] == keys[out]:
            vals[out] += vals[i]
        else:
            out += 1
            keys[out] = keys[i]
            vals[out] = vals[i]
    return out + 1
