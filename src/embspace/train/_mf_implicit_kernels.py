"""Compiled (numba) kernels of implicit-feedback matrix factorisation: ALS and BPR.

ALS (Hu, Koren & Volinsky, 2008): with confidences ``c_ui`` on the observed pairs (preference 1) and
confidence 1 / preference 0 everywhere else, each row ``x_u`` solves

    (YᵀY + Σ_i (c_ui − 1) y_i y_iᵀ + λI) x_u = Σ_i c_ui y_i

The dense part ``YᵀY + λI`` is shared by every row; each row only adds its own observed items. The
system is solved approximately by a few conjugate-gradient steps started from the previous ``x_u``
(Takács, Pilászy & Tikk, 2011), which is what makes ALS fast: O(nnz·f + n·f²) per sweep instead of
a dense solve per row. Rows are independent, so they run in parallel (``prange``) and the result
does not depend on the thread count.

BPR (Rendle et al., 2009): stochastic gradient ascent on ln σ(x_u·y_i − x_u·y_j) over triples of a
user, an item they interacted with and an item they did not. The triples are drawn by the caller
(a seeded NumPy generator) and applied in order, one thread: the epoch repeats exactly.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange


@njit(parallel=True, fastmath=True, cache=True)
def als_sweep(indptr: np.ndarray, indices: np.ndarray, conf: np.ndarray, y: np.ndarray, x: np.ndarray,
              gram: np.ndarray, lam: float, cg_steps: int) -> None:  # pragma: no cover - compiled
    """Update every row of ``x`` (in place) against the fixed factors ``y``.

    ``indptr``/``indices``/``conf``: the rows' observed columns and confidences (CSR); ``gram``:
    ``YᵀY`` (float32); ``lam``: the ridge weight λ. Plain loops, float32 accumulators and four
    length-f buffers per row: array expressions would allocate a temporary per observed item, and
    float64 sums would stop the inner loops vectorising (together 2.8x slower, measured).
    """
    n, f = x.shape
    lam32 = np.float32(lam)
    for u in prange(n):
        xu = np.empty(f, np.float32)
        r = np.empty(f, np.float32)
        d = np.empty(f, np.float32)
        ad = np.empty(f, np.float32)
        for k in range(f):
            xu[k] = x[u, k]
        # r = b − A xu, with A = gram + λI + Σ (c − 1) y_i y_iᵀ and b = Σ c y_i
        for k in range(f):
            acc = np.float32(0.0)
            for m in range(f):
                acc += gram[k, m] * xu[m]
            r[k] = -acc - lam32 * xu[k]
        for p in range(indptr[u], indptr[u + 1]):
            i = indices[p]
            c = conf[p]
            dot = np.float32(0.0)
            for k in range(f):
                dot += y[i, k] * xu[k]
            w = c - (c - 1.0) * dot
            for k in range(f):
                r[k] += w * y[i, k]
        rs_old = np.float32(0.0)
        for k in range(f):
            d[k] = r[k]
            rs_old += r[k] * r[k]
        for _ in range(cg_steps):
            if rs_old < 1e-20:
                break
            for k in range(f):
                acc = np.float32(0.0)
                for m in range(f):
                    acc += gram[k, m] * d[m]
                ad[k] = acc + lam32 * d[k]
            for p in range(indptr[u], indptr[u + 1]):
                i = indices[p]
                dot = np.float32(0.0)
                for k in range(f):
                    dot += y[i, k] * d[k]
                w = (conf[p] - 1.0) * dot
                for k in range(f):
                    ad[k] += w * y[i, k]
            dad = np.float32(0.0)
            for k in range(f):
                dad += d[k] * ad[k]
            if dad <= 0.0:
                break
            alpha = rs_old / dad
            rs_new = np.float32(0.0)
            for k in range(f):
                xu[k] += alpha * d[k]
                r[k] -= alpha * ad[k]
                rs_new += r[k] * r[k]
            beta = rs_new / rs_old
            for k in range(f):
                d[k] = r[k] + beta * d[k]
            rs_old = rs_new
        for k in range(f):
            x[u, k] = xu[k]


@njit(parallel=True, fastmath=True, cache=True)
def observed_error(indptr: np.ndarray, indices: np.ndarray, x: np.ndarray,
                   y: np.ndarray) -> float:  # pragma: no cover - compiled
    """Σ over the observed pairs of (1 − x_u·y_i)²: the fit to the preferences, for progress."""
    n, f = x.shape
    total = 0.0
    for u in prange(n):
        for p in range(indptr[u], indptr[u + 1]):
            i = indices[p]
            dot = 0.0
            for k in range(f):
                dot += x[u, k] * y[i, k]
            total += (1.0 - dot) ** 2
    return total


@njit(fastmath=True, cache=True)
def bpr_epoch(users: np.ndarray, pos: np.ndarray, neg: np.ndarray, x: np.ndarray, y: np.ndarray,
              item_bias: np.ndarray, lr: float, reg: float) -> tuple[float, int]:  # pragma: no cover - compiled
    """One pass over the triples ``(users[t], pos[t], neg[t])``; returns (mean ln σ of the margins, triples used).

    A triple whose negative is −1 (the caller found it among the user's items) is skipped.
    """
    f = x.shape[1]
    total = 0.0
    used = 0
    for t in range(users.shape[0]):
        j = neg[t]
        if j < 0:
            continue
        u = users[t]
        i = pos[t]
        margin = item_bias[i] - item_bias[j]
        for k in range(f):
            margin += x[u, k] * (y[i, k] - y[j, k])
        if margin > 0:
            z = np.exp(-margin) / (1.0 + np.exp(-margin))  # σ(−margin), stable
            total += -np.log1p(np.exp(-margin))
        else:
            z = 1.0 / (1.0 + np.exp(margin))
            total += margin - np.log1p(np.exp(margin))
        item_bias[i] += lr * (z - reg * item_bias[i])
        item_bias[j] += lr * (-z - reg * item_bias[j])
        for k in range(f):
            xu = x[u, k]
            yi = y[i, k]
            yj = y[j, k]
            x[u, k] += lr * (z * (yi - yj) - reg * xu)
            y[i, k] += lr * (z * xu - reg * yi)
            y[j, k] += lr * (-z * xu - reg * yj)
        used += 1
    return (total / used if used else 0.0), used


@njit(cache=True)
def mark_seen_negatives(users: np.ndarray, neg: np.ndarray, indptr: np.ndarray,
                        indices: np.ndarray) -> int:  # pragma: no cover - compiled
    """Set ``neg[t] = -1`` where the sampled negative is among the user's items (sorted ``indices``
    per row, CSR); returns how many were marked."""
    marked = 0
    for t in range(users.shape[0]):
        u = users[t]
        lo = indptr[u]
        hi = indptr[u + 1]
        j = neg[t]
        while lo < hi:  # binary search
            mid = (lo + hi) // 2
            if indices[mid] < j:
                lo = mid + 1
            else:
                hi = mid
        if lo < indptr[u + 1] and indices[lo] == j:
            neg[t] = -1
            marked += 1
    return marked
