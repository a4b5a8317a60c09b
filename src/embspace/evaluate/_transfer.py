"""Transfer evaluation on frozen embeddings: a linear probe and clustering against labels (as MTEB does)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from .._types import Metric
from ..errors import InvalidInputError
from ..space import _linalg, _topk
from ..space.embedding_space import EmbeddingSpace

__all__ = ["ClusteringScore", "ProbeResult", "clustering", "knn_accuracy", "linear_probe"]


def _matrix(data: EmbeddingSpace | npt.ArrayLike, what: str) -> npt.NDArray[np.float32]:
    x = np.asarray(data.vectors if isinstance(data, EmbeddingSpace) else data, np.float32)
    if x.ndim != 2 or len(x) < 2:
        raise InvalidInputError(f"{what} must be a (n >= 2, dim) matrix or an EmbeddingSpace, got shape {x.shape}")
    if not np.isfinite(x).all():
        raise InvalidInputError(f"{what} contains NaN or Inf")
    return x


@dataclass(frozen=True)
class ProbeResult:
    """Accuracy of a logistic-regression probe: on ``test`` when given, else the mean over the
    cross-validation folds (``folds`` holds each)."""

    accuracy: float
    folds: list[float] = field(default_factory=list)
    macro_f1: float | None = None
    n_train: int = 0
    n_test: int = 0


def linear_probe(data: EmbeddingSpace | npt.ArrayLike, labels: Sequence[Any] | npt.ArrayLike, *, cv: int = 5,
                 test: tuple[EmbeddingSpace | npt.ArrayLike, Sequence[Any] | npt.ArrayLike] | None = None,
                 C: float = 1.0, max_iter: int = 1000, standardize: bool = False, seed: int = 0) -> ProbeResult:
    """Logistic regression on frozen vectors (scikit-learn's ``LogisticRegression(C, max_iter)``).

    With ``test=(vectors, labels)``: trained on all of ``data``, scored on the test set. Otherwise
    stratified ``cv``-fold cross-validation. ``standardize`` z-scores the features first (fitted
    on the training part only).
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, f1_score
    from sklearn.model_selection import StratifiedKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x = _matrix(data, "data")
    y = np.asarray(labels)
    if len(y) != len(x):
        raise InvalidInputError(f"{len(y)} labels for {len(x)} vectors")
    if len(set(y.tolist())) < 2:
        raise InvalidInputError("a probe needs at least two classes")

    def model() -> Any:
        lr = LogisticRegression(C=C, max_iter=max_iter)
        return make_pipeline(StandardScaler(), lr) if standardize else lr

    if test is not None:
        xt, yt = _matrix(test[0], "test data"), np.asarray(test[1])
        if len(yt) != len(xt):
            raise InvalidInputError(f"{len(yt)} test labels for {len(xt)} test vectors")
        m = model().fit(x, y)
        pred = m.predict(xt)
        return ProbeResult(float(accuracy_score(yt, pred)), [], float(f1_score(yt, pred, average="macro")), len(x),
                           len(xt))
    folds = []
    for train, held in StratifiedKFold(n_splits=cv, shuffle=True, random_state=seed).split(x, y):
        m = model().fit(x[train], y[train])
        folds.append(float(accuracy_score(y[held], m.predict(x[held]))))
    return ProbeResult(float(np.mean(folds)), folds, None, len(x), 0)


@dataclass(frozen=True)
class ClusteringScore:
    """k-means (k = number of label values) against the labels: NMI, ARI (and V-measure)."""

    nmi: float
    ari: float
    v_measure: float
    k: int


def clustering(data: EmbeddingSpace | npt.ArrayLike, labels: Sequence[Any] | npt.ArrayLike, *, k: int | None = None,
               seed: int = 0) -> ClusteringScore:
    """Cluster the vectors with k-means (``k`` defaults to the number of distinct labels) and score
    the clusters against the labels."""
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score, v_measure_score

    from ..analysis.clustering import kmeans

    x = _matrix(data, "data")
    y = np.asarray(labels)
    if len(y) != len(x):
        raise InvalidInputError(f"{len(y)} labels for {len(x)} vectors")
    k = k or len(set(y.tolist()))
    space = data if isinstance(data, EmbeddingSpace) else x
    c = kmeans(space, k, seed=seed)
    return ClusteringScore(float(normalized_mutual_info_score(y, c.labels)), float(adjusted_rand_score(y, c.labels)),
                           float(v_measure_score(y, c.labels)), k)


def knn_accuracy(train: EmbeddingSpace | npt.ArrayLike, train_labels: Sequence[Any] | npt.ArrayLike,
                 test: EmbeddingSpace | npt.ArrayLike, test_labels: Sequence[Any] | npt.ArrayLike, *, k: int = 10,
                 metric: str = "cosine") -> float:
    """Accuracy of a k-nearest-neighbour vote on frozen vectors: each test vector takes the majority
    label of its ``k`` nearest training vectors (``metric`` ``"cosine"`` or ``"l2"``; ties go to the label
    whose members rank nearer). The usual second read-out of self-supervised features,
    next to :func:`linear_probe`.
    """
    x, xt = _matrix(train, "train"), _matrix(test, "test")
    y, yt = np.asarray(train_labels), np.asarray(test_labels)
    if len(y) != len(x) or len(yt) != len(xt):
        raise InvalidInputError(f"labels and vectors differ in number: {len(y)}/{len(x)} train, "
                                f"{len(yt)}/{len(xt)} test")
    if x.shape[1] != xt.shape[1]:
        raise InvalidInputError(f"train vectors have {x.shape[1]} dimensions, test vectors {xt.shape[1]}")
    if not isinstance(k, int) or k < 1:
        raise InvalidInputError(f"k must be a positive integer, got {k!r}")
    if metric not in ("cosine", "l2"):
        raise InvalidInputError(f"metric must be 'cosine' or 'l2', got {metric!r}")
    k = min(k, len(x))
    classes, codes = np.unique(y, return_inverse=True)
    if metric == "cosine":
        x, xt = _linalg.unit_rows(x, dtype=x.dtype), _linalg.unit_rows(xt, dtype=xt.dtype)  # zero rows stay zero
    scoring: Metric = "cosine" if metric == "cosine" else "l2"  # over unit rows, cosine is their inner product
    _, top = _topk.search(np.ascontiguousarray(xt), np.ascontiguousarray(x), k, scoring)  # the one exact searcher
    votes = np.zeros((len(xt), len(classes)))
    for r in range(k):  # earlier (nearer) neighbours add a tiny tie-break bonus
        np.add.at(votes, (np.arange(len(xt)), codes[top[:, r]]), 1.0 + 1e-6 * (k - r))
    return int((classes[votes.argmax(1)] == yt).sum()) / len(xt)


def knn_label_errors(space: EmbeddingSpace, labels: Sequence[Any] | npt.ArrayLike, *, k: int = 10) -> npt.NDArray[
        np.float32]:
    """Per point, the fraction of its ``k`` exact nearest neighbours (itself left out) whose label differs
    from its own: 0 where the neighbourhood agrees, above 0.5 where a leave-one-out k-NN vote would get the
    point wrong. An error map of the space for a labelled set (the projector colours by it).

    Returns
    -------
    numpy.ndarray
        ``(len(space),)`` float32 in ``[0, 1]``.
    """
    if not isinstance(space, EmbeddingSpace):
        raise InvalidInputError(f"expected an EmbeddingSpace, got {type(space).__name__}")
    y = np.asarray(labels)
    if y.ndim != 1 or len(y) != len(space):
        raise InvalidInputError(f"{len(y)} labels for {len(space)} vectors: give one label per key")
    if not isinstance(k, int) or k < 1:
        raise InvalidInputError(f"k must be a positive integer, got {k!r}")
    if len(space) < 2:
        raise InvalidInputError("k-NN label errors need at least 2 points")
    k = min(k, len(space) - 1)
    _, codes = np.unique(y, return_inverse=True)
    out = np.empty(len(space), np.float32)
    keys = list(space.keys)
    for s in range(0, len(keys), 4096):
        rows = np.asarray(space.neighbors(keys[s : s + 4096], k).ids, np.int64)
        out[s : s + len(rows)] = (codes[rows] != codes[s : s + len(rows), None]).mean(axis=1)
    return out
