"""Spaces and tables: keys and vectors from DataFrames, Series and Arrow; spaces to pandas and Arrow.

The boundary conversions of :class:`~embspace.space.EmbeddingSpace` live here:

- :func:`as_keys`: strings, or integers stored as ``str(k)`` (``1`` and ``"1"`` are then the same key);
- :func:`as_matrix`: a 2-D array-like, or a sequence of 1-D rows (a pandas or polars Series of arrays, a
  list of arrays, an Arrow list column), stacked into one float32 ``(n, dim)`` matrix, with an error that
  names the first ragged or missing row;
- :func:`space_to_table` / :func:`space_from_table`: a pyarrow Table with a ``key`` string column, a
  ``vector`` FixedSizeList<float32>[dim] column, an optional int64 ``count`` column, and the metric and
  provenance in the schema metadata (key ``embspace``), as the Parquet/Arrow files carry them;
- :func:`space_to_pandas` / :func:`space_from_pandas`.

pyarrow is a core dependency; pandas and polars are never imported here except by ``to_pandas``.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import math
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from .._types import METRICS, FloatArray
from ..errors import InvalidInputError, MissingDependencyError
from .provenance import Provenance

if TYPE_CHECKING:
    from .embedding_space import EmbeddingSpace

META_KEY = b"embspace"
PANDAS_ATTR = "embspace"


# --------------------------------------------------------------------------- keys
def _missing(value: object) -> bool:
    """None, a float NaN, or pandas' NA/NaT (recognised by type name: pandas is never imported here)."""
    if value is None:
        return True
    if isinstance(value, float | np.floating):
        return bool(math.isnan(value))
    return type(value).__name__ in ("NAType", "NaTType")


def as_keys(keys: Iterable[Any]) -> tuple[str, ...]:
    """The keys as a tuple of strings: integers (Python or NumPy) become ``str(k)``; anything else is refused."""
    out = tuple(keys)
    if all(type(k) is str for k in out):
        return out
    conv: list[str] = []
    for i, k in enumerate(out):
        if isinstance(k, str):
            conv.append(str(k))
        elif isinstance(k, int | np.integer) and not isinstance(k, bool | np.bool_):
            conv.append(str(int(k)))
        else:
            hint = " (a missing value)" if _missing(k) else ""
            raise TypeError(f"keys must be strings or integers (integers are stored as strings); key #{i} is "
                            f"{type(k).__name__} {k!r}{hint}")
    return tuple(conv)


def duplicate_message(given: Iterable[Any], keys: tuple[str, ...]) -> str:
    """The error message for the first duplicate key, naming both rows (and the int/str clash if that is it)."""
    seen: dict[str, int] = {}
    for i, k in enumerate(keys):
        if k in seen:
            j = seen[k]
            originals = tuple(given) if not isinstance(given, Sequence) else given
            a, b = (originals[j], originals[i]) if len(originals) == len(keys) else (k, k)
            if type(a) is not type(b):
                return (f"duplicate key {k!r}: rows {j} and {i} hold {a!r} and {b!r}, and integer keys are "
                        "stored as strings, so they are the same key; keys must be unique")
            return f"duplicate key {k!r} (rows {j} and {i}); keys must be unique"
        seen[k] = i
    return "keys must be unique"


# --------------------------------------------------------------------------- vectors
def _is_arrow(x: Any) -> bool:
    import pyarrow as pa

    return isinstance(x, pa.Array | pa.ChunkedArray)


