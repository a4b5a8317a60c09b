"""Clustering, descriptions and near-duplicates on planted structure."""

from __future__ import annotations

import numpy as np
import pytest

from embspace import EmbeddingSpace
from embspace.analysis import distinctive_terms, find_duplicates, hdbscan, kmeans
from embspace.errors import InvalidInputError


def _blobs(seed: int = 0) -> tuple[EmbeddingSpace, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((4, 20)) * 5
    truth = np.repeat(np.arange(4), 150)
    x = centres[truth] + rng.standard_normal((600, 20))
    return EmbeddingSpace([f"p{i}" for i in range(600)], x.astype(np.float32), metric="l2"), truth


def test_kmeans_recovers_planted_clusters() -> None:
    space, truth = _blobs()
    c = kmeans(space, 4, true_labels=truth)
    assert c.n_clusters == 4 and sorted(c.sizes) == [150] * 4
    assert c.nmi == pytest.approx(1.0) and c.ari == pytest.approx(1.0) and c.silhouette is not None
    assert c.silhouette > 0.5 and "NMI 1.000" in c.explanation
    first = c.descriptions[0]
    assert len(first) == 5 and len({int(truth[int(k[1:])]) for k in first}) == 1  # one true cluster


def test_hdbscan_finds_the_clusters_and_marks_noise() -> None:
    space, _truth = _blobs(1)
    x = np.vstack([space.vectors, np.random.default_rng(2).uniform(-30, 30, (20, 20)).astype(np.float32)])
    c = hdbscan(EmbeddingSpace([f"q{i}" for i in range(620)], x, metric="l2"), min_cluster_size=20)
    assert c.n_clusters == 4 and (c.labels[600:] == -1).mean() > 0.8
    assert c.nmi is None


def test_distinctive_terms_by_ctfidf() -> None:
    texts = ["the cat purrs", "a cat and a kitten", "kitten meows", "stocks fell", "market stocks rally",
             "the market closed"]
    terms = distinctive_terms(texts, [0, 0, 0, 1, 1, 1], top=2)
    assert set(terms[0]) == {"cat", "kitten"} and set(terms[1]) == {"stocks", "market"}


def test_dedup_groups_near_duplicates_exactly_and_approximately() -> None:
    rng = np.random.default_rng(3)
    x = rng.standard_normal((3000, 32)).astype(np.float32)
    x[10] = x[5] + 0.01 * rng.standard_normal(32).astype(np.float32)
    x[20] = x[5] + 0.01 * rng.standard_normal(32).astype(np.float32)
    x[7] = x[2] * 3  # same direction, another length: a cosine duplicate
    space = EmbeddingSpace([f"d{i}" for i in range(3000)], x)
    assert find_duplicates(space, 0.99) == [["d5", "d10", "d20"], ["d2", "d7"]]
    assert find_duplicates(space, 0.99, exact_below=100) == [["d5", "d10", "d20"], ["d2", "d7"]]  # via HNSW
    assert find_duplicates(space, 0.9999999) == [["d2", "d7"]]
    with pytest.raises(InvalidInputError):
        find_duplicates(space, 2.0)


# ---------------------------------------------------------------- issue 23: dedup in bounded memory
def _reference_groups(space: EmbeddingSpace, threshold: float) -> list[list[str]]:
    """The old all-pairs result: connected components of the full similarity matrix (O(n**2))."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    x = np.asarray(space.vectors, np.float64)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    a, b = np.nonzero(x @ x.T >= threshold)
    _, comp = connected_components(coo_matrix((np.ones(len(a)), (a, b)), shape=(len(x), len(x))), directed=False)
    groups: dict[int, list[int]] = {}
    for i, c in enumerate(comp.tolist()):
        groups.setdefault(c, []).append(i)
    out = sorted((g for g in groups.values() if len(g) > 1), key=lambda g: (-len(g), g[0]))
    return [[space.keys[i] for i in g] for g in out]


def _clustered_space(n: int, dim: int = 16, seed: int = 0) -> EmbeddingSpace:
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((n // 4, dim))
    x = centers[rng.integers(0, len(centers), n)] + 0.02 * rng.standard_normal((n, dim))
    return EmbeddingSpace([f"k{i}" for i in range(n)], x.astype("float32"))


@pytest.mark.parametrize("budget", [1, 7, 1 << 21])
def test_find_duplicates_blockwise_equals_all_pairs(monkeypatch, budget):
    """Blocks of any size (one row, a few, the default) give exactly the all-pairs groups. The data is
    far from the threshold (no pair within 1e-3 of it), so float rounding cannot move a pair."""
    from embspace.analysis import clustering

    monkeypatch.setattr(clustering, "PAIR_BUDGET", budget)
    space = _clustered_space(400)
    x = np.asarray(space.vectors, np.float64)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    assert not (np.abs(x @ x.T - 0.99) < 1e-3).any()
    assert find_duplicates(space, 0.99) == _reference_groups(space, 0.99)
    assert len(find_duplicates(space, 0.99)) > 10


@pytest.mark.parametrize("chunk", [1, 5, 1 << 17])
def test_find_duplicates_merges_pairs_in_bounded_chunks(monkeypatch, chunk):
    """A merge's native steps hold the interpreter lock for their whole length (2**21 pairs: ~210 ms, a stall
    of every request of a server running a dedup in a worker thread): pairs are merged at most MERGE_CHUNK
    at a time, and chunks of any size give exactly the all-pairs groups."""
    from embspace.analysis import clustering

    monkeypatch.setattr(clustering, "MERGE_CHUNK", chunk)
    sizes: list[int] = []
    real = clustering._Groups._merge

    def merge(self, a, b):  # type: ignore[no-untyped-def]
        sizes.append(len(a))
        real(self, a, b)

    monkeypatch.setattr(clustering._Groups, "_merge", merge)
    space = _clustered_space(400)
    assert find_duplicates(space, 0.99) == _reference_groups(space, 0.99)
    assert sizes and max(sizes) <= chunk


def test_find_duplicates_memory_grows_linearly_when_every_pair_is_a_duplicate(monkeypatch):
    """10k items took 8.1 GB (every pair held at once); now a block holds at most PAIR_BUDGET pairs,
    so doubling n (quadrupling the pairs) at most about doubles the peak (measured before the fix:
    0.54 GB at n = 2,500, 1.9 GB at n = 5,000)."""
    import tracemalloc

    from embspace.analysis import clustering

    monkeypatch.setattr(clustering, "PAIR_BUDGET", 1 << 18)

    def peak(n: int) -> int:
        rng = np.random.default_rng(1)
        x = np.ones((n, 8), np.float32) + 1e-4 * rng.standard_normal((n, 8)).astype(np.float32)
        space = EmbeddingSpace([f"k{i}" for i in range(n)], x)
        tracemalloc.start()
        try:
            groups = find_duplicates(space, 0.9)
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
            assert groups == [list(space.keys)]

    small, big = peak(2500), peak(5000)
    assert big < 2.6 * small, (small, big)
    assert big < 100 << 20
