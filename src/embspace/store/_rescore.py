"""The float vectors a quantised collection re-scores its candidates with, memory-mapped from the index's files.

The table (SQLite) stays the truth; this is derived data like the index, written next to it
(``index/rescore_vectors.npy``: the stored-form float32 rows sorted by id, and ``index/rescore_ids.npy``)
when the index is built or saved, and covered by the same ``covers.json``. Reading a candidate's vector is
a memory-mapped row, never a SQL query. Vectors added since the files were written (the change log
replayed into the index) are kept in memory until the next save.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ..errors import CorruptDataError

VECTORS = "rescore_vectors.npy"
IDS = "rescore_ids.npy"

FloatArray = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]


class RowsWriter:
    """An ``.npy`` file of ``(n, dim)`` float32 rows written in order with plain file writes.

    Not through a memory map: the pages of a written mapping stay resident in the writer's process (counted in
    its RSS) until the kernel needs the memory, so mapping 10M x 128 rows would hold 5 GB; written pages of a
    plain file are the page cache's, which the kernel drops or writes back as it likes."""

    def __init__(self, path: Path, n: int, dim: int) -> None:
        self.path, self.n, self.dim, self.written = Path(path), int(n), int(dim), 0
        self._f = open(self.path, "wb")  # noqa: SIM115 (closed by close(), also on failure)
        try:
            np.lib.format.write_array_header_1_0(
                self._f, {"descr": np.lib.format.dtype_to_descr(np.dtype(np.float32)), "fortran_order": False,
                          "shape": (self.n, self.dim)})
        except BaseException:
            self._f.close()
            raise

    def write(self, rows: npt.ArrayLike) -> None:
        x = np.ascontiguousarray(rows, dtype=np.float32)
        if x.ndim != 2 or x.shape[1] != self.dim or self.written + len(x) > self.n:
            raise ValueError(f"{self.path}: rows {x.shape} after {self.written} of ({self.n}, {self.dim})")
        self._f.write(x.data)
        self.written += len(x)

    def close(self) -> None:
        """Close the file (a file closed before its ``n`` rows are written is short: :meth:`RescoreVectors.open`
        refuses it)."""
        self._f.close()


