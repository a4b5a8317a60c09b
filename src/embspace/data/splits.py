"""Train/test splits of interactions: random per-user holdout and leave-last-out by timestamp.

The predefined MovieLens 100K splits come from :func:`embspace.data.load_movielens_100k`. Both
functions here keep at least one interaction of every user in train, so every test user is known
to a model fitted on train; train and test are re-coded to the users and items they hold (ids stay).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from ..errors import InvalidInputError
from .interactions import Interactions

__all__ = ["leave_last_out", "random_split"]


def _rank_in_user(users: npt.NDArray[np.int32], order: npt.NDArray[np.int64]) -> tuple[
        npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """For rows sorted by ``order`` (grouped by user): each row's position within its user, and its user's size."""
    u_sorted = users[order]
    starts = np.flatnonzero(np.r_[True, u_sorted[1:] != u_sorted[:-1]])
    sizes = np.diff(np.r_[starts, len(order)])
    pos = np.arange(len(order)) - np.repeat(starts, sizes)
    rank = np.empty(len(order), np.int64)
    size = np.empty(len(order), np.int64)
    rank[order] = pos
    size[order] = np.repeat(sizes, sizes)
    return rank, size


def _split(interactions: Interactions, test: npt.NDArray[np.bool_]) -> tuple[Interactions, Interactions]:
    if not test.any():
        raise InvalidInputError("the split leaves the test set empty: every user has too few interactions "
                                "(each user keeps at least one in train); use a larger test fraction")
    return interactions.subset(~test), interactions.subset(test)


def random_split(interactions: Interactions, test_fraction: float = 0.2, *, seed: int = 0
                 ) -> tuple[Interactions, Interactions]:
    """Hold out a random ``test_fraction`` of each user's interactions: ``(train, test)``.

    A user with ``n`` interactions gives ``min(round(test_fraction * n), n - 1)`` of them to test
    (halves round up), so a user with a single interaction stays whole in train. Seeded: the same
    seed on the same interactions gives the same split. Rows keep their order within each part.
    """
    if not isinstance(interactions, Interactions):
        raise InvalidInputError(f"random_split needs Interactions, got {type(interactions).__name__}")
    if isinstance(test_fraction, bool) or not 0.0 < float(test_fraction) < 1.0:
        raise InvalidInputError(f"test_fraction must be between 0 and 1 (exclusive), got {test_fraction!r}")
    rng = np.random.default_rng(seed)
    shuffle = rng.permutation(len(interactions))
    order = shuffle[np.argsort(interactions.user_codes[shuffle], kind="stable")]  # users grouped, random within
    rank, size = _rank_in_user(interactions.user_codes, order)
    n_test = np.minimum(np.floor(test_fraction * size + 0.5).astype(np.int64), size - 1)
    return _split(interactions, rank < n_test)


def leave_last_out(interactions: Interactions, n: int = 1) -> tuple[Interactions, Interactions]:
    """Each user's ``n`` latest interactions (by timestamp) go to test, the rest to train: ``(train, test)``.

    A user with ``m <= n`` interactions gives only ``m - 1`` to test, so a user with a single
    interaction stays in train. Equal timestamps are ordered by row: the later row counts as later.
    Needs a ``timestamp`` column.
    """
    if not isinstance(interactions, Interactions):
        raise InvalidInputError(f"leave_last_out needs Interactions, got {type(interactions).__name__}")
    if interactions.timestamps is None:
        raise InvalidInputError("leave_last_out needs timestamps, and these interactions have no 'timestamp' "
                                "column; pass one (columns={'timestamp': ...}) or use random_split")
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        raise InvalidInputError(f"n must be a positive integer, got {n!r}")
    rows = np.arange(len(interactions))
    order = np.lexsort((rows, interactions.timestamps, interactions.user_codes))  # by user, then time, then row
    rank, size = _rank_in_user(interactions.user_codes, order)
    from_end = size - rank  # 1 for a user's latest interaction
    return _split(interactions, from_end <= np.minimum(n, size - 1))
