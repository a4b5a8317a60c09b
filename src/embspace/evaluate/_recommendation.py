"""Recommendation evaluation: rating error (RMSE, MAE) and top-k ranking quality with binary relevance.

Ranking metrics follow the usual recommender-systems definitions (those of ``implicit`` and
RecBole), per user over the top ``k`` recommended items, ``hits`` the relevant ones among them and
``R`` the user's number of relevant test items:

- precision@k = hits / k (also when fewer than k items were recommended);
- recall@k = hits / R;
- NDCG@k = sum over hits at rank i of 1/log2(i + 1), divided by the same sum for an ideal list
  (``min(k, R)`` hits at the top) — binary gains, equal to scikit-learn's ``ndcg_score``;
- MAP@k = mean over users of AP@k = sum over hits at rank i of precision@i, divided by ``min(k, R)``
  (BEIR/``trec_eval``'s ``map_cut`` divides by ``R``; the two agree when ``R <= k``);
- coverage@k = distinct items in all users' top k / the catalogue's size.

Users are averaged with equal weight; only users with at least one relevant test item count.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from .. import _html
from ..data.interactions import Interactions
from ..errors import InvalidInputError, UnknownKeyError
from ._grid import grid_html, grid_lines

__all__ = ["RECOMMENDATION_METRICS", "RecommendationResult", "catalogue_coverage", "mae", "map_at_k", "ndcg_at_k",
           "precision_at_k", "recall_at_k", "recommendation", "rmse"]

RECOMMENDATION_METRICS: tuple[str, ...] = ("ndcg", "map", "recall", "precision", "coverage")
"""Metric names are ``"<family>@<k>"``, e.g. ``"ndcg@10"``."""

Recommender = Callable[[str, int], Any] | Mapping[Any, Sequence[Any]]


# --------------------------------------------------------------------------- rating error
def _pair(predicted: npt.ArrayLike, actual: npt.ArrayLike) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    p = np.asarray(predicted, dtype=np.float64).reshape(-1)
    a = np.asarray(actual, dtype=np.float64).reshape(-1)
    if p.shape != a.shape:
        raise InvalidInputError(f"predicted has {p.size} values but actual has {a.size}; give one prediction per "
                                "test rating, in the same order")
    if p.size == 0:
        raise InvalidInputError("no ratings to compare: predicted and actual are empty")
    for name, arr in (("predicted", p), ("actual", a)):
        if not np.all(np.isfinite(arr)):
            at = int(np.flatnonzero(~np.isfinite(arr))[0])
            raise InvalidInputError(f"{name} has NaN or Inf values, e.g. at position {at}")
    return p, a


def rmse(predicted: npt.ArrayLike, actual: npt.ArrayLike) -> float:
    """Root mean squared error of predicted ratings, ``sqrt(mean((predicted - actual) ** 2))``."""
    p, a = _pair(predicted, actual)
    return math.sqrt(float(np.mean((p - a) ** 2)))


def mae(predicted: npt.ArrayLike, actual: npt.ArrayLike) -> float:
    """Mean absolute error of predicted ratings, ``mean(|predicted - actual|)``."""
    p, a = _pair(predicted, actual)
    return float(np.mean(np.abs(p - a)))


# --------------------------------------------------------------------------- ranking metrics
def _check_k(k_values: int | Iterable[int]) -> tuple[int, ...]:
    ks = [k_values] if isinstance(k_values, int | np.integer) else list(k_values)
    for k in ks:
        if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
            raise InvalidInputError(f"k must be a positive integer, got {k!r}")
    if not ks:
        raise InvalidInputError("no cut-off given; pass k, e.g. k_values=(10,)")
    return tuple(sorted({int(k) for k in ks}))


def _ranked(user: str, items: Any, k: int) -> list[str]:
    """The first ``k`` ids of a ranked list, as text; a repeated item is an error."""
    keys = getattr(items, "keys", items)  # a SearchResult's keys, or the list itself
    if callable(keys):  # a Mapping: its keys() method is not a ranking
        raise InvalidInputError(f"the recommendations of user {user!r} are a {type(items).__name__}; "
                                "give a ranked sequence of item ids, best first")
    if isinstance(keys, str | bytes):
        raise InvalidInputError(f"the recommendations of user {user!r} are a string; give a sequence of item ids")
    out = [str(i) for i in list(keys)[:k]]
    seen: set[str] = set()
    for i in out:
        if i in seen:
            raise InvalidInputError(f"the recommendations of user {user!r} list item {i!r} twice")
        seen.add(i)
    return out


def _user_metrics(ranked: Sequence[str], relevant: Collection[str], ks: tuple[int, ...]) -> dict[str, float]:
    n_rel = len(relevant)
    hit = np.array([i in relevant for i in ranked], dtype=bool)
    m = len(hit)
    kmax = ks[-1]
    discount = 1.0 / np.log2(np.arange(2, kmax + 2, dtype=np.float64))
    dcg = np.cumsum(np.where(hit, discount[:m], 0.0))
    ideal = np.cumsum(discount)
    hits = np.cumsum(hit)
    ap = np.cumsum(np.where(hit, hits / np.arange(1, m + 1), 0.0))
    out: dict[str, float] = {}
    for k in ks:
        i = min(k, m) - 1  # index of the last recommendation within the cut-off; -1 for none
        h = float(hits[i]) if i >= 0 else 0.0
        out[f"ndcg@{k}"] = float(dcg[i]) / float(ideal[min(k, n_rel) - 1]) if i >= 0 else 0.0
        out[f"map@{k}"] = float(ap[i]) / min(k, n_rel) if i >= 0 else 0.0
        out[f"recall@{k}"] = h / n_rel
        out[f"precision@{k}"] = h / k
    return out


def _relevant_sets(relevant: Mapping[Any, Iterable[Any]]) -> dict[str, set[str]]:
    return {str(u): s for u, items in relevant.items() if (s := {str(i) for i in items})}


def _mean_metric(name: str, recommended: Mapping[Any, Sequence[Any]], relevant: Mapping[Any, Iterable[Any]],
                 k: int) -> float:
    (k,) = _check_k(k)
    rel = _relevant_sets(relevant)
    if not rel:
        raise InvalidInputError("no user has a relevant item; nothing to average")
    recs = {str(u): v for u, v in recommended.items()}
    values = [_user_metrics(_ranked(u, recs.get(u, ()), k), r, (k,))[f"{name}@{k}"] for u, r in rel.items()]
    return math.fsum(values) / len(values)


def precision_at_k(recommended: Mapping[Any, Sequence[Any]], relevant: Mapping[Any, Iterable[Any]],
                   k: int = 10) -> float:
    """Mean precision@k: relevant items among each user's top k, / k.

    Parameters
    ----------
    recommended
        ``{user: [item, ...]}`` ranked lists, best first. A user missing here scores 0.
    relevant
        ``{user: items}``, the relevant test items of each user; users with none are skipped.
    k
        The cut-off.
    """
    return _mean_metric("precision", recommended, relevant, k)


def recall_at_k(recommended: Mapping[Any, Sequence[Any]], relevant: Mapping[Any, Iterable[Any]],
                k: int = 10) -> float:
    """Mean recall@k: relevant items among each user's top k, / the user's relevant items.

    See :func:`precision_at_k` for the arguments.
    """
    return _mean_metric("recall", recommended, relevant, k)


def ndcg_at_k(recommended: Mapping[Any, Sequence[Any]], relevant: Mapping[Any, Iterable[Any]],
              k: int = 10) -> float:
    """Mean NDCG@k with binary gains (see :func:`precision_at_k`); equals scikit-learn's ``ndcg_score``."""
    return _mean_metric("ndcg", recommended, relevant, k)


