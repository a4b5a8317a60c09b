"""The Index protocol and the base class that holds what every index shares.

An index stores float32 vectors under int64 ids chosen by the caller and answers k-nearest
neighbour queries with a :class:`~embspace.space.SearchResult`. Scores follow the convention of
:class:`~embspace.space.EmbeddingSpace`: *higher is more similar*, whatever the backend's own
convention (cosine similarity for ``cosine``, the inner product for ``dot``, the negated Euclidean
distance for ``l2``).

:class:`BaseIndex` owns the metric handling (cosine vectors are L2-normalised on the way in, so
what an index gives back is the unit vector), input validation, the id map with its tombstones,
the ``allowed_ids`` restriction and the on-disk layout: a directory with ``index.json`` (the
sidecar: kind, metric, dimension, factory string and every search parameter) next to the data
files (``.npy`` without pickle, or FAISS's own ``write_index`` binary), and the ``embspace.json``
artifact header (kind ``index``; directories written before the header read as before).
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol, Self, runtime_checkable

import numpy as np
import numpy.typing as npt

from .._artifact import check_format_version, write_header
from .._types import METRICS, FloatArray, IntArray, Metric
from ..errors import CorruptDataError, DimensionMismatchError, InvalidInputError, UnknownKeyError
from ..space import _linalg, _topk
from ..space.search_result import SearchResult
from ._idmap import IdMap, as_ids

__all__ = ["BaseIndex", "Index", "as_rows", "load_index"]

Float64Array = npt.NDArray[np.float64]
SIDECAR = "index.json"
FORMAT = "embspace-index"
FORMAT_VERSION = 1


def as_rows(x: npt.ArrayLike, what: str, dim: int | None = None) -> tuple[FloatArray, bool]:
    """``x`` as ``(n, dim)`` float32 C-contiguous finite rows, and whether a single 1-D vector was given
    (:class:`InvalidInputError` naming ``what`` otherwise; ``dim`` None takes any width)."""
    width = "dim" if dim is None else str(dim)
    try:
        with np.errstate(over="ignore"):
            arr = np.ascontiguousarray(x, dtype=np.float32)
    except (ValueError, TypeError) as e:
        raise InvalidInputError(f"{what} must be a (n, {width}) array of numbers: {e}") from None
    single = arr.ndim == 1
    if single:
        arr = arr.reshape(1, -1)
    if arr.ndim != 2:
        raise InvalidInputError(f"{what} must be a 1-D vector or a 2-D (n, {width}) array, got shape {arr.shape}")
    if dim is not None:
        if arr.shape[1] != dim and not (arr.shape[0] == 0 and arr.shape[1] == 0):
            raise DimensionMismatchError(arr.shape[1], dim, what)
        if arr.shape[1] == 0:
            arr = arr.reshape(0, dim)
    bad = ~np.isfinite(arr)
    if bad.any():
        row = int(np.nonzero(bad.any(axis=1))[0][0])
        raise InvalidInputError(f"{what} row {row} contains NaN or Inf (or a value beyond the float32 range)")
    return arr, single


@runtime_checkable
class Index(Protocol):
    """What every embspace index does.

    Ids are int64, chosen by the caller (non-negative: ``-1`` marks a missing hit). Scores are
    higher-is-more-similar. Search parameters (``efSearch``, ``nprobe``, ...) live in :attr:`params`
    and are saved with the index.
    """

    @property
    def dim(self) -> int: ...

    @property
    def metric(self) -> Metric: ...

    @property
    def ntotal(self) -> int:
        """Number of (live) vectors."""
        ...

    @property
    def params(self) -> dict[str, int]: ...

    def add(self, vectors: npt.ArrayLike, ids: npt.ArrayLike | None = None) -> None: ...

    def search(self, queries: npt.ArrayLike, k: int = 10, *, params: Mapping[str, int] | None = None,
               allowed_ids: npt.ArrayLike | Iterable[int] | None = None) -> SearchResult: ...

    def remove(self, ids: npt.ArrayLike | Iterable[int]) -> int: ...

    def save(self, path: str | Path) -> Path: ...

    @classmethod
    def load(cls, path: str | Path) -> Self: ...


def _faiss() -> Any:
    """Import FAISS lazily; a missing install names the pip extra."""
    try:
        import faiss
    except ImportError:  # pragma: no cover - faiss-cpu is installed with the index extra
        from ..errors import MissingDependencyError

        raise MissingDependencyError("faiss-cpu", "index", "FAISS indexes") from None
    return faiss


def row_sq_norms(x: FloatArray) -> Float64Array:
    """Squared L2 norms of the rows, summed in float64 (:func:`embspace.space._linalg.row_sq_norms`)."""
    return _linalg.row_sq_norms(x)


def normalize_rows(x: FloatArray, *, allow_zero: bool, what: str = "query") -> FloatArray:
    """Unit rows (:func:`embspace.space._linalg.unit_rows`): zero rows stay zero, or raise
    :class:`~embspace.errors.ZeroVectorError` when ``allow_zero`` is false."""
    out: FloatArray = _linalg.unit_rows(x, zero="keep" if allow_zero else "raise", what=what)
    return out


def exact_topk(q: FloatArray, x: FloatArray, k: int, metric: Metric, *, sq: Float64Array | None = None,
               exclude: IntArray | None = None) -> tuple[FloatArray, IntArray]:
    """Exact top-k of prepared queries over stored rows: embspace's one exact searcher,
    :func:`embspace.space._topk.search` (the one :class:`~embspace.space.EmbeddingSpace` uses).

    Parameters
    ----------
    q
        ``(nq, dim)`` float32 queries, unit rows for ``cosine``.
    x
        ``(n, dim)`` float32 stored rows (unit rows for ``cosine``).
    k
        Hits per query; at least ``k`` rows must remain after ``exclude``.
    metric
        How the scores are computed; ``l2`` gives negated Euclidean distances.
    sq
        ``(n,)`` squared norms of ``x`` (``l2`` only; computed when missing).
    exclude
        Sorted row numbers never returned.

    Returns
    -------
    scores, rows
        float32 ``(nq, k)`` scores, best first, and int64 ``(nq, k)`` row numbers of ``x``.
    """
    return _topk.search(q, x, k, metric, sq=sq if metric == "l2" else None, exclude=exclude)


def check_k(k: object) -> int:
    if not isinstance(k, int | np.integer) or isinstance(k, bool) or int(k) < 1:
        raise InvalidInputError(f"k must be a positive integer, got {k!r}")
    return int(k)


def _ids_arg(ids: npt.ArrayLike | Iterable[int], what: str) -> IntArray:
    """Ids from an array, a sequence, a set or any iterable of integers."""
    if isinstance(ids, set | frozenset):
        return as_ids(sorted(ids), what)
    if not isinstance(ids, np.ndarray | list | tuple | range) and isinstance(ids, Iterable):
        return as_ids(np.fromiter(ids, dtype=np.int64), what)
    return as_ids(ids, what)


@dataclass(eq=False)
class Selection:
    """Ids resolved to an index's internal labels once, for repeated filtered searches
    (:meth:`BaseIndex.select`); used while the index is unchanged, recomputed otherwise."""

    ids: IntArray
    labels: IntArray
    version: tuple[int, int, int]
    memo: dict[str, Any] = field(default_factory=dict)  # per-index extras (FAISS: the id-selector bitmap)


class BaseIndex(ABC):
    """Shared machinery of the embspace indexes: metric, validation, ids, tombstones, layout.

    Parameters
    ----------
    dim
        Dimension of the vectors.
    metric
        ``"cosine"`` (vectors and queries are L2-normalised on the way in), ``"dot"`` (inner
        product on the vectors as given) or ``"l2"`` (Euclidean distance; scores are its negation).
    """

    kind: ClassVar[str] = ""
    _registry: ClassVar[dict[str, type[BaseIndex]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.kind:
            BaseIndex._registry[cls.kind] = cls

    def __init__(self, dim: int, *, metric: Metric = "cosine") -> None:
        if not isinstance(dim, int | np.integer) or isinstance(dim, bool) or int(dim) < 1:
            raise InvalidInputError(f"dim must be a positive integer, got {dim!r}")
        if metric not in METRICS:
            raise InvalidInputError(f"unknown metric {metric!r}; expected one of {', '.join(METRICS)}")
        self._dim = int(dim)
        self._metric: Metric = metric
        self._map = IdMap()
        self._params: dict[str, int] = {}

    # ----------------------------------------------------------------- properties
    @property
    def dim(self) -> int:
        return self._dim

    @property
    def metric(self) -> Metric:
        return self._metric

    @property
    def ntotal(self) -> int:
        """Number of live vectors (removed ones excluded)."""
        return self._map.n_live

    @property
    def n_removed(self) -> int:
        """Removed vectors still held as tombstones (until :meth:`rebuild`)."""
        return self._map.n_dead

    @property
    def ids(self) -> IntArray:
        """int64 ids of the live vectors, in order of addition."""
        return self._map.live_ids()

    @property
    def params(self) -> dict[str, int]:
        """The search (and build) parameters, as saved with the index (a copy)."""
        return dict(self._params)

    @property
    def stores_exact_vectors(self) -> bool:
        """Whether :meth:`reconstruct` gives back the vectors as added (after cosine normalisation)."""
        return True

    def __len__(self) -> int:
        return self.ntotal

    def memory_bytes(self) -> int:
        """Bytes the index holds in memory (its vectors or codes, its structure and the id map)."""
        return 24 * self._map.n_labels

    def __contains__(self, id_: object) -> bool:
        if not isinstance(id_, int | np.integer) or isinstance(id_, bool):
            return False
        return bool(self._map.contains(np.array([int(id_)], np.int64))[0])

    def __repr__(self) -> str:
        return f"{type(self).__name__}(dim={self._dim}, metric={self._metric!r}, ntotal={self.ntotal})"

    # ----------------------------------------------------------------- parameters
    def _param_names(self) -> tuple[str, ...]:
        """Names of the parameters this index understands."""
        return ()

    def _check_params(self, params: Mapping[str, Any] | None) -> dict[str, int]:
        if params is None:
            return {}
        if not isinstance(params, Mapping):
            raise InvalidInputError(f"params must be a mapping of names to integers, got {type(params).__name__}")
        names = self._param_names()
        out: dict[str, int] = {}
        for name, value in params.items():
            if name not in names:
                known = ", ".join(repr(n) for n in names) or "none"
                raise InvalidInputError(f"unknown parameter {name!r} for {self._describe()}; it takes: {known}")
            if not isinstance(value, int | np.integer) or isinstance(value, bool) or int(value) < 1:
                raise InvalidInputError(f"parameter {name} must be a positive integer, got {value!r}")
            out[name] = int(value)
        return out

    def set_params(self, params: Mapping[str, int] | None = None, **kwargs: int) -> None:
        """Change search parameters (``efSearch``, ``nprobe``, ``k_factor``); they are saved with the index."""
        merged = {**(params or {}), **kwargs}
        self._params.update(self._check_params(merged))
        self._apply_params()

    def _apply_params(self) -> None:  # noqa: B027 - an optional hook
        """Push build-time parameters into the backend (subclasses)."""

    def _describe(self) -> str:
        return type(self).__name__

    # ----------------------------------------------------------------- inputs
    def _as_matrix(self, x: npt.ArrayLike, what: str) -> tuple[FloatArray, bool]:
        """``(n, dim)`` float32 C-contiguous finite rows, and whether a single 1-D vector was given."""
        return as_rows(x, what, self._dim)

    def _stored(self, x: FloatArray) -> FloatArray:
        """What is stored for rows ``x``: unit rows under cosine (zero rows stay zero)."""
        return normalize_rows(x, allow_zero=True, what="vector") if self._metric == "cosine" else x

    def _queries(self, queries: npt.ArrayLike) -> tuple[FloatArray, bool]:
        q, single = self._as_matrix(queries, "query vector" if np.ndim(queries) == 1 else "query matrix")
        if self._metric == "cosine" and len(q):
            q = normalize_rows(q, allow_zero=False)
        return q, single

    def _new_ids(self, ids: npt.ArrayLike | None, n: int) -> IntArray:
        if ids is None:
            return self._map.next_ids(n)
        out = _ids_arg(ids, "ids")
        if len(out) != n:
            raise InvalidInputError(f"{n} vectors but {len(out)} ids; give one id per vector")
        self._map.check_new(out)
        return out

    # ----------------------------------------------------------------- operations
    def add(self, vectors: npt.ArrayLike, ids: npt.ArrayLike | None = None) -> None:
        """Add vectors under caller-chosen ids.

        Parameters
        ----------
        vectors
            ``(n, dim)`` array-like (or one ``(dim,)`` vector); NaN and Inf are refused. Under
            ``cosine`` the rows are L2-normalised before they are stored.
        ids
            ``(n,)`` non-negative int64 ids, unique and not in the index yet. Default: the ``n``
            integers after the largest id used so far.
        """
        x, _ = self._as_matrix(vectors, "vectors")
        new_ids = self._new_ids(ids, len(x))
        if len(x) == 0:
            return
        self._add(self._stored(x), new_ids)

    @abstractmethod
    def _add(self, x: FloatArray, ids: IntArray) -> None:
        """Store checked rows (stored form) and only then give ``ids`` their labels in ``self._map``."""

    def search(self, queries: npt.ArrayLike, k: int = 10, *, params: Mapping[str, int] | None = None,
               allowed_ids: npt.ArrayLike | Iterable[int] | None = None) -> SearchResult:
        """The ``k`` best hits of each query, best first.

        Parameters
        ----------
        queries
            One ``(dim,)`` vector or a ``(nq, dim)`` matrix (normalised under ``cosine``; a zero
            query then raises :class:`~embspace.errors.ZeroVectorError`).
        k
            Hits per query; fewer when fewer vectors qualify.
        params
            Search parameters for this call only, over :attr:`params` (``efSearch``, ``nprobe``,
            ``k_factor``).
        allowed_ids
            Restrict the hits to these ids (ids not in the index are ignored).

        Returns
        -------
        SearchResult
            ``ids`` are the caller's ids and ``keys`` their decimal strings. Single query: shapes
            ``(k',)``. Batch: ``(nq, k')`` with ``k' = min(k, qualifying vectors)``; a row an
            approximate index could not fill is padded with id ``-1``, score ``-inf`` and key ``""``.
        """
        q, single = self._queries(queries)
        got = self.search_prepared(q, k, params=params, allowed_ids=allowed_ids)
        if got is None:
            return SearchResult.empty(not single, len(q))
        return self._result(*got, single)

    def search_prepared(self, q: FloatArray, k: int, *, params: Mapping[str, int] | None = None,
                        allowed_ids: Selection | npt.ArrayLike | Iterable[int] | None = None
                        ) -> tuple[FloatArray, IntArray] | None:
        """:meth:`search` for queries the caller has already checked: ``(nq, dim)`` C-contiguous
        finite float32, unit rows under ``cosine``. Returns ``(nq, k')`` scores and ids (``-1`` for
        none), or None when nothing qualifies — no per-call validation, for hot paths (Collection).
        ``allowed_ids`` may be a :class:`Selection` from :meth:`select`, reused across searches.
        """
        p = {**self._params, **self._check_params(params)} if params else self._params
        if allowed_ids is None and type(k) is int and 0 < k <= self._map.n_live and len(q):
            fast = self._search_plain(q, k, p)  # no filter, no tombstone: the hot path
            if fast is not None:
                return fast
        k = check_k(k)
        allowed: IntArray | None = None
        memo: dict[str, Any] | None = None
        if isinstance(allowed_ids, Selection):
            if allowed_ids.version != self._map.version:
                fresh = self.select(allowed_ids.ids)
                allowed_ids.labels, allowed_ids.version, allowed_ids.memo = fresh.labels, fresh.version, {}
            allowed, memo = allowed_ids.labels, allowed_ids.memo
            n_cand = len(allowed)
        elif allowed_ids is not None:
            allowed = np.unique(self._map.labels_of(_ids_arg(allowed_ids, "allowed_ids")))
            n_cand = len(allowed)
        else:
            n_cand = self.ntotal
        k_eff = min(k, n_cand)
        if len(q) == 0 or k_eff == 0:
            return None
        scores, labels = self._search(q, k_eff, p, allowed, memo)
        ids = self._map.to_ids(labels)
        missing = ids < 0
        if missing.any():
            scores = scores.copy()
            scores[missing] = -np.inf
        return np.ascontiguousarray(scores, dtype=np.float32), ids

    def select(self, ids: npt.ArrayLike | Iterable[int]) -> Selection:
        """``ids`` resolved to labels once, to pass as ``allowed_ids`` to many searches."""
        arr = _ids_arg(ids, "allowed_ids")
        return Selection(arr, np.unique(self._map.labels_of(arr)), self._map.version)

    def _search_plain(self, q: FloatArray, k: int, params: dict[str, int]) -> tuple[FloatArray, IntArray] | None:
        """Hook: a leaner search of every live vector with the checked parameters ``params`` (None: not
        available, or a row it could not fill — the general path pads it)."""
        return None

    @abstractmethod
    def _search(self, q: FloatArray, k: int, params: dict[str, int], allowed: IntArray | None,
                memo: dict[str, Any] | None = None) -> tuple[FloatArray, IntArray]:
        """``(nq, k)`` scores and labels (``-1`` for none) of prepared queries.

        ``allowed`` is a sorted array of live labels, or None for every live label; ``k`` never
        exceeds the number of candidates. ``memo`` (with a :class:`Selection`) keeps what the index
        derives from ``allowed`` for the next search with the same selection.
        """

    def _result(self, scores: FloatArray, ids: IntArray, single: bool) -> SearchResult:
        if single:
            keep = ids[0] >= 0
            row_ids = ids[0][keep]
            return SearchResult([str(i) for i in row_ids.tolist()], scores[0][keep], row_ids)
        keys = [[str(i) if i >= 0 else "" for i in row] for row in ids.tolist()]
        return SearchResult(keys, scores, ids)

    def remove(self, ids: npt.ArrayLike | Iterable[int]) -> int:
        """Remove vectors by id; ids not in the index are ignored. Returns how many were removed."""
        labels = self._map.remove(_ids_arg(ids, "ids"))
        if len(labels):
            self._removed(labels)
        return len(labels)

    def _removed(self, labels: IntArray) -> None:  # noqa: B027 - an optional hook
        """Hook after ``labels`` were tombstoned in the id map."""

    def reconstruct(self, ids: npt.ArrayLike | Iterable[int]) -> FloatArray:
        """The stored vectors of ``ids``, ``(n, dim)`` float32 (unit rows under cosine).

        Exact for exact storage (see :attr:`stores_exact_vectors`), decoded otherwise.
        """
        arr = _ids_arg(ids, "ids")
        found = self._map.contains(arr)
        if not found.all():
            raise UnknownKeyError(int(arr[~found][0]), where="the index")
        return self._reconstruct_labels(self._map.labels_of(arr))

    @abstractmethod
    def _reconstruct_labels(self, labels: IntArray) -> FloatArray:
        """Stored vectors of live labels, ``(n, dim)`` float32."""

    @abstractmethod
    def rebuild(self, vectors: npt.ArrayLike | None = None, ids: npt.ArrayLike | None = None) -> None:
        """Compact the tombstones away, or rebuild from the given vectors and ids."""

    # ----------------------------------------------------------------- persistence
    @abstractmethod
    def save(self, path: str | Path) -> Path:
        """Write the index to the directory ``path`` (replaced atomically)."""

    @classmethod
    @abstractmethod
    def load(cls, path: str | Path) -> Self:
        """Read an index written by :meth:`save`."""

    def _meta(self) -> dict[str, Any]:
        return {"format": FORMAT, "version": FORMAT_VERSION, "kind": self.kind, "dim": self._dim,
                "metric": self._metric, "params": dict(self._params), "ntotal": self.ntotal,
                "n_labels": self._map.n_labels}


def write_meta(directory: Path, meta: Mapping[str, Any]) -> None:
    """Write the sidecar and the artifact header (kind ``index``) of an index directory."""
    (directory / SIDECAR).write_text(json.dumps(dict(meta), indent=2, sort_keys=True) + "\n", encoding="utf-8")
    write_header(directory, "index", FORMAT_VERSION, index_kind=meta.get("kind"), dim=meta.get("dim"),
                 metric=meta.get("metric"))


def read_meta(path: str | Path, kind: str | None = None) -> dict[str, Any]:
    """Read and check the sidecar of an index directory."""
    path = Path(path)
    sidecar = path / SIDECAR
    if not path.exists():
        raise FileNotFoundError(f"no index at {str(path)!r}")
    check_format_version(path, "index", FORMAT_VERSION)
    if not sidecar.is_file():
        raise CorruptDataError(path, f"not an embspace index directory (no {SIDECAR})")
    try:
        meta = json.loads(sidecar.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as e:
        raise CorruptDataError(sidecar, f"invalid JSON: {e}") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CorruptDataError(sidecar, f"not an embspace index sidecar (expected format {FORMAT!r})")
    if meta.get("version") != FORMAT_VERSION:
        raise CorruptDataError(sidecar, f"unsupported index format version {meta.get('version')!r} "
                                        f"(this embspace reads version {FORMAT_VERSION})")
    if meta.get("metric") not in METRICS or not isinstance(meta.get("dim"), int) or meta["dim"] < 1:
        raise CorruptDataError(sidecar, "missing or invalid 'metric' or 'dim'")
    if kind is not None and meta.get("kind") != kind:
        raise CorruptDataError(sidecar, f"this is a {meta.get('kind')!r} index, not a {kind!r} one; "
                                        "use embspace.index.load_index(path) to load any kind")
    return meta


def load_ids(path: Path, n: int) -> IdMap:
    """Read ``ids.npy`` (label -> id, -1 for removed) and check it has ``n`` labels."""
    try:
        arr = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise CorruptDataError(path, f"cannot read the ids: {e}") from None
    if arr.ndim != 1 or arr.dtype.kind not in "iu" or len(arr) != n:
        raise CorruptDataError(path, f"expected {n} int64 ids, got shape {arr.shape} and dtype {arr.dtype}")
    try:
        return IdMap.from_label_ids(arr.astype(np.int64))
    except ValueError:
        raise CorruptDataError(path, "duplicate ids") from None


def load_index(path: str | Path) -> BaseIndex:
    """Load any index saved by embspace (exact or FAISS), as its sidecar says."""
    from . import binary_index, exact, faiss_index, ondisk_index  # noqa: F401  (registers the kinds)

    meta = read_meta(path)
    cls = BaseIndex._registry.get(str(meta.get("kind")))
    if cls is None:
        raise CorruptDataError(Path(path) / SIDECAR, f"unknown index kind {meta.get('kind')!r}")
    return cls.load(path)
