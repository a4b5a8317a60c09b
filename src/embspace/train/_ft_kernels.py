"""Compiled (numba) fastText kernels: skip-gram and CBOW with character n-grams, negative sampling, hogwild.

The input side of a word is the mean of several rows of ``syn0``: its own row and the rows of its
n-gram buckets (``rows[ptr[w]:ptr[w + 1]]``). Computing that mean for every (centre, context) pair,
as fastText and gensim do, reads and writes ~20 rows per pair. Here each *position* of a sentence
computes its input vector once and collects its gradient from every centre word it is a context
of; the summed gradient is added to the position's rows once, as soon as no later centre word can
use it (a ring buffer of ``2 * window + group`` positions). Each row still receives the full
gradient (fastText's unsupervised update); updates of a row are at most one window late, the same
kind of staleness as hogwild's.

The output side is word2vec's: HogBatch for skip-gram (the centre word and one draw of negatives
shared by all its context words) and negatives shared by ``CBOW_GROUP`` centre words for CBOW, with
the sampling, sigmoid table and subsampling of :mod:`._w2v_kernels`.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ._w2v_kernels import _SIGMOID, CBOW_GROUP, _draw, _loss, _next, _seed, _sigmoid, _subsample


@njit(nogil=True, fastmath=True, cache=True)
def _gather(syn0: np.ndarray, ptr: np.ndarray, rows: np.ndarray, w: int, out: np.ndarray) -> int:
    """``out`` = the sum of word ``w``'s input rows; returns how many there are."""
    dim = syn0.shape[1]
    for d in range(dim):
        out[d] = 0.0
    s0 = ptr[w]
    s1 = ptr[w + 1]
    for s in range(s0, s1):
        r = syn0[rows[s]]
        for d in range(dim):
            out[d] += r[d]
    return s1 - s0


@njit(nogil=True, fastmath=True, cache=True)
def _scatter(syn0: np.ndarray, ptr: np.ndarray, rows: np.ndarray, w: int, grad: np.ndarray) -> None:
    """Add ``grad`` to every input row of word ``w``."""
    dim = syn0.shape[1]
    for s in range(ptr[w], ptr[w + 1]):
        r = syn0[rows[s]]
        for d in range(dim):
            r[d] += grad[d]


@njit(nogil=True, fastmath=True, cache=True)
def train_ft_sg(tokens: np.ndarray, sent_lens: np.ndarray, syn0: np.ndarray, syn1: np.ndarray,
                ptr: np.ndarray, rows: np.ndarray, keep_prob: np.ndarray, alias_prob: np.ndarray,
                alias_idx: np.ndarray, window: int, negative: int, alpha0: float, alpha1: float, seed: int,
                stats: np.ndarray) -> None:
    """Skip-gram over one job; arguments as :func:`._w2v_kernels.train_sg` plus the word -> rows CSR."""
    dim = syn0.shape[1]
    table = _SIGMOID
    rng = _seed(seed)
    ring = 2 * window + 2
    hbuf = np.zeros((ring, dim), np.float32)  # the mean input vector of a position
    gbuf = np.zeros((ring, dim), np.float32)  # its summed gradient, added to its rows when it leaves
    buf = np.empty(sent_lens.max() if sent_lens.shape[0] else 0, np.int32)
    targets = np.empty(negative + 1, np.int32)
    gout = np.zeros((negative + 1, dim), np.float32)
    total = tokens.shape[0]
    pos = 0
    trained = 0
    loss = 0.0
    nloss = 0
    for s in range(sent_lens.shape[0]):
        length = sent_lens[s]
        alpha = alpha0 + (alpha1 - alpha0) * (pos / max(total, 1))
        m, rng = _subsample(tokens, pos, length, keep_prob, buf, rng)
        pos += length
        ready = 0
        for i in range(m):
            top = min(m, i + window + 1)
            while ready < top:  # positions entering the window: their input vector, a zero gradient
                slot = ready % ring
                n = _gather(syn0, ptr, rows, buf[ready], hbuf[slot])
                inv = 1.0 / max(n, 1)
                for d in range(dim):
                    hbuf[slot, d] *= inv
                    gbuf[slot, d] = 0.0
                ready += 1
            word = buf[i]
            rng = _next(rng)
            b = int((rng >> np.uint64(16)) % np.uint64(window))
            lo = max(0, i - window + b)
            hi = min(m, i + window - b + 1)
            if hi - lo > 1:
                trained += 1
                targets[0] = word
                nt = 1
                for _ in range(negative):
                    rng, t = _draw(rng, alias_prob, alias_idx)
                    if t != word:
                        targets[nt] = t
                        nt += 1
                for t in range(nt):
                    for d in range(dim):
                        gout[t, d] = 0.0
                track = (trained & 15) == 0
                for j in range(lo, hi):
                    if j == i:
                        continue
                    slot = j % ring
                    l1 = hbuf[slot]
                    ge = gbuf[slot]
                    for t in range(nt):
                        l2 = syn1[targets[t]]
                        f = 0.0
                        for d in range(dim):
                            f += l1[d] * l2[d]
                        label = 1.0 if t == 0 else 0.0
                        sg = _sigmoid(f, table)
                        g = (label - sg) * alpha
                        if track:
                            loss += _loss(sg, label)
                            nloss += 1
                        for d in range(dim):
                            ge[d] += g * l2[d]
                            gout[t, d] += g * l1[d]
                for t in range(nt):
                    l2 = syn1[targets[t]]
                    for d in range(dim):
                        l2[d] += gout[t, d]
            done = i - window  # no later centre word has this position in its window
            if done >= 0:
                _scatter(syn0, ptr, rows, buf[done], gbuf[done % ring])
        for done in range(max(0, m - window), m):
            _scatter(syn0, ptr, rows, buf[done], gbuf[done % ring])
    stats[0] += trained
    stats[1] += loss
    stats[2] += nloss


