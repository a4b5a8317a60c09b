"""Debiasing as fixes: hard debiasing (Bolukbasi et al., 2016, "Man is to Computer Programmer as Woman is to
Homemaker? Debiasing Word Embeddings", NeurIPS) and INLP (iterative nullspace projection: Ravfogel et al., 2020,
"Null It Out", ACL), and the "Lipstick on a Pig" check (Gonen & Goldberg, 2019): how well a classifier still
recovers the bias from the debiased vectors.

Both fixes return a :class:`~embspace.analysis.FixedSpace` whose ``transform`` projects new vectors (queries)
onto the complement of the removed subspace, and whose ``report`` holds ``evaluate`` (a task score such as
WordSim-353 Spearman) and ``bias`` (such as a WEAT effect size) before and after, when given.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from ..errors import InvalidInputError, MissingDependencyError
from ..space.embedding_space import EmbeddingSpace
from .directions import projection_matrix
from .fixes import FixedSpace, Transform, _finish, _space

__all__ = ["GENDER_PAIRS", "bias_recovery", "hard_debias", "inlp"]

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]
Pair = tuple[str, str]

#: The ten definitional pairs of Bolukbasi et al. (2016) (debiaswe's definitional_pairs.json), female first.
GENDER_PAIRS: tuple[Pair, ...] = (("woman", "man"), ("girl", "boy"), ("she", "he"), ("mother", "father"),
                                  ("daughter", "son"), ("gal", "guy"), ("female", "male"), ("her", "his"),
                                  ("herself", "himself"), ("Mary", "John"))
_ROWS = 65_536


def _pairs(pairs: Iterable[Sequence[str]], what: str) -> list[Pair]:
    out: list[Pair] = []
    for p in pairs:
        if isinstance(p, str) or len(p) != 2:
            raise InvalidInputError(f"{what} must be pairs of two words, got {p!r}")
        out.append((str(p[0]), str(p[1])))
    return out


def _unit(x: npt.ArrayLike) -> F64:
    a = np.asarray(x, np.float64)
    n = np.linalg.norm(a, axis=-1, keepdims=True)
    out: F64 = np.divide(a, n, out=np.zeros_like(a), where=n > 0)
    return out


def _variants(pairs: list[Pair]) -> list[Pair]:
    """The pairs as given, lower-cased, title-cased and upper-cased (as debiaswe equalises them), once each."""
    seen: dict[Pair, None] = {}
    for a, b in pairs:
        for f in (str, str.lower, str.title, str.upper):
            seen.setdefault((f(a), f(b)), None)
    return list(seen)


def bias_subspace(space: EmbeddingSpace, pairs: Sequence[Pair], k: int = 1) -> F64:
    """``(k, dim)`` orthonormal rows: the top principal components of the pairs' unit vectors centred on their
    midpoints (the first oriented from the second word of the pairs to the first)."""
    kept = [(a, b) for a, b in pairs if a in space and b in space]
    if len(kept) < max(1, k):
        raise InvalidInputError(f"{len(kept)} of the {len(pairs)} pairs have both words in the space; at least "
                                f"{max(1, k)} needed (e.g. {pairs[0]!r}); check their case and spelling")
    a = _unit(space[[p[0] for p in kept]])
    b = _unit(space[[p[1] for p in kept]])
    mid = (a + b) / 2
    _, _, vt = np.linalg.svd(np.concatenate([a - mid, b - mid]), full_matrices=False)
    basis = vt[:k].copy()
    if float((a - b).mean(axis=0) @ basis[0]) < 0:
        basis[0] = -basis[0]
    return basis


def hard_debias(space: EmbeddingSpace, pairs: Iterable[Sequence[str]] = GENDER_PAIRS, *,
                equalize: Iterable[Sequence[str]] | None = None, specific: Iterable[str] | None = None, k: int = 1,
                evaluate: Callable[[EmbeddingSpace], float] | None = None,
                bias: Callable[[EmbeddingSpace], float] | None = None, seed: int = 0) -> FixedSpace:
    """Hard debiasing (Bolukbasi et al., 2016): neutralise and equalise.

    The bias subspace is the top ``k`` principal components of the definitional ``pairs`` (default: the ten
    gender pairs of the paper, :data:`GENDER_PAIRS`). Every row is scaled to unit length (as the paper does);
    every key but the ``specific`` ones (default: the words of ``pairs`` and ``equalize``; gender-specific words
    such as "king" or "actress" belong there) loses its component in the subspace and is re-normalised
    (neutralise); the two words of each ``equalize`` pair (default: ``pairs``; also lower-, title- and
    upper-cased) become equidistant from every neutral word (equalise).

    The fixed space's ``transform`` neutralises new vectors (queries are neutral words; cosine search ignores
    their length). ``evaluate`` and ``bias`` (e.g. ``lambda s: weat_test(s, "math-arts").effect_size``) are
    measured before and after, in the report.
    """
    space = _space(space)
    pairs_l = _pairs(pairs, "pairs")
    if not pairs_l:
        raise InvalidInputError("hard_debias needs definitional pairs, e.g. [('she', 'he'), ('woman', 'man')]")
    eq = _variants(_pairs(equalize, "equalize") if equalize is not None else pairs_l)
    if not isinstance(k, int) or isinstance(k, bool) or not 0 < k < space.dim:
        raise InvalidInputError(f"k (dimensions of the bias subspace) must be between 1 and {space.dim - 1}, "
                                f"got {k!r}")
    basis = bias_subspace(space, pairs_l, k)
    proj = projection_matrix(basis)
    keep = set(specific) if specific is not None else {w for p in pairs_l + eq for w in p}
    keep_rows = np.fromiter((space.index_of(w) for w in keep if w in space), np.int64)
    vectors = np.empty((len(space), space.dim), np.float32)
    for r0 in range(0, len(space), _ROWS):
        x = _unit(space.vectors[r0 : r0 + _ROWS])
        vectors[r0 : r0 + _ROWS] = _unit(x @ proj)
    if len(keep_rows):
        vectors[keep_rows] = _unit(space.vectors[keep_rows])
    equalized = 0
    for a, b in eq:
        if a not in space or b not in space:
            continue
        va, vb = _unit(space[a]), _unit(space[b])
        mu = (va + vb) / 2
        nu = mu @ proj
        z = np.sqrt(max(0.0, 1.0 - float(nu @ nu)))
        for w, v in ((a, va), (b, vb)):
            off = (v - mu) @ basis.T @ basis  # the word's own side of the midpoint, in the subspace
            n = float(np.linalg.norm(off))
            vectors[space.index_of(w)] = nu + (z * off / n if n > 0 else 0.0)
        equalized += 1
    transform = Transform("hard-debias", space.dim, matrix=proj.astype(np.float32),
                          params={"source": space.space_id, "k": k, "pairs": len(pairs_l), "equalized": equalized,
                                  "specific": len(keep_rows)})
    return _finish(space, transform, evaluate=evaluate, bias=bias, seed=seed, vectors=vectors)


Classifier = Literal["svm", "logistic"]


def _classifier(kind: str, seed: int) -> Any:
    try:
        from sklearn.linear_model import LogisticRegression
        from sklearn.svm import LinearSVC
    except ImportError:
        raise MissingDependencyError("scikit-learn", "analysis", "INLP and bias_recovery") from None
    if kind == "svm":
        return LinearSVC(C=1.0, dual="auto", max_iter=5000, random_state=seed)
    if kind == "logistic":
        return LogisticRegression(C=1.0, max_iter=1000, random_state=seed)
    raise InvalidInputError(f"classifier must be 'svm' or 'logistic', got {kind!r}")


def _labelled(space: EmbeddingSpace, positive: Iterable[str], negative: Iterable[str]) -> tuple[F64, F64]:
    pos = [w for w in dict.fromkeys(positive) if w in space]
    neg = [w for w in dict.fromkeys(negative) if w in space and w not in set(pos)]
    if len(pos) < 2 or len(neg) < 2:
        raise InvalidInputError(f"{len(pos)} positive and {len(neg)} negative examples are in the space; at least "
                                "2 of each are needed (they are keys of the space)")
    x = np.asarray(space[pos + neg], np.float64)
    if space.metric == "cosine":
        x = _unit(x)
    return x, np.r_[np.ones(len(pos)), np.zeros(len(neg))]


def _split(y: F64, test_size: float, seed: int) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
    """A stratified train/held-out split (boolean masks)."""
    if not 0.0 < test_size < 1.0:
        raise InvalidInputError(f"test_size must be between 0 and 1, got {test_size!r}")
    rng = np.random.default_rng(seed)
    test = np.zeros(len(y), bool)
    for label in (0.0, 1.0):
        rows = np.flatnonzero(y == label)
        test[rng.permutation(rows)[: max(1, round(len(rows) * test_size))]] = True
    return ~test, test


def inlp(space: EmbeddingSpace, positive: Iterable[str], negative: Iterable[str], *, iterations: int = 10,
         classifier: Classifier = "svm", test_size: float = 0.3,
         evaluate: Callable[[EmbeddingSpace], float] | None = None,
         bias: Callable[[EmbeddingSpace], float] | None = None, seed: int = 0) -> FixedSpace:
    """Iterative nullspace projection (Ravfogel et al., 2020): ``iterations`` times, train a linear classifier
    (scikit-learn's ``LinearSVC`` or ``LogisticRegression``) to tell the ``positive`` keys from the ``negative``
    ones (e.g. the words most aligned with she and with he), and project every vector onto the nullspace of
    all the classifiers so far.

    The report's explanation lists the classifiers' held-out accuracy per iteration (near 0.5 once the
    attribute is no longer linearly recoverable); the transform's ``params["accuracies"]`` keeps them.
    """
    space = _space(space)
    if not isinstance(iterations, int) or isinstance(iterations, bool) or not 0 < iterations < space.dim:
        raise InvalidInputError(f"iterations must be between 1 and {space.dim - 1}, got {iterations!r}")
    x, y = _labelled(space, positive, negative)
    train, test = _split(y, test_size, seed)
    directions: list[F64] = []
    proj = np.eye(space.dim)
    accuracies: list[float] = []
    for i in range(iterations):
        xp = x @ proj
        clf = _classifier(classifier, seed + i).fit(xp[train], y[train])
        accuracies.append(float(clf.score(xp[test], y[test])))
        w = np.asarray(clf.coef_, np.float64).reshape(-1) @ proj  # what the classifier can still see
        if float(np.linalg.norm(w)) < 1e-12:
            break
        directions.append(w)
        proj = projection_matrix(np.stack(directions))
    transform = Transform("inlp", space.dim, matrix=proj.astype(np.float32),
                          params={"source": space.space_id, "iterations": len(directions), "classifier": classifier,
                                  "accuracies": [round(a, 4) for a in accuracies]})
    fixed = _finish(space, transform, evaluate=evaluate, bias=bias, seed=seed)
    text = ", ".join(f"{a:.2f}" for a in accuracies)
    fixed.report = replace(fixed.report, explanation=fixed.report.explanation[:-1]
                           + f"; held-out accuracy of the classifier at each of {len(accuracies)} iterations: {text}.")
    return fixed


def bias_recovery(space: EmbeddingSpace, positive: Iterable[str], negative: Iterable[str], *,
                  classifier: Literal["rbf", "svm", "logistic"] = "rbf", test_size: float = 0.3,
                  seed: int = 0) -> float:
    """The "Lipstick on a Pig" check (Gonen & Goldberg, 2019): held-out accuracy of a classifier (an RBF SVM by
    default, as in the paper) that tells the ``positive`` keys from the ``negative`` ones, e.g. the words most
    aligned with she and with he before debiasing, in ``space`` (a debiased space). 0.5 for balanced sets means
    nothing is recoverable."""
    x, y = _labelled(_space(space), positive, negative)
    train, test = _split(y, test_size, seed)
    if classifier == "rbf":
        try:
            from sklearn.svm import SVC
        except ImportError:
            raise MissingDependencyError("scikit-learn", "analysis", "bias_recovery") from None
        clf: Any = SVC(kernel="rbf", C=1.0, gamma="scale", random_state=seed)
    else:
        clf = _classifier(classifier, seed)
    clf.fit(x[train], y[train])
    return float(clf.score(x[test], y[test]))
