"""ClassBalancedSampler: batches that always hold positives (P classes × K examples)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from ..errors import InvalidInputError

__all__ = ["ClassBalancedSampler"]


class ClassBalancedSampler:
    """Index batches of ``classes_per_batch`` classes with ``samples_per_class`` examples each (the
    "P×K" batches of Hermans et al. 2017), so every anchor of a batch has positives to mine.

    Each epoch shuffles every class's examples and deals them out in chunks of K; batches take P
    classes at random among those with a chunk left, so every example is used about once per
    epoch. A class smaller than K contributes all its examples (at least 2). Classes with a single
    example can never supply a positive and are left out (``dropped_classes``).

    Parameters
    ----------
    labels
        One label per example (any hashable values).
    classes_per_batch
        P, at least 2 (the negatives come from the other classes).
    samples_per_class
        K, at least 2.
    seed
        Seeds the order; epoch e draws from ``(seed, e)``, so runs repeat and epochs differ.

    Examples
    --------
    >>> s = ClassBalancedSampler([0, 0, 1, 1, 2, 2, 2, 2], classes_per_batch=2, samples_per_class=2)
    >>> all(len(set(np.asarray([0, 0, 1, 1, 2, 2, 2, 2])[b])) == 2 for b in s)
    True
    """

    def __init__(self, labels: Sequence[Any] | npt.NDArray[Any], classes_per_batch: int = 8,
                 samples_per_class: int = 4, *, seed: int = 0) -> None:
        for name, v in (("classes_per_batch", classes_per_batch), ("samples_per_class", samples_per_class)):
            if not isinstance(v, int) or isinstance(v, bool) or v < 2:
                raise InvalidInputError(f"{name} must be an integer >= 2, got {v!r}")
        lab = np.asarray(labels)
        if lab.ndim != 1 or len(lab) == 0:
            raise InvalidInputError(f"labels must be a non-empty 1-D sequence, got shape {lab.shape}")
        classes, codes, counts = np.unique(lab, return_inverse=True, return_counts=True)
        keep = counts >= 2
        self.dropped_classes = [c.item() if hasattr(c, "item") else c for c in classes[~keep]]
        self._members = [np.flatnonzero(codes == c) for c in np.flatnonzero(keep)]
        if len(self._members) < 2:
            raise InvalidInputError(f"need at least 2 classes with 2 or more examples to form batches with positives "
                                    f"and negatives; got {int(keep.sum())}")
        self.P = min(classes_per_batch, len(self._members))
        self.K = samples_per_class
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Draw the next iteration's batches as epoch ``epoch``."""
        self.epoch = int(epoch)

    def _chunks(self, rng: np.random.Generator) -> list[list[npt.NDArray[np.int64]]]:
        out = []
        for m in self._members:
            perm = rng.permutation(m)
            pieces = [perm[i : i + self.K] for i in range(0, len(perm), self.K)]
            if len(pieces) > 1 and len(pieces[-1]) < 2:  # no singleton chunk: fold it into the previous one
                last = pieces.pop()
                pieces[-1] = np.concatenate([pieces[-1], last])
            out.append(pieces)
        return out

    def __iter__(self) -> Iterator[npt.NDArray[np.int64]]:
        rng = np.random.default_rng([self.seed, self.epoch])
        chunks = self._chunks(rng)
        while True:
            alive = [c for c, pieces in enumerate(chunks) if pieces]
            if len(alive) < 2:
                return
            pick = rng.choice(alive, size=min(self.P, len(alive)), replace=False)
            yield np.concatenate([chunks[c].pop() for c in pick]).astype(np.int64)

    def __len__(self) -> int:
        """About how many batches one epoch yields."""
        total = sum(len(m) for m in self._members)
        return max(1, total // (self.P * self.K))

    def __repr__(self) -> str:
        return (f"ClassBalancedSampler(classes={len(self._members)}, classes_per_batch={self.P}, "
                f"samples_per_class={self.K}, seed={self.seed})")
