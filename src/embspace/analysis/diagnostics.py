"""Diagnostics of an embedding space's shape: norms, anisotropy, intrinsic dimension, hubness.

Each function takes an :class:`~embspace.EmbeddingSpace` (or a plain ``(n, dim)`` array) and returns
a small frozen result with the figures and a plain-language ``explanation``. Big spaces are
measured on a seeded random sample of ``sample`` rows (``None``: every row).

Which vectors are measured (each result says so in its ``vectors`` field, ``"raw"`` or ``"unit"``):
norms on the raw vectors, anisotropy on the unit vectors (the directions cosine similarity sees),
intrinsic dimension and hubness on the vectors the metric compares: unit vectors for ``cosine``,
raw vectors for ``l2`` and ``dot``. :func:`summary` (``embspace analyze``) and
:func:`~embspace.analysis.report` (``embspace analyze --report``) follow the same rule on the same
seeded rows, so they give the same figures for the same ``sample`` and ``k``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from .. import _html
from ..errors import InvalidInputError
from ..space import _linalg
from ..space.embedding_space import EmbeddingSpace

__all__ = ["Anisotropy", "Hubness", "IntrinsicDimension", "Norms", "anisotropy", "hubness",
           "hubness_of", "intrinsic_dimension", "intrinsic_dimension_of", "measured_vectors", "mle_dimension", "norms",
           "summary", "twonn"]

F64 = npt.NDArray[np.float64]
ROGUE_SHARE = 0.10  # a coordinate giving at least this share of the mean cosine is a rogue dimension
ROGUE_MIN_COSINE = 0.05  # ... when the mean cosine is large enough for shares to mean something
#: The metrics the diagnostics know, and the vectors each compares ("unit": L2-normalised rows).
_VECTORS_OF: dict[str, str] = {"cosine": "unit", "l2": "raw", "dot": "raw"}


def measured_vectors(metric: str) -> str:
    """``"unit"`` or ``"raw"``: the vectors the neighbour-based measures (intrinsic dimension, hubness) use
    under ``metric``: the unit vectors for cosine, the raw vectors for l2 and dot."""
    if metric not in _VECTORS_OF:
        raise InvalidInputError(f"unknown metric {metric!r}; expected one of {', '.join(_VECTORS_OF)}")
    return _VECTORS_OF[metric]


def _metric_view(x: npt.NDArray[np.float32], metric: str) -> npt.NDArray[np.float32]:
    """The rows as ``metric`` compares them: unit rows (float32) for cosine, ``x`` itself otherwise."""
    return np.asarray(_unit(x), np.float32) if measured_vectors(metric) == "unit" else x


def _rows(data: EmbeddingSpace | npt.ArrayLike, sample: int | None, seed: int, *, min_rows: int = 3
          ) -> tuple[npt.NDArray[np.float32], list[str] | None, npt.NDArray[np.int64]]:
    """(float32 rows, their keys or None, their row numbers), a seeded sample when ``sample`` is smaller."""
    if isinstance(data, EmbeddingSpace):
        x, keys = np.asarray(data.vectors, np.float32), list(data.keys)
    else:
        x, keys = np.asarray(data, np.float32), None
    if x.ndim != 2:
        raise InvalidInputError(f"expected a (n, dim) matrix, got shape {x.shape}")
    if len(x) < min_rows:
        raise InvalidInputError(f"need at least {min_rows} vectors, got {len(x)}")
    if not np.isfinite(x).all():
        raise InvalidInputError("the vectors contain NaN or Inf")
    rows = np.arange(len(x))
    if sample is None or len(x) <= sample:  # every row: no copy (a memory-mapped space stays mapped)
        return np.ascontiguousarray(x), keys, rows
    rows = np.sort(np.random.default_rng(seed).choice(len(x), sample, replace=False))
    return np.ascontiguousarray(x[rows]), ([keys[i] for i in rows] if keys is not None else None), rows


def _unit(x: npt.NDArray[Any]) -> F64:
    """Unit rows in float64 (zero rows stay zero: :func:`embspace.space._linalg.unit_rows`)."""
    out: F64 = _linalg.unit_rows(x, dtype=np.float64)
    return out


def _pca_shares(x: npt.NDArray[Any]) -> F64:
    """Explained-variance ratios of the principal components of ``x`` (centred), largest first (from
    the dim x dim covariance, accumulated in float64 blocks: no copy of a big ``x``)."""
    cov = _gram(x, centre=True)
    var = np.maximum(np.linalg.eigvalsh(cov)[::-1], 0.0)
    total = var.sum()
    return var / total if total > 0 else np.zeros_like(var)


def _gram(x: npt.NDArray[Any], *, centre: bool) -> F64:
    """``X^T X`` (of the centred rows when ``centre``) in float64, accumulated over row blocks."""
    d = x.shape[1]
    g = np.zeros((d, d))
    total = np.zeros(d)
    for r0 in range(0, len(x), 32_768):
        b = np.asarray(x[r0 : r0 + 32_768], np.float64)
        g += b.T @ b
        total += b.sum(axis=0)
    if centre and len(x):
        mean = total / len(x)
        g -= len(x) * np.outer(mean, mean)
    return g


def _neighbors(x: npt.NDArray[np.float32], k: int, metric: str) -> tuple[npt.NDArray[np.float32],
                                                                         npt.NDArray[np.int64]]:
    """Scores and row numbers of every row's ``k`` nearest other rows (exact search), best first."""
    from ..index import ExactIndex

    index = ExactIndex(x.shape[1], metric=metric)  # type: ignore[arg-type]
    index.add(x, np.arange(len(x)))
    res = index.search(x, k + 1)
    ids, scores = np.asarray(res.ids), np.asarray(res.scores)
    own = ids == np.arange(len(x))[:, None]
    # drop each row's own hit (usually the first column; with duplicates it may be elsewhere)
    keep = np.where(own.any(axis=1)[:, None], ~own, np.arange(k + 1)[None, :] < k)
    return scores[keep].reshape(len(x), k), ids[keep].reshape(len(x), k)


