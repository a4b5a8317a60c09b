"""Clustering (k-means with FAISS, HDBSCAN with scikit-learn), cluster descriptions, near-duplicates."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from .. import _deprecation, _html
from ..errors import InvalidInputError
from ..space import _linalg
from ..space.embedding_space import EmbeddingSpace

__all__ = ["Clustering", "distinctive_terms", "find_duplicates", "hdbscan", "kmeans"]

SILHOUETTE_SAMPLE = 10_000


@dataclass(frozen=True)
class Clustering:
    """A clustering of a space's rows.

    ``labels``: a cluster number per row (``-1``: noise, HDBSCAN only). ``silhouette`` (on up to
    10,000 rows, the space's metric), and ``nmi``/``ari`` against ``true_labels`` when given.
    ``descriptions``: for each cluster, the keys nearest its centre.
    """

    method: str
    labels: npt.NDArray[np.int64] = field(repr=False)
    n_clusters: int
    sizes: list[int]
    silhouette: float | None
    nmi: float | None
    ari: float | None
    descriptions: list[list[str]] = field(repr=False)
    explanation: str = ""

    def _repr_html_(self) -> str:
        order = np.argsort(-np.asarray(self.sizes), kind="stable")[: _html.MAX_ROWS]
        rows = [(i, self.sizes[i], self.descriptions[i] if i < len(self.descriptions) else [])
                for i in order.tolist()]
        clusters = _html.table(rows, ["cluster", "size", "nearest its centre"], total=len(self.sizes),
                               more="more clusters")
        return _html.dataclass_html(self, skip=["sizes"], after=[clusters],
                                    subtitle=f"{self.method}, {self.n_clusters:,} clusters")


def _vectors(space: EmbeddingSpace | npt.ArrayLike) -> tuple[npt.NDArray[np.float32], list[str], str]:
    if isinstance(space, EmbeddingSpace):
        x = np.asarray(space.vectors, np.float32)
        metric = space.metric
        keys = list(space.keys)
    else:
        x = np.ascontiguousarray(space, np.float32)
        metric, keys = "cosine", [str(i) for i in range(len(x))]
    if x.ndim != 2 or len(x) < 2:
        raise InvalidInputError(f"expected a (n >= 2, dim) matrix, got shape {x.shape}")
    if not np.isfinite(x).all():
        raise InvalidInputError("the vectors contain NaN or Inf")
    if metric == "cosine":
        x = _linalg.unit_rows(x)
    return np.ascontiguousarray(x, np.float32), keys, metric


def _scores(x: npt.NDArray[np.float32], labels: npt.NDArray[np.int64], metric: str,
            true_labels: Sequence[Any] | None, seed: int) -> tuple[float | None, float | None, float | None]:
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score, silhouette_score

    clustered = labels >= 0
    sil = None
    if len(set(labels[clustered].tolist())) >= 2:
        rows = np.nonzero(clustered)[0]
        if len(rows) > SILHOUETTE_SAMPLE:
            rows = np.random.default_rng(seed).choice(rows, SILHOUETTE_SAMPLE, replace=False)
        sil = float(silhouette_score(x[rows], labels[rows], metric="cosine" if metric != "l2" else "euclidean"))
    nmi = ari = None
    if true_labels is not None:
        truth = np.asarray(true_labels)
        if len(truth) != len(labels):
            raise InvalidInputError(f"{len(truth)} true labels for {len(labels)} rows")
        nmi = float(normalized_mutual_info_score(truth, labels))
        ari = float(adjusted_rand_score(truth, labels))
    return sil, nmi, ari


def _describe(x: npt.NDArray[np.float32], labels: npt.NDArray[np.int64], keys: list[str], n: int) -> list[list[str]]:
    out: list[list[str]] = []
    for c in range(int(labels.max()) + 1 if len(labels) else 0):
        rows = np.nonzero(labels == c)[0]
        if not len(rows):
            out.append([])
            continue
        centre = x[rows].mean(axis=0)
        d = np.linalg.norm(x[rows] - centre, axis=1)
        out.append([keys[i] for i in rows[np.argsort(d, kind="stable")[:n]]])
    return out


def _result(method: str, x: npt.NDArray[np.float32], labels: npt.NDArray[np.int64], keys: list[str], metric: str,
            true_labels: Sequence[Any] | None, describe: int, seed: int) -> Clustering:
    sil, nmi, ari = _scores(x, labels, metric, true_labels, seed)
    n_clusters = int(labels.max()) + 1 if (labels >= 0).any() else 0
    sizes = np.bincount(labels[labels >= 0], minlength=n_clusters).tolist()
    text = f"{method}: {n_clusters} clusters (sizes {min(sizes, default=0)}-{max(sizes, default=0)})"
    noise = float((labels < 0).mean())
    if noise:
        text += f", {noise:.0%} of the points in no cluster"
    if sil is not None:
        text += f"; silhouette {sil:.3f}" + (" (well separated)" if sil > 0.5 else " (overlapping)" if sil < 0.1
                                              else "")
    if nmi is not None and ari is not None:
        text += f"; against the labels NMI {nmi:.3f}, ARI {ari:.3f}"
    return Clustering(method, labels, n_clusters, sizes, sil, nmi, ari, _describe(x, labels, keys, describe),
                      text + ".")


def kmeans(space: EmbeddingSpace | npt.ArrayLike, k: int, *, true_labels: Sequence[Any] | None = None,
           niter: int = 25, nredo: int = 3, seed: int = 0, describe: int = 5) -> Clustering:
    """k-means (FAISS; spherical — unit centroids — for cosine spaces), the best of ``nredo`` runs."""
    import faiss

    x, keys, metric = _vectors(space)
    if not 1 <= k <= len(x):
        raise InvalidInputError(f"k must be between 1 and the number of rows ({len(x)}), got {k}")
    km = faiss.Kmeans(x.shape[1], k, niter=niter, nredo=nredo, seed=seed, spherical=metric == "cosine",
                      max_points_per_centroid=max(256, len(x) // k + 1), verbose=False)
    km.train(x)
    _, assign = km.index.search(x, 1)
    labels = assign[:, 0].astype(np.int64)
    return _result("k-means", x, labels, keys, metric, true_labels, describe, seed)


def hdbscan(space: EmbeddingSpace | npt.ArrayLike, *, min_cluster_size: int = 10, min_samples: int | None = None,
            true_labels: Sequence[Any] | None = None, seed: int = 0, describe: int = 5) -> Clustering:
    """HDBSCAN (scikit-learn): clusters of varying density, with noise points (label -1)."""
    from sklearn.cluster import HDBSCAN

    x, keys, metric = _vectors(space)
    model = HDBSCAN(min_cluster_size=min_cluster_size, min_samples=min_samples, copy=True)
    labels = model.fit_predict(x).astype(np.int64)
    return _result("HDBSCAN", x, labels, keys, metric, true_labels, describe, seed)


def distinctive_terms(texts: Sequence[str], labels: npt.ArrayLike, top: int = 10) -> dict[int, list[str]]:
    """The words most specific to each cluster by class-based TF-IDF (c-TF-IDF, as BERTopic):
    term frequency within the cluster times log(1 + average words per cluster / term frequency overall)."""
    from sklearn.feature_extraction.text import CountVectorizer

    lab = np.asarray(labels)
    if len(lab) != len(texts):
        raise InvalidInputError(f"{len(texts)} texts for {len(lab)} labels")
    clusters = sorted(int(c) for c in set(lab.tolist()) if c >= 0)
    docs = [" ".join(t for t, c in zip(texts, lab.tolist(), strict=True) if c == cl) for cl in clusters]
    vec = CountVectorizer(stop_words="english", min_df=1)
    counts = vec.fit_transform(docs).toarray().astype(np.float64)
    tf = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    avg = counts.sum() / max(len(clusters), 1)
    idf = np.log(1 + avg / np.maximum(counts.sum(axis=0), 1))
    score = tf * idf
    vocab = vec.get_feature_names_out()
    return {cl: [str(vocab[j]) for j in np.argsort(-score[i])[:top]] for i, cl in enumerate(clusters)}


#: Pairs (similarities) one block of :func:`find_duplicates` may hold at once: the memory of the
#: search is O(n * dim + PAIR_BUDGET), never O(n**2), however many pairs are above the threshold.
PAIR_BUDGET = 1 << 21


#: Pairs merged into the groups at once. The native steps of a merge (sorting the labels, the connected
#: components) hold the interpreter lock for their whole length: 2**21 pairs held it ~210 ms, which a server
#: running a dedup in a worker thread felt as a 210 ms stall of every other request; 2**17 pairs hold it ~15 ms.
MERGE_CHUNK = 1 << 17


class _Groups:
    """Connected components grown block by block (a union-find over labels): memory O(n), whatever
    the number of pairs merged."""

    def __init__(self, n: int) -> None:
        self.label = np.arange(n, dtype=np.int64)  # a representative row of each row's group so far

    def merge(self, a: npt.NDArray[np.int64], b: npt.NDArray[np.int64]) -> None:
        """Join the groups of ``a[i]`` and ``b[i]`` for every i, :data:`MERGE_CHUNK` pairs at a time."""
        for s in range(0, len(a), MERGE_CHUNK):
            self._merge(a[s : s + MERGE_CHUNK], b[s : s + MERGE_CHUNK])

    def _merge(self, a: npt.NDArray[np.int64], b: npt.NDArray[np.int64]) -> None:
        from scipy.sparse import coo_matrix
        from scipy.sparse.csgraph import connected_components

        la, lb = self.label[a], self.label[b]
        keep = la != lb
        if not keep.any():
            return
        la, lb = la[keep], lb[keep]
        nodes, inv = np.unique(np.concatenate([la, lb]), return_inverse=True)
        u = len(nodes)
        graph = coo_matrix((np.ones(len(la), np.int8), (inv[: len(la)], inv[len(la):])), shape=(u, u))
        _, comp = connected_components(graph, directed=False)
        first = np.zeros(int(comp.max()) + 1, np.int64)
        first[comp[::-1]] = nodes[::-1]  # the smallest label of each merged component (nodes are sorted)
        mapping = np.arange(len(self.label), dtype=np.int64)
        mapping[nodes] = first[comp]
        self.label = mapping[self.label]

    def groups(self) -> list[npt.NDArray[np.int64]]:
        """Groups of two or more rows, largest first (ties: by first row), rows in order."""
        _, comp = np.unique(self.label, return_inverse=True)
        sizes = np.bincount(comp)
        order = np.argsort(comp, kind="stable")  # rows grouped by component, in row order within each
        bounds = np.cumsum(sizes)[:-1]
        out = [g for g in np.split(order, bounds) if len(g) > 1]
        out.sort(key=lambda g: (-len(g), int(g[0])))
        return out


def find_duplicates(space: EmbeddingSpace, threshold: float = 0.95, *, k: int = 20, exact_below: int = 100_000
                    ) -> list[list[str]]:
    """Groups (of two or more keys) of near-duplicates: connected by cosine similarity >= ``threshold``.

    Below ``exact_below`` rows every pair above the threshold is found (FAISS range search);
    above it, each row's ``k`` nearest neighbours from an HNSW index are checked, which finds the
    groups whose members are among each other's ``k`` nearest.

    The rows are searched in blocks and each block's pairs are merged into the groups at once
    (a union-find), so memory is O(n * dim + :data:`PAIR_BUDGET`) (O(n * k) pairs above
    ``exact_below``), never O(n**2), even when every pair is a duplicate.
    """
    import faiss

    if not -1.0 <= threshold <= 1.0:
        raise InvalidInputError(f"threshold is a cosine similarity in [-1, 1], got {threshold}")
    x, keys, _ = _vectors(space.with_metric("cosine"))
    n = len(x)
    groups = _Groups(n)
    index: Any
    if n < exact_below:
        index = faiss.IndexFlatIP(x.shape[1])
        index.add(x)
        block = int(min(4096, max(1, PAIR_BUDGET // n)))  # a block's pairs: at most block * n
        radius = float(np.nextafter(np.float32(threshold), -1))
        for r0 in range(0, n, block):
            lims, _, ids = index.range_search(x[r0 : r0 + block], radius)
            rows = np.repeat(np.arange(r0, r0 + len(lims) - 1, dtype=np.int64), np.diff(lims.astype(np.int64)))
            groups.merge(rows, ids.astype(np.int64))
    else:
        index = faiss.IndexHNSWFlat(x.shape[1], 32, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efSearch = max(64, 2 * k)
        index.add(x)
        block = int(max(1, PAIR_BUDGET // (k + 1)))
        for r0 in range(0, n, block):
            sims, ids = index.search(x[r0 : r0 + block], k + 1)
            ok = (sims >= threshold) & (ids >= 0)
            groups.merge(np.nonzero(ok)[0].astype(np.int64) + r0, ids[ok].astype(np.int64))
    return [[keys[i] for i in g.tolist()] for g in groups.groups()]


#: Old name (one release): ``dedup``.
__getattr__ = _deprecation.renamed(__name__, {"dedup": "find_duplicates"})