def map_at_k(recommended: Mapping[Any, Sequence[Any]], relevant: Mapping[Any, Iterable[Any]],
             k: int = 10) -> float:
    """Mean average precision@k, each user's AP divided by ``min(k, relevant items)`` (see :func:`precision_at_k`)."""
    return _mean_metric("map", recommended, relevant, k)


def _catalogue(catalogue: int | Collection[Any] | Interactions) -> tuple[int, set[str] | None]:
    """The catalogue's size, and its item ids when known."""
    ids: set[str] | None = None
    if isinstance(catalogue, Interactions):
        ids = set(catalogue.item_ids)
    elif isinstance(catalogue, int | np.integer) and not isinstance(catalogue, bool):
        pass
    elif isinstance(catalogue, Collection) and not isinstance(catalogue, str):
        ids = {str(i) for i in catalogue}
    else:
        raise InvalidInputError(f"catalogue must be a number of items, a collection of item ids or Interactions, "
                                f"got {type(catalogue).__name__}")
    size = len(ids) if ids is not None else int(catalogue)  # type: ignore[arg-type]
    if size < 1:
        raise InvalidInputError(f"the catalogue must hold at least one item, got {size}")
    return size, ids


def _coverage(lists: Iterable[Sequence[str]], size: int, ids: set[str] | None) -> float:
    shown = {i for items in lists for i in items}
    return len(shown if ids is None else shown & ids) / size


