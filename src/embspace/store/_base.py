"""What every collection backend shares: input checking, query preparation, import and export.

:class:`BaseCollection` holds the parts of the collection API that do not depend on where the
vectors live; :class:`~embspace.store.Collection` (embedded: SQLite + FAISS) and
:class:`~embspace.store.MilvusCollection` (a Milvus server or Milvus Lite) implement the storage.
"""

from __future__ import annotations

import datetime as _dt
import itertools
import json
import math
import re
import warnings
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from .. import _html
from ..errors import (
    CorruptDataError,
    DimensionMismatchError,
    IncompatibleSpaceError,
    InvalidInputError,
    UnknownFieldWarning,
    UnknownFormatError,
)
from ..space import _linalg
from ..space.embedding_space import EmbeddingSpace
from ..space.io import detect_format, load
from ..space.provenance import Provenance, mixing_error
from ..space.vector import EmbeddingVector
from ._filter import FilterLike, parse_filter
from .collection_result import CollectionResult, IncludeArg
from .get_result import GetResult

__all__ = ["AddReport", "BaseCollection", "check_keys", "clean_metadata", "resolve_encoder", "with_nprobe"]

Metadata = Mapping[str, Any] | None


def _missing(value: Any) -> bool:
    """Whether ``value`` means "no value": None, a float NaN, NaT, ``pd.NA``."""
    if value is None:
        return True
    if isinstance(value, float | np.floating):
        return bool(value != value)
    if isinstance(value, np.datetime64):
        return bool(np.isnat(value))
    name = type(value).__name__
    return name in ("NAType", "NaTType") and type(value).__module__.startswith("pandas")


def _iso(value: Any) -> str:
    """A date, time or timestamp (``datetime``, ``date``, ``time``, ``pd.Timestamp``, ``np.datetime64``) as
    ISO-8601 text."""
    if isinstance(value, np.datetime64):
        unit = np.datetime_data(value.dtype)[0]
        if unit in ("Y", "M", "W", "D"):
            return str(value.astype("datetime64[D]").item().isoformat())
        if unit == "ns":  # datetime cannot hold nanoseconds: NumPy writes them
            return str(np.datetime_as_string(value, unit="ns"))
        return str(value.astype("datetime64[us]").item().isoformat())
    return str(value.isoformat())


_SURROGATE = re.compile("[\ud800-\udfff]")
#: A filter naming more fields than this not yet seen is checked against the fields of all items in one pass
#: (one query per field scans the table once each: a 60,000-key dict filter took minutes).
FIELD_LOOKUPS = 16
#: The unknown-field warning names at most this many fields (and of the items' fields), then a count.
FIELDS_NAMED = 20


def check_text(text: str, what: str) -> str:
    """``text``, or InvalidInputError when it holds a lone surrogate (U+D800..U+DFFF: not a character,
    so neither UTF-8, SQLite nor JSON can store it; Python makes them from undecodable bytes)."""
    bad = _SURROGATE.search(text)
    if bad is not None:
        raise InvalidInputError(f"{what} {_short(text)!r} contains a lone surrogate (U+{ord(bad.group()):04X} at "
                                f"offset {bad.start()}), which is not a character and cannot be stored; decode "
                                "the source bytes with errors='replace' (or fix their encoding) first")
    return text


def _short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


def clean_metadata(meta: Mapping[str, Any] | None, where: str) -> dict[str, Any]:
    """``meta`` as JSON values, by the metadata value rule (docs/collections.md):

    - NumPy scalars become Python numbers and bools, NumPy arrays lists;
    - dates, times and timestamps (``datetime``, ``date``, ``pd.Timestamp``, ``np.datetime64``) become
      ISO-8601 strings;
    - a missing value (None, NaN, NaT, ``pd.NA``) leaves its field out of the item (inside a list it
      becomes null, to keep the positions);
    - anything else that is not a JSON value (str, finite number, bool, list, dict with string keys)
      raises InvalidInputError naming the item and the field.
    """
    if meta is None:
        return {}
    if not isinstance(meta, Mapping):
        raise InvalidInputError(f"{where}: metadata must be a dict (or None), got {type(meta).__name__}")
    return _clean_dict(meta, where, "")


def _clean_dict(meta: Mapping[Any, Any], where: str, prefix: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in meta.items():
        if not isinstance(k, str) or "\x00" in k:
            raise InvalidInputError(f"{where}: metadata keys must be strings without NUL, got {k!r}")
        check_text(k, f"{where}: the metadata key")
        if _missing(v):
            continue
        out[str(k)] = _clean_value(v, where, prefix + str(k))
    return out


def _clean_value(value: Any, where: str, field: str) -> Any:
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        value = int(value)
        if not -(2**63) <= value < 2**63:
            raise InvalidInputError(f"{where}, field {field!r}: metadata integers must fit in 64 bits, got {value}")
        return value
    if isinstance(value, float | np.floating):
        value = float(value)
        if not math.isfinite(value):
            raise InvalidInputError(f"{where}, field {field!r}: metadata numbers must be finite, got {value} "
                                    "(NaN is a missing value and leaves the field out; Inf has no JSON form)")
        return value
    if isinstance(value, str):
        if "\x00" in value:
            raise InvalidInputError(f"{where}, field {field!r}: metadata strings may not contain NUL")
        return check_text(str(value), f"{where}, field {field!r}: the value")
    if isinstance(value, _dt.date | _dt.time | np.datetime64):
        return _iso(value)
    if isinstance(value, Mapping):
        return _clean_dict(value, where, field + ".")
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, list | tuple):
        return [None if _missing(v) else _clean_value(v, where, field) for v in value]
    raise InvalidInputError(f"{where}, field {field!r}: a {type(value).__name__} cannot be stored as metadata; "
                            "metadata values are strings, numbers, bools, lists and dicts (NumPy scalars, arrays "
                            "and timestamps are converted); convert it first, e.g. with str()")


