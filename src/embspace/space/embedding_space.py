"""EmbeddingSpace: keys mapped to rows of a float32 matrix, with a metric and a provenance."""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import numpy.typing as npt

from .. import _html
from .._types import METRICS, FloatArray, IntArray, Metric
from ..errors import (
    DimensionMismatchError,
    IncompatibleSpaceError,
    InvalidInputError,
    UnknownKeyError,
)
from . import _frames, _linalg, _topk
from ._suggest import suggest
from .provenance import Provenance, mixing_error
from .search_result import SearchResult
from .vector import EmbeddingVector, origin_of

if TYPE_CHECKING:
    from .io import FormatName

__all__ = ["EmbeddingSpace"]

AnalogyMethod = Literal["3cosadd", "3cosmul"]
Query = str | npt.ArrayLike
_NORM_TOL = 1e-3
_COSMUL_EPS = 1e-6  # as gensim's most_similar_cosmul
_ROW_CHUNK = 65536
Float64Array = npt.NDArray[np.float64]


def content_hash(keys: Sequence[str], vectors: FloatArray) -> str:
    """sha256 of keys and vectors: the identity of a space of unknown origin."""
    h = hashlib.sha256()
    h.update("\x00".join(keys).encode("utf-8", "surrogatepass"))
    h.update(str(vectors.shape).encode())
    for r0 in range(0, len(vectors), _ROW_CHUNK):
        h.update(np.ascontiguousarray(vectors[r0 : r0 + _ROW_CHUNK]).tobytes())
    return h.hexdigest()


