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
              yty: np.ndarray, cg_steps: int) -> None:  # pragma: no cover - compiled
    """Update every row of ``x`` (in place) against the fixed factors ``y``.

    ``indptr``/``indices``/``conf``: the rows' observed columns and confidences (CSR); ``yty``:
    ``YᵀY + λI``.
    """
    n, f = x.shape
    for u in prange(n):
        xu = x[u].copy()
        r = -(yty @ xu)
        for p in range(indptr[u], indptr[u + 1]):
            i = indices[p]
            c = conf[p]
            yi = y[i]
            r += (c - (c - 1.0) * (yi @ xu)) * yi
        d = r.copy()
        rs_old = r @ r
        for _ in range(cg_steps):
            if rs_old < 1e-20:
                break
            ad = yty @ d
            for p in range(indptr[u], indptr[u + 1]):
                yi = y[indices[p]]
                ad += (conf[p] - 1.0) * (yi @ d) * yi
            alpha = rs_old / (d @ ad)
            xu += alpha * d
            r -= alpha * ad
            rs_new = r @ r
            d = r + (rs_new / rs_old) * d
            rs_old = rs_new
        for k in range(f):
            x[u, k] = xu[k]


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