def catalogue_coverage(recommended: Mapping[Any, Sequence[Any]], catalogue: int | Collection[Any] | Interactions,
                       k: int | None = None) -> float:
    """Share of the catalogue that appears in at least one user's top ``k`` (all of each list when ``None``).

    ``catalogue`` is the items that could be recommended: the training
    :class:`~embspace.data.Interactions` (its items), their ids, or only their number (then every
    recommended id is taken to be in the catalogue). Recommended ids outside a known catalogue do
    not count.
    """
    size, ids = _catalogue(catalogue)
    kk = None if k is None else _check_k(k)[0]
    return _coverage((_ranked(str(u), items, kk or len(items)) for u, items in recommended.items()), size, ids)


# --------------------------------------------------------------------------- the whole evaluation
@dataclass
class RecommendationResult:
    """Top-k quality of a recommender on a test set.

    Attributes
    ----------
    metrics
        Mean over the evaluated users of ``"ndcg@k"``, ``"map@k"``, ``"recall@k"``,
        ``"precision@k"``, and ``"coverage@k"`` (over all of them), for every k of ``k_values``.
    per_user
        ``{user: {metric: value}}`` (coverage is not per user).
    n_users
        Users evaluated: test users with at least one relevant item.
    n_unknown_users
        Of those, users the recommender did not know (it raised ``UnknownKeyError``); they score 0.
    k_values, threshold
        The cut-offs, and the rating at or above which a test item is relevant (``None``: every
        test interaction is relevant).
    catalogue_size
        Items that could be recommended, the denominator of coverage.
    seconds
        Time spent getting the recommendations.
    """

    metrics: dict[str, float]
    per_user: dict[str, dict[str, float]] = field(repr=False)
    n_users: int
    n_unknown_users: int
    k_values: tuple[int, ...]
    threshold: float | None
    catalogue_size: int
    seconds: float

    def to_dict(self, per_user: bool = False) -> dict[str, Any]:
        """A JSON-ready dict; with ``per_user`` the per-user values too."""
        out: dict[str, Any] = {
            "metrics": dict(self.metrics), "n_users": self.n_users, "n_unknown_users": self.n_unknown_users,
            "k_values": list(self.k_values), "threshold": self.threshold, "catalogue_size": self.catalogue_size,
            "seconds": self.seconds,
        }
        if per_user:
            out["per_user"] = {u: dict(m) for u, m in self.per_user.items()}
        return out

    def _repr_html_(self) -> str:
        facts = [("users", self.n_users), ("unknown users", self.n_unknown_users),
                 ("relevant", "every test interaction" if self.threshold is None else f"rating >= {self.threshold:g}"),
                 ("catalogue size", self.catalogue_size), ("seconds", self.seconds)]
        grid = grid_html(self.metrics, RECOMMENDATION_METRICS, self.k_values)
        return _html.frame("RecommendationResult", _html.kv_table(facts), grid, subtitle=f"{self.n_users:,} users")

    def __str__(self) -> str:
        rel = "every test interaction" if self.threshold is None else f"rating >= {self.threshold:g}"
        lines = [f"recommendation: {self.n_users:,} users ({self.n_unknown_users:,} unknown to the model), "
                 f"relevant = {rel}, catalogue {self.catalogue_size:,} items, {self.seconds:.2f} s"]
        return "\n".join(lines + grid_lines(self.metrics, RECOMMENDATION_METRICS, self.k_values))