class EmbeddingSpace:
    """Keys mapped to the rows of a float32 ``(n, dim)`` matrix, with a metric and a provenance.

    Parameters
    ----------
    keys
        ``n`` unique keys, one per row: strings, or integers (Python or NumPy), which are stored as
        strings (``str(k)``; so ``1`` and ``"1"`` are the same key, and giving both is a duplicate). A
        pandas Series or Index of keys works as a list.
    vectors
        ``(n, dim)`` array-like, or ``n`` 1-D rows (a list of arrays, a pandas or polars Series of arrays
        or lists, an Arrow list column: ``EmbeddingSpace(df.title, df.embedding)``), stacked; stored as
        float32, C-contiguous, read-only. Ragged rows, missing rows, NaN and Inf are refused.
    metric
        ``"cosine"`` (default), ``"dot"`` or ``"l2"``: how :meth:`neighbors` and
        :meth:`similarity` compare vectors. Scores are always higher-is-more-similar (``l2`` gives
        the negated Euclidean distance).
    is_normalized
        Whether the rows are L2-normalised (the :attr:`is_normalized` property). ``None`` (default)
        checks; ``True`` is verified (zero rows allowed); ``False`` is taken as given. The old
        spelling ``normalized=`` is still accepted, with a :class:`DeprecationWarning`.
    counts
        Optional frequency of each key, as an array aligned with ``keys`` or a mapping key -> count.
    provenance
        Which model or trainer produced the vectors. Default: a provenance identified by a hash of
        the keys and vectors (``model="unknown"``), so equal content means the same space.
    copy
        Copy ``vectors`` (default). With ``False`` a float32 C-contiguous input is used as it is, read-only.

    Notes
    -----
    Zero vectors have no direction. As a row of a cosine space a zero vector scores 0 against
    every query, and :meth:`similarity` with it is 0; a zero *query* under cosine raises
    :class:`~embspace.errors.ZeroVectorError`, because it defines no ranking.

    Examples
    --------
    >>> import embspace
    >>> space = embspace.EmbeddingSpace.from_dict({
    ...     "king": [1, 1, 0, 0], "queen": [1, 0, 1, 0], "man": [0, 1, 0, 0],
    ...     "woman": [0, 0, 1, 0], "apple": [0, 0, 0, 1]})
    >>> round(space.similarity("king", "queen"), 3)
    0.5
    >>> space.analogy("man", "king", "woman").top
    'queen'
    """

    __slots__ = ("_counts", "_index", "_inv", "_keys", "_metric", "_normalized", "_provenance", "_sq_norms",
                 "_vectors")

    _keys: tuple[str, ...]
    _vectors: FloatArray
    _metric: Metric
    _normalized: bool
    _counts: IntArray | None
    _provenance: Provenance
    _index: dict[str, int] | None
    _sq_norms: Float64Array | None

    def __init__(
        self,
        keys: Iterable[str | int],
        vectors: npt.ArrayLike | Any,
        *,
        metric: Metric = "cosine",
        is_normalized: bool | None = None,
        counts: npt.ArrayLike | Mapping[str, int] | None = None,
        provenance: Provenance | None = None,
        copy: bool = True,
        **deprecated: Any,
    ) -> None:
        normalized = _legacy_normalized_keyword(is_normalized, deprecated)
        given = keys if isinstance(keys, Sequence) else tuple(keys)
        key_tuple = _frames.as_keys(given)
        arr = _frames.as_matrix(vectors, copy=copy, keys=key_tuple)
        if arr.ndim != 2:
            raise InvalidInputError(f"vectors must be a 2-D (n, dim) array, got shape {arr.shape}")
        if arr.shape[0] != len(key_tuple):
            raise InvalidInputError(f"{len(key_tuple)} keys but {arr.shape[0]} vectors; give one key per row")
        if arr.shape[1] == 0:
            raise InvalidInputError("vectors have dimension 0")
        bad = ~np.isfinite(arr)
        if bad.any():
            row = int(np.nonzero(bad.any(axis=1))[0][0])
            raise InvalidInputError(f"vector of {key_tuple[row]!r} (row {row}) contains NaN or Inf "
                                    "(or a value beyond the float32 range)")
        index = {k: i for i, k in enumerate(key_tuple)}
        if len(index) != len(key_tuple):
            raise InvalidInputError(_frames.duplicate_message(given, key_tuple))
        if metric not in METRICS:
            raise InvalidInputError(f"unknown metric {metric!r}; expected one of {', '.join(METRICS)}")
        sq = _linalg.row_sq_norms(arr)
        unit = bool(np.all((np.abs(sq - 1.0) < _NORM_TOL) | (sq == 0.0)))
        if normalized is None:
            normalized = unit and bool(len(arr))
        elif normalized and not unit:
            raise InvalidInputError("is_normalized=True but some rows do not have unit L2 norm; "
                                    "pass is_normalized=None, or call .normalize() on the space")
        self._init(
            key_tuple, arr, metric=metric, normalized=bool(normalized),
            counts=_as_counts(counts, key_tuple, index),
            provenance=provenance or Provenance.from_content("unknown", content_hash(key_tuple, arr)),
        )
        self._index = index
        self._sq_norms = sq

    def _init(self, keys: tuple[str, ...], vectors: FloatArray, *, metric: Metric, normalized: bool,
              counts: IntArray | None, provenance: Provenance) -> None:
        if vectors.flags.writeable:
            vectors.flags.writeable = False
        self._keys = keys
        self._vectors = vectors
        self._metric = metric
        self._normalized = normalized
        self._counts = counts
        self._provenance = provenance
        self._index = None
        self._sq_norms = None
        self._inv: FloatArray | None = None

    @classmethod
    def _trusted(cls, keys: tuple[str, ...], vectors: FloatArray, *, metric: Metric, normalized: bool,
                 counts: IntArray | None, provenance: Provenance) -> EmbeddingSpace:
        """Build without validation (the caller guarantees the contract); used by loaders."""
        self = cls.__new__(cls)
        self._init(keys, vectors, metric=metric, normalized=normalized, counts=counts, provenance=provenance)
        return self

    @classmethod
    def from_dict(cls, mapping: Mapping[str, npt.ArrayLike], **kwargs: Any) -> EmbeddingSpace:
        """Build a space from ``{key: vector}``; keyword arguments as for the constructor."""
        keys = list(mapping)
        if not keys:
            raise InvalidInputError("from_dict needs at least one key (the dimension is unknown otherwise)")
        rows = [np.asarray(mapping[k]) for k in keys]
        for k, row in zip(keys, rows, strict=True):
            if row.shape != rows[0].shape:
                raise InvalidInputError(f"vector of {k!r} has shape {row.shape}, but the vector of "
                                        f"{keys[0]!r} has shape {rows[0].shape}; all must have the same")
        return cls(keys, np.stack(rows), **kwargs)

    # ----------------------------------------------------------------- mapping API
    @property
    def keys(self) -> tuple[str, ...]:
        """The keys, in row order."""
        return self._keys

    @property
    def vectors(self) -> FloatArray:
        """The read-only float32 ``(n, dim)`` matrix."""
        return self._vectors

    @property
    def dim(self) -> int:
        return int(self._vectors.shape[1])

    @property
    def metric(self) -> Metric:
        return self._metric

    @property
    def is_normalized(self) -> bool:
        """Whether every row has unit L2 norm (zero rows excepted)."""
        return self._normalized

    @property
    def counts(self) -> IntArray | None:
        """Per-key frequencies aligned with :attr:`keys`, or ``None`` when unknown."""
        return self._counts

    @property
    def provenance(self) -> Provenance:
        return self._provenance

    @property
    def space_id(self) -> str:
        """Identity of the coordinate system; see :class:`Provenance`."""
        return self._provenance.space_id

    def _key_index(self) -> dict[str, int]:
        if self._index is None:
            self._index = {k: i for i, k in enumerate(self._keys)}
        return self._index

    def __len__(self) -> int:
        return len(self._keys)

    def __contains__(self, key: object) -> bool:
        if isinstance(key, int | np.integer) and not isinstance(key, bool | np.bool_):
            key = str(int(key))  # integer keys are stored as strings
        return isinstance(key, str) and key in self._key_index()

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys)

    def index_of(self, key: str | int) -> int:
        """Row id of ``key``; :class:`UnknownKeyError` with near matches when absent.

        An integer is looked up as ``str(key)`` (integer keys are stored as strings).
        """
        try:
            return self._key_index()[key]  # type: ignore[index]
        except (KeyError, TypeError):
            if isinstance(key, int | np.integer) and not isinstance(key, bool | np.bool_):
                return self.index_of(str(int(key)))
            if not isinstance(key, str):
                raise TypeError(f"keys are strings (or integers, stored as strings), got {type(key).__name__} "
                                f"{key!r}") from None
            raise UnknownKeyError(key, suggest(key, self._keys)) from None

    def _rows(self, keys: Iterable[str | int]) -> IntArray:
        return np.fromiter((self.index_of(k) for k in keys), dtype=np.int64)

    def __getitem__(self, key: str | int | Sequence[str | int] | npt.NDArray[Any]) -> EmbeddingVector:
        """``space["king"]``: 1-D float32 vector; ``space[["a", "b"]]``: ``(2, dim)`` matrix.

        An integer is a key (looked up as ``str(key)``), never a row number: use ``space.vectors[i]`` for rows.
        """
        if isinstance(key, str | int | np.integer) and not isinstance(key, bool | np.bool_):
            data = np.array(self._vectors[self.index_of(key)])
        elif isinstance(key, Sequence | np.ndarray):
            rows = self._rows(key)
            data = np.array(self._vectors[rows]).reshape(len(rows), self.dim)
        else:
            raise TypeError(f"index a space by a key or a list of keys, got {type(key).__name__}")
        return EmbeddingVector(data, self.space_id, self._provenance.describe())

    def get(self, key: str | int, default: Any = None) -> Any:
        """``space[key]`` when the key is present, else ``default``."""
        if key not in self:
            return default
        return self[key]

    # ----------------------------------------------------------------- queries
    def _check_origin(self, x: Any) -> None:
        tag = origin_of(x)
        if tag is not None and tag[0] != self.space_id:
            mine = self._provenance.describe()
            raise IncompatibleSpaceError(
                f"a vector of {tag[1]} was used with the space of {mine}: {mixing_error(tag[1], mine)}; encode "
                "the query with the model (and settings) that produced this space"
            )

    def _vector(self, v: Any, what: str = "query vector") -> FloatArray:
        self._check_origin(v)
        try:
            arr = np.asarray(v, dtype=np.float32)
        except (ValueError, TypeError) as e:
            raise InvalidInputError(f"{what} must be a vector of numbers: {e}") from None
        if arr.ndim != 1:
            raise InvalidInputError(f"{what} must be 1-D, got shape {arr.shape}")
        if arr.shape[0] != self.dim:
            raise DimensionMismatchError(arr.shape[0], self.dim, what)
        if not np.all(np.isfinite(arr)):
            raise InvalidInputError(f"{what} contains NaN or Inf")
        return arr

    def _queries(self, query: Any) -> tuple[FloatArray, IntArray, bool]:
        """Resolve a query to ``(Q (nq, dim), self rows (nq,) with -1 for vectors, batched)``."""
        if isinstance(query, np.ndarray) and query.dtype.kind in "UO":
            query = query.tolist()  # an array of keys is searched as the list of them
        if isinstance(query, str):
            row = self.index_of(query)
            return np.array(self._vectors[row : row + 1]), np.array([row]), False
        if isinstance(query, np.ndarray):
            self._check_origin(query)
            if query.ndim == 1:
                return self._vector(query)[None, :], np.array([-1]), False
            if query.ndim == 2:
                try:
                    q = np.ascontiguousarray(query, dtype=np.float32)
                except (ValueError, TypeError) as e:
                    raise InvalidInputError(f"query matrix must hold numbers: {e}") from None
                if q.shape[1] != self.dim:
                    raise DimensionMismatchError(q.shape[1], self.dim, "query matrix")
                if not np.all(np.isfinite(q)):
                    raise InvalidInputError("query matrix contains NaN or Inf")
                return q, np.full(len(q), -1, np.int64), True
            raise InvalidInputError(f"a query array must be 1-D or 2-D, got shape {query.shape}")
        if isinstance(query, Sequence):
            items = list(query)
            if items and all(isinstance(x, int | float | np.number) for x in items):
                return self._vector(np.asarray(items))[None, :], np.array([-1]), False
            q = np.empty((len(items), self.dim), np.float32)
            rows = np.full(len(items), -1, np.int64)
            for i, item in enumerate(items):
                if isinstance(item, str):
                    rows[i] = self.index_of(item)
                    q[i] = self._vectors[rows[i]]
                else:
                    q[i] = self._vector(item, f"query #{i}")
            return q, rows, True
        raise TypeError(f"a query is a key, a vector, or a list of them; got {type(query).__name__}")

    def _unit(self, q: FloatArray, allow_zero: bool = False) -> FloatArray:
        out: FloatArray = _linalg.unit_rows(q, zero="keep" if allow_zero else "raise", what="query")
        return out

    def _sq(self) -> Float64Array:
        if self._sq_norms is None:
            self._sq_norms = _linalg.row_sq_norms(self._vectors)
        return self._sq_norms

    def _inv_norms(self) -> FloatArray | None:
        """1/||row|| (0 for zero rows), or None when rows are unit already."""
        if self._normalized:
            return None
        if self._inv is None:  # computed once per space, not on every search
            self._inv = _linalg.inv_norms(self._sq())
        return self._inv

    def _cosine_block(self, q_unit: FloatArray) -> _topk.ScoreBlock:
        return _linalg.score_block("cosine", q_unit, self._vectors, inv=self._inv_norms())

    def _prepared(self, q: FloatArray) -> FloatArray:
        """Queries as the score blocks take them: unit rows under cosine (a zero query raises)."""
        return self._unit(q) if self._metric == "cosine" else q

    def _score_block(self, q: FloatArray) -> _topk.ScoreBlock:
        """Block scores of raw queries ``q`` under the space's metric (``l2``: before :meth:`_finish_scores`)."""
        x = self._vectors
        if self._metric == "cosine":
            return self._cosine_block(self._unit(q))
        return _linalg.score_block(self._metric, q, x, sq=self._sq() if self._metric == "l2" else None)

    def _finish_scores(self, q: FloatArray, scores: FloatArray) -> FloatArray:
        return _linalg.finish_scores(self._metric, q, scores)

    def _exclusion(self, exclude: Iterable[str] | str) -> IntArray | None:
        if isinstance(exclude, str):
            exclude = [exclude]
        rows = self._rows(exclude)
        return np.unique(rows) if len(rows) else None

    def _k_eff(self, k: int, exclude: IntArray | None, per_query: IntArray | None) -> int:
        """``k`` checked, and lowered to the rows every query may still return."""
        if not isinstance(k, int | np.integer) or isinstance(k, bool) or k < 1:
            raise InvalidInputError(f"k must be a positive integer, got {k!r}")
        available = len(self) - (0 if exclude is None else len(exclude))
        if per_query is not None and per_query.size:
            pq = np.sort(per_query, axis=1)
            fresh = pq >= 0
            fresh[:, 1:] &= pq[:, 1:] != pq[:, :-1]
            if exclude is not None:
                fresh &= ~np.isin(pq, exclude)
            available -= int(fresh.sum(axis=1).max())
        return max(0, min(int(k), available))

    def _search(self, block: _topk.ScoreBlock, nq: int, k: int, exclude: IntArray | None,
                per_query: IntArray | None) -> tuple[FloatArray, IntArray]:
        return _topk.topk(block, nq, len(self), self._k_eff(k, exclude, per_query), exclude=exclude,
                          exclude_per_query=per_query)

    def _result(self, scores: FloatArray, ids: IntArray, batched: bool) -> SearchResult:
        keys = self._keys
        if batched:
            return SearchResult([[keys[i] for i in row] for row in ids.tolist()], scores, ids)
        return SearchResult([keys[i] for i in ids[0].tolist()], scores[0], ids[0])

    def neighbors(self, query: Query | Sequence[Query], k: int = 10, *, exclude: Iterable[str] | str = (),
                  include_self: bool = False) -> SearchResult:
        """Exact k nearest neighbours, best first.

        Parameters
        ----------
        query
            A key, a vector ``(dim,)``, a matrix ``(nq, dim)``, or a list of keys and/or vectors.
            A list or matrix is searched as one batch (one matrix product per block).
        k
            Number of hits per query (fewer when the space is smaller).
        exclude
            Keys never returned, for every query.
        include_self
            When a query is a key, whether that key may be returned as its own neighbour
            (default ``False``, as gensim's ``most_similar``).

        Returns
        -------
        SearchResult
            Single query: ``keys`` list, ``scores``/``ids`` of shape ``(k,)``. Batch: shapes ``(nq, k)``.

        Notes
        -----
        Search is chunked so that the score block held at once stays within 256 MiB whatever the
        size of the space; an unnormalised cosine space is scored with precomputed inverse norms,
        never by raw dot product.
        """
        q, self_rows, batched = self._queries(query)
        if len(self) == 0 or len(q) == 0:
            return SearchResult.empty(batched, len(q))
        per_query = None if include_self or not (self_rows >= 0).any() else self_rows[:, None]
        exclusion = self._exclusion(exclude)
        k_eff = self._k_eff(k, exclusion, per_query)
        scores, ids = _topk.search(self._prepared(q), self._vectors, k_eff, self._metric,
                                   sq=self._sq() if self._metric == "l2" else None,
                                   inv=self._inv_norms() if self._metric == "cosine" else None,
                                   exclude=exclusion, exclude_per_query=per_query)
        return self._result(scores, ids, batched)

    def similarity_matrix(self, a: Query | Sequence[Query], b: Query | Sequence[Query] | None = None
                          ) -> FloatArray:
        """Scores under the space's metric between every query of ``a`` and of ``b`` (default ``a``).

        Returns a float32 ``(len(a), len(b))`` matrix; zero vectors score 0 under cosine.
        """
        qa, _, _ = self._queries(a)
        qb = qa if b is None else self._queries(b)[0]
        out: FloatArray = self._pairwise(qa.astype(np.float64), qb.astype(np.float64)).astype(np.float32)
        return out

    def _pairwise(self, qa: npt.NDArray[Any], qb: npt.NDArray[Any]) -> npt.NDArray[Any]:
        dots: npt.NDArray[Any] = qa @ qb.T
        if self._metric == "dot":
            return dots
        na = np.einsum("ij,ij->i", qa, qa)[:, None]
        nb = np.einsum("ij,ij->i", qb, qb)[None, :]
        out: npt.NDArray[Any]
        if self._metric == "cosine":
            denom = np.sqrt(na * nb)  # one square root of the product: exact for the toy cases
            out = np.divide(dots, denom, out=np.zeros_like(dots), where=denom > 0)
        else:
            out = -np.sqrt(np.maximum(na + nb - 2 * dots, 0.0))
        return out

    def similarity(self, a: Query, b: Query) -> float:
        """Score of two keys or vectors under the space's metric (cosine similarity by default).

        Computed in float64; a zero vector has cosine similarity 0 with anything.
        """
        qa, _, _ = self._queries([a])
        qb, _, _ = self._queries([b])
        return float(self._pairwise(qa.astype(np.float64), qb.astype(np.float64))[0, 0])

    def analogy(self, a: str | Sequence[str], b: str | Sequence[str], c: str | Sequence[str], k: int = 1,
                method: AnalogyMethod = "3cosadd") -> SearchResult:
        """Answer "``a`` is to ``b`` as ``c`` is to ?" (``analogy("man", "king", "woman")`` -> queen).

        ``a``, ``b`` and ``c`` are excluded from the answers, as the standard evaluations do. Vectors
        are compared by cosine (unit-normalised) whatever the space's metric.

        Parameters
        ----------
        a, b, c
            Keys, or equal-length lists of keys for a batch of questions.
        k
            Number of answers per question.
        method
            ``"3cosadd"``: maximise cos(x, b) - cos(x, a) + cos(x, c) (Mikolov et al.);
            ``"3cosmul"``: maximise cos'(x, b) cos'(x, c) / (cos'(x, a) + 1e-6) with cos' = (1 + cos) / 2
            (Levy & Goldberg; the same epsilon as gensim).
        """
        batched = not isinstance(a, str)
        la, lb, lc = ([x] if isinstance(x, str) else list(x) for x in (a, b, c))
        if not (len(la) == len(lb) == len(lc)):
            raise InvalidInputError(f"a, b and c must have the same length, got {len(la)}, {len(lb)}, "
                                    f"{len(lc)}")
        if method not in ("3cosadd", "3cosmul"):
            raise InvalidInputError(f"unknown analogy method {method!r}; expected '3cosadd' or '3cosmul'")
        if not la:
            return SearchResult.empty(True, 0)
        terms = [self._analogy_terms(x) for x in (la, lb, lc)]
        rows = np.stack([r for _, r in terms], axis=1)  # (nq, 3); -1: a word outside the vocabulary
        ua, ub, uc = (self._unit(np.array(v), True) for v, _ in terms)
        if method == "3cosadd":
            block = self._cosine_block(self._unit(ub - ua + uc, True))
        else:
            cos = self._cosine_block(np.concatenate([ua, ub, uc]))
            nq = len(la)

            def block(q0: int, q1: int, r0: int, r1: int, out: FloatArray) -> FloatArray:
                sa, sb, sc = (cos(j * nq + q0, j * nq + q1, r0, r1, np.empty_like(out)) for j in range(3))
                out[...] = (1 + sb) * (1 + sc) / 4 / ((1 + sa) / 2 + _COSMUL_EPS)
                return out

        scores, ids = self._search(block, len(la), k, None, rows)
        return self._result(scores, ids, batched)

    def _analogy_terms(self, keys: Sequence[str]) -> tuple[FloatArray, IntArray]:
        """``(vectors (n, dim), rows (n,))`` of the words of analogy questions (rows excluded from the
        answers; a subclass that embeds unknown words gives them row ``-1``)."""
        rows = self._rows(keys)
        return self._vectors[rows], rows

    # ----------------------------------------------------------------- derived spaces
    def _derive(self, rows: IntArray | None = None, vectors: FloatArray | None = None,
                normalized: bool | None = None, metric: Metric | None = None) -> EmbeddingSpace:
        keys = self._keys if rows is None else tuple(self._keys[i] for i in rows.tolist())
        if vectors is None:
            vectors = self._vectors if rows is None else np.ascontiguousarray(self._vectors[rows])
        counts = self._counts if rows is None or self._counts is None else self._counts[rows]
        if counts is not None and counts.flags.writeable:
            counts.flags.writeable = False  # fancy indexing made a fresh, writable copy
        out = EmbeddingSpace._trusted(
            keys, vectors, metric=metric or self._metric,
            normalized=self._normalized if normalized is None else normalized,
            counts=counts, provenance=self._provenance,
        )
        if rows is not None and self._sq_norms is not None and normalized is None:
            out._sq_norms = self._sq_norms[rows]
        return out

    def normalize(self) -> EmbeddingSpace:
        """A new space with L2-normalised rows (the same space if :attr:`is_normalized` already).

        Zero rows stay zero (they have no direction; see ``embspace.space._linalg``).
        """
        if self._normalized:
            return self
        out: FloatArray = _linalg.unit_rows(self._vectors)
        return self._derive(vectors=out, normalized=True)

    def normalized(self) -> EmbeddingSpace:
        """Deprecated alias of :meth:`normalize` (kept for one release)."""
        warnings.warn("EmbeddingSpace.normalized() is deprecated; use .normalize() (and the is_normalized "
                      "property to ask whether the rows are unit)", DeprecationWarning, stacklevel=2)
        return self.normalize()

    def with_metric(self, metric: Metric) -> EmbeddingSpace:
        """The same vectors compared by another metric."""
        if metric not in METRICS:
            raise InvalidInputError(f"unknown metric {metric!r}; expected one of {', '.join(METRICS)}")
        return self._derive(metric=metric)

    def subset(self, keys: Iterable[str]) -> EmbeddingSpace:
        """A space of the given keys, in the given order (same provenance: still comparable)."""
        rows = self._rows(keys)
        if len(np.unique(rows)) != len(rows):
            raise InvalidInputError("subset keys contain duplicates")
        return self._derive(rows=rows)

    # ----------------------------------------------------------------- directions
    def _direction(self, direction: Any) -> FloatArray:
        """The unit ``(dim,)`` vector of a direction: an object with ``.vector`` (a Direction) or an array."""
        source_id = getattr(direction, "space_id", None)
        if isinstance(source_id, str) and hasattr(direction, "vector"):
            fix = self._provenance.config.get("fix")
            derived_from = fix.get("source") if isinstance(fix, Mapping) else None
            if source_id not in (self.space_id, derived_from):
                raise IncompatibleSpaceError(
                    f"the direction was learnt in the space {source_id}, not in this one ({self.space_id}, "
                    f"{self._provenance.describe()}); learn it again in this space with embspace.analysis.direction")
            direction = np.asarray(direction.vector)
        v = self._vector(direction, "direction").astype(np.float64)
        norm = float(np.linalg.norm(v))
        if norm == 0.0:
            raise InvalidInputError("the direction is a zero vector; it has no direction to project on")
        out: FloatArray = (v / norm).astype(np.float32)
        return out

    def project(self, direction: Any) -> FloatArray:
        """The score of every row on a direction: ``vectors @ u``, ``u`` the direction scaled to unit length.

        Parameters
        ----------
        direction
            An :class:`embspace.analysis.Direction` (learnt in this space, or in the space a projection fix such
            as :meth:`remove` was learnt on) or a ``(dim,)`` vector.

        Returns
        -------
        ``(n,)`` float32 scores, in the order of :attr:`keys` (computed in float64 from the float32 rows).
        """
        u = self._direction(direction).astype(np.float64)
        out = np.empty(len(self), np.float32)
        for r0 in range(0, len(self), _ROW_CHUNK):
            out[r0 : r0 + _ROW_CHUNK] = np.asarray(self._vectors[r0 : r0 + _ROW_CHUNK], np.float64) @ u
        return out

    def remove(self, direction: Any) -> EmbeddingSpace:
        """A space in which ``direction`` is projected out of every row: ``x - (x . u) u``.

        The result is an ``embspace.analysis.FixedSpace`` whose ``transform`` projects new vectors (queries)
        the same way. This layer knows no fixes: it asks the direction to remove itself
        (``direction.remove_from(space)``), so pass an :class:`embspace.analysis.Direction`; for a plain vector
        use ``embspace.analysis.remove(space, vector)``.
        """
        remove_from = getattr(direction, "remove_from", None)
        if not callable(remove_from):
            raise InvalidInputError(
                f"space.remove takes a Direction (embspace.analysis.direction(...)), got {type(direction).__name__}; "
                "for a plain vector use embspace.analysis.remove(space, vector)")
        out: EmbeddingSpace = remove_from(self)
        return out

    def top(self, n: int) -> EmbeddingSpace:
        """The ``n`` most frequent keys, most frequent first (needs :attr:`counts`)."""
        if self._counts is None:
            raise InvalidInputError(
                "this space has no counts, so 'most frequent' is unknown; use "
                "space.subset(space.keys[:n]) if its rows are already sorted by frequency"
            )
        order = np.argsort(-self._counts, kind="stable")[: max(0, int(n))]
        return self._derive(rows=order.astype(np.int64))

    # ----------------------------------------------------------------- DataFrames and Arrow
    @classmethod
    def from_pandas(cls, df: Any, *, key: str | None = "key", vector: str | Sequence[str] = "vector",
                    counts: str | None = "count", **kwargs: Any) -> EmbeddingSpace:
        """Build a space from a DataFrame (pandas, or polars): one row per key.

        Parameters
        ----------
        df
            The frame.
        key
            The column of keys (strings, or integers stored as ``str(k)``); ``None``: the frame's index.
        vector
            A column whose cells are 1-D vectors (NumPy arrays or lists, as ``df.embedding`` usually holds
            them), or a list of numeric columns, one per dimension. Ragged or missing vectors raise
            :class:`~embspace.errors.InvalidInputError` naming the row and its key.
        counts
            A column of integer frequencies, used when present (``None``: ignore it).
        **kwargs
            As for the constructor (``metric``, ``is_normalized``, ``provenance``).

        Notes
        -----
        A frame made by :meth:`to_pandas` carries the metric and provenance in ``df.attrs["embspace"]``: the
        metric is reused, and the provenance too while the frame still holds exactly the space's keys and
        vectors (checked by their content hash; a filtered or edited frame gives a new space of unknown
        origin unless ``provenance=`` is passed).
        """
        return _frames.space_from_pandas(cls, df, key=key, vector=vector, counts=counts, **kwargs)

    @classmethod
    def from_arrow(cls, data: Any, *, key: str = "key", vector: str = "vector", counts: str | None = "count",
                   **kwargs: Any) -> EmbeddingSpace:
        """Build a space from a pyarrow Table or RecordBatch, or any Arrow stream (``__arrow_c_stream__``:
        a polars DataFrame, a duckdb result).

        ``vector`` names a (fixed-size) list column of numbers; ``counts`` an integer column used when present.
        The metric and provenance written by :meth:`to_arrow` (schema metadata ``embspace``) are reused;
        keyword arguments as for the constructor override them.
        """
        return _frames.space_from_table(cls, data, key=key, vector=vector, counts=counts, **kwargs)

    def to_pandas(self) -> Any:
        """A pandas DataFrame: ``key`` (str), ``vector`` (one read-only 1-D float32 array per row, views of
        :attr:`vectors`), ``count`` (int64, when known).

        The metric, normalisation and provenance go in ``df.attrs["embspace"]``, where :meth:`from_pandas`
        finds them. Needs pandas (``pip install "embspace[pandas]"``).
        """
        return _frames.space_to_pandas(self)

    def to_arrow(self) -> Any:
        """A pyarrow Table: ``key`` (string), ``vector`` (FixedSizeList<float32>[dim]), ``count`` (int64, when
        known); the metric, normalisation and provenance as JSON in the schema metadata (key ``embspace``),
        exactly as the Parquet and Arrow files store them."""
        return _frames.space_to_table(self)

    def __arrow_c_stream__(self, requested_schema: Any = None) -> Any:
        """The Arrow PyCapsule stream of :meth:`to_arrow`: ``pa.table(space)``, ``polars.DataFrame(space)``,
        ``pd.DataFrame.from_arrow(space)`` and duckdb (``duckdb.sql("select * from space")``) read it."""
        return self.to_arrow().__arrow_c_stream__(requested_schema)

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray[Any, Any]:
        """Refused: a space maps keys to rows; converting it to a bare array would drop the keys.

        This is also what makes ``pd.DataFrame(space)`` fail clearly (pandas would otherwise build a frame
        of the keys alone).
        """
        raise TypeError("an EmbeddingSpace is not an array (converting it would drop its keys): use "
                        "space.vectors for the (n, dim) matrix, space.to_pandas() or pd.DataFrame.from_arrow(space) "
                        "for a DataFrame of keys and vectors, space.to_arrow() for a pyarrow Table")

    # ----------------------------------------------------------------- I/O
    def save(self, path: str | Path, format: FormatName | None = None, **options: Any) -> Path:
        """Write the space; the format follows the suffix unless given (see :func:`embspace.save`)."""
        from .io import save

        return save(self, path, format=format, **options)

    @staticmethod
    def load(path: str | Path, format: FormatName | None = None, **options: Any) -> EmbeddingSpace:
        """Read a space in any supported format (see :func:`embspace.load`)."""
        from .io import load

        return load(path, format=format, **options)

    # ----------------------------------------------------------------- display
    def __repr__(self) -> str:
        return (f"EmbeddingSpace(n={len(self)}, dim={self.dim}, metric={self._metric!r}, "
                f"is_normalized={self._normalized}, model={self._provenance.describe()!r})")

    def _repr_html_(self) -> str:
        """A compact table for notebooks: size, metric, provenance, and the first rows (never all of them)."""
        prov = self._provenance
        facts = [("size", len(self)), ("dim", self.dim), ("metric", self._metric),
                 ("is_normalized", self._normalized), ("model", prov.model), ("space id", prov.space_id),
                 ("config", dict(prov.config)), ("data hash", None if prov.data_hash is None else prov.data_hash[:16]),
                 ("created", prov.created), ("counts", "yes" if self._counts is not None else "no")]
        n_show, n_comp = min(len(self), _html.MAX_ROWS // 2), min(self.dim, 4)
        head = np.asarray(self._vectors[:n_show], np.float64)  # only the rows shown are read
        norms = np.sqrt(np.einsum("ij,ij->i", head, head))
        rows = [(key, *head[i, :n_comp].tolist(),
                 *(["…"] if self.dim > n_comp else []), float(norms[i]),
                 *([int(self._counts[i])] if self._counts is not None else []))
                for i, key in enumerate(self._keys[:n_show])]
        header = ["key", *(f"[{j}]" for j in range(n_comp)), *(["…"] if self.dim > n_comp else []), "norm",
                  *(["count"] if self._counts is not None else [])]
        return _html.frame(type(self).__name__, _html.kv_table(facts),
                           _html.table(rows, header, total=len(self), limit=n_show, more="more keys"),
                           subtitle=f"{len(self):,} x {self.dim}, {self._metric}")


def _legacy_normalized_keyword(is_normalized: bool | None, deprecated: dict[str, Any]) -> bool | None:
    """``is_normalized``, or the deprecated ``normalized=`` keyword (with a DeprecationWarning)."""
    if "normalized" in deprecated:
        warnings.warn("EmbeddingSpace(normalized=...) is deprecated; pass is_normalized=...",
                      DeprecationWarning, stacklevel=3)
        if is_normalized is not None:
            raise InvalidInputError("give is_normalized= only (normalized= is its deprecated spelling)")
        is_normalized = deprecated.pop("normalized")
    if deprecated:
        raise TypeError(f"EmbeddingSpace() got an unexpected keyword argument {next(iter(deprecated))!r}")
    return is_normalized


def _as_counts(counts: npt.ArrayLike | Mapping[str, int] | None, keys: tuple[str, ...],
               index: Mapping[str, int]) -> IntArray | None:
    if counts is None:
        return None
    if isinstance(counts, Mapping):
        unknown = [k for k in counts if k not in index]
        if unknown:
            raise InvalidInputError(f"counts given for keys not in the space: {unknown[:5]!r}")
        arr = np.array([int(counts.get(k, 0)) for k in keys], dtype=np.int64)
    else:
        arr = np.asarray(counts)
        if arr.shape != (len(keys),):
            raise InvalidInputError(f"counts must have shape ({len(keys)},), got {arr.shape}")
        if arr.dtype.kind not in "iu" and not np.all(np.mod(arr, 1) == 0):
            raise InvalidInputError("counts must be integers")
        arr = arr.astype(np.int64)
    if (arr < 0).any():
        raise InvalidInputError("counts must be non-negative")
    arr.flags.writeable = False
    return arr
