"""Helpers shared by the training tests: a corpus with planted topics, topic purity, and synthetic
interactions (low-rank ratings; users of two tastes)."""

from __future__ import annotations

import numpy as np

from embspace.data import Interactions


def topic_corpus(n_sentences: int = 3000, topics: int = 5, words_per_topic: int = 20, length: int = 12,
                 seed: int = 0, noise: float = 0.0) -> list[list[str]]:
    """Sentences that each draw their words from one topic: words of a topic share contexts.

    With ``noise`` > 0, that share of the words comes from a random topic, so words of different
    topics co-occur too, rarely (what GloVe, which only fits observed co-occurrences, needs).
    """
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n_sentences):
        t = rng.integers(topics)
        own = rng.random(length) >= noise
        tt = np.where(own, t, rng.integers(topics, size=length))
        out.append([f"t{a}w{w}" for a, w in zip(tt, rng.integers(words_per_topic, size=length), strict=True)])
    return out


def topic_purity(space: object, topics: int = 5, words_per_topic: int = 20, k: int = 5) -> float:
    """Share of each word's k nearest neighbours that come from its own topic."""
    keys = [f"t{t}w{w}" for t in range(topics) for w in range(words_per_topic)]
    res = space.neighbors(keys, k=k)  # type: ignore[attr-defined]
    same = [n.split("w")[0] == q.split("w")[0] for q, row in zip(keys, res.keys, strict=True) for n in row]
    return float(np.mean(same))


def low_rank_ratings(seed: int = 0, n_users: int = 60, n_items: int = 40, density: float = 0.5) -> Interactions:
    """Ratings from a rank-3 model plus user offsets, about half the pairs observed."""
    rng = np.random.default_rng(seed)
    p, q = rng.standard_normal((n_users, 3)), rng.standard_normal((n_items, 3))
    full = 3 + 0.5 * rng.standard_normal(n_users)[:, None] + 0.5 * (p @ q.T) / np.sqrt(3)
    u, i = np.nonzero(rng.random((n_users, n_items)) < density)
    return Interactions({"user": [f"u{x}" for x in u], "item": [f"i{x}" for x in i], "rating": full[u, i]})


def two_tastes(seed: int = 0, n_users: int = 120, n_items: int = 60, per_user: int = 12) -> tuple[
        Interactions, dict[str, set[str]], np.ndarray]:
    """Users of group g interact only with items of group g; some of each user's items are held out."""
    rng = np.random.default_rng(seed)
    groups = rng.integers(0, 2, n_users)
    users, items, held = [], [], {}
    half = n_items // 2
    for u, g in enumerate(groups):
        own = rng.choice(np.arange(g * half, g * half + half), per_user, replace=False)
        users += [f"u{u}"] * (per_user - 3)
        items += [f"i{i}" for i in own[3:]]
        held[f"u{u}"] = {f"i{i}" for i in own[:3]}
    return Interactions({"user": users, "item": items}), held, groups
