"""Comparing two spaces over their shared keys: Procrustes alignment, linear CKA, neighbour overlap, drift.

Typical uses: two training runs with different seeds (are they the same space up to a rotation?),
two versions of a model (which keys moved?), two languages with a seed dictionary.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from .. import _deprecation, _html
from ..errors import InvalidInputError
from ..space import _topk
from ..space.embedding_space import EmbeddingSpace
from .diagnostics import _unit

__all__ = ["Alignment", "SpaceComparison", "cka", "compare_spaces", "linear_cka", "neighbor_overlap", "procrustes",
           "shared_keys"]

F64 = npt.NDArray[np.float64]


def shared_keys(a: EmbeddingSpace, b: EmbeddingSpace, keys: Sequence[str] | None = None,
                top: int | None = None) -> list[str]:
    """Keys in both spaces: ``keys`` when given (all must be in both), else ``a``'s keys found in ``b``
    in ``a``'s order (most frequent first when ``a`` has counts), cut to the first ``top``."""
    if keys is not None:
        missing = [k for k in keys if k not in a or k not in b]
        if missing:
            raise InvalidInputError(f"{len(missing)} of the given keys are not in both spaces, e.g. {missing[0]!r}")
        out = list(keys)
    else:
        order = list(a.keys)
        if a.counts is not None:
            order = [a.keys[i] for i in np.argsort(-np.asarray(a.counts), kind="stable")]
        out = [k for k in order if k in b]
    if top is not None:
        out = out[:top]
    if len(out) < 2:
        raise InvalidInputError(f"the spaces share {len(out)} keys; at least 2 are needed")
    return out


def _matrices(a: EmbeddingSpace, b: EmbeddingSpace, keys: list[str], *, unit: bool) -> tuple[F64, F64]:
    xa = np.asarray(a.vectors[[a.index_of(k) for k in keys]], np.float64)
    xb = np.asarray(b.vectors[[b.index_of(k) for k in keys]], np.float64)
    return (_unit(xa), _unit(xb)) if unit else (xa, xb)


@dataclass(frozen=True)
class Alignment:
    """An orthogonal map of ``a``'s space onto ``b``'s (``a_vectors @ rotation``), fitted on ``keys``.

    ``accuracy``: top-1 translation accuracy over ``eval_keys`` — the share of keys whose mapped
    vector has its own key as nearest neighbour among ``eval_keys`` in ``b`` (cosine).
    """

    rotation: F64 = field(repr=False)
    keys: list[str] = field(repr=False)
    eval_keys: list[str] = field(repr=False)
    accuracy: float
    mean_cosine: float  # mean cosine between mapped and target vectors over eval_keys

    def _repr_html_(self) -> str:
        return _html.dataclass_html(self, extra=[("fitted on", len(self.keys)), ("evaluated on", len(self.eval_keys)),
                                                 ("rotation", self.rotation)])

    def __call__(self, vectors: npt.ArrayLike) -> npt.NDArray[np.float32]:
        """Vectors of ``a``'s space mapped into ``b``'s."""
        return np.ascontiguousarray(np.asarray(vectors, np.float64) @ self.rotation, np.float32)


def procrustes(a: EmbeddingSpace, b: EmbeddingSpace, *, keys: Sequence[str] | None = None, top: int | None = None,
               eval_keys: Sequence[str] | None = None) -> Alignment:
    """Orthogonal Procrustes: the rotation R minimising ||A R - B|| over the shared keys (unit vectors),
    R = U V^T from the SVD of A^T B (Schönemann, 1966). Both spaces need the same dimension."""
    if a.dim != b.dim:
        raise InvalidInputError(f"Procrustes needs spaces of one dimension, got {a.dim} and {b.dim}")
    fit = shared_keys(a, b, keys, top)
    xa, xb = _matrices(a, b, fit, unit=True)
    u, _, vt = np.linalg.svd(xa.T @ xb)
    rot = u @ vt
    ev = fit if eval_keys is None else shared_keys(a, b, eval_keys)
    ea, eb = _matrices(a, b, ev, unit=True)
    mapped = ea @ rot
    sims = mapped @ eb.T
    acc = float((sims.argmax(axis=1) == np.arange(len(ev))).mean())
    return Alignment(rot, fit, ev, acc, float(np.einsum("ij,ij->i", mapped, eb).mean()))


def cka(a: EmbeddingSpace, b: EmbeddingSpace, *, keys: Sequence[str] | None = None, top: int | None = None) -> float:
    """Linear CKA (Kornblith et al., 2019) of the two spaces' vectors of the shared keys: 1 when they
    are the same up to rotation and isotropic scaling; the dimensions may differ."""
    ks = shared_keys(a, b, keys, top)
    xa, xb = _matrices(a, b, ks, unit=False)
    return linear_cka(xa, xb)


