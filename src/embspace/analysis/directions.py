"""Concept directions: an axis learnt from positive and negative examples (``man -> woman``, ``poor -> rich``),
with its provenance and how reliably it separates held-out examples; project a space on it, or remove it.

``direction(space, positive, negative, method=...)`` returns a :class:`Direction`, a unit float32 vector.
``space.project(direction)`` scores every row on it, ``space.remove(direction)`` (or :func:`remove`) returns a
:class:`~embspace.analysis.FixedSpace` in which it is projected out, whose ``transform`` does the same to new
queries.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from .. import _html
from ..errors import IncompatibleSpaceError, InvalidInputError, MissingDependencyError
from ..space.embedding_space import EmbeddingSpace
from .fixes import FixedSpace, Transform, _finish, _space

__all__ = ["Direction", "direction", "projection_matrix", "remove"]

Method = Literal["mean", "pca", "probe"]
F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]
METHODS = ("mean", "pca", "probe")


@dataclass(frozen=True, eq=False)
class Direction:
    """A concept axis: a unit ``(dim,)`` float32 ``vector`` learnt in the space ``space_id`` by ``method`` from
    the ``positive`` and ``negative`` examples (``missing``: those the space lacked), and how well projecting
    on it separates held-out examples: ``reliability`` (accuracy of the projection with a threshold half-way
    between the two classes, on ``folds`` cross-validation folds) and ``auc`` (held-out ROC AUC)."""

    vector: F32
    space_id: str
    method: str
    positive: tuple[str, ...]
    negative: tuple[str, ...]
    reliability: float = float("nan")
    auc: float = float("nan")
    folds: int = 0
    missing: tuple[str, ...] = ()
    name: str = ""
    encoded: bool = field(default=False)  # the examples were texts through an encoder, not keys

    @property
    def dim(self) -> int:
        return int(self.vector.shape[0])

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray[Any, Any]:
        return np.array(self.vector, dtype=dtype) if copy else np.asarray(self.vector, dtype=dtype)

    def __neg__(self) -> Direction:
        """The opposite axis (negative -> positive)."""
        return Direction(-self.vector, self.space_id, self.method, self.negative, self.positive, self.reliability,
                         self.auc, self.folds, self.missing, f"-{self.name}" if self.name else "", self.encoded)

    @classmethod
    def from_vector(cls, vector: npt.ArrayLike, space: EmbeddingSpace, *, name: str = "") -> Direction:
        """A direction given as a vector of ``space`` (scaled to unit length; no examples, no reliability)."""
        v = np.asarray(vector, np.float64).reshape(-1)
        if v.shape[0] != space.dim:
            raise InvalidInputError(f"the direction has {v.shape[0]} dimensions, the space {space.dim}")
        n = float(np.linalg.norm(v))
        if not np.isfinite(n) or n == 0.0:
            raise InvalidInputError("the direction must be a finite, non-zero vector")
        return cls((v / n).astype(np.float32), space.space_id, "vector", (), (), name=name)

    def project(self, space: EmbeddingSpace) -> F32:
        """``space.project(self)``: the ``(n,)`` scores of the space's rows on this axis."""
        return space.project(self)

    def remove_from(self, space: EmbeddingSpace, **options: Any) -> FixedSpace:
        """``space.remove(self)``: the fixed space without this axis (see :func:`remove`)."""
        return remove(space, self, **options)

    def extremes(self, space: EmbeddingSpace, n: int = 10, *, among: int | None = None) -> tuple[list[str], list[str]]:
        """The ``n`` keys with the highest and the ``n`` with the lowest projection (among the first ``among``
        keys of the space, e.g. its most frequent words)."""
        sub = space if among is None or among >= len(space) else space.subset(space.keys[:among])
        scores = sub.project(self)
        order = np.argsort(-scores, kind="stable")
        n = max(0, min(int(n), len(sub) // 2))
        return [sub.keys[i] for i in order[:n]], [sub.keys[i] for i in order[::-1][:n]]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "space_id": self.space_id, "method": self.method, "positive": list(self.positive),
                "negative": list(self.negative), "missing": list(self.missing), "reliability": self.reliability,
                "auc": self.auc, "folds": self.folds, "encoded": self.encoded, "vector": self.vector.tolist()}

    def __repr__(self) -> str:
        label = f"{self.name!r}, " if self.name else ""
        return (f"Direction({label}method={self.method!r}, dim={self.dim}, {len(self.positive)} positive, "
                f"{len(self.negative)} negative, reliability={self.reliability:.3f}, auc={self.auc:.3f})")

    def _repr_html_(self) -> str:
        facts: list[tuple[str, object]] = [
            ("method", self.method), ("dimensions", self.dim), ("space", self.space_id),
            ("positive", ", ".join(self.positive)), ("negative", ", ".join(self.negative)),
            ("held-out accuracy", self.reliability), ("held-out AUC", self.auc), ("folds", self.folds)]
        if self.missing:
            facts.append(("not in the space", ", ".join(self.missing)))
        return _html.frame("Direction", _html.kv_table(facts), subtitle=self.name or self.method)


# ----------------------------------------------------------------- learning a direction
def _items(items: Iterable[str] | str, what: str) -> list[str]:
    if isinstance(items, str):
        raise InvalidInputError(f"{what} must be a list of keys or texts, got the string {items!r}; wrap it in a "
                                "list")
    return [str(w) for w in items]


def _examples(space: EmbeddingSpace, items: list[str], encoder: Any) -> tuple[F64, list[str], list[str]]:
    """Unit rows of the examples, the examples kept, those missing."""
    if encoder is not None:
        if getattr(encoder, "space_id", None) != space.space_id:
            raise IncompatibleSpaceError(
                f"the encoder {getattr(encoder, 'name', type(encoder).__name__)!r} does not produce the vectors of "
                "this space (their space ids differ); use the encoder that made the space")
        x = np.asarray(encoder.encode(items, progress=False), np.float64).reshape(len(items), -1) if items else (
            np.zeros((0, space.dim)))
        kept, missing = items, []
    else:
        kept = [w for w in items if w in space]
        missing = [w for w in items if w not in space]
        x = np.asarray(space[kept], np.float64).reshape(len(kept), space.dim) if kept else np.zeros((0, space.dim))
    n = np.linalg.norm(x, axis=1, keepdims=True)
    return np.divide(x, n, out=np.zeros_like(x), where=n > 0), kept, missing


def _unit(v: F64) -> F64:
    n = float(np.linalg.norm(v))
    if not np.isfinite(n) or n < 1e-12:
        raise InvalidInputError("the positive and negative examples give no direction (their means coincide); "
                                "choose examples that differ")
    out: F64 = v / n
    return out


def _fit(method: str, pos: F64, neg: F64, seed: int) -> F64:
    """The unit direction from unit rows (``pca``: rows are pairs, ``pos[i]`` with ``neg[i]``)."""
    if method == "mean":
        return _unit(pos.mean(axis=0) - (neg.mean(axis=0) if len(neg) else 0.0))
    if method == "pca":
        centres = (pos + neg) / 2.0
        diffs = np.concatenate([pos - centres, neg - centres])
        _, _, vt = np.linalg.svd(diffs, full_matrices=False)
        v = vt[0]
        return _unit(v if float((pos - neg).mean(axis=0) @ v) >= 0 else -v)
    try:
        from sklearn.linear_model import LogisticRegression
    except ImportError:
        raise MissingDependencyError("scikit-learn", "analysis", "method='probe'") from None
    x = np.concatenate([pos, neg])
    y = np.r_[np.ones(len(pos)), np.zeros(len(neg))]
    clf = LogisticRegression(C=1.0, max_iter=1000, random_state=seed).fit(x, y)
    return _unit(np.asarray(clf.coef_[0], np.float64))


def _auc(pos: F64, neg: F64) -> float:
    """ROC AUC of scores (positives should score higher); ties count half."""
    if len(pos) == 0 or len(neg) == 0:
        return float("nan")
    greater = (pos[:, None] > neg[None, :]).sum()
    ties = (pos[:, None] == neg[None, :]).sum()
    return float((greater + 0.5 * ties) / (len(pos) * len(neg)))


def _reliability(method: str, pos: F64, neg: F64, folds: int, seed: int) -> tuple[float, float, int]:
    """Cross-validated accuracy and AUC of the projection on held-out examples: ``(accuracy, auc, folds)``."""
    paired = method == "pca"
    k = min(folds, len(pos), len(neg)) if len(neg) else 0
    if k < 2:
        return float("nan"), float("nan"), 0
    rng = np.random.default_rng(seed)
    fold_pos = rng.permutation(len(pos)) % k
    fold_neg = fold_pos if paired else rng.permutation(len(neg)) % k
    held_pos: list[F64] = []
    held_neg: list[F64] = []
    correct = 0
    for f in range(k):
        tp, tn = pos[fold_pos != f], neg[fold_neg != f]
        v = _fit(method, tp, tn, seed)
        threshold = ((tp @ v).mean() + (tn @ v).mean()) / 2.0
        sp, sn = pos[fold_pos == f] @ v - threshold, neg[fold_neg == f] @ v - threshold
        correct += int((sp > 0).sum() + (sn < 0).sum())
        held_pos.append(sp)
        held_neg.append(sn)
    # AUC of the held-out scores, each fold's centred on its own threshold
    return correct / (len(pos) + len(neg)), _auc(np.concatenate(held_pos), np.concatenate(held_neg)), k


def direction(space: EmbeddingSpace, positive: Sequence[str], negative: Sequence[str] = (), *,
              method: Method = "mean", encoder: Any = None, folds: int = 5, seed: int = 0,
              name: str = "") -> Direction:
    """A concept direction (negative -> positive) learnt from examples.

    Parameters
    ----------
    space
        The space the direction lives in.
    positive, negative
        Examples of the two poles (``["woman", "she", "her"]`` and ``["man", "he", "him"]``): keys of the space,
        or texts when ``encoder`` is given. Keys the space lacks are left out (listed in ``missing``).
    method
        ``"mean"``: the difference of the means of the two sets of unit vectors; ``"pca"``: the first principal
        component of the pairs ``(positive[i], negative[i])`` centred on their midpoints (Bolukbasi et al., 2016;
        the two lists are pairs of equal length); ``"probe"``: the weights of a logistic regression between the
        sets (scikit-learn).
    encoder
        For sentence and image spaces: encode the examples (texts) with this encoder, the space's own (same
        ``space_id``). Default: the space's ``encoder`` attribute when it has one, else the examples are keys.
    folds
        Cross-validation folds of the reliability figures (at most the size of the smaller set; pairs stay
        together for ``"pca"``).
    seed
        Seeds the folds (and the probe).

    Returns
    -------
    Direction
        A unit float32 vector with its provenance, ``reliability`` (held-out accuracy) and ``auc``.
    """
    if not isinstance(space, EmbeddingSpace):
        raise InvalidInputError(f"direction needs an EmbeddingSpace, got {type(space).__name__}")
    if method not in METHODS:
        raise InvalidInputError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    if not isinstance(folds, int) or isinstance(folds, bool) or folds < 2:
        raise InvalidInputError(f"folds must be an int >= 2, got {folds!r}")
    pos_items, neg_items = _items(positive, "positive"), _items(negative, "negative")
    if encoder is None:
        encoder = getattr(space, "encoder", None)
    if method == "pca":
        if len(pos_items) != len(neg_items):
            raise InvalidInputError(f"method='pca' takes pairs: positive and negative of equal length, got "
                                    f"{len(pos_items)} and {len(neg_items)}")
        if encoder is None:  # a pair is kept only when both of its keys are in the space
            keep = [(p, n) for p, n in zip(pos_items, neg_items, strict=True) if p in space and n in space]
            missing_pairs = [w for p, n in zip(pos_items, neg_items, strict=True) if (p, n) not in keep
                             for w in (p, n) if w not in space]
            pos_items, neg_items = [p for p, _ in keep], [n for _, n in keep]
    pos, pos_kept, pos_missing = _examples(space, pos_items, encoder)
    neg, neg_kept, neg_missing = _examples(space, neg_items, encoder)
    missing = (missing_pairs if method == "pca" and encoder is None else pos_missing + neg_missing)
    if len(pos) == 0:
        raise InvalidInputError(f"none of the positive examples is in the space ({', '.join(positive[:5])}...); "
                                "check their spelling, or pass encoder= for texts")
    if len(neg) == 0 and method != "mean":
        raise InvalidInputError(f"method={method!r} needs negative examples in the space")
    v = _fit(method, pos, neg, seed)
    accuracy, auc, k = _reliability(method, pos, neg, folds, seed)
    return Direction(v.astype(np.float32), space.space_id, method, tuple(pos_kept), tuple(neg_kept), accuracy, auc,
                     k, tuple(missing), name, encoder is not None)


# ----------------------------------------------------------------- removing directions
def projection_matrix(directions: npt.ArrayLike) -> F64:
    """``I - B^T B`` with ``B`` an orthonormal basis of the rows of ``directions`` ``(k, dim)``: the projection
    onto what they do not span."""
    d = np.atleast_2d(np.asarray(directions, np.float64))
    _, s, vt = np.linalg.svd(d, full_matrices=False)
    basis = vt[s > 1e-10 * max(1.0, float(s.max(initial=0.0)))]
    out: F64 = np.eye(d.shape[1]) - basis.T @ basis
    return out


def _as_vectors(space: EmbeddingSpace, directions: Any) -> tuple[F64, list[str]]:
    items = directions if isinstance(directions, list | tuple) else [directions]
    vectors, names = [], []
    for d in items:
        v = space._direction(d)  # checks the space and the dimension; a unit vector
        vectors.append(v.astype(np.float64))
        names.append(getattr(d, "name", "") or getattr(d, "method", "vector"))
    return np.stack(vectors), names


def remove(space: EmbeddingSpace, direction: Direction | npt.ArrayLike | Sequence[Direction], *,
           evaluate: Callable[[EmbeddingSpace], float] | None = None,
           bias: Callable[[EmbeddingSpace], float] | None = None, seed: int = 0) -> FixedSpace:
    """Project one direction (or several) out of every vector: ``x - B^T B x``, ``B`` an orthonormal basis of
    the directions.

    The fixed space keeps the coordinate system (its provenance names the source space, so directions of the
    source still project on it); its ``transform`` projects new vectors (queries) the same way, and its
    ``report`` says what changed, with ``evaluate`` (a task score) and ``bias`` (e.g. a WEAT effect size)
    before and after when given.
    """
    space = _space(space)
    vectors, names = _as_vectors(space, direction)
    matrix = projection_matrix(vectors).astype(np.float32)
    transform = Transform("remove-direction", space.dim, matrix=matrix,
                          params={"source": space.space_id, "directions": names, "rank": int(space.dim - round(
                              float(np.trace(matrix.astype(np.float64)))))})
    return _finish(space, transform, evaluate=evaluate, bias=bias, seed=seed)