class RescoreVectors:
    """Stored-form float32 vectors by id: a sorted (memory-mapped) base plus the rows added since."""

    def __init__(self, ids: IntArray, vectors: FloatArray | np.memmap[Any, Any], dim: int) -> None:
        self.dim = dim
        self._ids = ids
        self._x = vectors
        self._rows: FloatArray = np.asarray(vectors)  # a plain view (of the mapping): no np.memmap per lookup
        self._extra: dict[int, FloatArray] = {}
        self._source: Path | None = None  # the file mapped (open): linked, not rewritten, by an unchanged write
        # ids without a hole (a collection nobody deleted from): an id's row is id - first, no search needed
        self._first = int(ids[0]) if len(ids) and int(ids[-1]) - int(ids[0]) == len(ids) - 1 else None

    @classmethod
    def from_arrays(cls, ids: IntArray, vectors: FloatArray, dim: int) -> RescoreVectors:
        order = np.argsort(ids, kind="stable")
        return cls(np.ascontiguousarray(ids[order]), np.ascontiguousarray(vectors[order]), dim)

    @classmethod
    def open(cls, directory: Path, dim: int) -> RescoreVectors:
        """Map the files written by :meth:`write` (read-only)."""
        try:
            ids = np.load(directory / IDS, allow_pickle=False)
            x = np.load(directory / VECTORS, mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError) as e:
            raise CorruptDataError(directory / VECTORS, f"cannot read the rescoring vectors: {e}") from None
        if x.dtype != np.float32 or x.ndim != 2 or x.shape[1] != dim or ids.shape != (len(x),) or \
                ids.dtype != np.int64 or (len(ids) > 1 and not (np.diff(ids) > 0).all()):
            raise CorruptDataError(directory / VECTORS, f"expected float32 (n, {dim}) rows under n sorted int64 ids, "
                                                        f"got {x.dtype} {x.shape} and ids {ids.dtype} {ids.shape}")
        rv = cls(ids, x, dim)
        rv._source = directory / VECTORS
        return rv

    def __len__(self) -> int:
        return len(self._ids) + len(self._extra)

    @property
    def mapped(self) -> bool:
        return isinstance(self._x, np.memmap)

    @property
    def file_bytes(self) -> int:
        return int(self._x.nbytes) if self.mapped else 0

    def add(self, ids: IntArray, vectors: FloatArray) -> None:
        for i, v in zip(ids.tolist(), vectors, strict=True):
            self._extra[int(i)] = np.array(v, np.float32)

    def covers(self, ids: IntArray) -> bool:
        """Whether every id of ``ids`` has a vector here."""
        if len(ids) == 0:
            return True
        pos = np.searchsorted(self._ids, ids)
        found = (pos < len(self._ids)) & (self._ids[np.minimum(pos, max(len(self._ids) - 1, 0))] == ids) \
            if len(self._ids) else np.zeros(len(ids), np.bool_)
        return bool(found.all() or all(int(i) in self._extra for i in ids[~found].tolist()))

    def get(self, ids: IntArray) -> tuple[FloatArray, npt.NDArray[np.bool_]]:
        """``(len(ids), dim)`` float32 rows of ``ids`` and which were found (a missing id gives zeros)."""
        out = np.zeros((len(ids), self.dim), np.float32)
        if len(self._ids):
            pos = np.searchsorted(self._ids, ids)
            pos_c = np.minimum(pos, len(self._ids) - 1)
            hit = self._ids[pos_c] == ids
            if hit.any():
                out[hit] = self._rows[pos_c[hit]]
        else:
            hit = np.zeros(len(ids), np.bool_)
        if self._extra:
            for r in np.nonzero(~hit)[0].tolist():
                v = self._extra.get(int(ids[r]))
                if v is not None:
                    out[r] = v
                    hit[r] = True
        return out, hit

    def rows_of(self, ids: IntArray) -> FloatArray | None:
        """The rows of ``ids`` (every one stored, none ``-1``) in one gather, without the checks and the
        zero-filled copy of :meth:`get`; None when one is missing or was added since the files were written
        (then :meth:`get`). For the single-query rescoring path (a few hundred ids)."""
        if self._extra or not len(self._ids):
            return None
        if self._first is not None:  # consecutive ids (sorted, unique): the row is the offset, checked by range
            pos = ids - self._first
            if len(pos) and (int(pos.min()) < 0 or int(pos.max()) >= len(self._ids)):
                return None
            rows_dense: FloatArray = self._rows.take(pos, axis=0)
            return rows_dense
        pos = self._ids.searchsorted(ids)
        np.minimum(pos, len(self._ids) - 1, out=pos)  # an id past the last one: compared (and refused) below
        if self._ids[pos].tolist() != ids.tolist():  # list compare: no cold ufunc reduction for a few hundred
            return None
        rows: FloatArray = self._rows.take(pos, axis=0)  # take: a third cheaper than fancy indexing here
        return rows

    def write(self, directory: Path, live_ids: IntArray) -> None:
        """Write the rows of ``live_ids`` (sorted by id) as the two files in ``directory``."""
        ids = np.sort(np.asarray(live_ids, np.int64))
        if self._source is not None and not self._extra and np.array_equal(ids, self._ids):
            try:  # the same rows as the mapped file, which is never written again: another name for it
                os.link(self._source, directory / VECTORS)
                np.save(directory / IDS, ids, allow_pickle=False)
                return
            except OSError:
                pass  # another file system, or the file is gone: written below
        out = RowsWriter(directory / VECTORS, len(ids), self.dim)
        try:
            for i in range(0, len(ids), 65536):
                out.write(self.get(ids[i:i + 65536])[0])
        finally:
            out.close()
        np.save(directory / IDS, ids, allow_pickle=False)
