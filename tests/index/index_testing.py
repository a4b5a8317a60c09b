"""Helpers of the index tests: seeded clustered data, recall, and a cache of built indexes."""

from __future__ import annotations

from typing import Any

import numpy as np

from embspace.index import ExactIndex, FaissIndex

N, DIM, NQ, K = 5000, 32, 200, 10
METRICS = ("cosine", "dot", "l2")


def clustered(n: int = N, dim: int = DIM, *, clusters: int = 100, spread: float = 1.0, seed: int = 0,
              centers_seed: int = 7) -> np.ndarray:
    """``n`` float32 points around ``clusters`` Gaussian centres (the same centres for every seed)."""
    centers = np.random.default_rng(centers_seed).standard_normal((clusters, dim))
    rng = np.random.default_rng(seed)
    x = centers[rng.integers(0, clusters, n)] + spread * rng.standard_normal((n, dim))
    return x.astype(np.float32)


def with_norms(x: np.ndarray, low: float = 0.1, high: float = 10.0, seed: int = 3) -> np.ndarray:
    """Rows rescaled to norms log-uniform in [low, high] x their original norm."""
    scale = np.exp(np.random.default_rng(seed).uniform(np.log(low), np.log(high), len(x)))
    return (x * scale[:, None]).astype(np.float32)


def anisotropic(n: int = N, dim: int = DIM, *, offset: float = 1.0, seed: int = 0) -> np.ndarray:
    """Gaussian points sharing a common direction (an offset), as most real embeddings do."""
    return (np.random.default_rng(seed).standard_normal((n, dim)) + offset).astype(np.float32)


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    """Mean |found & truth| / |truth| over query rows (-1 ignored)."""
    total = 0.0
    for f, t in zip(np.atleast_2d(found), np.atleast_2d(truth), strict=True):
        t = t[t >= 0]
        total += len(np.intersect1d(f[f >= 0], t)) / max(len(t), 1)
    return total / len(np.atleast_2d(truth))


def exact_ids(x: np.ndarray, ids: np.ndarray, q: np.ndarray, metric: str, k: int = K,
              allowed: Any = None) -> np.ndarray:
    oracle = ExactIndex(x.shape[1], metric=metric)  # type: ignore[arg-type]
    oracle.add(x, ids)
    return oracle.search(q, k, allowed_ids=allowed).ids


_CACHE: dict[tuple[Any, ...], FaissIndex] = {}


def built(factory: str, metric: str, refine: int | None = None, params: dict[str, int] | None = None,
          data: str = "clustered") -> FaissIndex:
    """A FaissIndex over the shared data, built once per test session (tests must not modify it)."""
    key = (factory, metric, refine, tuple(sorted((params or {}).items())), data)
    if key not in _CACHE:
        x = DATA[data]
        index = FaissIndex(DIM, factory, metric=metric, refine=refine, params=params)  # type: ignore[arg-type]
        if factory.startswith("OPQ"):  # OPQ's 50 rotation iterations dominate the build: 10 will do
            import faiss

            faiss.downcast_VectorTransform(index.faiss_index.chain.at(0)).niter = 10
        if "PQ" in factory:  # product quantizers train on a sample (39 points per list are enough for IVF64)
            index.train(x[:2500])
        index.add(x, IDS)
        _CACHE[key] = index
    return _CACHE[key]


X = clustered()
Q = clustered(NQ, seed=1)
IDS = np.arange(N, dtype=np.int64) * 3 + 100  # caller ids unrelated to positions
DATA = {"clustered": X, "norms": with_norms(X), "anisotropic": with_norms(anisotropic())}
QUERIES = {"clustered": Q, "norms": with_norms(Q, seed=4),
           "anisotropic": np.random.default_rng(1).standard_normal((NQ, DIM)).astype(np.float32)}
