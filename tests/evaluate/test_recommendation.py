"""Recommendation metrics: hand-computed tiny cases, scikit-learn and the retrieval metrics as oracles."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest

from embspace import evaluate
from embspace.data import Interactions
from embspace.errors import InvalidInputError, UnknownKeyError

RECS = {"A": [1, 2, 3, 4], "B": [5, 9]}
REL = {"A": {1, 3}, "B": {9}, "C": set()}  # C has nothing relevant: not averaged
L3 = 1 / math.log2(3)


def test_rmse_and_mae_by_hand_and_against_sklearn() -> None:
    metrics = pytest.importorskip("sklearn.metrics")
    assert evaluate.rmse([1, 2, 3], [1, 1, 5]) == pytest.approx(math.sqrt(5 / 3))
    assert evaluate.mae([1, 2, 3], [1, 1, 5]) == pytest.approx(1.0)
    rng = np.random.default_rng(0)
    p, a = rng.uniform(1, 5, 500), rng.integers(1, 6, 500)
    assert evaluate.rmse(p, a) == pytest.approx(math.sqrt(metrics.mean_squared_error(a, p)))
    assert evaluate.mae(p, a) == pytest.approx(metrics.mean_absolute_error(a, p))
    with pytest.raises(InvalidInputError, match="3 values but actual has 2"):
        evaluate.rmse([1, 2, 3], [1, 2])
    with pytest.raises(InvalidInputError, match="NaN"):
        evaluate.mae([1, float("nan")], [1, 2])
    with pytest.raises(InvalidInputError, match="empty"):
        evaluate.rmse([], [])


def test_ranking_metrics_by_hand() -> None:
    # A: hits at ranks 1 and 3 of 4, R = 2;  B: hit at rank 2, R = 1.
    assert evaluate.precision_at_k(RECS, REL, k=2) == pytest.approx((1 / 2 + 1 / 2) / 2)
    assert evaluate.recall_at_k(RECS, REL, k=2) == pytest.approx((1 / 2 + 1) / 2)
    assert evaluate.ndcg_at_k(RECS, REL, k=2) == pytest.approx((1 / (1 + L3) + L3) / 2)
    assert evaluate.map_at_k(RECS, REL, k=2) == pytest.approx((1 / 2 + 1 / 2) / 2)
    assert evaluate.precision_at_k(RECS, REL, k=4) == pytest.approx((2 / 4 + 1 / 4) / 2)  # B: only 2 recommended
    assert evaluate.recall_at_k(RECS, REL, k=4) == pytest.approx(1.0)
    assert evaluate.ndcg_at_k(RECS, REL, k=4) == pytest.approx(((1 + 0.5) / (1 + L3) + L3) / 2)
    assert evaluate.map_at_k(RECS, REL, k=4) == pytest.approx(((1 + 2 / 3) / 2 + 1 / 2) / 2)
    assert evaluate.ndcg_at_k(RECS, REL, k=1) == pytest.approx(0.5)  # A's first is a hit, B's is not
    assert evaluate.recall_at_k({}, REL, k=10) == 0.0  # users without recommendations score 0
    assert evaluate.catalogue_coverage(RECS, 12) == pytest.approx(6 / 12)
    assert evaluate.catalogue_coverage(RECS, range(10), k=1) == pytest.approx(2 / 10)
    assert evaluate.catalogue_coverage(RECS, [1, 2, 99, 100]) == pytest.approx(2 / 4)  # 3, 4, 5, 9: not in it


def test_ndcg_equals_sklearn_ndcg_score() -> None:
    metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(1)
    n_items, k = 40, 10
    for _ in range(20):
        relevant = set(rng.choice(n_items, rng.integers(1, 15), replace=False).tolist())
        scores = rng.standard_normal(n_items)
        ranked = np.argsort(-scores).tolist()
        truth = np.isin(np.arange(n_items), list(relevant)).astype(float)
        ours = evaluate.ndcg_at_k({"u": ranked}, {"u": relevant}, k=k)
        assert ours == pytest.approx(metrics.ndcg_score(truth[None], scores[None], k=k))


def test_agrees_with_the_retrieval_metrics_on_binary_relevance() -> None:
    rng = np.random.default_rng(2)
    recs, rel = {}, {}
    for u in range(30):
        rel[str(u)] = {str(i) for i in rng.choice(50, rng.integers(1, 8), replace=False)}
        recs[str(u)] = [str(i) for i in rng.permutation(50)[:20]]
    qrels = {u: dict.fromkeys(items, 1) for u, items in rel.items()}
    means, _ = evaluate.ranking_metrics(qrels, recs, k_values=(5, 10, 20))
    for k in (5, 10, 20):
        assert evaluate.ndcg_at_k(recs, rel, k) == pytest.approx(means[f"ndcg@{k}"])
        assert evaluate.recall_at_k(recs, rel, k) == pytest.approx(means[f"recall@{k}"])
        assert evaluate.precision_at_k(recs, rel, k) == pytest.approx(means[f"precision@{k}"])
    # MAP: trec's map_cut divides by R, ours by min(k, R): equal here since R <= 7 < 10.
    assert evaluate.map_at_k(recs, rel, 10) == pytest.approx(means["map@10"])


def _test_set() -> tuple[Interactions, Interactions]:
    train = Interactions({"user": ["A", "A", "B", "B", "D"], "item": [7, 8, 7, 1, 2], "rating": [5, 4, 3, 2, 5]})
    test = Interactions({"user": ["A", "A", "A", "B", "B", "C", "D"], "item": [1, 3, 2, 9, 5, 1, 4],
                         "rating": [5, 4, 2, 4, 1, 5, 3]})
    return train, test


def test_recommendation_scores_a_callable_with_threshold_and_unknown_users() -> None:
    train, test = _test_set()
    seen: list[tuple[str, int]] = []

    def recommend(user: str, k: int) -> list[int]:
        seen.append((user, k))
        if user == "C":
            raise UnknownKeyError(user, where="the users of the model")
        return RECS[user][:k]

    result = evaluate.recommendation(recommend, test, k_values=(2, 4), catalogue=train)
    # Relevant (rating >= 4): A {1, 3}, B {9}, C {1}; D's only test rating is 3: not evaluated.
    assert sorted(seen) == [("A", 4), ("B", 4), ("C", 4)]
    assert result.n_users == 3 and result.n_unknown_users == 1 and result.threshold == 4.0
    assert result.metrics["ndcg@2"] == pytest.approx((1 / (1 + L3) + L3 + 0) / 3)
    assert result.metrics["recall@4"] == pytest.approx((1 + 1 + 0) / 3)
    assert result.metrics["map@4"] == pytest.approx(((1 + 2 / 3) / 2 + 1 / 2) / 3)
    assert result.per_user["C"]["ndcg@4"] == 0.0
    assert result.catalogue_size == train.n_items == 4
    # Train's items are 7, 8, 1, 2: of the recommendations only 1 and 2 are in that catalogue.
    assert result.metrics["coverage@2"] == pytest.approx(2 / 4) and result.metrics["coverage@4"] == pytest.approx(2 / 4)
    assert evaluate.recommendation(RECS, test, k_values=4).metrics["coverage@4"] == pytest.approx(6 / 6)
    assert "ndcg" in str(result) and result.to_dict()["n_users"] == 3


def test_recommendation_accepts_a_mapping_or_search_results_and_no_threshold() -> None:
    _, test = _test_set()
    as_results = {u: SimpleNamespace(keys=[str(i) for i in items]) for u, items in RECS.items()}
    a = evaluate.recommendation(RECS, test, k_values=4)
    b = evaluate.recommendation(lambda u, k: as_results.get(u, []), test, k_values=[4])
    assert a.metrics == pytest.approx(b.metrics) and a.n_unknown_users == 0
    every = evaluate.recommendation(RECS, test, k_values=4, threshold=None)
    assert every.threshold is None and every.n_users == 4  # D's rating-3 item now counts
    assert every.per_user["B"]["recall@4"] == pytest.approx(2 / 2)  # 9 and 5 both relevant


def test_recommendation_errors() -> None:
    _, test = _test_set()
    with pytest.raises(InvalidInputError, match="list item '1' twice"):
        evaluate.recommendation({"A": [1, 1]}, test)
    with pytest.raises(InvalidInputError, match="positive integer"):
        evaluate.recommendation(RECS, test, k_values=0)
    with pytest.raises(InvalidInputError, match="no test interaction is relevant"):
        evaluate.recommendation(RECS, test, threshold=6)
    with pytest.raises(InvalidInputError, match="test must be Interactions"):
        evaluate.recommendation(RECS, {"user": [1], "item": [2]})  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="ranked sequence"):
        evaluate.recommendation({"A": {"1": 1.0}}, test)
    with pytest.raises(InvalidInputError, match="recommend"):
        evaluate.recommendation(42, test)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="at least one item"):
        evaluate.catalogue_coverage(RECS, 0)
