"""Caller ids <-> internal labels, with tombstones.

Every index numbers its stored vectors 0, 1, 2, ... in the order they were added (the *labels*,
FAISS's own sequential numbering). The caller chooses an int64 id per vector; this map turns one
into the other both ways. A removed vector keeps its label until the next compaction (its
*tombstone*), so removal never renumbers a graph index.

The reverse map is a pair of sorted arrays (ids, labels of the live vectors) searched with
``np.searchsorted``: 16 bytes per vector, vectorised lookups, and no Python object per id.
"""

from __future__ import annotations

import itertools

import numpy as np
import numpy.typing as npt

from .._types import IntArray
from ..errors import InvalidInputError

BoolArray = npt.NDArray[np.bool_]


def as_ids(ids: npt.ArrayLike, what: str = "ids") -> IntArray:
    """Validate ids given by a caller: 1-D, integers, non-negative; returns an int64 copy."""
    arr = np.asarray(ids)
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim != 1:
        raise InvalidInputError(f"{what} must be a 1-D sequence of integers, got shape {arr.shape}")
    if arr.size and (arr.dtype.kind not in "iu" or arr.dtype == np.bool_):
        raise InvalidInputError(f"{what} must be integers (int64), got dtype {arr.dtype}")
    if arr.dtype.kind == "u" and arr.size and int(arr.max()) > np.iinfo(np.int64).max:
        raise InvalidInputError(f"{what} must fit in int64")
    out = arr.astype(np.int64)
    if out.size and int(out.min()) < 0:
        raise InvalidInputError(f"{what} must be non-negative (-1 marks a missing hit), got {int(out.min())}")
    return out