def linear_cka(xa: npt.ArrayLike, xb: npt.ArrayLike) -> float:
    """Linear CKA of two ``(n, d1)`` and ``(n, d2)`` matrices whose rows are the same items (Kornblith, Norouzi,
    Lee & Hinton, "Similarity of Neural Network Representations Revisited", ICML 2019, eq. for linear CKA):
    ``||Yc^T Xc||_F^2 / (||Xc^T Xc||_F ||Yc^T Yc||_F)`` on the column-centred matrices. In [0, 1]; 1 for the
    same matrix, invariant to rotations and isotropic scaling; 0 when one side is constant."""
    x = np.asarray(xa, np.float64)
    y = np.asarray(xb, np.float64)
    if x.ndim != 2 or y.ndim != 2 or len(x) != len(y):
        raise InvalidInputError(f"linear CKA needs two (n, d) matrices of the same n, got {x.shape} and {y.shape}")
    x = x - x.mean(axis=0)
    y = y - y.mean(axis=0)
    num = np.linalg.norm(y.T @ x) ** 2
    den = np.linalg.norm(x.T @ x) * np.linalg.norm(y.T @ y)
    return float(num / den) if den > 0 else 0.0


def _knn(x: F64, k: int) -> npt.NDArray[np.int64]:
    """The ``k`` nearest rows of each row of ``x`` (unit rows), itself left out, by embspace's exact searcher."""
    x32 = np.ascontiguousarray(x, np.float32)
    _, rows = _topk.search(x32, x32, k, "dot", exclude_per_query=np.arange(len(x), dtype=np.int64)[:, None])
    return rows


def neighbor_overlap(a: EmbeddingSpace, b: EmbeddingSpace, k: int = 10, *, keys: Sequence[str] | None = None,
                     top: int | None = 5_000) -> tuple[float, F64, list[str]]:
    """Mean share of common keys among each key's ``k`` nearest neighbours (cosine, within the
    shared keys) in the two spaces; also the per-key overlaps and the keys, for drift."""
    ks = shared_keys(a, b, keys, top)
    if k >= len(ks):
        raise InvalidInputError(f"k must be below the number of shared keys ({len(ks)}), got {k}")
    xa, xb = _matrices(a, b, ks, unit=True)
    na, nb = _knn(xa, k), _knn(xb, k)
    per = np.array([len(set(r1.tolist()) & set(r2.tolist())) / k for r1, r2 in zip(na, nb, strict=True)])
    return float(per.mean()), per, ks


@dataclass(frozen=True)
class SpaceComparison:
    """Procrustes, CKA and neighbour overlap of two spaces, and the keys that moved most."""

    shared: int
    procrustes_accuracy: float | None  # None when the dimensions differ
    cka: float
    neighbor_overlap: float
    k: int
    most_moved: list[tuple[str, float]]  # (key, its neighbour overlap), lowest first
    explanation: str

    def _repr_html_(self) -> str:
        moved = _html.table(self.most_moved, ["moved most", f"overlap of {self.k} nearest"], more="more keys")
        return _html.dataclass_html(self, skip=["most_moved"], after=[moved],
                                    subtitle=f"{self.shared:,} shared keys")


def compare_spaces(a: EmbeddingSpace, b: EmbeddingSpace, *, k: int = 10, top: int | None = 5_000,
                   moved: int = 20) -> SpaceComparison:
    """Compare two spaces over (at most ``top`` of) their shared keys."""
    ks = shared_keys(a, b, None, top)
    acc = procrustes(a, b, keys=ks).accuracy if a.dim == b.dim else None
    c = cka(a, b, keys=ks)
    ov, per, keys = neighbor_overlap(a, b, k, keys=ks, top=None)
    order = np.argsort(per, kind="stable")[:moved]
    most = [(keys[i], float(per[i])) for i in order]
    text = (f"Over {len(ks):,} shared keys: linear CKA {c:.3f}, {ov:.0%} of the {k} nearest neighbours in common")
    if acc is not None:
        text += f", Procrustes top-1 translation accuracy {acc:.1%}"
    text += "."
    if acc is not None and acc >= 0.9:
        text += " The spaces are the same up to a rotation."
    text += f" Moved most: {', '.join(repr(kk) for kk, _ in most[:5])}."
    return SpaceComparison(len(ks), acc, c, ov, k, most, text)


#: Old names (one release): ``compare`` and ``Comparison``.
__getattr__ = _deprecation.renamed(__name__, {"compare": "compare_spaces", "Comparison": "SpaceComparison"})
