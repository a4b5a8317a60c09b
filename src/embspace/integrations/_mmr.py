"""Maximal marginal relevance: pick results relevant to a query yet unlike each other."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from ..errors import InvalidInputError

__all__ = ["maximal_marginal_relevance"]


def _unit(x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    out: npt.NDArray[np.float64] = np.divide(x, norms, out=np.zeros_like(x), where=norms > 0)
    return out


def maximal_marginal_relevance(query: npt.ArrayLike, candidates: npt.ArrayLike, k: int,
                               lambda_mult: float = 0.5) -> list[int]:
    """The rows of ``candidates`` to return, in order, by maximal marginal relevance (Carbonell & Goldstein, 1998).

    Each step takes the candidate maximising ``lambda_mult * cos(query, c) - (1 - lambda_mult) *
    max(cos(c, s) for s already taken)``; the first is the candidate most similar to the query.

    Parameters
    ----------
    query : (dim,) array
    candidates : (n, dim) array
        The vectors of the candidates (e.g. the ``fetch_k`` nearest items).
    k : int
        How many to pick (at most ``n``).
    lambda_mult : float in [0, 1]
        1 ranks by relevance alone, 0 by diversity alone.

    Returns
    -------
    list of int
        Row indices into ``candidates``, best first.
    """
    if not 0.0 <= lambda_mult <= 1.0:
        raise InvalidInputError(f"lambda_mult must be in [0, 1], got {lambda_mult}")
    cand = np.asarray(candidates, np.float64)
    if cand.ndim != 2 or cand.shape[0] == 0 or k < 1:
        return []
    q = _unit(np.asarray(query, np.float64).reshape(-1))
    cand = _unit(cand)
    relevance = cand @ q
    taken = [int(np.argmax(relevance))]
    redundancy = cand @ cand[taken[0]]  # max similarity of each candidate to those taken
    while len(taken) < min(k, len(cand)):
        score = lambda_mult * relevance - (1.0 - lambda_mult) * redundancy
        score[taken] = -np.inf
        best = int(np.argmax(score))
        taken.append(best)
        redundancy = np.maximum(redundancy, cand @ cand[best])
    return taken