@njit(nogil=True, fastmath=True, cache=True)
def train_ft_cbow(tokens: np.ndarray, sent_lens: np.ndarray, syn0: np.ndarray, syn1: np.ndarray,
                  ptr: np.ndarray, rows: np.ndarray, keep_prob: np.ndarray, alias_prob: np.ndarray,
                  alias_idx: np.ndarray, window: int, negative: int, alpha0: float, alpha1: float, seed: int,
                  stats: np.ndarray) -> None:
    """CBOW over one job: the hidden vector is the mean of every input row of every context word
    (fastText's and gensim's ``cbow_mean``); ``CBOW_GROUP`` centre words share their negatives."""
    dim = syn0.shape[1]
    table = _SIGMOID
    group = CBOW_GROUP
    rng = _seed(seed)
    ring = 2 * window + group + 1
    sbuf = np.zeros((ring, dim), np.float32)  # the sum of a position's input rows
    cbuf = np.zeros(ring, np.int64)  # how many rows
    gbuf = np.zeros((ring, dim), np.float32)
    buf = np.empty(sent_lens.max() if sent_lens.shape[0] else 0, np.int32)
    h = np.zeros((group, dim), np.float32)
    neu1e = np.zeros((group, dim), np.float32)
    gneg = np.zeros((negative, dim), np.float32)
    negs = np.empty(negative, np.int64)
    lo_ = np.empty(group, np.int64)
    hi_ = np.empty(group, np.int64)
    total = tokens.shape[0]
    pos = 0
    trained = 0
    loss = 0.0
    nloss = 0
    for s in range(sent_lens.shape[0]):
        length = sent_lens[s]
        alpha = alpha0 + (alpha1 - alpha0) * (pos / max(total, 1))
        m, rng = _subsample(tokens, pos, length, keep_prob, buf, rng)
        pos += length
        ready = 0
        flushed = 0
        for i0 in range(0, m, group):
            ng = min(group, m - i0)
            top = min(m, i0 + ng + window)
            while ready < top:
                slot = ready % ring
                cbuf[slot] = _gather(syn0, ptr, rows, buf[ready], sbuf[slot])
                for d in range(dim):
                    gbuf[slot, d] = 0.0
                ready += 1
            for k in range(negative):
                rng, negs[k] = _draw(rng, alias_prob, alias_idx)
                for d in range(dim):
                    gneg[k, d] = 0.0
            for gi in range(ng):
                i = i0 + gi
                rng = _next(rng)
                b = np.int64((rng >> np.uint64(16)) % np.uint64(window))
                lo = max(0, i - window + b)
                hi = min(m, i + window - b + 1)
                lo_[gi] = lo
                hi_[gi] = hi
                for d in range(dim):
                    h[gi, d] = 0.0
                    neu1e[gi, d] = 0.0
                if hi - lo - 1 <= 0:
                    continue
                count = 0
                for j in range(lo, hi):
                    if j != i:
                        slot = j % ring
                        count += cbuf[slot]
                        for d in range(dim):
                            h[gi, d] += sbuf[slot, d]
                inv = 1.0 / max(count, 1)
                for d in range(dim):
                    h[gi, d] *= inv
            for gi in range(ng):
                if hi_[gi] - lo_[gi] - 1 <= 0:
                    continue
                word = buf[i0 + gi]
                trained += 1
                track = (trained & 15) == 0
                l2 = syn1[word]
                f = 0.0
                for d in range(dim):
                    f += h[gi, d] * l2[d]
                sg = _sigmoid(f, table)
                g = (1.0 - sg) * alpha
                if track:
                    loss += _loss(sg, 1.0)
                    nloss += 1
                for d in range(dim):
                    neu1e[gi, d] += g * l2[d]
                    l2[d] += g * h[gi, d]
                for k in range(negative):
                    if negs[k] == word:
                        continue
                    l2 = syn1[negs[k]]
                    f = 0.0
                    for d in range(dim):
                        f += h[gi, d] * l2[d]
                    sg = _sigmoid(f, table)
                    g = -sg * alpha
                    if track:
                        loss += _loss(sg, 0.0)
                        nloss += 1
                    for d in range(dim):
                        neu1e[gi, d] += g * l2[d]
                        gneg[k, d] += g * h[gi, d]
            for k in range(negative):
                l2 = syn1[negs[k]]
                for d in range(dim):
                    l2[d] += gneg[k, d]
            for gi in range(ng):
                i = i0 + gi
                for j in range(lo_[gi], hi_[gi]):
                    if j != i:
                        ge = gbuf[j % ring]
                        for d in range(dim):
                            ge[d] += neu1e[gi, d]
            limit = min(m, i0 + ng - window)  # later groups start at i0 + ng: they reach back to here
            while flushed < limit:
                _scatter(syn0, ptr, rows, buf[flushed], gbuf[flushed % ring])
                flushed += 1
        while flushed < m:
            _scatter(syn0, ptr, rows, buf[flushed], gbuf[flushed % ring])
            flushed += 1
    stats[0] += trained
    stats[1] += loss
    stats[2] += nloss
