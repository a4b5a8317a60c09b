"""Calibration: the per-dimension ranges that turn float vectors into int8, uint8 or binary codes.

Role: the one place where a float vector becomes a code, for :func:`~embspace.index.quantize`, its
:class:`~embspace.index.QuantizedSpace` and the binary indexes of collections. The ranges are learnt
ONCE from a calibration set and then applied, unchanged, to every vector and every query: a query
quantised alone gets exactly the codes it gets inside a batch (the classic bug is to calibrate on the
query batch itself, which turns a single query into all zeros), and a value outside the range is
CLIPPED to the extreme code (-128 / 127 for int8, 0 / 255 for uint8), never wrapped around.

Cost: fitting is one pass over the calibration set (O(n dim); a quantile range sorts each column,
O(n log n dim)); encoding is O(dim) per vector and holds no state besides the two (dim,) ranges.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Literal, Self, TypeAlias

import numpy as np
import numpy.typing as npt

from .._types import FloatArray
from ..errors import CorruptDataError, DimensionMismatchError, InvalidInputError
from .base import as_rows

__all__ = ["PRECISIONS", "Calibration", "Precision", "code_bytes", "hamming"]

Precision: TypeAlias = Literal["int8", "uint8", "binary", "ubinary"]
PRECISIONS: tuple[Precision, ...] = ("int8", "uint8", "binary", "ubinary")
_LEVELS = 255  # 256 codes: 255 steps between the low and the high end of a range


def code_bytes(precision: str, dim: int) -> int:
    """Bytes per vector of ``precision`` codes for ``dim`` dimensions (``dim`` or ``ceil(dim / 8)``)."""
    return dim if precision in ("int8", "uint8") else math.ceil(dim / 8)


def _check_precision(precision: object) -> Precision:
    if precision not in PRECISIONS:
        raise InvalidInputError(f"unknown precision {precision!r}; expected one of {', '.join(PRECISIONS)} "
                                "(float32 vectors need no quantisation)")
    return precision  # narrowed by the check above


def hamming(a: npt.ArrayLike, b: npt.ArrayLike) -> npt.NDArray[np.int32]:
    """Hamming distances between packed binary codes: ``(na, bytes)`` x ``(nb, bytes)`` -> ``(na, nb)``.

    ``binary`` (int8) and ``ubinary`` (uint8) codes of the same vectors give the same distances.

    >>> import numpy as np
    >>> hamming(np.array([[0b1010]], np.uint8), np.array([[0b0110], [0b1010]], np.uint8))
    array([[2, 0]], dtype=int32)
    """
    ua = np.atleast_2d(np.asarray(a)).view(np.uint8)
    ub = np.atleast_2d(np.asarray(b)).view(np.uint8)
    out = np.empty((len(ua), len(ub)), np.int32)
    step = max(1, (1 << 22) // max(ua.shape[1] * max(len(ub), 1), 1))  # ~4 MB of XOR at a time
    for i in range(0, len(ua), step):
        out[i:i + step] = np.bitwise_count(ua[i:i + step, None, :] ^ ub[None, :, :]).sum(axis=2, dtype=np.int32)
    return out


class Calibration:
    """Per-dimension ranges learnt once from calibration vectors, and the code mapping they define.

    Build one with :meth:`fit` (or let :func:`~embspace.index.quantize` do it), keep it with the codes
    (:meth:`save`, :meth:`to_dict`), and quantise every new vector or query with :meth:`encode`.

    Parameters
    ----------
    precision
        ``"int8"`` (codes -128..127), ``"uint8"`` (0..255), ``"binary"`` (sign bits packed, 8 per byte,
        stored as int8: the packed byte minus 128, sentence-transformers' convention) or ``"ubinary"``
        (the packed bytes as uint8: what FAISS's binary indexes take).
    low, high
        ``(dim,)`` ranges: the value mapped to the lowest and to the highest code (scalar precisions).
    dim
        Dimension of the vectors (binary precisions, which have no range).
    method
        How the ranges were chosen: ``"minmax"``, ``"quantile"`` or ``"sign"`` (binary).
    quantile
        The tail cut on each side for ``method="quantile"``.
    n
        How many calibration vectors the ranges come from.

    Notes
    -----
    **Scalar codes.** Dimension ``j`` maps ``low[j]`` to the lowest code and ``high[j]`` to the highest,
    in 255 equal steps, rounding to the nearest step: ``u = clip(rint((x - low) / step), 0, 255)``,
    ``uint8 = u``, ``int8 = u - 128``. By default the range is the minimum and maximum of the calibration
    set (sentence-transformers' choice): no calibration value is clipped, and with a calibration set
    drawn from the corpus, few corpus values are. ``quantile=q`` takes the ``q`` and ``1 - q`` quantiles
    instead: a few outliers (common in real embeddings: a handful of "rogue" dimensions) then no longer
    stretch the range, so the other values get finer steps, and the outliers are clipped. A
    constant dimension (``low == high``) gets a step of 1.

    **Binary codes.** Bit ``j`` is 1 when ``x[j] > 0`` (a zero is a 0 bit), packed 8 per byte in FAISS's
    order (``np.packbits(..., bitorder="little")``: dimension ``8 b + i`` is bit ``i``, the value ``1 << i``,
    of byte ``b``, as ``faiss.real_to_binary`` does and ``IndexBinary`` expects). sentence-transformers packs
    big-endian: its bytes are these with the bits of each byte reversed; Hamming distances are the same.

    Encoding is element-wise (nothing is computed across rows), so a vector gets the same codes alone
    and inside any batch.

    Examples
    --------
    >>> import numpy as np
    >>> cal = Calibration.fit(np.array([[0.0, -1.0], [1.0, 1.0]]), "int8")
    >>> cal.encode(np.array([[0.25, 0.5], [9.0, -9.0]])).tolist()  # out of range: clipped, not wrapped
    [[-64, 63], [127, -128]]
    >>> cal.encode(np.array([9.0, -9.0])).tolist() == cal.encode(np.array([[9.0, -9.0]]))[0].tolist()
    True
    """

    def __init__(self, precision: Precision, *, low: npt.ArrayLike | None = None, high: npt.ArrayLike | None = None,
                 dim: int | None = None, method: str | None = None, quantile: float | None = None,
                 n: int = 0) -> None:
        self.precision: Precision = _check_precision(precision)
        self.n = int(n)
        self.quantile = None if quantile is None else float(quantile)
        if self.precision in ("binary", "ubinary"):
            if dim is None and low is not None:
                dim = int(np.asarray(low).shape[-1])
            if not isinstance(dim, int | np.integer) or isinstance(dim, bool) or int(dim) < 1:
                raise InvalidInputError(f"a binary calibration needs dim, a positive integer; got {dim!r}")
            self.dim = int(dim)
            self.low: FloatArray | None = None
            self.high: FloatArray | None = None
            self.method = "sign"
            return
        if low is None or high is None:
            raise InvalidInputError(f"a {self.precision} calibration needs low and high ranges; use "
                                    "Calibration.fit(vectors, precision) to compute them")
        lo = np.ascontiguousarray(low, dtype=np.float32).reshape(-1)
        hi = np.ascontiguousarray(high, dtype=np.float32).reshape(-1)
        if lo.shape != hi.shape or len(lo) == 0:
            raise InvalidInputError(f"low and high must be two (dim,) ranges of the same length, got {lo.shape} "
                                    f"and {hi.shape}")
        if dim is not None and len(lo) != dim:
            raise DimensionMismatchError(len(lo), int(dim), "calibration ranges")
        if not (np.isfinite(lo).all() and np.isfinite(hi).all()) or (hi < lo).any():
            raise InvalidInputError("calibration ranges must be finite, with low <= high in every dimension")
        self.dim = len(lo)
        self.low, self.high = lo, hi
        self.method = method or ("quantile" if quantile is not None else "minmax")
        span = (hi.astype(np.float64) - lo) / _LEVELS
        self._step = np.where(span > 0, span, 1.0).astype(np.float32)
        self._inv = (1.0 / self._step.astype(np.float64)).astype(np.float32)

    # ----------------------------------------------------------------- building
    @classmethod
    def fit(cls, vectors: npt.ArrayLike, precision: Precision | str = "int8", *,
            quantile: float | None = None) -> Self:
        """The calibration of ``precision`` from ``(n, dim)`` calibration vectors (computed once, here).

        ``quantile`` (scalar precisions): cut this share off each tail of every dimension (e.g. ``0.001``)
        instead of taking the minimum and maximum; see the Notes of :class:`Calibration`.
        """
        prec = _check_precision(precision)
        x, _ = as_rows(vectors, "calibration vectors")
        if len(x) == 0:
            raise InvalidInputError("calibration needs at least one vector")
        if prec in ("binary", "ubinary"):
            return cls(prec, dim=x.shape[1], n=len(x))
        if quantile is None:
            return cls(prec, low=x.min(axis=0), high=x.max(axis=0), n=len(x))
        if not isinstance(quantile, int | float) or isinstance(quantile, bool) or not 0.0 <= quantile < 0.5:
            raise InvalidInputError(f"quantile must be a number in [0, 0.5), got {quantile!r}")
        lo, hi = np.quantile(x, [quantile, 1.0 - quantile], axis=0)
        return cls(prec, low=lo, high=hi, quantile=float(quantile), n=len(x))

    # ----------------------------------------------------------------- coding
    @property
    def code_bytes(self) -> int:
        """Bytes per vector: ``dim`` (int8, uint8) or ``ceil(dim / 8)`` (binary)."""
        return code_bytes(self.precision, self.dim)

    @property
    def code_dtype(self) -> type[np.integer[Any]]:
        return np.int8 if self.precision in ("int8", "binary") else np.uint8

    def encode(self, vectors: npt.ArrayLike) -> npt.NDArray[Any]:
        """Codes of ``vectors``: ``(n, code_bytes)`` int8 or uint8 (``(code_bytes,)`` for one vector).

        Values outside the range get the extreme code (clipped); the same vector gets the same codes
        alone and in any batch.
        """
        x, single = as_rows(vectors, "vectors", self.dim)
        if self.precision in ("binary", "ubinary"):
            packed = np.packbits(x > 0, axis=1, bitorder="little")
            out: npt.NDArray[Any] = packed if self.precision == "ubinary" else (packed ^ np.uint8(0x80)).view(np.int8)
        else:
            assert self.low is not None
            u = np.rint((x - self.low) * self._inv)
            np.clip(u, 0, _LEVELS, out=u)
            codes = u.astype(np.uint8)
            out = codes if self.precision == "uint8" else (codes ^ np.uint8(0x80)).view(np.int8)
        return out[0] if single else out

    def decode(self, codes: npt.ArrayLike) -> FloatArray:
        """Approximate float vectors of ``codes``: ``(n, dim)`` float32 (``(dim,)`` for one code row).

        Scalar codes give the centre of their step; binary codes give ``+1`` for a 1 bit, ``-1`` for a 0.
        """
        c = np.asarray(codes)
        single = c.ndim == 1
        c = np.atleast_2d(c)
        if c.shape[1] != self.code_bytes:
            raise DimensionMismatchError(c.shape[1], self.code_bytes, "code bytes")
        u = self._unsigned(c)
        if self.precision in ("binary", "ubinary"):
            bits = np.unpackbits(u, axis=1, count=self.dim, bitorder="little")
            out = bits.astype(np.float32) * 2.0 - 1.0
        else:
            assert self.low is not None
            out = self.low + u.astype(np.float32) * self._step
        out = np.ascontiguousarray(out, dtype=np.float32)
        return out[0] if single else out

    def _unsigned(self, codes: npt.NDArray[Any]) -> npt.NDArray[np.uint8]:
        """Codes as the unsigned bytes they stand for (int8 codes are the unsigned ones minus 128)."""
        want = self.code_dtype
        if codes.dtype != want:
            raise InvalidInputError(f"{self.precision} codes are {np.dtype(want).name}, got {codes.dtype}")
        if want == np.uint8:
            return np.ascontiguousarray(codes)
        return np.ascontiguousarray(codes).view(np.uint8) ^ np.uint8(0x80)

    def unsigned(self, codes: npt.ArrayLike) -> npt.NDArray[np.uint8]:
        """``codes`` as uint8 (``ubinary``/``uint8`` form; for binary codes: FAISS's ``IndexBinary`` input)."""
        return self._unsigned(np.atleast_2d(np.asarray(codes)))

    # ----------------------------------------------------------------- persistence
    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (float32 ranges written as exact decimal floats); :meth:`from_dict` reads it."""
        return {"precision": self.precision, "dim": self.dim, "method": self.method, "quantile": self.quantile,
                "n": self.n, "low": None if self.low is None else self.low.tolist(),
                "high": None if self.high is None else self.high.tolist()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Self:
        try:
            return cls(d["precision"], low=d.get("low"), high=d.get("high"), dim=d.get("dim"),
                       method=d.get("method"), quantile=d.get("quantile"), n=int(d.get("n", 0)))
        except (KeyError, TypeError) as e:
            raise InvalidInputError(f"not a calibration: {e!r}") from None

    def save(self, path: str | Path) -> Path:
        """Write the calibration as JSON to the file ``path``."""
        p = Path(path)
        p.write_text(json.dumps(self.to_dict()) + "\n", encoding="utf-8")
        return p

    @classmethod
    def load(cls, path: str | Path) -> Self:
        """Read a calibration written by :meth:`save`."""
        p = Path(path)
        try:
            d = json.loads(p.read_text(encoding="utf-8"))
            return cls.from_dict(d)
        except (ValueError, InvalidInputError) as e:
            raise CorruptDataError(p, f"not a calibration file: {e}") from None

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Calibration):
            return NotImplemented
        return self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Calibration({self.precision!r}, dim={self.dim}, method={self.method!r}, n={self.n})"
