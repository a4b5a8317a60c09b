"""Interactions: who interacted with what (and how much, and when), by NAMED columns.

Users and items are two separate namespaces, told apart by the column a value comes from, never by
the axis of a matrix: ``implicit``'s most reported problem is a user-item matrix passed the wrong
way round. A bare matrix is therefore refused here; pass a table with named columns.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ..errors import CorruptDataError, InvalidInputError, UnknownKeyError
from ..space._suggest import suggest

__all__ = ["ROLES", "Interactions", "load_interactions"]

ROLES: tuple[str, ...] = ("user", "item", "rating", "timestamp")
"""The columns an interaction table may have; ``user`` and ``item`` are required."""
_REQUIRED = ("user", "item")
# Column names often used for each role, only to suggest a ``columns=`` mapping in error messages.
_ALIASES = {
    "user": ("userid", "user_id", "userId", "uid", "customer_id", "visitorid"),
    "item": ("itemid", "item_id", "movieId", "movie_id", "iid", "product_id", "article_id"),
    "rating": ("score", "value", "weight", "stars"),
    "timestamp": ("time", "ts", "date", "datetime"),
}

Int32Array = npt.NDArray[np.int32]


class Interactions:
    """A table of interactions: one row per (user, item) event, with an optional rating and timestamp.

    Parameters
    ----------
    data
        A pandas DataFrame, a pyarrow Table, a mapping ``{column name: sequence}``, or the path of
        a CSV/TSV/Parquet file (read with :func:`load_interactions`). A matrix (NumPy array, SciPy
        sparse matrix, list of rows) is refused: which axis holds the users cannot be checked.
    columns
        Which input column holds each role, e.g. ``{"user": "userId", "item": "movieId"}``.
        Roles not named here are looked up under their own name (``user``, ``item``, ``rating``,
        ``timestamp``); ``rating`` and ``timestamp`` are optional.

    Attributes
    ----------
    user_ids, item_ids
        The distinct users and items as strings (ids are compared as text: ``196`` and ``"196"``
        are the same user), in order of first appearance; position ``i`` is dense code ``i``.
    user_codes, item_codes
        ``(n,)`` int32 dense codes of each row.
    ratings
        ``(n,)`` float32, or ``None`` when there is no rating column (implicit feedback).
    timestamps
        ``(n,)`` int64 or float64 (datetimes as int64 nanoseconds), or ``None``.

    Raises
    ------
    InvalidInputError
        A matrix instead of a table, missing columns, empty input, missing ids, NaN/Inf ratings or
        timestamps, columns of different lengths, or ``user`` and ``item`` mapped to one column.
    """

    __slots__ = ("_item_index", "_user_index", "item_codes", "item_ids", "ratings", "timestamps", "user_codes",
                 "user_ids")

    def __init__(self, data: Any, *, columns: Mapping[str, str] | None = None) -> None:
        if isinstance(data, str | Path):
            other = load_interactions(data, columns=columns)
            self._copy(other)
            return
        if isinstance(data, Interactions):
            if columns:
                raise InvalidInputError("columns= was given with an Interactions; it already knows its columns")
            self._copy(data)
            return
        table = _columns_of(data)
        names = _resolve_columns(list(table), columns)
        raw = {role: table[col] for role, col in names.items()}
        lengths = {role: len(v) for role, v in raw.items()}
        if len(set(lengths.values())) > 1:
            raise InvalidInputError(f"the columns have different lengths: {lengths}")
        n = lengths["user"]
        if n == 0:
            raise InvalidInputError("the interaction table is empty: at least one (user, item) row is needed")
        user_ids, user_codes = _encode_ids(raw["user"], names["user"])
        item_ids, item_codes = _encode_ids(raw["item"], names["item"])
        ratings = _numeric(raw["rating"], names["rating"], np.float32) if "rating" in raw else None
        timestamps = _timestamps(raw["timestamp"], names["timestamp"]) if "timestamp" in raw else None
        self._set(user_ids, item_ids, user_codes, item_codes, ratings, timestamps)

    # ------------------------------------------------------------------ construction
    def _set(self, user_ids: tuple[str, ...], item_ids: tuple[str, ...], user_codes: Int32Array,
             item_codes: Int32Array, ratings: npt.NDArray[np.float32] | None,
             timestamps: npt.NDArray[Any] | None) -> None:
        self.user_ids = user_ids
        self.item_ids = item_ids
        self.user_codes = user_codes
        self.item_codes = item_codes
        self.ratings = ratings
        self.timestamps = timestamps
        self._user_index: dict[str, int] | None = None
        self._item_index: dict[str, int] | None = None

    def _copy(self, other: Interactions) -> None:
        self._set(other.user_ids, other.item_ids, other.user_codes, other.item_codes, other.ratings,
                  other.timestamps)

    @classmethod
    def _from_codes(cls, user_ids: tuple[str, ...], item_ids: tuple[str, ...], user_codes: Int32Array,
                    item_codes: Int32Array, ratings: npt.NDArray[np.float32] | None,
                    timestamps: npt.NDArray[Any] | None) -> Interactions:
        obj = cls.__new__(cls)
        obj._set(user_ids, item_ids, user_codes, item_codes, ratings, timestamps)
        return obj

    # ------------------------------------------------------------------ sizes and lookups
    def __len__(self) -> int:
        return len(self.user_codes)

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    @property
    def has_ratings(self) -> bool:
        return self.ratings is not None

    @property
    def users(self) -> npt.NDArray[np.str_]:
        """``(n,)`` the user id of each row, as text."""
        return np.asarray(self.user_ids)[self.user_codes]

    @property
    def items(self) -> npt.NDArray[np.str_]:
        """``(n,)`` the item id of each row, as text."""
        return np.asarray(self.item_ids)[self.item_codes]

    def user_index(self, user: object) -> int:
        """The dense code of ``user``; :class:`UnknownKeyError` when it has no interaction here."""
        if self._user_index is None:
            self._user_index = {u: i for i, u in enumerate(self.user_ids)}
        return _lookup(self._user_index, user, self.user_ids, "the users of these interactions")

    def item_index(self, item: object) -> int:
        """The dense code of ``item``; :class:`UnknownKeyError` when it has no interaction here."""
        if self._item_index is None:
            self._item_index = {it: i for i, it in enumerate(self.item_ids)}
        return _lookup(self._item_index, item, self.item_ids, "the items of these interactions")

    def user_item_matrix(self, values: str = "rating") -> Any:
        """A SciPy CSR matrix of shape ``(n_users, n_items)``: rows are users, columns items.

        ``values="rating"`` puts the ratings in the cells (1 when there are none), ``"ones"`` puts 1.
        Repeated (user, item) rows are summed.
        """
        from scipy import sparse

        if values not in ("rating", "ones"):
            raise InvalidInputError(f"values must be 'rating' or 'ones', got {values!r}")
        data = (self.ratings if values == "rating" and self.ratings is not None
                else np.ones(len(self), np.float32))
        mat = sparse.csr_matrix((data, (self.user_codes, self.item_codes)), shape=(self.n_users, self.n_items),
                                dtype=np.float32)
        mat.sum_duplicates()
        return mat

    def items_by_user(self, min_rating: float | None = None) -> dict[str, list[str]]:
        """``{user id: [item id, ...]}`` in row order; with ``min_rating`` only rows rated at least that.

        Users without a qualifying row are left out. ``min_rating`` needs ratings.
        """
        keep = np.ones(len(self), bool)
        if min_rating is not None:
            if self.ratings is None:
                raise InvalidInputError("min_rating was given but these interactions have no ratings")
            keep = self.ratings >= min_rating
        out: dict[str, list[str]] = {}
        uid, iid = self.user_ids, self.item_ids
        for u, i in zip(self.user_codes[keep].tolist(), self.item_codes[keep].tolist(), strict=True):
            out.setdefault(uid[u], []).append(iid[i])
        return out

    def subset(self, rows: npt.ArrayLike) -> Interactions:
        """The interactions of ``rows`` (a boolean mask or row indices), in that order.

        The users and items are re-coded to those present in the subset (first appearance order),
        so a model fitted on it has no untrained rows; ids stay the same.
        """
        idx = np.asarray(rows)
        if idx.dtype == bool:
            if idx.shape != (len(self),):
                raise InvalidInputError(f"a boolean mask must have shape ({len(self)},), got {idx.shape}")
            idx = np.flatnonzero(idx)
        elif idx.size and not np.issubdtype(idx.dtype, np.integer):
            raise InvalidInputError(f"rows must be a boolean mask or integer indices, got dtype {idx.dtype}")
        idx = idx.astype(np.int64, copy=False)
        if idx.size == 0:
            raise InvalidInputError("the subset is empty: at least one row is needed")
        if idx.min() < -len(self) or idx.max() >= len(self):
            raise InvalidInputError(f"row indices must be in [0, {len(self)}), got {idx.min()}..{idx.max()}")
        u_ids, u_codes = _recode(self.user_codes[idx], self.user_ids)
        i_ids, i_codes = _recode(self.item_codes[idx], self.item_ids)
        return Interactions._from_codes(
            u_ids, i_ids, u_codes, i_codes,
            None if self.ratings is None else self.ratings[idx],
            None if self.timestamps is None else self.timestamps[idx])

    def fingerprint(self) -> str:
        """A SHA-256 (16 hex digits) of the content: ids, codes, ratings and timestamps."""
        h = hashlib.sha256()
        for ids in (self.user_ids, self.item_ids):
            h.update("\x1f".join(ids).encode())
            h.update(b"\x1e")
        for arr in (self.user_codes, self.item_codes, self.ratings, self.timestamps):
            h.update(b"-" if arr is None else np.ascontiguousarray(arr).tobytes())
        return h.hexdigest()[:16]

    def to_arrow(self) -> Any:
        """A pyarrow Table with the columns ``user``, ``item`` (text ids) and ``rating``/``timestamp`` when present."""
        import pyarrow as pa

        cols: dict[str, Any] = {"user": pa.array(self.users.tolist(), pa.string()),
                                "item": pa.array(self.items.tolist(), pa.string())}
        if self.ratings is not None:
            cols["rating"] = pa.array(self.ratings)
        if self.timestamps is not None:
            cols["timestamp"] = pa.array(self.timestamps)
        return pa.table(cols)

    def __repr__(self) -> str:
        extra = "".join(f", {name}" for name, arr in (("ratings", self.ratings), ("timestamps", self.timestamps))
                        if arr is not None)
        return f"Interactions({len(self):,} rows, {self.n_users:,} users, {self.n_items:,} items{extra})"


# ---------------------------------------------------------------------- loading files
def load_interactions(path: str | Path, *, columns: Mapping[str, str] | None = None,
                      delimiter: str | None = None, column_names: Sequence[str] | None = None) -> Interactions:
    """Read interactions from a CSV/TSV (optionally ``.gz``/``.bz2``) or Parquet file with named columns.

    Parameters
    ----------
    path
        ``.parquet``/``.pq`` files are read as Parquet; anything else as delimited text with a header.
    columns
        Role -> column name, as for :class:`Interactions` (e.g. ``{"user": "userId", "item": "movieId"}``).
    delimiter
        Field separator of a text file; default: tab for ``.tsv``/``.tab``, else comma.
    column_names
        Names of the columns of a text file WITHOUT a header line (e.g. MovieLens ``u.data``:
        ``["user", "item", "rating", "timestamp"]``).

    User and item ids are read as text, so ``"007"`` stays ``"007"``.
    """
    p = Path(path)
    if not p.is_file():
        raise InvalidInputError(f"no interaction file at {str(p)!r}")
    suffixes = [s.lower() for s in p.suffixes]
    if suffixes and suffixes[-1] in (".parquet", ".pq"):
        import pyarrow.parquet as pq

        try:
            table = pq.read_table(p)
        except Exception as exc:  # pyarrow raises its own ArrowInvalid / OSError kinds
            raise CorruptDataError(p, f"not a readable Parquet file ({exc})") from exc
        return _from_table(table, columns, p)
    if delimiter is None:
        delimiter = "\t" if any(s in (".tsv", ".tab") for s in suffixes) else ","
    return _from_table(_read_text(p, delimiter, column_names, columns), columns, p)


def _read_text(source: Any, delimiter: str, column_names: Sequence[str] | None,
               columns: Mapping[str, str] | None, name: str | Path | None = None) -> Any:
    """A pyarrow Table from delimited text, the user and item columns typed as text."""
    import pyarrow as pa
    from pyarrow import csv

    mapping = dict(columns or {})
    id_columns = {mapping.get("user", "user"), mapping.get("item", "item")}
    read = csv.ReadOptions(column_names=list(column_names) if column_names else None)
    parse = csv.ParseOptions(delimiter=delimiter)
    convert = csv.ConvertOptions(column_types={c: pa.string() for c in id_columns}, strings_can_be_null=True)
    try:
        return csv.read_csv(source, read_options=read, parse_options=parse, convert_options=convert)
    except Exception as exc:  # pyarrow.lib.ArrowInvalid: bad number of fields, unparsable number...
        where = name if name is not None else (source if isinstance(source, str | Path) else None)
        raise CorruptDataError(where, f"not a readable delimited file ({exc})") from exc


def _from_table(table: Any, columns: Mapping[str, str] | None, path: str | Path) -> Interactions:
    try:
        return Interactions(table, columns=columns)
    except InvalidInputError as exc:
        raise InvalidInputError(f"{path}: {exc}") from exc


# ---------------------------------------------------------------------- helpers
def _columns_of(data: Any) -> dict[str, Any]:
    """``{name: column}`` of a DataFrame, an Arrow table or a mapping; matrices are refused."""
    refuse = ("interactions need a table with NAMED columns ('user', 'item', optional 'rating' and 'timestamp'), "
              f"got {type(data).__name__}{_shape_text(data)}; a matrix is refused because nothing says which axis "
              "holds the users. Pass a pandas DataFrame, a pyarrow Table or a dict of columns, e.g. "
              "Interactions({'user': users, 'item': items, 'rating': ratings})")
    if hasattr(data, "column_names") and hasattr(data, "column"):  # pyarrow Table / RecordBatch
        return {str(name): data.column(i).to_numpy(zero_copy_only=False)
                for i, name in enumerate(data.column_names)}
    if hasattr(data, "columns") and hasattr(data, "iloc"):  # pandas DataFrame
        names = [str(c) for c in data.columns]
        if len(set(names)) != len(names):
            raise InvalidInputError(f"the DataFrame has duplicate column names: {names}")
        return {str(c): data[c].to_numpy() for c in data.columns}
    if isinstance(data, Mapping):
        out: dict[str, Any] = {}
        for name, col in data.items():
            arr = np.asarray(col)
            if arr.ndim != 1:
                raise InvalidInputError(f"column {name!r} must be one-dimensional, got shape {arr.shape}")
            out[str(name)] = arr
        return out
    raise InvalidInputError(refuse)


def _shape_text(data: Any) -> str:
    shape = getattr(data, "shape", None)
    return f" of shape {tuple(shape)}" if shape is not None else ""


def _resolve_columns(available: list[str], columns: Mapping[str, str] | None) -> dict[str, str]:
    """Role -> input column name, checked."""
    mapping = dict(columns or {})
    unknown = [r for r in mapping if r not in ROLES]
    if unknown:
        raise InvalidInputError(f"columns= has unknown roles {unknown}; the roles are {list(ROLES)}, "
                                "e.g. columns={'user': 'userId', 'item': 'movieId'}")
    out: dict[str, str] = {}
    for role in ROLES:
        col = mapping.get(role, role)
        if not isinstance(col, str):
            raise InvalidInputError(f"columns[{role!r}] must be a column name, got {col!r}")
        if col in available:
            out[role] = col
        elif role in mapping or role in _REQUIRED:
            hint = next((a for a in _ALIASES[role] if a in available), None)
            fix = f"; pass columns={{{role!r}: {hint!r}}}" if hint else (
                f"; name the column {role!r} or pass columns={{{role!r}: '<your column>'}}")
            raise InvalidInputError(f"no column {col!r} for the {role}s; the columns are {available}{fix}")
    if out["user"] == out["item"]:
        raise InvalidInputError(f"users and items were both mapped to the column {out['user']!r}; "
                                "they must come from two different columns")
    return out


def _encode_ids(values: Any, column: str) -> tuple[tuple[str, ...], Int32Array]:
    """Distinct ids (as text, first-appearance order) and the dense code of every row."""
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise InvalidInputError(f"column {column!r} must be one-dimensional, got shape {arr.shape}")
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)):
            raise InvalidInputError(f"column {column!r} has missing (NaN) ids, e.g. at row "
                                    f"{int(np.flatnonzero(~np.isfinite(arr))[0])}")
        if np.all(arr == np.round(arr)):  # integer ids read as floats (a pandas column that once held NaN)
            arr = arr.astype(np.int64)
    elif arr.dtype.kind == "O":
        missing = [i for i, v in enumerate(arr.tolist()) if v is None or (isinstance(v, float) and math.isnan(v))]
        if missing:
            raise InvalidInputError(f"column {column!r} has missing ids (None/NaN), e.g. at row {missing[0]}")
    elif arr.dtype.kind not in "iuUSb":
        raise InvalidInputError(f"column {column!r} has ids of dtype {arr.dtype}; ids must be integers or text")
    text = arr.astype(str) if arr.dtype.kind != "O" else np.array([str(v) for v in arr.tolist()])
    uniq, first, inverse = np.unique(text, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")  # first-appearance order: independent of the ids' type
    rank = np.empty(len(order), np.int32)
    rank[order] = np.arange(len(order), dtype=np.int32)
    return tuple(uniq[order].tolist()), rank[inverse.reshape(-1)]


def _recode(codes: Int32Array, ids: tuple[str, ...]) -> tuple[tuple[str, ...], Int32Array]:
    uniq, first, inverse = np.unique(codes, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")
    rank = np.empty(len(order), np.int32)
    rank[order] = np.arange(len(order), dtype=np.int32)
    return tuple(ids[c] for c in uniq[order].tolist()), rank[inverse.reshape(-1)]


def _numeric(values: Any, column: str, dtype: type[np.floating[Any]]) -> npt.NDArray[Any]:
    arr = np.asarray(values)
    if arr.dtype.kind not in "iuf":
        try:
            arr = arr.astype(np.float64)
        except (TypeError, ValueError):
            raise InvalidInputError(f"column {column!r} must be numeric, got values like {arr[:3].tolist()}") from None
    out = arr.astype(dtype)
    bad = ~np.isfinite(out)
    if bad.any():
        raise InvalidInputError(f"column {column!r} has {int(bad.sum())} missing or infinite values (NaN/Inf), "
                                f"e.g. at row {int(np.flatnonzero(bad)[0])}; drop or fill those rows first")
    return out


def _timestamps(values: Any, column: str) -> npt.NDArray[Any]:
    arr = np.asarray(values)
    if arr.dtype.kind == "M":
        if np.isnat(arr).any():
            raise InvalidInputError(f"column {column!r} has missing timestamps (NaT), "
                                    f"e.g. at row {int(np.flatnonzero(np.isnat(arr))[0])}")
        return arr.astype("datetime64[ns]").astype(np.int64)
    if arr.dtype.kind in "iu":
        return arr.astype(np.int64)
    return _numeric(arr, column, np.float64)


def _lookup(index: dict[str, int], key: object, ids: tuple[str, ...], where: str) -> int:
    text = str(int(key)) if isinstance(key, float | np.floating) and float(key).is_integer() else str(key)
    try:
        return index[text]
    except KeyError:
        raise UnknownKeyError(key, suggest(text, ids), where=where) from None
