"""QuantizedSpace: a space's vectors as int8, uint8 or binary codes, searchable, with optional rescoring.

Role: what :func:`quantize` returns — the compressed form of an
:class:`~embspace.space.EmbeddingSpace` (or of a plain matrix) for measuring what a precision costs in
quality (:func:`embspace.analysis.budget` sweeps them) and for keeping vectors 4x (int8) or 32x
(binary) smaller. The codes come from a :class:`~embspace.index.Calibration` computed once; queries
are quantised with that same calibration (:meth:`QuantizedSpace.encode`).

Cost: int8/uint8 search decodes the codes block by block and scores them (O(n dim) per query, like
exact float search, on 4x less memory read); binary search counts differing bits (O(n dim / 8) bytes
per query). ``rescore=N`` re-scores the best ``k * N`` candidates with the float vectors: O(k N dim).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Self

import numpy as np
import numpy.typing as npt

from .._artifact import check_format_version, write_header
from .._atomic import atomic_path
from .._types import METRICS, FloatArray, IntArray, Metric
from ..errors import CorruptDataError, DimensionMismatchError, InvalidInputError
from ..space.embedding_space import EmbeddingSpace
from ..space.search_result import SearchResult
from .base import check_k, normalize_rows
from .calibration import Calibration, Precision, _check_precision, hamming

__all__ = ["QuantizedSpace", "quantize"]

FORMAT_VERSION = 1
_BLOCK = 16384  # rows decoded and scored at a time


def _unit(x: FloatArray) -> FloatArray:
    return normalize_rows(x, allow_zero=True, what="vector")


def _vectors_of(data: Any, what: str) -> tuple[FloatArray, tuple[str, ...] | None, Metric | None, Any]:
    """(float32 rows, keys or None, metric or None, provenance or None) of a space or an array."""
    if isinstance(data, EmbeddingSpace):
        return data.vectors, data.keys, data.metric, data.provenance
    try:
        x = np.ascontiguousarray(data, dtype=np.float32)
    except (TypeError, ValueError) as e:
        raise InvalidInputError(f"{what} must be an EmbeddingSpace or a (n, dim) array: {e}") from None
    if x.ndim != 2:
        raise InvalidInputError(f"{what} must be an EmbeddingSpace or a 2-D (n, dim) array, got shape {x.shape}")
    return x, None, None, None


class QuantizedSpace:
    """Keys and their quantised codes, with the calibration that made them.

    Parameters
    ----------
    keys
        One key per row of ``codes``.
    codes
        ``(n, bytes)`` int8 or uint8 codes from ``calibration``.
    calibration
        The :class:`~embspace.index.Calibration` that made the codes (and quantises queries).
    metric
        How scores are computed on the decoded vectors: ``cosine`` and ``dot`` by inner product, ``l2``
        by negated distance. Binary codes score ``dim - 2 * hamming`` (the inner product of the +-1
        sign vectors) whatever the metric.
    provenance
        The provenance of the space the codes come from (a dict), kept for the record.

    Examples
    --------
    >>> import numpy as np
    >>> from embspace.index import quantize
    >>> x = np.random.default_rng(0).standard_normal((100, 32)).astype("float32")
    >>> q = quantize(x, "binary")
    >>> q.codes.shape, q.codes.dtype.name, q.precision
    ((100, 4), 'int8', 'binary')
    >>> q.search(x[7], k=1).keys, q.search(x[7], k=3, rescore=4, vectors=x).keys[0]
    (['7'], '7')
    >>> bool((q.encode(x[:5]) == q.codes[:5]).all())  # queries get the space's calibration
    True
    """

    def __init__(self, keys: tuple[str, ...] | list[str], codes: npt.ArrayLike, calibration: Calibration, *,
                 metric: Metric = "cosine", provenance: dict[str, Any] | None = None) -> None:
        if not isinstance(calibration, Calibration):
            raise InvalidInputError(f"calibration must be a Calibration, got {type(calibration).__name__}")
        if metric not in METRICS:
            raise InvalidInputError(f"unknown metric {metric!r}; expected one of {', '.join(METRICS)}")
        c = np.ascontiguousarray(codes)
        if c.ndim != 2 or c.shape[1] != calibration.code_bytes or c.dtype != calibration.code_dtype:
            raise InvalidInputError(f"{calibration.precision} codes of dimension {calibration.dim} must be "
                                    f"({calibration.code_bytes}-byte) {np.dtype(calibration.code_dtype).name} rows; "
                                    f"got {c.dtype} {c.shape}")
        self._keys = tuple(str(k) for k in keys)
        if len(self._keys) != len(c):
            raise InvalidInputError(f"{len(self._keys)} keys for {len(c)} code rows; give one key per row")
        self._codes = c
        self._codes.flags.writeable = False
        self._calibration = calibration
        self._metric: Metric = metric
        self.provenance = dict(provenance or {})
        self._faiss: Any = None  # a FAISS IndexBinaryFlat over binary codes, built at the first search

    # ----------------------------------------------------------------- properties
    @property
    def keys(self) -> tuple[str, ...]:
        return self._keys

    @property
    def codes(self) -> npt.NDArray[Any]:
        """``(n, bytes)`` codes (read-only): int8 for ``int8``/``binary``, uint8 for ``uint8``/``ubinary``."""
        return self._codes

    @property
    def calibration(self) -> Calibration:
        return self._calibration

    @property
    def precision(self) -> Precision:
        return self._calibration.precision

    @property
    def dim(self) -> int:
        """Dimension of the vectors the codes stand for."""
        return self._calibration.dim

    @property
    def metric(self) -> Metric:
        return self._metric

    @property
    def nbytes(self) -> int:
        """Bytes of the codes."""
        return int(self._codes.nbytes)

    @property
    def binary(self) -> bool:
        return self.precision in ("binary", "ubinary")

    def __len__(self) -> int:
        return len(self._keys)

    def __repr__(self) -> str:
        return (f"QuantizedSpace(n={len(self)}, dim={self.dim}, precision={self.precision!r}, "
                f"metric={self._metric!r}, bytes_per_vector={self._calibration.code_bytes})")

    # ----------------------------------------------------------------- coding
    def _prepare(self, x: FloatArray) -> FloatArray:
        return _unit(x) if self._metric == "cosine" else x

    def encode(self, vectors: npt.ArrayLike) -> npt.NDArray[Any]:
        """Codes of new vectors or queries with this space's calibration (normalised first under cosine);
        one vector gives one ``(bytes,)`` row, the same as inside a batch."""
        x = np.ascontiguousarray(vectors, dtype=np.float32)
        single = x.ndim == 1
        x2 = self._prepare(np.atleast_2d(x)) if x.size else np.atleast_2d(x)
        out = self._calibration.encode(x2)
        return out[0] if single else out

    def dequantize(self) -> FloatArray:
        """``(n, dim)`` float32 vectors decoded from the codes (see :meth:`Calibration.decode`)."""
        return self._calibration.decode(self._codes)

    def to_space(self) -> EmbeddingSpace:
        """The decoded vectors as an :class:`~embspace.space.EmbeddingSpace` with the same keys."""
        return EmbeddingSpace(list(self._keys), self.dequantize(), metric=self._metric)

    # ----------------------------------------------------------------- search
    def _query_rows(self, queries: npt.ArrayLike) -> tuple[FloatArray, bool]:
        q = np.ascontiguousarray(queries, dtype=np.float32)
        single = q.ndim == 1
        q = np.atleast_2d(q)
        if q.ndim != 2 or q.shape[1] != self.dim:
            raise DimensionMismatchError(q.shape[-1], self.dim, "query vectors")
        if not np.isfinite(q).all():
            raise InvalidInputError("query vectors contain NaN or Inf")
        if self._metric == "cosine":
            q = normalize_rows(q, allow_zero=False)
        return q, single

    def _scores_block(self, q_codes: npt.NDArray[Any], qd: FloatArray, r0: int, r1: int) -> npt.NDArray[np.float32]:
        if self.binary:
            d = hamming(q_codes, self._codes[r0:r1])
            return (self.dim - 2 * d).astype(np.float32)
        x = self._calibration.decode(self._codes[r0:r1])
        if self._metric == "l2":
            sq = (qd.astype(np.float64) ** 2).sum(1)[:, None] + (x.astype(np.float64) ** 2).sum(1)[None, :] \
                - 2.0 * (qd @ x.T)
            neg: npt.NDArray[np.float32] = (-np.sqrt(np.maximum(sq, 0.0))).astype(np.float32)
            return neg
        out: npt.NDArray[np.float32] = (qd @ x.T).astype(np.float32)
        return out

    def _binary_index(self) -> Any:
        if self._faiss is None:
            from .base import _faiss

            faiss = _faiss()
            index = faiss.IndexBinaryFlat(8 * self._calibration.code_bytes)
            index.add(self._calibration.unsigned(self._codes))
            self._faiss = index
        return self._faiss

    def _candidates(self, q: FloatArray, k: int) -> tuple[npt.NDArray[np.float32], IntArray]:
        """``(nq, k)`` quantised scores and row numbers, best first."""
        n = len(self)
        q_codes = self._calibration.encode(q)
        if self.binary:
            try:
                index = self._binary_index()
            except ImportError:
                index = None
            if index is not None:
                dist, rows = index.search(self._calibration.unsigned(q_codes), k)
                return (self.dim - 2 * dist).astype(np.float32), rows.astype(np.int64)
        qd = self._calibration.decode(q_codes) if not self.binary else q
        best_s = np.full((len(q), 0), -np.inf, np.float32)
        best_r = np.empty((len(q), 0), np.int64)
        for r0 in range(0, n, _BLOCK):
            r1 = min(n, r0 + _BLOCK)
            s = np.concatenate([best_s, self._scores_block(q_codes, qd, r0, r1)], axis=1)
            r = np.concatenate([best_r, np.broadcast_to(np.arange(r0, r1, dtype=np.int64), (len(q), r1 - r0))], 1)
            if s.shape[1] > k:
                part = np.argpartition(-s, k - 1, axis=1)[:, :k]
                s, r = np.take_along_axis(s, part, 1), np.take_along_axis(r, part, 1)
            best_s, best_r = s, r
        order = np.lexsort((best_r, -best_s), axis=1)
        return np.take_along_axis(best_s, order, 1), np.take_along_axis(best_r, order, 1)

    def search(self, queries: npt.ArrayLike, k: int = 10, *, rescore: int | None = None,
               vectors: EmbeddingSpace | npt.ArrayLike | None = None) -> SearchResult:
        """The ``k`` best rows for each float query, quantised with this space's calibration.

        Parameters
        ----------
        queries
            One ``(dim,)`` float vector or ``(nq, dim)`` float queries (not codes).
        k
            Hits per query.
        rescore
            Re-score the best ``k * rescore`` candidates exactly with ``vectors`` (the float vectors of
            the same rows) and keep the best ``k``; the scores are then exact float scores.
        vectors
            ``(n, dim)`` float vectors (or the space) in the order of :attr:`keys`, for ``rescore``.

        Returns
        -------
        SearchResult
            Keys, scores (quantised scores, or exact ones with ``rescore``) and row numbers as ids.
        """
        k = check_k(k)
        q, single = self._query_rows(queries)
        n = len(self)
        if n == 0 or len(q) == 0:
            return SearchResult.empty(not single, len(q))
        if rescore is not None:
            if not isinstance(rescore, int) or isinstance(rescore, bool) or rescore < 1:
                raise InvalidInputError(f"rescore must be a positive integer (candidates per hit), got {rescore!r}")
            if vectors is None:
                raise InvalidInputError("rescore needs the float vectors: pass vectors=space (or its matrix)")
            x, _, _, _ = _vectors_of(vectors, "vectors")
            if x.shape != (n, self.dim):
                raise InvalidInputError(f"vectors for rescoring must be ({n}, {self.dim}), got {x.shape}")
        k_eff = min(k, n)
        fetch = min(n, k_eff * (rescore or 1))
        scores, rows = self._candidates(q, fetch)
        if rescore is not None:
            cand = self._prepare(x[rows.reshape(-1)]).reshape(len(q), fetch, self.dim)
            if self._metric == "l2":
                exact = -np.linalg.norm(cand - q[:, None, :], axis=2)
            else:
                exact = np.einsum("qkd,qd->qk", cand, q)
            order = np.lexsort((rows, -exact), axis=1)[:, :k_eff]
            scores = np.take_along_axis(exact, order, 1).astype(np.float32)
            rows = np.take_along_axis(rows, order, 1)
        else:
            scores, rows = scores[:, :k_eff], rows[:, :k_eff]
        keys = [[self._keys[i] for i in row] for row in rows.tolist()]
        if single:
            return SearchResult(keys[0], np.ascontiguousarray(scores[0]), rows[0])
        return SearchResult(keys, np.ascontiguousarray(scores), rows)

    # ----------------------------------------------------------------- persistence
    def save(self, path: str | Path) -> Path:
        """Write a directory: ``codes.npy``, ``quantized.json`` (keys, metric, calibration, provenance) and
        the ``embspace.json`` header (kind ``quantized-space``)."""
        target = Path(path)
        with atomic_path(target, is_dir=True) as tmp:
            np.save(tmp / "codes.npy", self._codes, allow_pickle=False)
            meta = {"format_version": FORMAT_VERSION, "metric": self._metric, "keys": list(self._keys),
                    "calibration": self._calibration.to_dict(), "provenance": self.provenance}
            (tmp / "quantized.json").write_text(json.dumps(meta) + "\n", encoding="utf-8")
            write_header(tmp, "quantized-space", FORMAT_VERSION, precision=self.precision, dim=self.dim,
                         metric=self._metric)
        return target

    @classmethod
    def load(cls, path: str | Path) -> Self:
        """Read a space written by :meth:`save`."""
        p = Path(path)
        check_format_version(p, "quantized-space", FORMAT_VERSION)
        try:
            meta = json.loads((p / "quantized.json").read_text(encoding="utf-8"))
            codes = np.load(p / "codes.npy", allow_pickle=False)
        except (OSError, ValueError) as e:
            raise CorruptDataError(p, f"not a quantized space: {e}") from None
        try:
            return cls(meta["keys"], codes, Calibration.from_dict(meta["calibration"]), metric=meta["metric"],
                       provenance=meta.get("provenance"))
        except (KeyError, TypeError, InvalidInputError) as e:
            raise CorruptDataError(p, f"inconsistent quantized space: {e}") from None


def quantize(space_or_array: EmbeddingSpace | npt.ArrayLike, precision: Precision | str = "int8",
             calibration: Calibration | EmbeddingSpace | npt.ArrayLike | None = None, *,
             metric: Metric | None = None, quantile: float | None = None) -> QuantizedSpace:
    """Quantise a space (or an ``(n, dim)`` matrix) to int8, uint8 or binary codes.

    Parameters
    ----------
    space_or_array
        An :class:`~embspace.space.EmbeddingSpace` or a float ``(n, dim)`` array (keys ``"0"``, ``"1"``...).
    precision
        ``"int8"``, ``"uint8"``, ``"binary"`` or ``"ubinary"`` (see :class:`~embspace.index.Calibration`).
    calibration
        Where the ranges come from, computed ONCE: ``None`` (the vectors being quantised), a space or
        array of calibration vectors (a sample of the corpus; never the query batch), or a
        :class:`~embspace.index.Calibration` already computed (its precision must match).
    metric
        The metric of the codes' scores; default: the space's, ``"cosine"`` for an array. Under cosine,
        vectors (and calibration vectors, and queries) are L2-normalised before quantisation.
    quantile
        Scalar precisions: ranges from the ``quantile`` / ``1 - quantile`` quantiles instead of min/max.

    Returns
    -------
    QuantizedSpace
        ``.codes`` ``(n, bytes)``, ``.calibration``, ``.precision``; ``.encode(queries)`` quantises
        queries with the same calibration.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.random.default_rng(1).standard_normal((500, 16)).astype("float32")
    >>> q8 = quantize(x, "int8")
    >>> q8.codes.shape, q8.codes.dtype.name, q8.calibration.method
    ((500, 16), 'int8', 'minmax')
    >>> q8.encode(x[3]).tolist() == q8.codes[3].tolist()  # one query alone: the same codes as in the space
    True
    """
    prec = _check_precision(precision)
    x, keys, space_metric, provenance = _vectors_of(space_or_array, "space_or_array")
    metric = metric or space_metric or "cosine"
    if metric not in METRICS:
        raise InvalidInputError(f"unknown metric {metric!r}; expected one of {', '.join(METRICS)}")
    if not np.isfinite(x).all():
        raise InvalidInputError("the vectors contain NaN or Inf; quantise finite vectors only")
    prepared = _unit(x) if metric == "cosine" else x
    if isinstance(calibration, Calibration):
        if calibration.precision != prec:
            raise InvalidInputError(f"the calibration is for {calibration.precision!r} codes, not {prec!r}; "
                                    f"fit one with Calibration.fit(vectors, {prec!r})")
        if calibration.dim != x.shape[1]:
            raise DimensionMismatchError(x.shape[1], calibration.dim, "vectors")
        cal = calibration
    else:
        if calibration is None:
            sample = prepared
        else:
            sample, _, _, _ = _vectors_of(calibration, "calibration")
            if sample.shape[1] != x.shape[1]:
                raise DimensionMismatchError(sample.shape[1], x.shape[1], "calibration vectors")
            sample = _unit(sample) if metric == "cosine" else sample
        if len(sample) == 0:
            if prec in ("int8", "uint8"):
                raise InvalidInputError("no vectors to calibrate on; pass calibration= vectors or a Calibration")
            cal = Calibration(prec, dim=x.shape[1])
        else:
            cal = Calibration.fit(sample, prec, quantile=quantile)
    codes = cal.encode(prepared) if len(prepared) else np.empty((0, cal.code_bytes), cal.code_dtype)
    prov: dict[str, Any] | None = None
    if provenance is not None:
        to_dict = getattr(provenance, "to_dict", None)
        prov = to_dict() if callable(to_dict) else None
    return QuantizedSpace(keys if keys is not None else [str(i) for i in range(len(x))], codes, cal, metric=metric,
                          provenance=prov)
