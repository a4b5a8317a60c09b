"""MatrixFactorization with implicit feedback (ALS, BPR): learns who likes what, repeats exactly."""

from __future__ import annotations

import numpy as np
import pytest

from embspace.data import Interactions
from embspace.errors import InvalidInputError
from embspace.train import MatrixFactorization


def _two_tastes(seed: int = 0, n_users: int = 120, n_items: int = 60, per_user: int = 12) -> tuple[
        Interactions, dict[str, set[str]], np.ndarray]:
    """Users of group g interact only with items of group g; some of each user's items are held out."""
    rng = np.random.default_rng(seed)
    groups = rng.integers(0, 2, n_users)
    users, items, held = [], [], {}
    half = n_items // 2
    for u, g in enumerate(groups):
        own = rng.choice(np.arange(g * half, g * half + half), per_user, replace=False)
        users += [f"u{u}"] * (per_user - 3)
        items += [f"i{i}" for i in own[3:]]
        held[f"u{u}"] = {f"i{i}" for i in own[:3]}
    return Interactions({"user": users, "item": items}), held, groups


@pytest.mark.parametrize("objective", ["als", "bpr"])
def test_implicit_objectives_recommend_the_users_own_kind(objective: str) -> None:
    data, held, groups = _two_tastes()
    m = MatrixFactorization(objective=objective, dim=8, progress=False, seed=1).fit(data)
    half = 30
    hits = same = 0
    for u, g in enumerate(groups):
        rec = m.recommend(f"u{u}", k=5)
        seen = set(data.item_ids[c] for c in data.item_codes[data.user_codes == data.user_index(f"u{u}")])
        assert not seen & set(rec.keys)  # exclude_seen
        same += sum((int(k[1:]) // half) == g for k in rec.keys)
        hits += len(held[f"u{u}"] & set(rec.keys))
    assert same / (5 * len(groups)) > 0.9  # the user's own kind
    assert hits > 0.3 * 3 * len(groups) * 5 / half  # far above chance for the held-out items
    assert m.user_space_.space_id == m.item_space_.space_id and m.user_space_.metric == "dot"
    scores = m.predict(["u0", "u0"], ["i0", "i59"])
    assert scores.dtype == np.float32 and len(m.loss_history_) == m.epochs


@pytest.mark.parametrize("objective", ["als", "bpr"])
def test_seeded_implicit_runs_repeat_exactly(objective: str) -> None:
    data, _, _ = _two_tastes(3)
    a = MatrixFactorization(objective=objective, dim=8, epochs=5, progress=False, seed=7).fit(data)
    b = MatrixFactorization(objective=objective, dim=8, epochs=5, progress=False, seed=7).fit(data)
    np.testing.assert_array_equal(a.item_space_.vectors, b.item_space_.vectors)
    np.testing.assert_array_equal(a.user_space_.vectors, b.user_space_.vectors)


def test_objective_defaults_and_bad_settings() -> None:
    assert MatrixFactorization(objective="als").epochs == 15
    assert MatrixFactorization(objective="bpr").epochs == 100
    assert MatrixFactorization(objective="explicit").epochs == 60
    with pytest.raises(InvalidInputError):
        MatrixFactorization(objective="als", alpha=-1.0, progress=False).fit(_two_tastes()[0])
    with pytest.raises(InvalidInputError):
        MatrixFactorization(objective="warp", progress=False).fit(_two_tastes()[0])
