"""The implicit-feedback MF kernels: ALS's conjugate gradient against a dense solve, BPR's learning."""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pytest
import scipy.sparse as sp

from embspace.train._mf_implicit_kernels import als_sweep, bpr_epoch, mark_seen_negatives, observed_error


def _matrix(n_users: int = 60, n_items: int = 40, density: float = 0.15, seed: int = 0) -> sp.csr_matrix:
    rng = np.random.default_rng(seed)
    m = sp.random(n_users, n_items, density=density, random_state=seed, format="csr",
                  data_rvs=lambda k: rng.integers(1, 5, k).astype(np.float64))
    m.sort_indices()
    return m


def test_als_sweep_solves_the_weighted_least_squares_rows() -> None:
    m = _matrix()
    f, reg, alpha = 8, 0.1, 4.0
    rng = np.random.default_rng(1)
    y = (rng.standard_normal((m.shape[1], f)) * 0.1).astype(np.float32)
    x = (rng.standard_normal((m.shape[0], f)) * 0.1).astype(np.float32)
    conf = (1.0 + alpha * m.data).astype(np.float32)
    als_sweep(m.indptr.astype(np.int64), m.indices.astype(np.int64), conf, y, x, y.T @ y, reg, 50)  # many steps
    y = y.astype(np.float64)
    for u in range(m.shape[0]):
        c = np.ones(m.shape[1])
        p = np.zeros(m.shape[1])
        cols = m.indices[m.indptr[u] : m.indptr[u + 1]]
        c[cols] = conf[m.indptr[u] : m.indptr[u + 1]]
        p[cols] = 1.0
        a = y.T @ (c[:, None] * y) + reg * np.eye(f)
        np.testing.assert_allclose(x[u], np.linalg.solve(a, y.T @ (c * p)), rtol=2e-4, atol=1e-5)  # float32


def test_als_few_cg_steps_still_lower_the_loss_and_repeat_exactly() -> None:
    m = _matrix(200, 80, 0.05, seed=3)
    f, reg = 16, 0.05
    conf = (1.0 + 10.0 * m.data).astype(np.float32)
    ip, ix = m.indptr.astype(np.int64), m.indices.astype(np.int64)
    mt = m.T.tocsr()
    mt.sort_indices()
    tp, tx = mt.indptr.astype(np.int64), mt.indices.astype(np.int64)
    tconf = (1.0 + 10.0 * mt.data).astype(np.float32)

    def loss(x: np.ndarray, y: np.ndarray) -> float:
        pred = x @ y.T
        c = np.ones(pred.shape)
        p = np.zeros(pred.shape)
        dense = m.toarray() > 0
        c[dense] = 1.0 + 10.0 * m.toarray()[dense]
        p[dense] = 1.0
        return float((c * (p - pred) ** 2).sum() + reg * ((x**2).sum() + (y**2).sum()))

    runs = []
    for _ in range(2):
        rng = np.random.default_rng(0)
        x = (rng.standard_normal((200, f)) * 0.01).astype(np.float32)
        y = (rng.standard_normal((80, f)) * 0.01).astype(np.float32)
        losses = [loss(x, y)]
        for _ in range(5):
            als_sweep(ip, ix, conf, y, x, y.T @ y, reg, 3)
            als_sweep(tp, tx, tconf, x, y, x.T @ x, reg, 3)
            losses.append(loss(x, y))
        runs.append((x, losses))
    losses = runs[0][1]
    assert losses[-1] < 0.5 * losses[0] and all(b <= a * 1.001 for a, b in pairwise(losses))
    np.testing.assert_array_equal(runs[0][0], runs[1][0])


def test_bpr_learns_to_rank_held_in_items_first() -> None:
    rng = np.random.default_rng(0)
    n_users, n_items, f = 100, 50, 8
    groups = rng.integers(0, 2, n_users)
    liked = [np.sort(rng.choice(np.arange(g * 25, g * 25 + 25), 8, replace=False)) for g in groups]
    indptr = np.concatenate([[0], np.cumsum([len(v) for v in liked])]).astype(np.int64)
    indices = np.concatenate(liked).astype(np.int64)
    row_of = np.repeat(np.arange(n_users), np.diff(indptr))
    x = rng.standard_normal((n_users, f)) * 0.01
    y = rng.standard_normal((n_items, f)) * 0.01
    bias = np.zeros(n_items)
    first = None
    for _ in range(30):
        t = rng.integers(0, len(indices), len(indices))
        users, pos = row_of[t], indices[t]
        neg = rng.integers(0, n_items, len(t))
        marked = mark_seen_negatives(users, neg, indptr, indices)
        assert marked == sum(int(np.isin(neg_j, liked[u])) for u, neg_j in zip(users, neg, strict=True)
                             if neg_j >= 0) + marked  # every seen negative was marked
        ll, used = bpr_epoch(users, pos, neg, x, y, bias, 0.05, 0.001)
        assert used == len(t) - marked
        first = ll if first is None else first
    assert ll > first
    scores = x @ y.T + bias
    own_group = np.array([[(j // 25) == groups[u] for j in range(n_items)] for u in range(n_users)])
    auc = np.mean([(scores[u][own_group[u]][:, None] > scores[u][~own_group[u]][None, :]).mean()
                   for u in range(n_users)])
    assert auc > 0.9


def test_observed_error_sums_the_squared_misfit_of_the_observed_pairs() -> None:
    m = _matrix(30, 20, 0.2, seed=5)
    rng = np.random.default_rng(2)
    x = rng.standard_normal((30, 4)).astype(np.float32)
    y = rng.standard_normal((20, 4)).astype(np.float32)
    rows, cols = m.nonzero()
    want = float(((1.0 - np.einsum("ij,ij->i", x[rows].astype(np.float64), y[cols])) ** 2).sum())
    got = observed_error(m.indptr.astype(np.int64), m.indices.astype(np.int64), x, y)
    assert got == pytest.approx(want, rel=1e-5)
