"""Compiled SGD kernel of explicit-feedback matrix factorisation with biases (single-threaded: exact repeats)."""

from __future__ import annotations

import numba


@numba.njit(cache=True, fastmath=False)
def sgd_epoch(users, items, ratings, order, mu, user_bias, item_bias, p, q, lr, reg, reg_bias):
    """One pass over the ratings in ``order``; returns the sum of squared errors before each update."""
    dim = p.shape[1]
    sse = 0.0
    for t in range(order.shape[0]):
        r = order[t]
        u = users[r]
        i = items[r]
        pred = mu + user_bias[u] + item_bias[i]
        for f in range(dim):
            pred += p[u, f] * q[i, f]
        err = ratings[r] - pred
        sse += err * err
        user_bias[u] += lr * (err - reg_bias * user_bias[u])
        item_bias[i] += lr * (err - reg_bias * item_bias[i])
        for f in range(dim):
            pu = p[u, f]
            qi = q[i, f]
            p[u, f] += lr * (err * qi - reg * pu)
            q[i, f] += lr * (err * pu - reg * qi)
    return sse
