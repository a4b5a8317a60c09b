"""Random per-user holdout and leave-last-out splits."""

from __future__ import annotations

import numpy as np
import pytest

from embspace.data import Interactions, leave_last_out, random_split
from embspace.errors import InvalidInputError


def _rows(x: Interactions) -> set[tuple[str, str, int]]:
    assert x.timestamps is not None
    return set(zip(x.users.tolist(), x.items.tolist(), x.timestamps.tolist(), strict=True))


def _table(n_per_user: list[int], seed: int = 0) -> Interactions:
    rng = np.random.default_rng(seed)
    users = np.repeat([f"u{i}" for i in range(len(n_per_user))], n_per_user)
    items = np.concatenate([rng.choice(1000, n, replace=False) for n in n_per_user])
    return Interactions({"user": users, "item": items, "rating": rng.integers(1, 6, len(users)),
                         "timestamp": rng.permutation(len(users))})


def test_random_split_fraction_per_user_and_partition() -> None:
    x = _table([1, 2, 5, 10, 20])
    train, test = random_split(x, 0.2, seed=3)
    assert _rows(train) | _rows(test) == _rows(x) and not (_rows(train) & _rows(test))
    counts = {u: int(c) for u, c in zip(*np.unique(test.users, return_counts=True), strict=True)}
    assert counts == {"u2": 1, "u3": 2, "u4": 4}  # round(0.2 n), at least one left in train
    assert "u0" in train.user_ids and "u1" in train.user_ids and set(test.user_ids) <= set(train.user_ids)


def test_random_split_is_seeded() -> None:
    x = _table([30] * 10)
    a, b, c = (random_split(x, 0.3, seed=s)[1] for s in (1, 1, 2))
    assert _rows(a) == _rows(b) and _rows(a) != _rows(c)


def test_leave_last_out_takes_each_users_latest() -> None:
    x = Interactions({"user": ["a", "a", "a", "b", "b", "c"], "item": [1, 2, 3, 1, 2, 9],
                      "timestamp": [30, 10, 20, 5, 6, 1]})
    train, test = leave_last_out(x)
    assert sorted(zip(test.users.tolist(), test.items.tolist(), strict=True)) == [("a", "1"), ("b", "2")]
    assert "c" in train.user_ids and "c" not in test.user_ids  # a single interaction stays in train
    train2, test2 = leave_last_out(x, n=2)
    assert sorted(zip(test2.users.tolist(), test2.items.tolist(), strict=True)) == [("a", "1"), ("a", "3"),
                                                                                     ("b", "2")]
    assert len(train2) == 3


def test_leave_last_out_ties_go_by_row_order() -> None:
    x = Interactions({"user": ["a", "a", "a"], "item": [1, 2, 3], "timestamp": [7, 7, 1]})
    assert leave_last_out(x)[1].items.tolist() == ["2"]


def test_split_errors() -> None:
    no_time = Interactions({"user": [1, 1], "item": [1, 2]})
    with pytest.raises(InvalidInputError, match="needs timestamps"):
        leave_last_out(no_time)
    with pytest.raises(InvalidInputError, match="test set empty"):
        leave_last_out(Interactions({"user": [1, 2], "item": [1, 2], "timestamp": [1, 2]}))
    for bad in (0.0, 1.0, -0.1, True):
        with pytest.raises(InvalidInputError, match="test_fraction"):
            random_split(no_time, bad)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="n must be"):
        leave_last_out(_table([3]), n=0)
    with pytest.raises(InvalidInputError, match="needs Interactions"):
        random_split({"user": [1], "item": [2]})  # type: ignore[arg-type]