def _distances(x: npt.NDArray[np.float32], ids: npt.NDArray[np.int64]) -> F64:
    """Euclidean distances of every row of ``x`` to the rows ``ids[i]``, each row sorted ascending. Computed
    from the differences (not from search scores, whose ``|a|^2 + |b|^2 - 2ab`` loses small distances to
    cancellation: a duplicate must be at distance 0), summed in float64."""
    out = np.empty(ids.shape, np.float64)
    step = max(1, 2_000_000 // max(1, ids.shape[1] * x.shape[1]))  # rows per block: ~8 MB of differences
    for r0 in range(0, len(ids), step):
        block = ids[r0 : r0 + step]
        diff = x[block] - x[r0 : r0 + len(block), None, :]
        out[r0 : r0 + len(block)] = np.sqrt(np.einsum("mkd,mkd->mk", diff, diff, dtype=np.float64))
    out.sort(axis=1)
    return out


def _knn_distances(x: npt.NDArray[np.float32], k: int, metric: str = "l2") -> F64:
    """Euclidean distances of every row to its ``k`` nearest other rows (found under ``metric``; the
    rows must already be what the metric compares), ascending."""
    _, ids = _neighbors(x, k, "cosine" if metric == "cosine" else "l2")  # dot is no distance: its rows' l2
    return _distances(x, ids)


# ---------------------------------------------------------------------------------------------- norms


@dataclass(frozen=True)
class Norms:
    """The distribution of vector lengths (and their link to frequency when counts are known)."""

    mean: float
    std: float
    min: float
    max: float
    quantiles: dict[str, float]
    frequency_correlation: float | None  # Spearman correlation of norm and count
    explanation: str
    lengths: F64 = field(default_factory=lambda: np.zeros(0), repr=False)  # every measured norm
    vectors: str = "raw"  # norms are lengths of the raw vectors

    def _repr_html_(self) -> str:
        return _html.dataclass_html(self, extra=[("measured", len(self.lengths))])


def norms(space: EmbeddingSpace | npt.ArrayLike, *, sample: int | None = None, seed: int = 0) -> Norms:
    """Statistics of the L2 norms; with per-key counts, their Spearman correlation with frequency."""
    x, _, rows = _rows(space, sample, seed, min_rows=1)
    n = np.empty(len(x))
    for r0 in range(0, len(x), 65_536):  # in blocks: no float64 copy of a big space
        b = x[r0 : r0 + 65_536].astype(np.float64)
        n[r0 : r0 + len(b)] = np.sqrt(np.einsum("ij,ij->i", b, b))
    qs = {f"p{p}": float(np.percentile(n, p)) for p in (5, 25, 50, 75, 95)}
    corr = None
    counts = space.counts if isinstance(space, EmbeddingSpace) else None
    if counts is not None and len(rows) > 2:
        from scipy.stats import spearmanr

        c = np.asarray(counts)[rows]
        if np.ptp(c) > 0 and np.ptp(n) > 0:
            corr = float(spearmanr(n, c).statistic)
    cv = float(n.std() / n.mean()) if n.mean() > 0 else 0.0
    text = (f"Norms average {n.mean():.3g} (spread {cv:.0%} of the mean, from {n.min():.3g} to {n.max():.3g}).")
    if cv < 0.01:
        text += " The vectors are (almost) unit length: cosine and dot product rank alike."
    if corr is not None:
        text += (f" Norm and frequency correlate at {corr:+.2f} (Spearman)"
                 + (": frequent keys have longer vectors, so dot-product search favours them." if corr > 0.3 else
                    ": frequent keys have shorter vectors." if corr < -0.3 else "."))
    return Norms(float(n.mean()), float(n.std()), float(n.min()), float(n.max()), qs, corr, text, n)


# ------------------------------------------------------------------------------------------ anisotropy


@dataclass(frozen=True)
class Anisotropy:
    """How far the directions of the vectors are from uniform.

    ``mean_cosine``: average cosine of random pairs (0 for isotropic data). ``isotropy``: I(W) of
    Mu & Viswanath (2018), min over max of the partition function along the principal directions,
    in (0, 1], 1 for isotropic data. ``top1_variance`` / ``top10_variance``: share of the variance
    (of the unit vectors) in the first / first ten principal components. ``rogue_dimensions``:
    ``(coordinate, share of the mean cosine)`` for the coordinates that dominate cosine similarity
    (Timkey & van Schijndel, 2021), largest first.
    """

    mean_cosine: float
    isotropy: float
    top1_variance: float
    top10_variance: float
    rogue_dimensions: list[tuple[int, float]]
    cosine_share_by_dimension: F64 = field(repr=False)
    explanation: str = ""
    vectors: str = "unit"  # always the L2-normalised vectors (directions)

    @property
    def is_anisotropic(self) -> bool:
        return self.mean_cosine >= 0.1 or self.isotropy < 0.5 or bool(self.rogue_dimensions)

    def _repr_html_(self) -> str:
        return _html.dataclass_html(self, extra=[("anisotropic", self.is_anisotropic)])


def _isotropy(u: F64) -> float:
    """I(W) = min_c Z(c) / max_c Z(c), Z(c) = sum_w exp(c . w), c over the eigenvectors of W^T W."""
    _, vecs = np.linalg.eigh(_gram(u, centre=False))  # the principal directions c (eigenvectors of W^T W)
    proj = u @ vecs  # (n, dim): c . w for each c
    log_z = np.logaddexp.reduce(proj, axis=0)
    return float(np.exp(log_z.min() - log_z.max()))


def anisotropy(space: EmbeddingSpace | npt.ArrayLike, *, sample: int | None = 10_000, pairs: int = 100_000,
               seed: int = 0) -> Anisotropy:
    """Mean cosine of random pairs, isotropy I(W), variance in the top components, rogue dimensions.

    Everything is measured on the L2-normalised vectors (the directions cosine similarity sees).
    """
    x, _, _ = _rows(space, sample, seed)
    u = _unit(x)
    rng = np.random.default_rng(seed + 1)
    a = rng.integers(0, len(u), pairs)
    b = rng.integers(0, len(u) - 1, pairs)
    b = b + (b >= a)  # never a row with itself
    u32 = u.astype(np.float32)
    contrib = np.zeros(u.shape[1])  # each coordinate's part of the mean cosine
    for p0 in range(0, pairs, 16_384):
        contrib += (u32[a[p0 : p0 + 16_384]] * u32[b[p0 : p0 + 16_384]]).sum(axis=0, dtype=np.float64)
    contrib /= pairs
    mean_cos = float(contrib.sum())
    shares = contrib / mean_cos if abs(mean_cos) > 1e-12 else np.zeros_like(contrib)
    rogue: list[tuple[int, float]] = []
    if mean_cos >= ROGUE_MIN_COSINE:
        order = np.argsort(-shares)
        rogue = [(int(i), float(shares[i])) for i in order if shares[i] >= ROGUE_SHARE]
    pca = _pca_shares(u)
    iso = _isotropy(u)
    parts = [f"The mean cosine between random pairs is {mean_cos:.3f}"]
    if mean_cos >= 0.1:
        parts.append(" — the vectors share a common direction (a narrow cone): centring them removes it")
    else:
        parts.append(" (close to the 0 of directions spread evenly)")
    parts.append(f"; isotropy I(W) is {iso:.2f} (1 = isotropic); the first principal component holds "
                 f"{pca[0]:.1%} of the variance, the first ten {pca[:10].sum():.1%}.")
    if rogue:
        dims = ", ".join(f"{d} ({s:.0%})" for d, s in rogue[:5])
        parts.append(f" Rogue dimensions dominate cosine similarity: {dims} of the mean cosine; standardising "
                     "the coordinates (or all-but-the-top) evens them out.")
    return Anisotropy(mean_cos, iso, float(pca[0]), float(pca[:10].sum()), rogue, shares, "".join(parts))


# ------------------------------------------------------------------------------------ intrinsic dimension


@dataclass(frozen=True)
class IntrinsicDimension:
    """Estimates of the number of dimensions the data really uses.

    ``pca90`` / ``pca95``: principal components needed for 90% / 95% of the variance (linear).
    ``twonn``: TwoNN (Facco et al., 2017), from the ratio of each point's two nearest distances.
    ``mle``: Levina & Bickel's maximum-likelihood estimate over ``k`` neighbours (averaged as
    MacKay & Ghahramani suggest). The last two follow curved manifolds, PCA does not.
    ``vectors``: ``"unit"`` (a cosine space: measured on its L2-normalised vectors) or ``"raw"``.
    """

    pca90: int
    pca95: int
    twonn: float
    mle: float
    nominal: int
    n: int
    k: int
    explanation: str
    variance_shares: F64 = field(default_factory=lambda: np.zeros(0), repr=False)  # per component
    vectors: str = "raw"

    def _repr_html_(self) -> str:
        return _html.dataclass_html(self)


def twonn(distances: F64, discard: float = 0.1) -> float:
    """TwoNN from ``(n, >=2)`` ascending neighbour distances: the slope through the origin of
    -log(1 - F(mu)) against log(mu), mu = r2 / r1, the largest ``discard`` share of mu left out."""
    r1, r2 = distances[:, 0], distances[:, 1]
    ok = (r1 > 0) & (r2 > r1)
    mu = np.sort(r2[ok] / r1[ok])
    n = len(mu)
    if n < 3:
        raise InvalidInputError("too few distinct neighbour distances for TwoNN")
    keep = max(2, math.floor(n * (1 - discard)))
    f = np.arange(1, n + 1) / n
    x = np.log(mu[:keep])
    y = -np.log(1 - f[:keep])
    return float((x @ y) / (x @ x))


def mle_dimension(distances: F64, k: int) -> float:
    """Levina-Bickel MLE from ``(n, >=k)`` ascending neighbour distances, pooled by the inverse of
    the mean inverse (MacKay & Ghahramani)."""
    t = distances[:, :k]
    ok = (t > 0).all(axis=1)
    t = t[ok]
    if len(t) < 3:
        raise InvalidInputError("too few distinct neighbour distances for the MLE")
    logs = np.log(t[:, -1:] / t[:, :-1])  # log(T_k / T_j), j < k
    inv = logs.sum(axis=1) / (k - 2)  # 1 / m_k(x), the unbiased (k - 2) form
    return float(1.0 / inv.mean())


def intrinsic_dimension(space: EmbeddingSpace | npt.ArrayLike, *, sample: int | None = 10_000, k: int = 20,
                        seed: int = 0, metric: str | None = None) -> IntrinsicDimension:
    """PCA at 90% / 95% variance, TwoNN and MLE (``k`` neighbours) on up to ``sample`` rows, measured on
    the vectors ``metric`` compares (default: the space's metric; ``"l2"`` for a plain array): the unit
    vectors for cosine, the raw vectors for l2 and dot."""
    if k < 3:
        raise InvalidInputError(f"k must be at least 3, got {k}")
    metric = metric or (space.metric if isinstance(space, EmbeddingSpace) else "l2")
    vectors = measured_vectors(metric)
    x, _, _ = _rows(space, sample, seed, min_rows=k + 2)
    xi = _metric_view(x, metric)
    return intrinsic_dimension_of(xi, _knn_distances(xi, k, metric), vectors=vectors)


def intrinsic_dimension_of(x: npt.NDArray[np.float32], dist: F64, *, vectors: str = "raw") -> IntrinsicDimension:
    """The estimates from the rows ``x`` and their ascending ``(n, k)`` neighbour distances (when a
    neighbour graph is at hand already, as in the report); ``vectors`` says what ``x`` is (``"raw"`` or
    ``"unit"``)."""
    k = dist.shape[1]
    shares = np.cumsum(_pca_shares(x.astype(np.float64)))
    pca90 = int(np.searchsorted(shares, 0.90) + 1)
    pca95 = int(np.searchsorted(shares, 0.95) + 1)
    tn, ml = twonn(dist), mle_dimension(dist, k)
    raw = np.diff(shares, prepend=0.0)
    d = x.shape[1]
    text = (f"The space has {d} coordinates but its points use about {min(tn, ml):.0f}-{max(tn, ml):.0f} "
            f"dimensions locally (TwoNN {tn:.1f}, MLE {ml:.1f}); {pca90} principal components hold 90% of the "
            f"variance and {pca95} hold 95%.")
    if pca95 < d / 2:
        text += f" Reducing to about {pca95} dimensions (PCA / whitening) keeps 95% of the variance."
    return IntrinsicDimension(pca90, pca95, tn, ml, d, len(x), k, text, raw, vectors)


# ------------------------------------------------------------------------------------------- hubness


@dataclass(frozen=True)
class Hubness:
    """How unevenly points appear in others' k-nearest-neighbour lists.

    ``skewness`` of the k-occurrence N_k (0 when even; above ~1 hubs degrade retrieval),
    ``antihub_share``: points in nobody's list, ``hub_share``: points with N_k > 2k,
    ``top_hubs``: ``(key or row, N_k)`` of the most frequent neighbours; ``vectors``: the vectors the
    neighbours were found on (``"unit"`` under cosine, ``"raw"`` under l2 and dot; ``None`` for a graph given
    to :func:`hubness_of` without saying).
    """

    k: int
    skewness: float
    antihub_share: float
    hub_share: float
    top_hubs: list[tuple[str, int]]
    k_occurrence: npt.NDArray[np.int64] = field(repr=False)
    explanation: str = ""
    vectors: str | None = None

    def _repr_html_(self) -> str:
        hubs = _html.table(self.top_hubs, ["top hub", f"among others' {self.k} nearest"], more="more hubs")
        return _html.dataclass_html(self, skip=["top_hubs"], extra=[("points", len(self.k_occurrence))], after=[hubs])


def hubness(space: EmbeddingSpace | npt.ArrayLike, k: int = 10, *, sample: int | None = 10_000, seed: int = 0,
            metric: str | None = None, top: int = 10) -> Hubness:
    """k-occurrence skewness, anti-hubs and the top hubs of the ``k``-NN graph (cosine unless the
    space's metric says otherwise; on a sample, neighbours are taken within the sample)."""
    if k < 1:
        raise InvalidInputError(f"k must be positive, got {k}")
    x, keys, rows = _rows(space, sample, seed, min_rows=k + 2)
    metric = metric or (space.metric if isinstance(space, EmbeddingSpace) else "cosine")
    vectors = measured_vectors(metric)
    _, nbrs = _neighbors(x, k, metric)
    return hubness_of(nbrs, keys, rows, top=top, vectors=vectors)


def hubness_of(nbrs: npt.NDArray[np.int64], keys: list[str] | None = None, rows: npt.NDArray[np.int64] | None = None,
               *, top: int = 10, vectors: str | None = None) -> Hubness:
    """Hubness of a given ``(n, k)`` neighbour graph (row numbers, each row's own left out): for
    graphs from other scores than the space's metric (CSLS, mutual proximity); ``vectors`` says which
    vectors the graph was found on (``"raw"`` or ``"unit"``), when known."""
    from scipy.stats import skew

    n, k = nbrs.shape
    occ = np.bincount(nbrs.ravel(), minlength=n).astype(np.int64)
    sk = float(skew(occ)) if occ.std() > 0 else 0.0
    anti = float((occ == 0).mean())
    hubs = float((occ > 2 * k).mean())
    order = np.argsort(-occ, kind="stable")[:top]
    names = [keys[i] if keys is not None else str(int(rows[i] if rows is not None else i)) for i in order]
    tops = [(name, int(occ[i])) for name, i in zip(names, order, strict=True)]
    text = f"k-occurrence skewness (k={k}) is {sk:.2f}"
    if sk > 1:
        text += (f": a few hubs are near everything ({tops[0][0]!r} is among the {k} nearest of {tops[0][1]} "
                 f"points) and {anti:.0%} of the points are nobody's neighbour. CSLS or mutual-proximity "
                 "re-scoring reduces hubness.")
    else:
        text += f" (low: neighbours are spread evenly; {anti:.0%} of the points are nobody's neighbour)."
    return Hubness(k, sk, anti, hubs, tops, occ, text, vectors)


def summary(space: EmbeddingSpace | npt.ArrayLike, *, sample: int | None = 10_000, k: int = 10,
            seed: int = 0) -> dict[str, dict[str, Any]]:
    """The four diagnostics of a space as JSON-ready dicts (arrays left out): ``{"norms", "anisotropy",
    "intrinsic_dimension", "hubness"}``, each with its ``explanation`` and the ``vectors`` it measured
    (``"raw"`` or ``"unit"``, see the module docs); measured on the same seeded ``sample`` rows as
    :func:`~embspace.analysis.report`. What ``embspace analyze`` prints and the HTTP API's summary returns.
    A plain array is measured as a cosine space (the default metric of a space)."""
    metric = space.metric if isinstance(space, EmbeddingSpace) else "cosine"
    results = {"norms": norms(space, sample=sample, seed=seed),
               "anisotropy": anisotropy(space, sample=sample, seed=seed),
               "intrinsic_dimension": intrinsic_dimension(space, sample=sample, seed=seed, metric=metric),
               "hubness": hubness(space, k, sample=sample, seed=seed, metric=metric)}
    return {name: _as_dict(r) for name, r in results.items()}


def _as_dict(result: Any) -> dict[str, Any]:
    """A JSON-ready dict of a result (arrays left out)."""
    from dataclasses import asdict

    return {k: v for k, v in asdict(result).items() if not isinstance(v, np.ndarray)}
