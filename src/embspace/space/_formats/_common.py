"""Shared pieces of the format readers: compressed files, key checks, finishing a space."""

from __future__ import annotations

import bz2
import gzip
import lzma
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any

import numpy as np

from ..._types import METRICS, FloatArray, Metric
from ...errors import CorruptDataError, InvalidInputError
from ..embedding_space import EmbeddingSpace, content_hash
from ..provenance import Provenance

COMPRESSED: dict[str, Callable[..., Any]] = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}


def strip_compression(path: Path) -> tuple[Path, str | None]:
    """``a.txt.gz`` -> (``a.txt``, ``".gz"``)."""
    if path.suffix.lower() in COMPRESSED:
        return path.with_suffix(""), path.suffix.lower()
    return path, None


def open_binary(path: Path, mode: str = "rb") -> IO[bytes]:
    opener: Callable[..., Any] = COMPRESSED.get(path.suffix.lower()) or open
    f: IO[bytes] = opener(path, mode)
    return f


def read_all(path: Path) -> bytes:
    try:
        with open_binary(path) as f:
            return f.read()
    except (OSError, EOFError, lzma.LZMAError) as e:
        if isinstance(e, FileNotFoundError | PermissionError | IsADirectoryError):
            raise
        raise CorruptDataError(path, f"cannot decompress: {e}") from e


def check_text_keys(keys: Sequence[str], fmt: str) -> None:
    for i, k in enumerate(keys):
        if not k or any(ch.isspace() for ch in k):
            raise InvalidInputError(
                f"key #{i} {k!r} is empty or contains whitespace, which the {fmt} format cannot store; "
                "use the embspace, parquet or arrow format for such keys"
            )


def imported_space(path: Path, keys: list[str], vectors: FloatArray, *, metric: Metric = "cosine",
                   counts: Any = None, provenance: Provenance | None = None,
                   normalized: bool | None = None, first_line: int = 1, unit: str = "line") -> EmbeddingSpace:
    """Validate what a reader produced (duplicates, NaN/Inf) and build the space.

    Entry ``i`` is reported as ``unit`` number ``first_line + i`` (a line of a text file, a record
    of a binary file, a row of a table).
    """
    if metric not in METRICS:  # the caller's option, not the file's fault
        raise InvalidInputError(f"unknown metric {metric!r}; expected one of {', '.join(METRICS)}")
    if len(keys) == 0:
        raise CorruptDataError(path, "no vectors in file")

    def fail(i: int, reason: str) -> CorruptDataError:
        if unit == "line":
            return CorruptDataError(path, reason, line=first_line + i)
        return CorruptDataError(path, f"{unit} {first_line + i}: {reason}")

    seen: dict[str, int] = {}
    for i, k in enumerate(keys):
        if k in seen:
            raise fail(i, f"duplicate key {k!r}, first seen at {unit} {first_line + seen[k]}")
        seen[k] = i
    bad = ~np.isfinite(vectors)
    if bad.any():
        row = int(np.nonzero(bad.any(axis=1))[0][0])
        raise fail(row, f"vector of {keys[row]!r} contains NaN or Inf (or a value beyond the float32 range)")
    prov = provenance or Provenance.from_content("unknown", content_hash(keys, vectors))
    try:
        return EmbeddingSpace(keys, vectors, metric=metric, counts=counts, provenance=prov, copy=False,
                              is_normalized=normalized)
    except InvalidInputError as e:  # what the file holds is unusable (negative counts...)
        raise CorruptDataError(path, str(e)) from None


