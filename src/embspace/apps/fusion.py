"""Reciprocal rank fusion: one ranking from several, by rank alone.

Cormack, Clarke and Büttcher, "Reciprocal rank fusion outperforms Condorcet and individual rank
learning methods", SIGIR 2009: an item's fused score is ``sum_r w_r / (k + rank_r(item))`` over the
rankings ``r`` that hold it (ranks from 1). Only ranks count, so scores on different scales (cosine
similarities, BM25 scores) fuse without calibration; ``k = 60`` (their choice) damps the weight of
the very first ranks so that agreement between rankings decides.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..errors import InvalidInputError

__all__ = ["reciprocal_rank_fusion"]


def reciprocal_rank_fusion(rankings: Sequence[Sequence[str]], k: float = 60,
                           weights: Sequence[float] | None = None) -> list[tuple[str, float]]:
    """Fuse rankings (keys, best first) into one list of ``(key, score)``, best first.

    Parameters
    ----------
    rankings
        Each a sequence of keys, best first; a key appearing twice in one ranking counts at its best
        rank. Rankings may differ in length and in the keys they hold.
    k
        The rank constant (> 0): each ranking adds ``weight / (k + rank)``.
    weights
        One non-negative weight per ranking (default 1 each).

    Returns
    -------
    list of (key, score)
        Every key of every ranking, by decreasing fused score; ties keep the order in which keys first
        appear (ranking by ranking), so the result is deterministic.

    Examples
    --------
    >>> reciprocal_rank_fusion([["a", "b", "c"], ["b", "a", "d"]], k=60)[0][0] in ("a", "b")
    True
    """
    if isinstance(rankings, str) or any(isinstance(r, str) for r in rankings):
        raise InvalidInputError("rankings must be a list of rankings, each a list of keys")
    if not k > 0:
        raise InvalidInputError(f"k must be positive, got {k}")
    if weights is None:
        weights = [1.0] * len(rankings)
    elif len(weights) != len(rankings):
        raise InvalidInputError(f"{len(weights)} weights for {len(rankings)} rankings")
    elif any(not w >= 0 for w in weights):
        raise InvalidInputError(f"weights must be non-negative, got {list(weights)}")
    scores: dict[str, float] = {}
    for ranking, w in zip(rankings, weights, strict=True):
        seen: set[str] = set()
        for rank, key in enumerate(ranking, 1):
            if key in seen:
                continue
            seen.add(key)
            scores[key] = scores.get(key, 0.0) + float(w) / (k + rank)
    return sorted(scores.items(), key=lambda kv: -kv[1])  # stable: ties stay in order of first appearance
