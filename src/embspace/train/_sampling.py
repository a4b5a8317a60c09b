"""Sampling tables shared by the learners."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt


def alias_table(p: npt.NDArray[np.float64]) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int32]]:
    """Walker's alias table for drawing from ``p`` in O(1): ``(accept probability, alias)``.

    Draw ``k`` uniformly, keep it with probability ``prob[k]``, else take ``alias[k]``.
    """
    n = len(p)
    scaled = np.asarray(p, np.float64) * n / p.sum()
    prob = np.ones(n, np.float32)
    alias = np.arange(n, dtype=np.int32)
    small = [int(i) for i in np.nonzero(scaled < 1.0)[0]]
    large = [int(i) for i in np.nonzero(scaled >= 1.0)[0]]
    while small and large:
        s = small.pop()
        g = large[-1]
        prob[s] = scaled[s]
        alias[s] = g
        scaled[g] -= 1.0 - scaled[s]
        if scaled[g] < 1.0:
            large.pop()
            small.append(g)
    return prob, alias