def list_matrix(col: Any, fail: Callable[[int | None, str], Exception]) -> FloatArray:
    """An Arrow (fixed-size) list column of numbers as a float32 ``(n, dim)`` matrix.

    ``fail(row, reason)`` builds the error to raise (``row`` is 0-based, ``None`` when no row is at fault).
    """
    import pyarrow as pa
    import pyarrow.types as pt

    if isinstance(col, pa.ChunkedArray):
        col = col.combine_chunks() if col.num_chunks else pa.array([], type=col.type)
    if not (pt.is_fixed_size_list(col.type) or pt.is_list(col.type) or pt.is_large_list(col.type)):
        raise fail(None, f"vectors are {col.type}, expected a list of numbers per row")
    if col.null_count:
        raise fail(_first_null(col), "null vector")
    if pt.is_fixed_size_list(col.type):
        dim = col.type.list_size
        values = col.flatten()
    else:
        offsets = np.asarray(col.offsets.to_numpy())
        lengths = np.diff(offsets)
        if len(lengths) and (lengths != lengths[0]).any():
            bad = int(np.nonzero(lengths != lengths[0])[0][0])
            raise fail(bad, f"vector has {lengths[bad]} values, the first has {lengths[0]}")
        dim = int(lengths[0]) if len(lengths) else 0
        values = col.flatten()
    if dim == 0:
        raise fail(None, "vectors have dimension 0")
    if not pt.is_floating(values.type) and not pt.is_integer(values.type):
        raise fail(None, f"vector values are {values.type}, expected floats")
    if values.null_count:
        raise fail(_first_null(values) // dim, "null value in vector")
    with np.errstate(over="ignore"):  # float64 beyond float32's range becomes inf: refused by the caller
        out = np.ascontiguousarray(values.to_numpy(zero_copy_only=False), dtype=np.float32)
    return out.reshape(-1, dim)


def _first_null(arr: Any) -> int:
    return int(np.nonzero(~np.asarray(arr.is_valid().to_numpy(zero_copy_only=False)))[0][0])


def _values(n: int) -> str:
    return f"{n} value" if n == 1 else f"{n} values"


def _row_name(i: int, keys: Sequence[str] | None) -> str:
    return f"row {i} (key {keys[i]!r})" if keys is not None and i < len(keys) else f"row {i}"


def as_matrix(vectors: Any, *, copy: bool = True, keys: Sequence[str] | None = None) -> FloatArray:
    """``vectors`` as a float32 C-contiguous matrix (``ndim`` is checked by the caller).

    Accepts a 2-D array-like, or a sequence of 1-D rows: a list of arrays, a pandas or polars Series of
    arrays or lists, an Arrow list column. A ragged or missing row raises :class:`InvalidInputError`
    naming it (and its key, when ``keys`` are given).
    """
    if _is_arrow(vectors):
        def fail(row: int | None, reason: str) -> Exception:
            where = "" if row is None else f"{_row_name(row, keys)}: "
            return InvalidInputError(f"{where}{reason}; vectors must be rows of numbers of equal length")

        return list_matrix(vectors, fail)
    rows: Any = vectors.to_numpy() if hasattr(vectors, "to_numpy") and not isinstance(vectors, np.ndarray) \
        and str(getattr(vectors, "dtype", "")) == "object" else vectors  # a pandas Series of arrays
    first_error: Exception | None = None
    if not (isinstance(rows, np.ndarray) and rows.dtype == object and rows.ndim == 1):
        try:
            with np.errstate(over="ignore"):  # float64 beyond float32's range becomes inf: refused by the caller
                arr: FloatArray = np.array(vectors, dtype=np.float32, order="C", copy=True if copy else None)
            return arr
        except (ValueError, TypeError) as e:
            first_error = e
        # A sequence of rows: a Series of arrays or lists, a list of arrays of unequal length, ...
        rows = vectors.to_numpy() if hasattr(vectors, "to_numpy") and not isinstance(vectors, np.ndarray) \
            else vectors
    if isinstance(rows, np.ndarray) and rows.ndim != 1:
        raise InvalidInputError(f"vectors must be a 2-D (n, dim) array of numbers: {first_error}") from None
    try:
        seq = list(rows)
    except TypeError:
        raise InvalidInputError(f"vectors must be a 2-D (n, dim) array of numbers: {first_error}") from None
    if not seq:
        raise InvalidInputError(f"vectors must be a 2-D (n, dim) array of numbers: {first_error}")
    with np.errstate(over="ignore"):  # float64 beyond float32's range becomes inf: refused by the caller
        first = seq[0]
        if isinstance(first, np.ndarray) and first.ndim == 1 and first.dtype.kind in "fiu" and all(
                isinstance(r, np.ndarray) and r.shape == first.shape and r.dtype.kind in "fiu" for r in seq):
            return np.ascontiguousarray(np.stack(seq), dtype=np.float32)  # the usual Series of equal arrays
        stacked: list[np.ndarray[Any, Any]] = []
        for i, row in enumerate(seq):
            if _missing(row):
                raise InvalidInputError(f"{_row_name(i, keys)} has no vector ({row!r}); drop the row or fill it")
            try:
                r = np.asarray(row, dtype=np.float32)
            except (ValueError, TypeError) as e:
                raise InvalidInputError(f"{_row_name(i, keys)} is not a vector of numbers: {e}") from None
            if r.ndim != 1:
                raise InvalidInputError(f"{_row_name(i, keys)} has shape {r.shape}; each row must be a 1-D vector")
            if stacked and r.shape != stacked[0].shape:
                raise InvalidInputError(f"ragged rows: {_row_name(i, keys)} has {_values(r.shape[0])}, but "
                                        f"{_row_name(0, keys)} has {stacked[0].shape[0]}; vectors must form a 2-D "
                                        "(n, dim) array, every row of the same length")
            stacked.append(r)
    return np.ascontiguousarray(np.stack(stacked), dtype=np.float32)


# --------------------------------------------------------------------------- Arrow
def space_metadata(space: EmbeddingSpace) -> dict[str, Any]:
    return {"metric": space.metric, "normalized": space.is_normalized, "provenance": space.provenance.to_dict()}


def space_to_table(space: EmbeddingSpace) -> Any:
    """``key`` (string), ``vector`` (FixedSizeList<float32>[dim]), ``count`` (int64, when known); metric and
    provenance in the schema metadata under ``embspace``."""
    import pyarrow as pa

    flat = pa.array(np.ascontiguousarray(space.vectors).reshape(-1), type=pa.float32())
    columns = {"key": pa.array(list(space.keys), type=pa.string()),
               "vector": pa.FixedSizeListArray.from_arrays(flat, space.dim)}
    if space.counts is not None:
        columns["count"] = pa.array(np.asarray(space.counts), type=pa.int64())
    meta = json.dumps(space_metadata(space)).encode()
    return pa.table(columns).replace_schema_metadata({META_KEY: meta})


def _as_table(data: Any) -> Any:
    import pyarrow as pa

    if isinstance(data, pa.Table):
        return data
    if isinstance(data, pa.RecordBatch):
        return pa.Table.from_batches([data])
    if hasattr(data, "__arrow_c_stream__"):
        return pa.table(data)
    if hasattr(data, "arrow") and callable(data.arrow):  # a duckdb relation
        return _as_table(data.arrow())
    raise TypeError(f"from_arrow reads a pyarrow Table or RecordBatch, or any object with __arrow_c_stream__ "
                    f"(a polars DataFrame, a duckdb result); got {type(data).__name__}")


def space_from_table(cls: type[EmbeddingSpace], data: Any, *, key: str = "key", vector: str = "vector",
                     counts: str | None = "count", **kwargs: Any) -> EmbeddingSpace:
    import pyarrow.types as pt

    table = _as_table(data)
    names = table.column_names
    for what, name in (("key", key), ("vector", vector)):
        if name not in names:
            raise InvalidInputError(f"no {what} column {name!r}; the columns are {names}; pass {what}=NAME")
    kcol = table.column(key)
    if kcol.null_count:
        raise InvalidInputError(f"row {_first_null(kcol.combine_chunks())}: null key")
    keys = kcol.to_pylist()

    def fail(row: int | None, reason: str) -> Exception:
        where = "" if row is None else f"{_row_name(row, [str(k) for k in keys])}: "
        return InvalidInputError(f"column {vector!r}: {where}{reason}")

    matrix = list_matrix(table.column(vector), fail)
    if counts is not None and counts in names and "counts" not in kwargs:
        ccol = table.column(counts)
        if not pt.is_integer(ccol.type):
            raise InvalidInputError(f"column {counts!r} holds {ccol.type}, expected integer counts; pass counts=None "
                                    "to ignore it")
        if ccol.null_count:
            raise InvalidInputError(f"column {counts!r}: row {_first_null(ccol.combine_chunks())} has no count")
        kwargs["counts"] = np.asarray(ccol.to_numpy(), dtype=np.int64)
    meta = (table.schema.metadata or {}).get(META_KEY)
    if meta:
        try:
            m = json.loads(meta)
            kwargs.setdefault("provenance", Provenance.from_dict(m["provenance"]))
            if m.get("metric") in METRICS:
                kwargs.setdefault("metric", m["metric"])
        except (ValueError, KeyError, TypeError) as e:
            raise InvalidInputError(f"invalid embspace schema metadata: {e}") from None
    return cls(keys, matrix, copy=False, **kwargs)


# --------------------------------------------------------------------------- pandas
def space_to_pandas(space: EmbeddingSpace) -> Any:
    try:
        pd = importlib.import_module("pandas")  # optional; imported by name so that no stubs are needed
    except ImportError:
        raise MissingDependencyError("pandas", "pandas", "EmbeddingSpace.to_pandas()") from None
    from .embedding_space import content_hash

    columns: dict[str, Any] = {"key": list(space.keys), "vector": list(space.vectors)}
    if space.counts is not None:
        columns["count"] = np.asarray(space.counts, dtype=np.int64)
    df = pd.DataFrame(columns)
    df.attrs[PANDAS_ATTR] = {**space_metadata(space), "content_sha256": content_hash(space.keys, space.vectors)}
    return df


def space_from_pandas(cls: type[EmbeddingSpace], df: Any, *, key: str | None = "key",
                      vector: str | Sequence[str] = "vector", counts: str | None = "count",
                      **kwargs: Any) -> EmbeddingSpace:
    import pyarrow as pa

    from .embedding_space import content_hash

    if isinstance(df, pa.Table | pa.RecordBatch) and key is not None and isinstance(vector, str):
        return space_from_table(cls, df, key=key, vector=vector, counts=counts, **kwargs)
    if not hasattr(df, "columns") or not hasattr(df, "__getitem__") or isinstance(df, pa.Table | pa.RecordBatch):
        raise TypeError(f"from_pandas reads a DataFrame (pandas, or polars) by column names; got "
                        f"{type(df).__name__}; for Arrow data use EmbeddingSpace.from_arrow")
    names = [str(c) for c in df.columns]

    def column(name: str, what: str) -> Any:
        if name not in names:
            raise InvalidInputError(f"no {what} column {name!r}; the columns are {names}; pass {what}=NAME")
        return df[name]

    if key is None:
        if not hasattr(df, "index"):
            raise InvalidInputError(f"key=None takes the keys from the index, and a {type(df).__name__} has none; "
                                    "pass key=COLUMN")
        raw_keys = list(df.index)
    else:
        raw_keys = list(column(key, "key"))
    keys = as_keys(raw_keys)
    if isinstance(vector, str):
        matrix = as_matrix(column(vector, "vector"), keys=keys)
    else:
        cols = list(vector)
        if not cols:
            raise InvalidInputError("vector= is an empty list of columns; give one column name per dimension")
        for c in cols:
            column(c, "vector")
        parts = []
        for c in cols:
            try:
                parts.append(np.asarray(df[c], dtype=np.float32))
            except (ValueError, TypeError) as e:
                raise InvalidInputError(f"column {c!r} is not numeric ({e}); vector=[...] takes one numeric column "
                                        "per dimension") from None
        matrix = np.ascontiguousarray(np.stack(parts, axis=1), dtype=np.float32)
    if counts is not None and counts in names and "counts" not in kwargs:
        freq = np.asarray(df[counts])
        if freq.dtype.kind not in "iu":
            raise InvalidInputError(f"column {counts!r} holds {freq.dtype}, expected integer counts; pass "
                                    "counts=None to ignore it")
        kwargs["counts"] = freq.astype(np.int64)
    attrs = getattr(df, "attrs", None)
    meta = attrs.get(PANDAS_ATTR) if isinstance(attrs, dict) else None
    if isinstance(meta, dict):
        if meta.get("metric") in METRICS:
            kwargs.setdefault("metric", meta["metric"])
        # The frame's attrs follow it through pandas operations; the provenance is kept only while the frame
        # still holds exactly the space's keys and vectors (a changed frame is a new space of unknown origin).
        if "provenance" not in kwargs and "provenance" in meta and len(keys) == len(matrix) \
                and matrix.ndim == 2 and meta.get("content_sha256") == content_hash(keys, matrix):
            with contextlib.suppress(ValueError, KeyError, TypeError):  # unreadable attrs: content identity
                kwargs["provenance"] = Provenance.from_dict(meta["provenance"])
    return cls(keys, matrix, copy=False, **kwargs)