def _as_list(values: Any) -> Any:
    """A NumPy array, a pandas Series or Index, a pyarrow array or column as a list (anything else as is)."""
    if isinstance(values, list):
        return values
    if hasattr(values, "to_pylist"):
        return values.to_pylist()
    if hasattr(values, "tolist"):
        return values.tolist()
    return values


def check_keys(keys: Any) -> list[str]:
    """``keys`` (strings, or integers stored as their decimal text) as a list of strings."""
    if isinstance(keys, str | bytes):
        raise TypeError("keys must be a list of strings; wrap a single key in a list")
    keys = _as_list(keys)
    out = []
    for k in keys:
        if isinstance(k, str):
            out.append(check_text(str(k), "the key"))
        elif isinstance(k, int | np.integer) and not isinstance(k, bool | np.bool_):
            out.append(str(int(k)))
        else:
            raise InvalidInputError(f"keys must be strings or integers (stored as their decimal text), got "
                                    f"{type(k).__name__} {k!r}")
    return out


def _strings(data: Any) -> list[str] | None:
    """``data`` as a list of strings when it is texts (a list, a NumPy array or a pandas Series of str)."""
    if isinstance(data, str):
        return None
    if isinstance(data, np.ndarray) or hasattr(data, "to_numpy"):
        kind = getattr(getattr(data, "dtype", None), "kind", None)
        if kind not in ("O", "U", "S", "T") and str(getattr(data, "dtype", "")) not in ("string", "str"):
            return None
        data = data.tolist()
    if isinstance(data, Sequence) and data and all(isinstance(t, str) for t in data):
        return [str(t) for t in data]
    return None


def resolve_encoder(encoder: Any, dim: int | None) -> tuple[Any, int, dict[str, Any] | None]:
    """(encoder object or None, dimension, the encoder's description saved with a collection)."""
    enc = None
    if encoder is not None:
        if isinstance(encoder, str):
            from ..encoders import get_encoder

            enc = get_encoder(encoder)
            if dim is not None and int(dim) < enc.dim and hasattr(enc, "full_dim"):
                # a text encoder named with a smaller dim: its vectors truncated (Matryoshka), the size kept in
                # its provenance, so the collection reopens with the same truncation
                enc = get_encoder(encoder, dim=int(dim))
        else:
            enc = encoder
        if dim is not None and dim != enc.dim:
            raise DimensionMismatchError(int(dim), enc.dim, what=f"dim= (the encoder {enc.name})")
        dim = enc.dim
    if dim is None or int(dim) < 1:
        raise InvalidInputError("give dim (a positive int) or an encoder")
    if enc is None:
        return None, int(dim), None
    info = {"name": enc.name, "space_id": enc.space_id,
            "provenance": {"model": enc.provenance.model, "config": dict(enc.provenance.config)},
            "spec": encoder if isinstance(encoder, str) else enc.name}
    return enc, int(dim), info


def with_nprobe(params: Mapping[str, int] | None, nprobe: object) -> Mapping[str, int] | None:
    """``params`` with ``nprobe`` (the IVF lists a search visits; ``search(..., nprobe=N)``) added when given."""
    if nprobe is None:
        return params
    if not isinstance(nprobe, int | np.integer) or isinstance(nprobe, bool) or int(nprobe) < 1:
        raise InvalidInputError(f"nprobe must be a positive integer (IVF lists visited per query), got {nprobe!r}")
    if params and "nprobe" in params and int(params["nprobe"]) != int(nprobe):
        raise InvalidInputError(f"nprobe={nprobe} and params={{'nprobe': {params['nprobe']}}} disagree; give one")
    return {**(params or {}), "nprobe": int(nprobe)}


def _text_list(texts: Any, n: int) -> list[str | None]:
    """``texts`` (None, or one str or None per item; NaN and ``pd.NA`` read as None) checked against ``n``."""
    if texts is None:
        return [None] * n
    if isinstance(texts, str):
        raise InvalidInputError("texts= takes one text per key (a list); wrap a single text in a list")
    texts = _as_list(texts)
    out: list[str | None] = []
    for t in texts:
        if isinstance(t, str):
            out.append(check_text(str(t), "the text"))
        elif _missing(t):
            out.append(None)
        else:
            raise InvalidInputError(f"texts must be strings (or None), got {type(t).__name__} {t!r}")
    if len(out) != n:
        raise InvalidInputError(f"{len(out)} texts for {n} keys")
    return out


def _matrix(data: Any) -> Any:
    """``data`` as something ``np.asarray(..., float32)`` reads: a pandas Series or pyarrow column of arrays (one
    vector per row) becomes a stacked matrix."""
    if not isinstance(data, np.ndarray) and hasattr(data, "to_numpy"):
        try:
            data = data.to_numpy()
        except TypeError:  # a pyarrow ChunkedArray of lists wants zero_copy_only=False
            data = data.to_numpy(zero_copy_only=False)
    if isinstance(data, np.ndarray) and data.dtype == object and data.ndim == 1 and len(data):
        rows = [np.asarray(r, dtype=np.float32) for r in data]
        if len({r.shape for r in rows}) != 1:
            raise InvalidInputError(f"the vectors have different shapes ({sorted({r.shape for r in rows})[:3]}); "
                                    "every row must hold a vector of the same length")
        return np.stack(rows)
    return data


def _frame_columns(df: Any) -> tuple[list[str], Any]:
    """(the column names, a function giving a column) of a pandas DataFrame or a pyarrow Table."""
    if hasattr(df, "column_names") and hasattr(df, "column"):  # pyarrow.Table
        def arrow_column(name: str) -> Any:
            col = df.column(name)
            import pyarrow as pa

            if pa.types.is_list(col.type) or pa.types.is_fixed_size_list(col.type) or \
                    pa.types.is_large_list(col.type):
                return col.to_numpy(zero_copy_only=False)  # an array of arrays: stacked by add
            return col.to_pylist()
        return list(df.column_names), arrow_column
    if hasattr(df, "columns") and hasattr(df, "iloc"):  # pandas.DataFrame
        def pandas_column(name: str) -> Any:
            return df[name]
        return [str(c) for c in df.columns], pandas_column
    raise InvalidInputError(f"add_dataframe takes a pandas DataFrame or a pyarrow Table, got {type(df).__name__} "
                            "(a polars DataFrame: pass df.to_arrow())")