def recommendation(recommender: Recommender, test: Interactions, *, k_values: int | Iterable[int] = (10,),
                   threshold: float | None = 4.0, catalogue: int | Collection[Any] | Interactions | None = None
                   ) -> RecommendationResult:
    """Score top-k recommendations against held-out interactions.

    Parameters
    ----------
    recommender
        ``recommend(user, k) -> ranked item ids`` (a list, or anything with ``.keys`` such as a
        :class:`~embspace.SearchResult`), called once per test user with ids as text and the
        largest k; or a precomputed ``{user: [item, ...]}``. A callable that raises
        :class:`~embspace.UnknownKeyError` for a user scores 0 for that user (counted in
        ``n_unknown_users``); a user missing from a mapping scores 0 too. Leaving out the items a
        user saw in training is the recommender's job.
    test
        The held-out :class:`~embspace.data.Interactions`.
    k_values
        Cut-offs.
    threshold
        A test item is relevant when its rating is ``>= threshold`` (MovieLens: 4). ``None``, or
        a test set without ratings, makes every test interaction relevant.
    catalogue
        The items that could be recommended, for coverage: the training Interactions (the usual
        choice), their ids, or their number (see :func:`catalogue_coverage`). Default: the
        distinct items of the test set and of the recommendations together.

    Returns
    -------
    RecommendationResult
    """
    ks = _check_k(k_values)
    kmax = ks[-1]
    if not isinstance(test, Interactions):
        raise InvalidInputError(f"test must be Interactions, got {type(test).__name__}")
    use_threshold = threshold is not None and test.ratings is not None
    relevant = _relevant_sets(test.items_by_user(min_rating=threshold if use_threshold else None))
    if not relevant:
        raise InvalidInputError(f"no test interaction is relevant (rating >= {threshold}); lower the threshold")
    lists: dict[str, list[str]] = {}
    n_unknown = 0
    start = time.perf_counter()
    if isinstance(recommender, Mapping):
        given = {str(u): v for u, v in recommender.items()}
        for u in relevant:
            lists[u] = _ranked(u, given.get(u, ()), kmax)
    elif callable(recommender):
        for u in relevant:
            try:
                got = recommender(u, kmax)
            except UnknownKeyError:
                n_unknown += 1
                got = ()
            lists[u] = _ranked(u, got, kmax)
    else:
        raise InvalidInputError(f"recommender must be a recommend(user, k) callable or a {{user: [items]}} mapping, "
                                f"got {type(recommender).__name__}")
    seconds = time.perf_counter() - start
    per_user = {u: _user_metrics(lists[u], r, ks) for u, r in relevant.items()}
    if catalogue is None:
        catalogue = set(test.item_ids) | {i for items in lists.values() for i in items}
    size, ids = _catalogue(catalogue)
    metrics: dict[str, float] = {}
    for fam in RECOMMENDATION_METRICS[:-1]:
        for k in ks:
            name = f"{fam}@{k}"
            metrics[name] = math.fsum(v[name] for v in per_user.values()) / len(per_user)
    for k in ks:
        metrics[f"coverage@{k}"] = _coverage((items[:k] for items in lists.values()), size, ids)
    return RecommendationResult(metrics=metrics, per_user=per_user, n_users=len(per_user), n_unknown_users=n_unknown,
                                k_values=ks, threshold=threshold if use_threshold else None, catalogue_size=size,
                                seconds=seconds)
