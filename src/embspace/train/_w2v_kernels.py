"""Compiled (numba) word2vec kernels: skip-gram and CBOW with negative sampling, hogwild.

Skip-gram uses the HogBatch scheme (Ji et al., arXiv 1611.06172): the context words of one centre
word share one draw of negative samples, so the centre word and its negatives' output vectors
are loaded once and reused for every context word, and their updates are summed and applied
once. That turns the random memory traffic of the classic loop (new negatives per word pair)
into a small dense block of work that stays in L1 cache.

Every kernel releases the GIL (``nogil``): worker threads run jobs concurrently on shared weight
matrices without locks (hogwild), as word2vec and gensim do.
"""

from __future__ import annotations

import numpy as np
from numba import njit

MAX_EXP = 6.0
CBOW_GROUP = 4  # consecutive CBOW centre words that share their negative samples


@njit(inline="always")
def _next(rng: np.uint64) -> np.uint64:
    return rng * np.uint64(25214903917) + np.uint64(11)


@njit(inline="always")
def _uniform(rng: np.uint64) -> float:
    return float((rng >> np.uint64(11)) & np.uint64(0xFFFFFFFF)) / 4294967296.0


@njit(inline="always")
def _draw(rng: np.uint64, alias_prob: np.ndarray, alias_idx: np.ndarray) -> tuple[np.uint64, np.int64]:
    """One negative sample from the unigram^0.75 table (Walker's alias method, O(1))."""
    rng = _next(rng)
    k = np.int64((rng >> np.uint64(16)) % np.uint64(alias_prob.shape[0]))
    rng = _next(rng)
    if _uniform(rng) < alias_prob[k]:
        return rng, k
    return rng, np.int64(alias_idx[k])


SIGMOID_TABLE_SIZE = 1024
_SIGMOID = (1.0 / (1.0 + np.exp(-(np.arange(SIGMOID_TABLE_SIZE) / SIGMOID_TABLE_SIZE * 2 - 1) * MAX_EXP))).astype(
    np.float32)


@njit(inline="always")
def _sigmoid(f: float, table: np.ndarray) -> float:
    """sigmoid(f) from a table over [-6, 6], clipped outside it (word2vec's EXP_TABLE)."""
    if f >= MAX_EXP:
        return 1.0
    if f <= -MAX_EXP:
        return 0.0
    return table[int((f + MAX_EXP) * (SIGMOID_TABLE_SIZE / (2 * MAX_EXP)))]


@njit(inline="always")
def _loss(s: float, label: float) -> float:
    return -np.log(s + 1e-7) if label > 0 else -np.log(1.0 - s + 1e-7)


@njit(inline="always")
def _seed(seed: int) -> np.uint64:
    return np.uint64(seed) * np.uint64(2654435761) + np.uint64(1)


@njit(nogil=True, fastmath=True, cache=True)
def _subsample(tokens: np.ndarray, start: int, length: int, keep_prob: np.ndarray, buf: np.ndarray,
               rng: np.uint64) -> tuple[int, np.uint64]:
    m = 0
    for j in range(length):
        w = tokens[start + j]
        p = keep_prob[w]
        if p < 1.0:
            rng = _next(rng)
            if p < _uniform(rng):
                continue
        buf[m] = w
        m += 1
    return m, rng


@njit(nogil=True, fastmath=True, cache=True)
def train_sg(tokens: np.ndarray, sent_lens: np.ndarray, syn0: np.ndarray, syn1: np.ndarray,
             keep_prob: np.ndarray, alias_prob: np.ndarray, alias_idx: np.ndarray, window: int,
             negative: int, alpha0: float, alpha1: float, seed: int, stats: np.ndarray) -> None:
    """Skip-gram with negative sampling over one job (whole sentences).

    ``tokens`` holds word ids; ``sent_lens`` the sentence lengths (their sum is ``len(tokens)``).
    The learning rate falls linearly from ``alpha0`` to ``alpha1`` across the job. ``stats``
    receives [words trained, loss sum, loss count].
    """
    dim = syn0.shape[1]
    table = _SIGMOID
    rng = _seed(seed)
    buf = np.empty(sent_lens.max() if sent_lens.shape[0] else 0, np.int32)  # one subsampled sentence
    ctx = np.empty(2 * window, np.int32)
    targets = np.empty(negative + 1, np.int32)
    neu1e = np.zeros((2 * window, dim), np.float32)
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
        for i in range(m):
            word = buf[i]
            rng = _next(rng)
            b = int((rng >> np.uint64(16)) % np.uint64(window))
            lo = max(0, i - window + b)
            hi = min(m, i + window - b + 1)
            nc = 0
            for j in range(lo, hi):
                if j != i:
                    ctx[nc] = buf[j]
                    nc += 1
            if nc == 0:
                continue
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
            for c in range(nc):
                l1 = syn0[ctx[c]]
                for d in range(dim):
                    neu1e[c, d] = 0.0
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
                        neu1e[c, d] += g * l2[d]
                        gout[t, d] += g * l1[d]
            for t in range(nt):
                l2 = syn1[targets[t]]
                for d in range(dim):
                    l2[d] += gout[t, d]
            for c in range(nc):
                l1 = syn0[ctx[c]]
                for d in range(dim):
                    l1[d] += neu1e[c, d]
    stats[0] += trained
    stats[1] += loss
    stats[2] += nloss


@njit(nogil=True, fastmath=True, cache=True)
def train_cbow(tokens: np.ndarray, sent_lens: np.ndarray, syn0: np.ndarray, syn1: np.ndarray,
               keep_prob: np.ndarray, alias_prob: np.ndarray, alias_idx: np.ndarray, window: int,
               negative: int, alpha0: float, alpha1: float, seed: int, stats: np.ndarray) -> None:
    """CBOW (context mean) with negative sampling over one job; arguments as :func:`train_sg`.

    ``CBOW_GROUP`` consecutive centre words of a sentence share one draw of negatives (the same
    idea as HogBatch for skip-gram): the negatives' output vectors are loaded once for the group
    and their summed update is applied once.
    """
    dim = syn0.shape[1]
    table = _SIGMOID
    group = CBOW_GROUP
    rng = _seed(seed)
    buf = np.empty(sent_lens.max() if sent_lens.shape[0] else 0, np.int32)  # one subsampled sentence
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
        for i0 in range(0, m, group):
            ng = min(group, m - i0)
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
                nc = hi - lo - 1
                for d in range(dim):
                    h[gi, d] = 0.0
                    neu1e[gi, d] = 0.0
                if nc <= 0:
                    continue
                for j in range(lo, hi):
                    if j != i:
                        l1 = syn0[buf[j]]
                        for d in range(dim):
                            h[gi, d] += l1[d]
                inv = 1.0 / nc
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
                        l1 = syn0[buf[j]]
                        for d in range(dim):
                            l1[d] += neu1e[gi, d]
    stats[0] += trained
    stats[1] += loss
    stats[2] += nloss
