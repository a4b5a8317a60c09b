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