class IdMap:
    """Labels (0..n_labels-1, in order of addition) mapped to caller ids, with tombstones."""

    __slots__ = ("_alive", "_ids", "_n", "_n_dead", "_sorted_ids", "_sorted_labels", "serial")
    _serials = itertools.count()

    def __init__(self) -> None:
        self.serial = next(IdMap._serials)  # tells this map from a later one (after a rebuild)
        self._ids = np.empty(0, np.int64)  # label -> id (capacity grows by doubling)
        self._alive = np.empty(0, np.bool_)
        self._n = 0
        self._n_dead = 0
        self._sorted_ids = np.empty(0, np.int64)  # live ids, sorted
        self._sorted_labels = np.empty(0, np.int64)  # their labels

    # ----------------------------------------------------------------- sizes
    @property
    def version(self) -> tuple[int, int, int]:
        """Changes whenever a label is added, removed or renumbered."""
        return self.serial, self._n, self._n_dead

    @property
    def n_labels(self) -> int:
        """Labels handed out, live and removed."""
        return self._n

    @property
    def n_live(self) -> int:
        return self._n - self._n_dead

    @property
    def n_dead(self) -> int:
        return self._n_dead

    @property
    def alive(self) -> BoolArray:
        """(n_labels,) mask of live labels (a view: do not modify)."""
        return self._alive[: self._n]

    @property
    def label_ids(self) -> IntArray:
        """(n_labels,) id of each label; removed labels keep their old id (a view)."""
        return self._ids[: self._n]

    def live_labels(self) -> IntArray:
        """Labels of the live vectors, ascending (= order of addition)."""
        return np.nonzero(self.alive)[0].astype(np.int64)

    def dead_labels(self) -> IntArray:
        return np.nonzero(~self.alive)[0].astype(np.int64)

    def live_ids(self) -> IntArray:
        """Ids of the live vectors in order of addition."""
        return self.label_ids[self.alive].copy()

    # ----------------------------------------------------------------- lookups
    def _find(self, ids: IntArray) -> tuple[IntArray, BoolArray]:
        """Position of each id in the sorted live ids (clipped) and whether it is there."""
        s = self._sorted_ids
        if not len(s):
            return np.zeros(len(ids), np.int64), np.zeros(len(ids), np.bool_)
        pos = np.minimum(np.searchsorted(s, ids), len(s) - 1)
        return pos, s[pos] == ids

    def contains(self, ids: IntArray) -> BoolArray:
        return self._find(ids)[1]

    def labels_of(self, ids: IntArray) -> IntArray:
        """Labels of the live ids among ``ids`` (unknown or removed ids are left out)."""
        pos, found = self._find(ids)
        return self._sorted_labels[pos[found]]

    def to_ids(self, labels: IntArray) -> IntArray:
        """Map an array of labels (``-1`` for a missing hit) to ids (``-1`` stays ``-1``)."""
        out = np.full(labels.shape, -1, np.int64)
        ok = labels >= 0
        out[ok] = self._ids[labels[ok]]
        return out

    # ----------------------------------------------------------------- changes
    def check_new(self, ids: IntArray) -> None:
        """Refuse duplicates within ``ids`` and ids already present."""
        uniq, counts = np.unique(ids, return_counts=True)
        if len(uniq) != len(ids):
            dup = int(uniq[counts > 1][0])
            raise InvalidInputError(f"duplicate id {dup} in the ids given to add(); ids must be unique")
        present = self.contains(ids)
        if present.any():
            dup = int(ids[present][0])
            raise InvalidInputError(
                f"id {dup} is already in the index ({int(present.sum())} of the given ids are); "
                "remove() them first to replace their vectors, or use other ids"
            )

    def next_ids(self, n: int) -> IntArray:
        """``n`` fresh ids after the largest id ever used (for ``add(vectors)`` without ids)."""
        start = int(self.label_ids.max()) + 1 if self._n else 0
        return np.arange(start, start + n, dtype=np.int64)

    def append(self, ids: IntArray) -> IntArray:
        """Give the (checked) ``ids`` the next labels; returns those labels."""
        n = len(ids)
        if self._n + n > len(self._ids):
            cap = max(self._n + n, 2 * len(self._ids), 16)
            grown = np.empty(cap, np.int64)
            grown[: self._n] = self._ids[: self._n]
            alive = np.zeros(cap, np.bool_)
            alive[: self._n] = self._alive[: self._n]
            self._ids, self._alive = grown, alive
        labels = np.arange(self._n, self._n + n, dtype=np.int64)
        self._ids[self._n : self._n + n] = ids
        self._alive[self._n : self._n + n] = True
        self._n += n
        self._merge_sorted(ids, labels)
        return labels

    def _merge_sorted(self, ids: IntArray, labels: IntArray) -> None:
        order = np.argsort(ids, kind="stable")
        ids, labels = ids[order], labels[order]
        pos = np.searchsorted(self._sorted_ids, ids)
        self._sorted_ids = np.insert(self._sorted_ids, pos, ids)
        self._sorted_labels = np.insert(self._sorted_labels, pos, labels)

    def remove(self, ids: IntArray) -> IntArray:
        """Tombstone the live ids among ``ids``; returns their labels (unknown ids are ignored)."""
        pos, found = self._find(np.unique(ids))
        pos = pos[found]
        labels = self._sorted_labels[pos]
        if len(labels):
            self._alive[labels] = False
            self._n_dead += len(labels)
            keep = np.ones(len(self._sorted_ids), np.bool_)
            keep[pos] = False
            self._sorted_ids = self._sorted_ids[keep]
            self._sorted_labels = self._sorted_labels[keep]
        return labels

    def compact(self) -> IntArray:
        """Drop the tombstones: live labels are renumbered 0..n_live-1 in order.

        Returns the old labels of the survivors (``old_labels[new_label]``).
        """
        old = self.live_labels()
        ids = self.label_ids[old].copy()
        self.reset()
        self.append(ids)
        return old

    def reset(self) -> None:
        self.__init__()  # type: ignore[misc]

    @classmethod
    def from_label_ids(cls, label_ids: IntArray) -> IdMap:
        """Rebuild from a saved (n_labels,) array of ids, ``-1`` for removed labels."""
        self = cls()
        n = len(label_ids)
        self._ids = np.array(label_ids, dtype=np.int64)
        self._alive = self._ids >= 0
        self._n = n
        self._n_dead = int((~self._alive).sum())
        live = np.nonzero(self._alive)[0].astype(np.int64)
        ids = self._ids[live]
        order = np.argsort(ids, kind="stable")
        self._sorted_ids, self._sorted_labels = ids[order], live[order]
        if len(ids) and np.any(self._sorted_ids[1:] == self._sorted_ids[:-1]):
            raise ValueError("duplicate ids")
        return self

    def saved_label_ids(self) -> IntArray:
        """(n_labels,) ids with ``-1`` for removed labels: what :meth:`from_label_ids` reads."""
        return np.where(self.alive, self.label_ids, -1).astype(np.int64)
