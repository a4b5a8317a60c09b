"""MatrixFactorization with implicit feedback (ALS, BPR): learns who likes what, repeats exactly."""

from __future__ import annotations

import numpy as np
import pytest
from train_testing import two_tastes

from embspace.data import Interactions
from embspace.errors import InvalidInputError, UnknownKeyError
from embspace.train import MatrixFactorization, Recommender


@pytest.mark.parametrize("objective", ["als", "bpr"])
def test_implicit_objectives_recommend_the_users_own_kind(objective: str) -> None:
    data, held, groups = two_tastes()
    m = MatrixFactorization(objective=objective, dim=8, progress=False, seed=1).fit(data)
    half = 30
    hits = same = 0
    for u, g in enumerate(groups):
        rec = m.recommender_.recommend(f"u{u}", k=5)
        seen = set(data.item_ids[c] for c in data.item_codes[data.user_codes == data.user_index(f"u{u}")])
        assert not seen & set(rec.keys)  # exclude_seen
        same += sum((int(k[1:]) // half) == g for k in rec.keys)
        hits += len(held[f"u{u}"] & set(rec.keys))
    assert same / (5 * len(groups)) > 0.9  # the user's own kind
    assert hits > 0.3 * 3 * len(groups) * 5 / half  # far above chance for the held-out items
    assert m.user_space_.space_id == m.item_space_.space_id and m.user_space_.metric == "dot"
    scores = m.recommender_.predict(["u0", "u0"], ["i0", "i59"])
    assert scores.dtype == np.float32 and len(m.loss_history_) == m.epochs


@pytest.mark.parametrize("objective", ["als", "bpr"])
def test_seeded_implicit_runs_repeat_exactly(objective: str) -> None:
    data, _, _ = two_tastes(3)
    a = MatrixFactorization(objective=objective, dim=8, epochs=5, progress=False, seed=7).fit(data)
    b = MatrixFactorization(objective=objective, dim=8, epochs=5, progress=False, seed=7).fit(data)
    # Not bit for bit: the kernels are compiled with fastmath, so LLVM may reassociate the float32 sums, and how a
    # vectorised loop is split depends on each per-row buffer's alignment, which varies between runs; the last
    # bits then differ (seen once under load). The seed fixes everything else, so the runs agree to float error,
    # as five alternating ALS solves amplify it: one of 1,080 entries 1.7e-5 apart (relative 2.7e-4, an entry of
    # 0.06) on a fresh-clone CI run; another seed differs by O(1), far beyond these bounds.
    np.testing.assert_allclose(a.item_space_.vectors, b.item_space_.vectors, rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(a.user_space_.vectors, b.user_space_.vectors, rtol=1e-3, atol=1e-4)


def test_objective_defaults_and_bad_settings() -> None:
    assert MatrixFactorization(objective="als").epochs == 15
    assert MatrixFactorization(objective="bpr").epochs == 100
    assert MatrixFactorization(objective="explicit").epochs == 60
    with pytest.raises(InvalidInputError):
        MatrixFactorization(objective="als", alpha=-1.0, progress=False).fit(two_tastes()[0])
    with pytest.raises(InvalidInputError):
        MatrixFactorization(objective="warp", progress=False).fit(two_tastes()[0])


@pytest.mark.parametrize("objective", ["explicit", "als", "bpr"])
def test_cold_users_fold_in_or_get_popular_items_and_models_round_trip(objective: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    data, _, groups = two_tastes(5)
    if objective == "explicit":  # loved their own kind (5), disliked a few of the other (1)
        rng = np.random.default_rng(0)
        users, items = list(data.users), list(data.items)
        ratings = [5.0] * len(users)
        for u, g in enumerate(groups):
            other = rng.choice(np.arange((1 - g) * 30, (1 - g) * 30 + 30), 4, replace=False)
            users += [f"u{u}"] * 4
            items += [f"i{i}" for i in other]
            ratings += [1.0] * 4
        data = Interactions({"user": users, "item": items, "rating": ratings})
    m = MatrixFactorization(objective=objective, dim=8, progress=False, seed=2).fit(data)
    # a new user who liked a few group-0 items gets mostly group-0 items
    liked = [f"i{i}" for i in range(5)]
    rec = m.recommender_.recommend_for_new_user(liked, k=10)
    assert not set(liked) & set(rec.keys)
    assert sum(int(k[1:]) < 30 for k in rec.keys) >= 8
    assert m.recommender_.fold_in(liked).shape == (9,)
    # no history: the most popular items, by training count
    pop = m.recommender_.recommend_for_new_user([], k=3)
    counts = np.bincount(data.item_codes, minlength=data.n_items)
    assert [int(c) for c in pop.scores] == sorted(counts.tolist(), reverse=True)[:3]
    with pytest.raises(InvalidInputError):
        m.recommender_.fold_in([])
    out = m.recommender_.save(tmp_path / "model")
    back = Recommender.load(out)
    assert back.recommend("u3", k=5).keys == m.recommender_.recommend("u3", k=5).keys
    np.testing.assert_array_equal(back.predict(["u1"], ["i2"]), m.recommender_.predict(["u1"], ["i2"]))
    assert back.user_space_.space_id == m.user_space_.space_id == back.item_space_.space_id


def test_unknown_users_and_items_raise_or_fall_back_on_request() -> None:
    data, _, _ = two_tastes(6)
    m = MatrixFactorization(objective="bpr", dim=8, epochs=5, progress=False).fit(data)
    with pytest.raises(UnknownKeyError):
        m.recommender_.recommend("nobody")
    with pytest.raises(UnknownKeyError):
        m.recommender_.predict(["u0"], ["nothing"])
    assert m.recommender_.recommend("nobody", 3, unknown="popular").keys == m.recommender_.popular(3).keys
    pred = m.recommender_.predict(["u0", "nobody", "u1"], ["i1", "i2", "nothing"], unknown="mean")
    assert pred[1] == pred[2] == np.float32(m.global_mean_) and pred[0] == m.recommender_.predict("u0", "i1")
    seen = set(data.item_ids[c] for c in data.item_codes[data.user_codes == data.user_index("u4")])
    assert not seen & set(m.recommender_.recommend("u4", k=40).keys)  # the cached per-user index
    with pytest.raises(InvalidInputError):
        m.recommender_.recommend("u0", unknown="mean")