#: Files of records (one item per line or row) that :meth:`BaseCollection.add_file` reads as texts.
_RECORD_SUFFIXES = (".jsonl", ".jsonl.gz", ".ndjson", ".csv", ".csv.gz", ".tsv")


#: The columns of a space saved as Parquet (``EmbeddingSpace.save("x.parquet")``).
_SPACE_COLUMNS = frozenset({"key", "vector", "count"})


def _parquet_fields(path: Path) -> list[str]:
    import pyarrow.parquet as pq

    try:
        return list(pq.read_schema(path).names)
    except Exception:  # unreadable: load names the file and the problem
        return ["key", "vector"]


def _space_metadata(path: Path, space: EmbeddingSpace) -> list[dict[str, Any]] | None:
    """The metadata ``encode_file`` wrote beside the space saved at ``path`` (``metadata.jsonl`` in its folder,
    or ``NAME.metadata.jsonl`` beside its file: one ``{"key", ...}`` line per key), in the space's key order;
    None when there is none, or it does not name every key of the space exactly once."""
    import json

    meta_path = path / "metadata.jsonl" if path.is_dir() else path.parent / f"{path.name}.metadata.jsonl"
    if not meta_path.is_file():
        return None
    by_key: dict[str, dict[str, Any]] = {}
    try:
        with open(meta_path, encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    rec = json.loads(line)
                    if not isinstance(rec, dict) or "key" not in rec:
                        return None
                    by_key[str(rec.pop("key"))] = rec
    except (OSError, ValueError):
        return None
    if len(by_key) != len(space) or any(k not in by_key for k in space.keys):
        return None
    return [by_key[k] for k in space.keys]


def _saved_space(path: Path, text_field: str, texts_ok: bool) -> EmbeddingSpace | None:
    """The space saved at ``path``, or None when ``path`` holds texts to encode.

    A file in a vector format (a word2vec header, a binary, .vec, .npy, .arrow, a space directory) is
    read as a space, and its errors propagate (a truncated file raises CorruptDataError naming it).
    Texts are a folder that is not a space, a .jsonl/.csv/.tsv file, a .parquet file with the text
    field(s) and no ``vector`` column, and a headerless text file that does not parse as GloVe
    (lines of text and GloVe rows look alike until parsed; without an encoder, ``texts_ok`` False,
    such a file can only be vectors, so its parse error propagates).
    """
    if path.name.lower().endswith(_RECORD_SUFFIXES) or not path.exists():
        return None  # read_items reads the records (or says there is no input)
    try:
        fmt = detect_format(path)
    except UnknownFormatError:  # a folder that is not a space: a folder of texts
        return None
    except CorruptDataError:
        if path.name.lower().endswith((".txt", ".txt.gz")):
            return None  # an empty text file: no texts
        raise
    if fmt == "parquet":
        import pyarrow.parquet as pq

        try:
            names = set(pq.read_schema(path).names)
        except Exception:  # unreadable: load names the file and the problem
            return load(path)
        fields = {f.strip() for f in text_field.split(",")}
        return None if fields & names and "vector" not in names else load(path)
    if fmt == "glove":
        try:
            return load(path)
        except CorruptDataError as e:
            if texts_ok:
                return None
            raise CorruptDataError(e.path, f"{e.reason} (and this collection has no encoder, so the file cannot be "
                                   "texts to encode either)", e.line) from None
    return load(path)


class AddReport(int):
    """What :meth:`BaseCollection.add_file` did: the number of items added (it is that int), and

    ``n_encoded`` texts encoded now, ``n_cached`` vectors read from the encoding cache, ``n_truncated``
    texts cut at the model's maximum, ``n_chunked`` texts split into several windows, ``skipped``
    ``(path, reason)`` of the files of a folder that were not documents, ``seconds`` the time taken.
    """

    n_encoded: int
    n_cached: int
    n_truncated: int
    n_chunked: int
    skipped: list[tuple[str, str]]
    seconds: float

    def __new__(cls, n: int, *, n_encoded: int = 0, n_cached: int = 0, n_truncated: int = 0, n_chunked: int = 0,
                skipped: Sequence[tuple[str, str]] = (), seconds: float = 0.0) -> AddReport:
        self = super().__new__(cls, n)
        self.n_encoded, self.n_cached, self.n_truncated, self.n_chunked = n_encoded, n_cached, n_truncated, n_chunked
        self.skipped = list(skipped)
        self.seconds = seconds
        return self

    @property
    def items_per_second(self) -> float:
        return int(self) / max(self.seconds, 1e-9)


class BaseCollection(ABC):
    """The collection API (see :class:`~embspace.store.Collection` for the embedded one)."""

    dim: int
    metric: str
    writable: bool
    _info: dict[str, Any]
    _encoder: Any

    # -- storage, per backend ------------------------------------------------------------------------
    @abstractmethod
    def add(self, keys: Sequence[str | int], data: Any = None, metadata: Sequence[Metadata] | None = None, *,
            texts: Sequence[str | None] | None = None) -> int:
        """Add new items; an existing key is an error (see :meth:`upsert`)."""

    @abstractmethod
    def upsert(self, keys: Sequence[str | int], data: Any = None, metadata: Sequence[Metadata] | None = None, *,
               texts: Sequence[str | None] | None = None) -> int:
        """Add items, replacing those whose key exists."""

    @abstractmethod
    def delete(self, keys: Sequence[str] | None = None, *, where: FilterLike = None) -> int:
        """Delete by keys, or every item matching a filter; returns how many were deleted."""

    @abstractmethod
    def count(self, where: FilterLike = None) -> int:
        """Items in the collection (matching ``where`` when given)."""

    @abstractmethod
    def __contains__(self, key: object) -> bool: ...

    @abstractmethod
    def get(self, keys: Sequence[str | int], *, vectors: bool = True, strict: bool = False) -> GetResult:
        """The items of ``keys`` that exist (see :class:`~embspace.store.GetResult`); ``strict`` raises
        UnknownKeyError for a missing one instead."""

    @abstractmethod
    def items(self, where: FilterLike = None, batch: int = 10_000) -> Iterator[tuple[str, npt.NDArray[np.float32],
                                                                              dict[str, Any]]]:
        """Every (key, vector, metadata) (matching ``where`` when given)."""

    @abstractmethod
    def records(self, where: FilterLike = None, *, vectors: bool = True, batch: int = 10_000
                ) -> Iterator[dict[str, Any]]:
        """Every item as ``{"key", "vector", "metadata", "text"}`` (no ``"vector"`` when not ``vectors``),
        matching ``where`` when given."""

    def keys(self, where: FilterLike = None, batch: int = 10_000) -> Iterator[str]:
        """Every key (matching ``where`` when given), in :meth:`items`' order; backends override it to
        skip reading the vectors."""
        for k, _vector, _metadata in self.items(where, batch):
            yield k

    @abstractmethod
    def search(self, query: Any = None, k: int = 10, *, key: str | None = None, where: FilterLike = None,
               params: Mapping[str, int] | None = None, include: IncludeArg = (),
               rescore: int | None = None, nprobe: int | None = None) -> CollectionResult:
        """The ``k`` nearest items to ``query`` or to the item ``key``, best first, each with the extras named
        by ``include`` (``"metadata"``, ``"text"``, ``"vector"``); ``rescore`` re-ranks ``k * rescore``
        candidates exactly (local collections; Milvus refuses it); ``nprobe`` is ``params={"nprobe": N}``
        (the IVF lists a query visits)."""

    @abstractmethod
    def info(self) -> dict[str, Any]:
        """Size, dimension, metric, index and encoder of the collection."""

    @abstractmethod
    def compact(self) -> None:
        """Reclaim the space of deleted and replaced items."""

    @abstractmethod
    def tune(self, target_recall: float = 0.95, *, k: int = 10, queries: Any = None, n_queries: int = 200,
             seed: int = 0) -> Any:
        """Pick search parameters reaching ``target_recall``."""

    @abstractmethod
    def close(self) -> None:
        """Release the collection."""

    def __enter__(self) -> BaseCollection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __len__(self) -> int:
        return self.count()

    def _repr_html_(self) -> str:
        """A compact table for notebooks: where, size, metric, index, encoder, and the first few items."""
        name = type(self).__name__
        where = str(getattr(self, "path", None) or getattr(self, "uri", ""))
        if getattr(self, "_closed", False):
            return _html.frame(name, _html.note("closed"), subtitle=where)
        count = self.count()
        table_name = getattr(self, "name", None)
        facts = [("path" if hasattr(self, "path") else "uri", where),
                 *([("name", table_name)] if isinstance(table_name, str) else []),
                 ("count", count), ("dim", self.dim), ("metric", self.metric),
                 ("index", getattr(self, "index_factory", None)), ("encoder", self.encoder_spec),
                 ("writable", self.writable)]
        n_show, n_comp = min(count, _html.MAX_ITEMS), min(self.dim, 3)
        it = self.items(batch=max(n_show, 1))
        try:
            first = list(itertools.islice(it, n_show))  # only the rows shown are read
        finally:
            close = getattr(it, "close", None)
            if close is not None:
                close()
        rows = [(k, _html.fmt(v[:n_comp].tolist()) + (", …" if self.dim > n_comp else ""), m or None)
                for k, v, m in first]
        return _html.frame(name, _html.kv_table(facts),
                           _html.table(rows, ["key", "vector", "metadata"], total=count, limit=n_show,
                                       more="more items"),
                           subtitle=f"{count:,} items, dim {self.dim}, {self.metric}")

    # -- filters on fields no item has --------------------------------------------------------------
    def _fields_version(self) -> int | None:
        """A number that changes whenever the items change (None: unknown; present fields are then kept
        for the collection's life, absent ones looked up again)."""
        return None

    @abstractmethod
    def _has_field(self, name: str) -> bool:
        """Whether some item's metadata has the top-level field ``name``."""

    @abstractmethod
    def _all_fields(self) -> list[str]:
        """The top-level metadata fields of the items, sorted (for the warning's message)."""

    def _check_fields(self, where: FilterLike, stacklevel: int = 3) -> None:
        """Warn :class:`~embspace.errors.UnknownFieldWarning` when ``where`` names a field no item has
        (``stacklevel``: as for :func:`warnings.warn`, counted from this method, so that the warning
        points at the user's call).

        What is known of the fields is kept per collection version (a field seen stays seen until the
        next change), so a filter on known fields costs one look-up of the version; each field not yet
        seen costs one query (which stops at the first item having it).
        """
        if where is None:
            return
        names = parse_filter(where).fields()
        if not names:
            return
        version = self._fields_version()
        cache: tuple[int | None, set[str], set[str]] | None = getattr(self, "_field_cache", None)
        if cache is None or (version is not None and cache[0] != version):
            cache = (version, set(), set())  # (version, fields some item has, fields no item has)
            self._field_cache = cache
        present, absent = cache[1], cache[2]
        todo = [n for n in names if n not in present and (version is None or n not in absent)]
        if len(todo) > FIELD_LOOKUPS:  # one pass over the items, not one query per field (60,000 fields: minutes)
            have = set(self._all_fields())
            for name in todo:
                (present if name in have else absent).add(name)
        else:
            for name in todo:
                (present if self._has_field(name) else absent).add(name)
        unknown = sorted(n for n in names if n not in present)
        if unknown and self.count() > 0:
            fields = self._all_fields()
            which = ", ".join(repr(n) for n in unknown[:FIELDS_NAMED])
            if len(unknown) > FIELDS_NAMED:
                which += f" and {len(unknown) - FIELDS_NAMED:,} more"
            warnings.warn(f"no item has the field{'s' if len(unknown) > 1 else ''} {which}; fields are: "
                          f"{', '.join(fields[:FIELDS_NAMED]) or '(none: the items have no metadata)'}"
                          + (f" and {len(fields) - FIELDS_NAMED:,} more" if len(fields) > FIELDS_NAMED else ""),
                          UnknownFieldWarning, stacklevel=stacklevel)

    # -- inputs --------------------------------------------------------------------------------------
    def _checked_items(self, keys: Sequence[str | int], data: Any, metadata: Sequence[Metadata] | None,
                       texts: Sequence[str | None] | None = None
                       ) -> tuple[list[str], npt.NDArray[np.float32], list[dict[str, Any]], list[str | None]]:
        """Keys (unique strings), vectors (checked, normalised under cosine), metadata (JSON-safe, by the
        metadata value rule) and texts (a str or None per item).

        ``data`` is vectors or texts to encode; with ``data=None`` the ``texts`` are encoded. Texts given as
        ``data`` are also the items' stored texts.
        """
        keys = check_keys(keys)
        n = len(keys)
        if len(set(keys)) != n:
            dup = next(k for k in keys if keys.count(k) > 1)
            raise InvalidInputError(f"keys must be unique within one call; {dup!r} is given more than once")
        text_list = _text_list(texts, n)
        as_texts = _strings(data)
        if as_texts is not None:
            if texts is not None:
                raise InvalidInputError("data holds texts and texts= is given too; give the texts once (texts=...), "
                                        "or vectors as data and their texts as texts=")
            text_list = [check_text(t, "the text") for t in as_texts]
            if len(text_list) != n:
                raise InvalidInputError(f"{len(text_list)} texts for {n} keys")
        elif data is None:
            if texts is None:
                raise InvalidInputError("give the items' vectors (data=...) or their texts (texts=...) to encode")
            lacking = [k for k, t in zip(keys, text_list, strict=True) if t is None]
            if lacking:
                raise InvalidInputError(f"item {lacking[0]!r} has no text to encode (and no vector was given); give "
                                        "every item a text, or pass the vectors as data")
            as_texts = [t for t in text_list if t is not None]
        if not n:
            vecs = np.zeros((0, self.dim), np.float32)
        else:
            vecs = self._vectors_of(as_texts if as_texts is not None else data, n)
        metas = list(metadata) if metadata is not None else [None] * n
        if len(metas) != n:
            raise InvalidInputError(f"{len(metas)} metadata entries for {n} keys")
        out = [clean_metadata(m, f"metadata of {k!r}") for k, m in zip(keys, metas, strict=True)]
        return keys, vecs, out, text_list

    def _vectors_of(self, data: Any, n: int) -> npt.NDArray[np.float32]:
        texts = _strings(data)
        if texts is not None:
            if self._encoder is None:
                self._encoder = self._load_encoder()
            data = np.asarray(self._encoder.encode(texts, progress=False))
        else:
            vid = getattr(data, "space_id", None)
            own = (self._info.get("encoder") or {}).get("space_id")
            if self._encoder is not None and own is None:
                own = self._encoder.space_id
            if vid is not None and own is not None and vid != own:
                name = getattr(data, "space_name", vid)
                mine = self._space_name()
                raise IncompatibleSpaceError(f"these vectors come from another space ({name}) than this collection's "
                                             f"encoder ({mine}): {mixing_error(name, mine)}")
            data = _matrix(data)
        arr = np.asarray(data, dtype=np.float32)
        if arr.ndim == 1 and n == 1:
            arr = arr[None, :]
        if arr.ndim != 2 or arr.shape[0] != n:
            raise InvalidInputError(f"expected {n} vectors, got an array of shape {arr.shape}")
        if arr.shape[1] != self.dim:
            raise DimensionMismatchError(int(arr.shape[1]), self.dim, what="the vectors")
        if not np.isfinite(arr).all():
            raise InvalidInputError("vectors contain NaN or Inf")
        if self.metric == "cosine":
            if (_linalg.row_sq_norms(arr) == 0).any():
                raise InvalidInputError("a zero vector has no direction; cosine collections cannot hold it")
            arr = _linalg.unit_rows(arr)
        return np.ascontiguousarray(arr, dtype=np.float32)

    @property
    def encoder_spec(self) -> str | None:
        """What names this collection's encoder (for :func:`~embspace.encoders.get_encoder`), or None."""
        info = self._info.get("encoder")
        return None if not info else str(info["spec"])

    @property
    def encoder(self) -> Any:
        """The encoder of texts added and searched (loaded on first use), or None without one."""
        if self._encoder is None and self._info.get("encoder"):
            self._encoder = self._load_encoder()
        return self._encoder

    @encoder.setter
    def encoder(self, enc: Any) -> None:
        """Use ``enc`` (e.g. one instance shared by several collections); it must make vectors of the space
        this collection was built with."""
        own = (self._info.get("encoder") or {}).get("space_id")
        if own is None:
            raise InvalidInputError("this collection has no encoder; create it with encoder=... to add texts")
        if getattr(enc, "space_id", None) != own:
            theirs = enc.provenance.describe() if hasattr(enc, "provenance") else repr(getattr(enc, "name", enc))
            mine = self._space_name()
            raise IncompatibleSpaceError(f"the encoder {theirs} makes vectors of another space than the one this "
                                         f"collection was built with ({mine}): {mixing_error(theirs, mine)}")
        self._encoder = enc

    def _space_name(self) -> str:
        """The description of this collection's space (its encoder's provenance), for error messages."""
        info = self._info.get("encoder") or {}
        prov = info.get("provenance")
        if not prov:
            return "vectors added without an encoder"
        return Provenance(model=prov["model"], config=prov["config"]).describe()

    def _load_encoder(self) -> Any:
        enc_info = self._info.get("encoder")
        if not enc_info:
            raise InvalidInputError("this collection has no encoder: add vectors, not texts (or create it with "
                                    "encoder=...)")
        from ..encoders import get_encoder

        cut = (enc_info.get("provenance") or {}).get("config", {}).get("truncate_dim")
        enc = get_encoder(enc_info["spec"], **({} if cut is None else {"dim": int(cut)}))  # as it was created
        if enc.space_id != enc_info["space_id"]:
            raise IncompatibleSpaceError(f"the encoder {enc.name} loaded now makes vectors of another space than "
                                         "the one this collection was built with (model revision changed?)")
        return enc

    def _query_vectors(self, query: Any) -> tuple[npt.NDArray[np.float32], bool, set[str]]:
        """(queries (nq, dim), single?, keys to exclude) for a vector, vectors, a text, texts, or a key."""
        if isinstance(query, str):
            if query in self and self._info.get("encoder") is None:
                return self._vectors_of(self.get([query], strict=True)[0]["vector"], 1), True, {query}
            return self._vectors_of([query], 1), True, set()
        if isinstance(query, Sequence) and query and all(isinstance(q, str) for q in query):
            return self._vectors_of(list(query), len(query)), False, set()
        arr = np.asarray(query, dtype=np.float32)
        single = arr.ndim == 1
        if single:
            query = query.reshape(1, -1) if isinstance(query, np.ndarray) else arr.reshape(1, -1)
        return self._vectors_of(query, 1 if single else arr.shape[0]), single, set()

    def _search_input(self, query: Any, key: str | None, k: int
                      ) -> tuple[npt.NDArray[np.float32], bool, set[str]]:
        """The checked arguments of :meth:`search`: (queries, single?, keys to exclude)."""
        if k < 1:
            raise InvalidInputError(f"k must be positive, got {k}")
        if (query is None) == (key is None):
            raise InvalidInputError("search takes a query or key=, not both and not neither")
        if key is not None:
            return self._vectors_of(self.get([key], strict=True)[0]["vector"], 1), True, {str(key)}
        return self._query_vectors(query)

    # -- import / export -----------------------------------------------------------------------------
    def to_space(self, where: FilterLike = None) -> EmbeddingSpace:
        """The items (matching ``where``) as an EmbeddingSpace."""
        keys, vecs = [], []
        for k, v, _ in self.items(where):
            keys.append(k)
            vecs.append(v)
        matrix = np.stack(vecs) if vecs else np.zeros((0, self.dim), np.float32)
        enc = self._info.get("encoder")
        prov = Provenance(model=enc["provenance"]["model"], config=enc["provenance"]["config"]) if enc else None
        return EmbeddingSpace(keys, matrix, metric=self.metric, provenance=prov,  # type: ignore[arg-type]
                              is_normalized=True if self.metric == "cosine" else None)

    def add_space(self, space: EmbeddingSpace, *, upsert: bool = False, batch: int = 50_000,
                  metadata: Sequence[Metadata] | None = None) -> int:
        """Add every key and vector of ``space`` (it must have this collection's dimension, and, when the
        collection has an encoder and the space names its model, this collection's space: a truncated space
        never goes into a collection of full vectors, nor the reverse), with ``metadata`` (one dict per key,
        in the space's order) when given."""
        if metadata is not None and len(metadata) != len(space):
            raise InvalidInputError(f"{len(metadata)} metadata entries for a space of {len(space)} keys")
        n = 0
        named = space.provenance.model != "unknown"  # vectors of unknown origin: the caller vouches for them
        for s in range(0, len(space), batch):
            keys = list(space.keys[s : s + batch])
            vecs: Any = np.asarray(space.vectors[s : s + batch])
            if named:
                vecs = EmbeddingVector(vecs, space.space_id, space.provenance.describe())
            meta = None if metadata is None else list(metadata[s : s + batch])
            n += self.upsert(keys, vecs, meta) if upsert else self.add(keys, vecs, meta)
        return n

    def add_file(self, path: str | Path, *, text_field: str = "text", key_field: str | None = None,
                 vector_field: str | None = None, metadata_fields: Sequence[str] | None = None,
                 upsert: bool = False, progress: bool | None = None, chunk: int | None = None, overlap: int = 0,
                 include_all: bool = False, cache: bool = True, cache_dir: str | Path | None = None,
                 batch_size: int | None = None, id_field: str | None = None) -> AddReport:
        """Add a saved space, a file of records, or a file or folder of texts; returns how many items were
        added (an int: an :class:`AddReport`, which also says how they came).

        ``path`` is one of

        * a saved space (any format :func:`embspace.load` reads): its keys and vectors, with the metadata
          :func:`~embspace.encoders.file_encoding.encode_file` wrote beside it (``metadata.jsonl``: the
          paths, and the labels of audio files) when that names every key;
        * a file of records (.jsonl[.gz], .csv, .tsv, .parquet): keys from ``key_field``, vectors from
          ``vector_field`` or else the texts of ``text_field`` encoded with the collection's encoder;
          each record's text is stored with it (``search(..., include="text")``), and ``metadata_fields``
          (default: every other field) become its metadata (see :func:`~embspace.encoders.file_encoding.
          read_records`; a named field the file lacks is an error);
        * a .txt file (one text per line, keyed by line number) or a folder of text files (each file one
          text, keyed by its path in the folder, metadata ``path``).

        In a folder, what is not a document is skipped (README, LICENSE, COPYING, CHANGELOG files, hidden
        files, binaries, files that are not UTF-8 text; listed in ``AddReport.skipped``) unless
        ``include_all``. A .parquet file with a ``key`` and a ``vector`` column and none of the field
        arguments is read as a saved space.

        Texts are encoded through the content-hash cache of :mod:`embspace.encoders.file_encoding` (shared
        with ``embspace encode``; ``cache=False`` skips it), so adding texts seen before costs no encoding.
        ``progress`` shows a bar with items/s and ETA on stderr (None: when stderr is a terminal).
        ``chunk`` cuts texts into windows of that many tokens overlapping by ``overlap`` (keys
        ``KEY#N``, metadata ``parent``, ``chunk``, ``start``, ``end``; the window's text is stored), as
        :func:`~embspace.apps.ingest` does; without it, texts longer than the model's maximum are
        truncated and a :class:`~embspace.encoders.text_encoder.TruncationWarning` says how many.
        ``id_field`` is the deprecated name of ``key_field``.
        """
        import sys
        import time

        from ..encoders import file_encoding as fe

        t0 = time.perf_counter()
        if id_field is not None:
            import warnings

            warnings.warn("add_file(id_field=) is deprecated and will be removed in the next release; use "
                          "key_field= (the same meaning)", DeprecationWarning, stacklevel=2)
            if key_field is not None and key_field != id_field:
                raise InvalidInputError(f"key_field={key_field!r} and id_field={id_field!r} disagree; give key_field "
                                        "only")
            key_field = id_field
        if progress is None:
            progress = bool(getattr(sys.stderr, "isatty", lambda: False)())
        p = Path(path).expanduser()
        record_file = p.name.lower().endswith((*_RECORD_SUFFIXES, ".parquet"))
        fields_given = [name for name, value in (("key_field", key_field), ("vector_field", vector_field),
                                                 ("metadata_fields", metadata_fields)) if value is not None]
        if fields_given and not record_file:
            raise InvalidInputError(f"{', '.join(fields_given)} apply to files of records (.jsonl, .csv, .parquet); "
                                    f"{p.name} is {'a folder' if p.is_dir() else 'not one'}, and its items are keyed "
                                    "by path or line")
        texts_ok = bool(self._info.get("encoder")) or self._encoder is not None
        if record_file and not fields_given and p.name.lower().endswith(".parquet") and p.is_file():
            names = set(_parquet_fields(p))
            record_file = not ("vector" in names and names <= _SPACE_COLUMNS)  # else embspace's own space file
        if not record_file:
            space = _saved_space(p, text_field, texts_ok)
            if space is not None:
                if chunk is not None:
                    raise InvalidInputError(f"{p.name} holds vectors, not texts: there is nothing to chunk")
                n = self.add_space(space, upsert=upsert, metadata=_space_metadata(p, space))
                return AddReport(n, seconds=time.perf_counter() - t0)
        skipped: list[tuple[str, str]] = []
        vectors: npt.NDArray[np.float32] | None = None
        texts: list[str | None] | None
        if record_file:
            rec = fe.read_records(p, text_field=text_field, key_field=key_field, vector_field=vector_field,
                                  metadata_fields=metadata_fields)
            keys, texts, metas, vectors = rec.keys, rec.texts, rec.metadata, rec.vectors
            if vectors is not None and chunk is not None:
                raise InvalidInputError(f"{p.name} holds vectors (field {vector_field or 'vector'!r}); chunking "
                                        "applies to texts to encode")
        else:
            items, modality = fe.read_items(p, text_field=text_field, include_all=include_all, skipped=skipped)
            if modality != "text":
                raise InvalidInputError(f"{p} holds {'audio files' if modality == 'audio' else 'images'}; add_file "
                                        f"adds texts (encode the {modality} into a space first with encode_file or "
                                        "`embspace encode DIR --model MODEL -o SPACE`, then add the space)")
            keys = [i.id for i in items]
            texts = [str(i.content) for i in items]
            metas = [dict(i.metadata) for i in items]
        n_chunked = n_encoded = n_cached = n_truncated = 0
        if vectors is None:
            if not texts_ok:
                raise InvalidInputError("this collection has no encoder, so it cannot encode texts; add vectors, or "
                                        "add the texts to a collection created with an encoder")
            to_encode = [t or "" for t in texts or []]
            if chunk is not None:
                keys, to_encode, metas, n_chunked = self._chunked(keys, to_encode, metas, chunk, overlap)
            texts = list(to_encode)
            own = (self._info.get("encoder") or {}).get("space_id")
            if self._encoder is not None:
                own = getattr(self._encoder, "space_id", None)
            got = fe.encode_with_cache(to_encode, lambda: self.encoder, space_id=own if isinstance(own, str) else None,
                                       dim=self.dim, progress=progress, cache=cache, cache_dir=cache_dir,
                                       batch_size=batch_size)
            vectors, n_encoded, n_cached, n_truncated = got.vectors, got.n_encoded, got.n_cached, got.n_truncated
            if n_truncated:
                import warnings

                from ..encoders.text_encoder import TruncationWarning

                limit = getattr(self.encoder, "max_length", None)
                warnings.warn(f"{n_truncated:,} of {len(to_encode):,} texts were longer than the model's maximum"
                              f"{f' ({limit} tokens)' if limit else ''} and were truncated; chunk=TOKENS splits "
                              "them into windows instead", TruncationWarning, stacklevel=2)
        write = self.upsert if upsert else self.add
        n = write(keys, vectors, metas, texts=texts)
        return AddReport(n, n_encoded=n_encoded, n_cached=n_cached, n_truncated=n_truncated, n_chunked=n_chunked,
                         skipped=skipped, seconds=time.perf_counter() - t0)

    def _chunked(self, keys: list[str], texts: list[str], metas: list[dict[str, Any]], size: int, overlap: int
                 ) -> tuple[list[str], list[str], list[dict[str, Any]], int]:
        """Texts cut into token windows by the encoder: keys ``KEY#N`` (when a text has several), the
        window's text, its metadata plus ``parent``, ``chunk``, ``start``, ``end``; and how many were cut."""
        enc = self.encoder
        chunker = getattr(enc, "chunk", None)
        if chunker is None:
            raise InvalidInputError(f"the encoder {getattr(enc, 'name', enc)!r} cannot cut texts by tokens (it has no "
                                    "chunk method); add the texts whole")
        out_keys: list[str] = []
        out_texts: list[str] = []
        out_metas: list[dict[str, Any]] = []
        n_chunked = 0
        for key, meta, parts in zip(keys, metas, chunker(texts, size, overlap), strict=True):
            n_chunked += len(parts) > 1
            for c in parts:
                out_keys.append(f"{key}#{c.index}" if len(parts) > 1 else key)
                out_texts.append(c.text)
                out_metas.append({**meta, "parent": key, "chunk": c.index, "start": c.start, "end": c.end})
        return out_keys, out_texts, out_metas, n_chunked

    def add_dataframe(self, df: Any, *, key: str, vector: str | None = None, text: str | None = None,
                      metadata: Sequence[str] | str | None = None, upsert: bool = False) -> int:
        """Add the rows of a pandas DataFrame or a pyarrow Table, one item per row.

        Parameters
        ----------
        df
            A ``pandas.DataFrame`` or a ``pyarrow.Table``.
        key
            The column of the keys (strings, or integers stored as their decimal text).
        vector
            The column of the vectors (each cell an array or a list of ``dim`` numbers).
        text
            The column of the texts: kept as the items' texts, and encoded with the collection's encoder
            when no ``vector`` column is given. Give ``vector``, ``text`` or both.
        metadata
            The columns to keep as each item's metadata (values by the metadata value rule: NumPy
            scalars, timestamps and NaN are handled, see :meth:`add`). No other column is read.
        upsert
            Replace the items whose key exists (else an existing key is an error, and nothing is added).

        Returns the number of items added. Every argument is applied or refused: a column that is not in
        the frame raises InvalidInputError naming the columns it has.

        >>> import numpy as np, pandas as pd, tempfile
        >>> from embspace.store import Collection
        >>> df = pd.DataFrame({"id": [1, 2], "emb": [np.ones(3), np.arange(1, 4.0)], "lang": ["en", "fr"]})
        >>> col = Collection.create(tempfile.mkdtemp(), dim=3)
        >>> col.add_dataframe(df, key="id", vector="emb", metadata=["lang"])
        2
        >>> col.get([2], vectors=False)[0]
        {'key': '2', 'metadata': {'lang': 'fr'}, 'text': None}
        >>> col.close()
        """
        names, column = _frame_columns(df)
        if isinstance(metadata, str):
            metadata = [metadata]
        meta_cols = list(metadata or [])
        for what, name in [("key", key), ("vector", vector), ("text", text)] + [("metadata", m) for m in meta_cols]:
            if name is None:
                continue
            if not isinstance(name, str) or name not in names:
                raise InvalidInputError(f"{what}={name!r} is not a column of this frame; its columns are: "
                                        f"{', '.join(map(str, names))}")
        if vector is None and text is None:
            raise InvalidInputError("add_dataframe needs vector= (a column of vectors) or text= (a column of texts "
                                    "to encode), or both")
        keys = column(key)
        texts = column(text) if text is not None else None
        data = column(vector) if vector is not None else None
        metas: list[dict[str, Any]] | None = None
        if meta_cols:
            cols = {m: list(column(m)) for m in dict.fromkeys(meta_cols)}
            metas = [dict(zip(cols, row, strict=True)) for row in zip(*cols.values(), strict=True)]
        write = self.upsert if upsert else self.add
        return write(keys, data, metas, texts=texts)

    def to_pandas(self, *, vectors: bool = True, where: FilterLike = None) -> Any:
        """The items (matching ``where``) as a pandas DataFrame: columns ``key``, ``text``, ``vector`` (a float32
        array per row; left out when not ``vectors``), then one column per metadata field (in the order
        first met; a metadata field named ``key``, ``text`` or ``vector`` becomes ``metadata.NAME``). An item
        without a field has None (pandas shows NaN in number columns) there.
        """
        import importlib

        try:
            pd = importlib.import_module("pandas")  # optional; imported by name so that no stubs are needed
        except ImportError:
            from ..errors import MissingDependencyError

            raise MissingDependencyError("pandas", "pandas", "Collection.to_pandas()") from None
        keys: list[str] = []
        texts: list[str | None] = []
        vecs: list[Any] = []
        fields: dict[str, list[Any]] = {}
        for n, rec in enumerate(self.records(where, vectors=vectors)):
            keys.append(rec["key"])
            texts.append(rec["text"])
            if vectors:
                vecs.append(rec["vector"])
            for f, v in rec["metadata"].items():
                col = fields.get(f)
                if col is None:
                    col = fields[f] = [None] * n
                col.append(v)
            for col in fields.values():
                if len(col) < n + 1:
                    col.append(None)
        data: dict[str, Any] = {"key": keys, "text": texts}
        if vectors:
            data["vector"] = vecs
        for f, values in fields.items():
            data[f"metadata.{f}" if f in ("key", "text", "vector") else f] = values
        return pd.DataFrame(data)

    def export_jsonl(self, path: str | Path, where: FilterLike = None) -> int:
        """Write ``{"key", "vector", "metadata", "text"}`` lines; returns the number written."""
        from .._atomic import atomic_path

        n = 0
        with atomic_path(Path(path)) as tmp, open(tmp, "w", encoding="utf-8") as f:
            for rec in self.records(where):
                f.write(json.dumps({"key": rec["key"], "vector": rec["vector"].tolist(), "metadata": rec["metadata"],
                                    "text": rec["text"]}, ensure_ascii=False) + "\n")
                n += 1
        return n

    def export_parquet(self, path: str | Path, where: FilterLike = None) -> int:
        """Write a Parquet table (key, vector as fixed-size list, metadata as JSON text, text)."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        from .._atomic import atomic_path

        keys, vecs, metas, texts = [], [], [], []
        for rec in self.records(where):
            keys.append(rec["key"])
            vecs.append(rec["vector"])
            metas.append(json.dumps(rec["metadata"], ensure_ascii=False))
            texts.append(rec["text"])
        flat = pa.array(np.concatenate(vecs) if vecs else np.zeros(0, np.float32))
        table = pa.table({"key": keys, "vector": pa.FixedSizeListArray.from_arrays(flat, self.dim),
                          "metadata": metas, "text": pa.array(texts, pa.string())})
        with atomic_path(Path(path)) as tmp:
            pq.write_table(table, tmp)
        return len(keys)
