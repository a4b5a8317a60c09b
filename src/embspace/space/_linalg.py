"""Row norms, unit rows and per-metric score blocks: the linear algebra every embspace search shares.

:class:`~embspace.space.EmbeddingSpace`, the indexes and the analyses all normalise rows and
score queries against rows with these functions, so that there is one definition of "cosine",
"dot" and "l2" scores and one treatment of zero rows.

Zero rows
---------
**A zero row stays zero** when rows are normalised (:func:`unit_rows` with the default
``zero="keep"``). A zero vector has no direction, so there is no unit vector to give it; keeping
it zero makes its cosine similarity 0 with everything (the value
:meth:`EmbeddingSpace.similarity <embspace.space.EmbeddingSpace.similarity>` reports), never NaN,
and keeps the rows aligned with their keys and ids (nothing is dropped). Where a zero vector
cannot mean anything (a cosine *query*: it defines no ranking) callers pass ``zero="raise"`` and
get :class:`~embspace.errors.ZeroVectorError` instead.

Norms are summed in float64: in float32 the squares of a row of 1e-30 underflow to 0 and the row
would pass for a zero row (and a floor such as ``max(norm, 1e-12)`` would leave it almost zero
instead of making it unit). Any nonzero finite row therefore becomes a unit row.

Scores
------
Scores are always *higher is more similar*: the cosine similarity, the inner product, or the
negated Euclidean distance. For speed the ``l2`` blocks hold ``2 q.x - |x|^2`` (it ranks rows as
``-|q - x|^2`` does) and :func:`finish_scores` turns the kept scores into ``-|q - x|``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from .._types import FloatArray, Metric
from ..errors import ZeroVectorError

__all__ = ["ScoreBlock", "finish_scores", "inv_norms", "row_norms", "row_sq_norms", "score_block", "unit_rows"]

Float64Array = npt.NDArray[np.float64]
ZeroRows = Literal["keep", "raise"]

ScoreBlock = Callable[[int, int, int, int, FloatArray], FloatArray]
"""``score_block(q0, q1, r0, r1, out)`` writes the (q1-q0, r1-r0) float32 scores into ``out`` (a
C-contiguous buffer of that shape) and returns it."""

_CHUNK = 8192  # rows converted to float64 at once
_F32_MAX = float(np.finfo(np.float32).max)


def row_sq_norms(x: npt.ArrayLike) -> Float64Array:
    """Squared L2 norms of the rows of ``x`` (n, dim), summed in float64 (tiny or huge rows stay exact)."""
    arr = np.asarray(x)
    out = np.empty(len(arr), np.float64)
    for r0 in range(0, len(arr), _CHUNK):
        blk = np.asarray(arr[r0 : r0 + _CHUNK], dtype=np.float64)
        out[r0 : r0 + len(blk)] = np.einsum("ij,ij->i", blk, blk)
    return out


def row_norms(x: npt.ArrayLike) -> Float64Array:
    """L2 norms of the rows of ``x``, in float64."""
    out: Float64Array = np.sqrt(row_sq_norms(x))
    return out


def inv_norms(sq: Float64Array) -> FloatArray:
    """float32 ``1 / ||row||`` from squared norms; 0 for zero rows (they stay zero, see the module docs)."""
    with np.errstate(divide="ignore"):
        inv = np.where(sq > 0, np.minimum(1.0 / np.sqrt(sq), _F32_MAX), 0.0)
    out: FloatArray = inv.astype(np.float32)
    return out


def unit_rows(x: npt.ArrayLike, *, zero: ZeroRows = "keep", what: str = "vector",
              dtype: npt.DTypeLike = np.float32) -> npt.NDArray[Any]:
    """The rows of ``x`` scaled to unit L2 norm (a new array of ``dtype``, float32 by default).

    Parameters
    ----------
    x
        ``(n, dim)`` array-like of finite numbers.
    zero
        ``"keep"`` (default): zero rows stay zero (see the module docs for why). ``"raise"``: a
        zero row raises :class:`~embspace.errors.ZeroVectorError` naming ``what`` and its row.
    what
        What the rows are, for the error message (``"query"``, ``"vector"``).
    dtype
        The result's dtype; the norms and the division are computed in float64 either way.
    """
    arr = np.asarray(x)
    sq = row_sq_norms(arr)
    is_zero = sq == 0
    if zero == "raise" and is_zero.any():
        raise ZeroVectorError(f"{what} #{int(np.nonzero(is_zero)[0][0])} is the zero vector, which has no "
                              "direction: cosine similarity to it is undefined")
    norms = np.sqrt(np.where(is_zero, 1.0, sq))
    out = np.empty(arr.shape, dtype)
    for r0 in range(0, len(arr), _CHUNK):
        r1 = min(len(arr), r0 + _CHUNK)
        out[r0:r1] = np.asarray(arr[r0:r1], np.float64) / norms[r0:r1, None]
    return out


def score_block(metric: Metric, q: FloatArray, x: FloatArray, *, sq: Float64Array | None = None,
                inv: FloatArray | None = None) -> ScoreBlock:
    """The score block of prepared queries ``q`` against rows ``x`` under ``metric``.

    Parameters
    ----------
    metric
        ``"cosine"``: ``q`` holds unit rows; the rows ``x`` are unit too, or ``inv`` gives their
        inverse norms (:func:`inv_norms`), so an unnormalised matrix is never copied.
        ``"dot"``: the inner product. ``"l2"``: ``2 q.x - |x|^2`` (pass the rows' squared norms as
        ``sq`` to reuse them), finished by :func:`finish_scores`.
    q, x
        float32 ``(nq, dim)`` queries and ``(n, dim)`` rows.
    """
    if metric == "l2":
        sq_ = row_sq_norms(x) if sq is None else sq

        def l2(q0: int, q1: int, r0: int, r1: int, out: FloatArray) -> FloatArray:
            np.matmul(q[q0:q1], x[r0:r1].T, out=out)
            out *= 2.0
            out -= sq_[r0:r1]
            return out  # 2 q.x - |x|^2: ranks as -|q - x|^2

        return l2
    if metric == "cosine" and inv is not None:

        def cosine(q0: int, q1: int, r0: int, r1: int, out: FloatArray) -> FloatArray:
            np.matmul(q[q0:q1], x[r0:r1].T, out=out)
            out *= inv[r0:r1]
            return out

        return cosine

    def dot(q0: int, q1: int, r0: int, r1: int, out: FloatArray) -> FloatArray:
        return np.matmul(q[q0:q1], x[r0:r1].T, out=out)

    return dot


def finish_scores(metric: Metric, q: FloatArray, scores: FloatArray) -> FloatArray:
    """The kept block scores as final scores: ``-|q - x|`` for ``l2`` (missing hits stay ``-inf``)."""
    if metric != "l2":
        return scores
    q_sq = np.einsum("ij,ij->i", q, q)[:, None]
    with np.errstate(invalid="ignore"):
        out: FloatArray = (-np.sqrt(np.maximum(q_sq - scores, 0.0))).astype(np.float32)
    return out
