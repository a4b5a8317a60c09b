"""Parquet and Arrow IPC (Feather v2): a string key column and a fixed-size-list float32 vector column.

embspace writes its metric, normalisation flag and provenance into the schema metadata (key
``embspace``), so they survive a round trip; files from other tools load with default settings.
An optional integer ``count`` column carries frequencies.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from ..._atomic import atomic_path
from ..._types import METRICS, FloatArray
from ...errors import CorruptDataError, InvalidInputError
from .._frames import META_KEY, list_matrix, space_to_table
from ..embedding_space import EmbeddingSpace
from ..provenance import Provenance
from ._common import imported_space


def _read_table(path: Path, fmt: str) -> Any:
    import pyarrow as pa
    import pyarrow.feather as feather
    import pyarrow.parquet as pq

    try:
        return pq.read_table(path) if fmt == "parquet" else feather.read_table(path)
    except (pa.ArrowInvalid, pa.ArrowIOError, OSError) as e:
        if isinstance(e, FileNotFoundError):
            raise
        raise CorruptDataError(path, f"not a readable {fmt} file: {e}") from None


def _pick(table: Any, wanted: str | None, default: str, ok: Any, what: str, path: Path) -> str:
    names = table.column_names
    if wanted is not None:
        if wanted not in names:
            raise CorruptDataError(path, f"no column {wanted!r}; columns are {names}")
        return wanted
    if default in names:
        return default
    for name in names:
        if ok(table.schema.field(name).type):
            return str(name)
    raise CorruptDataError(path, f"no {what} column found among {names}; name it {default!r}")


def read_arrow(path: Path, *, fmt: str = "parquet", key_column: str | None = None,
               vector_column: str | None = None, **options: Any) -> EmbeddingSpace:
    import pyarrow.types as pt

    table = _read_table(path, fmt)
    if table.num_rows == 0:
        raise CorruptDataError(path, "no rows")
    kcol = _pick(table, key_column, "key", lambda t: pt.is_string(t) or pt.is_large_string(t), "key", path)
    vcol = _pick(table, vector_column, "vector",
                 lambda t: pt.is_fixed_size_list(t) or pt.is_list(t) or pt.is_large_list(t), "vector", path)
    keys_arr = table.column(kcol).combine_chunks()
    if keys_arr.null_count:
        raise CorruptDataError(path, f"row {_first_null(keys_arr) + 1}: null key")
    keys = [str(k) for k in keys_arr.to_pylist()]
    col = table.column(vcol).combine_chunks()
    if col.null_count:
        raise CorruptDataError(path, f"row {_first_null(col) + 1}: null vector")
    vectors = _matrix(col, path)
    counts = None
    if "count" in table.column_names and pt.is_integer(table.schema.field("count").type):
        count_col = table.column("count").combine_chunks()
        if count_col.null_count:
            raise CorruptDataError(path, f"row {_first_null(count_col) + 1}: null count")
        counts = np.asarray(count_col.to_numpy(), dtype=np.int64)
    extra: dict[str, Any] = {}
    meta = (table.schema.metadata or {}).get(META_KEY)
    if meta:
        try:
            m = json.loads(meta)
            extra["provenance"] = Provenance.from_dict(m["provenance"])
            if m.get("metric") in METRICS:
                extra["metric"] = m["metric"]
        except (ValueError, KeyError, TypeError) as e:
            raise CorruptDataError(path, f"invalid embspace metadata: {e}") from None
    return imported_space(path, keys, vectors, counts=counts, unit="row", **{**extra, **options})


def _first_null(arr: Any) -> int:
    return int(np.nonzero(~np.asarray(arr.is_valid().to_numpy(zero_copy_only=False)))[0][0])


def _matrix(col: Any, path: Path) -> FloatArray:
    def fail(row: int | None, reason: str) -> CorruptDataError:
        return CorruptDataError(path, reason if row is None else f"row {row + 1}: {reason}")

    return list_matrix(col, fail)


def write_arrow(space: EmbeddingSpace, path: Path, *, fmt: str = "parquet") -> None:
    import pyarrow.feather as feather
    import pyarrow.parquet as pq

    if len(space) == 0:
        raise InvalidInputError("cannot write an empty space")
    table = space_to_table(space)
    with atomic_path(path) as tmp:
        if fmt == "parquet":
            pq.write_table(table, tmp)
        else:
            feather.write_feather(table, tmp, compression="uncompressed")
