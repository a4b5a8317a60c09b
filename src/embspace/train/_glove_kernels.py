"""Compiled (numba) GloVe kernel: weighted least squares with AdaGrad, as Stanford's glove.c."""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(nogil=True, cache=True, fastmath=True)
def glove_epoch(rows: np.ndarray, cols: np.ndarray, vals: np.ndarray, start: int, stop: int, shift: int,
                w: np.ndarray, gradsq: np.ndarray, bias: np.ndarray, gradsq_b: np.ndarray, vocab: int, x_max: float,
                alpha: float, eta: float, grad_clip: float) -> tuple[float, int]:
    """One pass of GloVe's AdaGrad updates over canonical records ``start:stop`` (see embspace.train.glove).

    A canonical record (a, b, x) stands for two of glove.c's records, (a, b~) and (b, a~). Step ``r``
    applies the first direction of record ``r`` and the second direction of record ``r + shift``
    (modulo the number of records): the two halves of a pair are updated at different moments, as
    when glove.c finds them at independent places of its shuffled file.
    """
    dim = w.shape[1]
    cost = 0.0
    n = 0
    up1 = np.empty(dim, np.float32)
    up2 = np.empty(dim, np.float32)
    ahead = 2  # steps ahead whose rows are touched now, so their cache misses overlap this work
    touch = np.float32(0.0)
    nrec = rows.shape[0]
    for r in range(start, stop):
        if r + ahead < stop:
            pa = np.int64(rows[r + ahead])
            pb = np.int64(cols[r + ahead]) + vocab
            q = r + ahead + shift
            q = q - nrec if q >= nrec else q
            qa = np.int64(cols[q])
            qb = np.int64(rows[q]) + vocab
            for d in range(0, dim, 16):  # one float per 64-byte cache line
                touch += w[pa, d] + w[pb, d] + gradsq[pa, d] + gradsq[pb, d]
                touch += w[qa, d] + w[qb, d] + gradsq[qa, d] + gradsq[qb, d]
        for rep in range(2):
            if rep == 0:
                a = np.int64(rows[r])
                b = np.int64(cols[r])
                x = vals[r]
                if a == b:
                    x = x * 2.0  # the diagonal was counted once per direction, as one record
                i, j = a, b + vocab
            else:
                q = r + shift
                q = q - nrec if q >= nrec else q
                a = np.int64(rows[q])
                b = np.int64(cols[q])
                if a == b:
                    continue  # the diagonal is one record, applied once (above)
                x = vals[q]
                i, j = b, a + vocab
            diff = bias[i] + bias[j] - np.log(x)
            wi = w[i]
            wj = w[j]
            for d in range(dim):
                diff += wi[d] * wj[d]
            fdiff = diff if x > x_max else (x / x_max) ** alpha * diff
            if not np.isfinite(diff):
                continue
            cost += 0.5 * fdiff * diff
            n += 1
            # As glove.c (current release): the word-vector step is clip(fdiff * w) * eta, and AdaGrad
            # accumulates that step's square; the bias step is fdiff itself (no eta), AdaGrad-scaled.
            f32 = np.float32(fdiff)
            clip = np.float32(grad_clip)
            eta32 = np.float32(eta)
            gi = gradsq[i]
            gj = gradsq[j]
            for d in range(dim):
                t1 = min(max(f32 * wj[d], -clip), clip) * eta32
                t2 = min(max(f32 * wi[d], -clip), clip) * eta32
                up1[d] = t1 / np.sqrt(gi[d])
                up2[d] = t2 / np.sqrt(gj[d])
                gi[d] += t1 * t1
                gj[d] += t2 * t2
            for d in range(dim):
                wi[d] -= up1[d]
                wj[d] -= up2[d]
            bias[i] -= fdiff / np.sqrt(gradsq_b[i])
            bias[j] -= fdiff / np.sqrt(gradsq_b[j])
            gradsq_b[i] += fdiff * fdiff
            gradsq_b[j] += fdiff * fdiff
    return cost + 0.0 * touch, n
