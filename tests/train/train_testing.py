"""Helpers shared by the training tests: a corpus with planted topics, and topic purity."""

from __future__ import annotations

import numpy as np


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


