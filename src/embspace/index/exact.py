"""ExactIndex: brute-force search, the oracle every approximate index is measured against."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Self

import numpy as np
import numpy.typing as npt

from .._atomic import atomic_path
from .._types import FloatArray, IntArray, Metric
from ..errors import CorruptDataError
from .base import BaseIndex, exact_topk, load_ids, read_meta, row_sq_norms, write_meta

__all__ = ["ExactIndex"]

_COMPACT_MIN = 1024  # tombstones are compacted away once there are this many, and half the rows


class ExactIndex(BaseIndex):
    """Exact k-nearest-neighbour search with embspace's own top-k kernel (no FAISS).

    It gives the same hits and scores as :meth:`EmbeddingSpace.neighbors
    <embspace.space.EmbeddingSpace.neighbors>` on the same vectors and metric, and serves as the
    oracle of :func:`~embspace.index.tune` and of the recall tests.

    Parameters
    ----------
    dim
        Dimension of the vectors.
    metric
        ``"cosine"``, ``"dot"`` or ``"l2"``; see :class:`~embspace.index.BaseIndex`.

    Notes
    -----
    Vectors live in one growing float32 matrix. :meth:`remove` marks rows dead; they are skipped
    by the search and compacted away once they are at least half of the rows (and 1024 or more).
    ``allowed_ids`` searches only those rows. Memory: ``4 * dim + 40`` bytes per vector.

    Examples
    --------
    >>> import numpy as np
    >>> from embspace.index import ExactIndex
    >>> index = ExactIndex(2, metric="l2")
    >>> index.add(np.array([[0, 0], [3, 4], [1, 0]]), ids=[10, 20, 30])
    >>> [(key, round(score, 3)) for key, score in index.search(np.array([3.0, 3.0]), k=2)]
    [('20', -1.0), ('30', -3.606)]
    """

    kind = "exact"

    def __init__(self, dim: int, *, metric: Metric = "cosine") -> None:
        super().__init__(dim, metric=metric)
        self._x = np.empty((0, self._dim), np.float32)  # rows by label; capacity grows by doubling
        self._sq = np.empty(0, np.float64)  # squared norms (l2 only)

    def memory_bytes(self) -> int:
        """Bytes held: the float32 rows (with their spare capacity), the squared norms and the id map."""
        return int(self._x.nbytes + self._sq.nbytes) + 24 * self._map.n_labels

    def _add(self, x: FloatArray, ids: IntArray) -> None:
        n0 = self._map.n_labels
        n1 = n0 + len(x)
        if n1 > len(self._x):
            cap = max(n1, 2 * len(self._x), 16)
            grown = np.empty((cap, self._dim), np.float32)
            grown[:n0] = self._x[:n0]
            self._x = grown
            if self._metric == "l2":
                sq = np.empty(cap, np.float64)
                sq[:n0] = self._sq[:n0]
                self._sq = sq
        self._x[n0:n1] = x
        if self._metric == "l2":
            self._sq[n0:n1] = row_sq_norms(x)
        self._map.append(ids)

    def _search(self, q: FloatArray, k: int, params: dict[str, int], allowed: IntArray | None,
                memo: dict[str, Any] | None = None) -> tuple[FloatArray, IntArray]:
        n = self._map.n_labels
        sq = self._sq[:n] if self._metric == "l2" else None
        if allowed is not None:
            scores, rows = exact_topk(q, np.ascontiguousarray(self._x[allowed]), k, self._metric,
                                      sq=None if sq is None else sq[allowed])
            return scores, np.where(rows >= 0, allowed[np.maximum(rows, 0)], -1)
        exclude = self._map.dead_labels() if self._map.n_dead else None
        return exact_topk(q, self._x[:n], k, self._metric, sq=sq, exclude=exclude)

    def _removed(self, labels: IntArray) -> None:
        if self._map.n_dead >= _COMPACT_MIN and 2 * self._map.n_dead >= self._map.n_labels:
            self._compact()

    def _compact(self) -> None:
        old = self._map.compact()
        self._x = np.ascontiguousarray(self._x[old])
        if self._metric == "l2":
            self._sq = self._sq[old]

    def _reconstruct_labels(self, labels: IntArray) -> FloatArray:
        return np.array(self._x[labels], dtype=np.float32)

    def rebuild(self, vectors: npt.ArrayLike | None = None, ids: npt.ArrayLike | None = None) -> None:
        """Compact the removed rows away; with ``vectors`` (and ``ids``), replace the whole content."""
        if vectors is None:
            if self._map.n_dead:
                self._compact()
            return
        x, _ = self._as_matrix(vectors, "vectors")
        old_map, old_x, old_sq = self._map, self._x, self._sq
        self._map = type(self._map)()
        self._x = np.empty((0, self._dim), np.float32)
        self._sq = np.empty(0, np.float64)
        try:
            self.add(x, ids)
        except BaseException:
            self._map, self._x, self._sq = old_map, old_x, old_sq
            raise

    def save(self, path: str | Path) -> Path:
        """Write ``index.json``, ``vectors.npy`` (stored rows) and ``ids.npy`` into the directory ``path``."""
        self.rebuild()
        target = Path(path)
        n = self._map.n_labels
        with atomic_path(target, is_dir=True) as tmp:
            np.save(tmp / "vectors.npy", self._x[:n], allow_pickle=False)
            np.save(tmp / "ids.npy", self._map.saved_label_ids(), allow_pickle=False)
            write_meta(tmp, self._meta())
        return target

    @classmethod
    def load(cls, path: str | Path) -> Self:
        """Read an index written by :meth:`save`."""
        meta = read_meta(path, kind=cls.kind)
        path = Path(path)
        try:
            x = np.load(path / "vectors.npy", allow_pickle=False)
        except (OSError, ValueError) as e:
            raise CorruptDataError(path / "vectors.npy", f"cannot read the vectors: {e}") from None
        if x.ndim != 2 or x.shape[1] != meta["dim"] or x.dtype != np.float32:
            raise CorruptDataError(path / "vectors.npy", f"expected float32 (n, {meta['dim']}) vectors, got "
                                                         f"{x.dtype} {x.shape}")
        self = cls(meta["dim"], metric=meta["metric"])
        self._map = load_ids(path / "ids.npy", len(x))
        self._x = np.ascontiguousarray(x)
        if self._metric == "l2":
            self._sq = row_sq_norms(self._x)
        return self
