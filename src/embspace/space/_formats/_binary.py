"""word2vec C binary format: an ``n dim`` header line, then per vector ``key<space>`` and dim float32."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ...errors import CorruptDataError
from ..embedding_space import EmbeddingSpace
from ._common import ByteStream, check_text_keys, decode_advice, encoding_label, imported_space, open_binary, reading
from ._text import parse_header


def read_binary(path: Path, *, encoding: str = "utf-8", unicode_errors: str = "strict",
                limit: int | None = None, **options: Any) -> EmbeddingSpace:
    """Read the word2vec C binary format.

    A key is the bytes up to the first ' ' after the previous vector (newlines before it skipped),
    as word2vec.c's distance.c and gensim's ``_add_bytes_to_kv`` read it: other whitespace stays
    in the key.
    ``encoding``/``unicode_errors`` decode the keys; ``limit`` reads only the first ``limit``
    records and leaves the rest of the file unread.
    """
    with reading(path) as f:
        return _read(path, ByteStream(path, f), encoding, unicode_errors, limit, options)


def _read(path: Path, stream: ByteStream, encoding: str, unicode_errors: str, limit: int | None,
          options: dict[str, Any]) -> EmbeddingSpace:
    first = stream.read_until(b"\n")
    if first is None:  # no newline at all: a header alone, or nothing
        first = stream.rest()
    if not first.strip() and stream.rest_is_blank():
        raise CorruptDataError(path, "empty file")
    head = parse_header(first)
    if head is None:
        raise CorruptDataError(path, "expected a header line 'count dimension'", line=1)
    n, dim = head
    if dim == 0:
        raise CorruptDataError(path, "header gives dimension 0", line=1)
    want = n if limit is None else min(n, limit)
    width = 4 * dim
    keys: list[str] = []
    # Grow the matrix as records arrive: a corrupt header promising 10^12 records (or dimensions)
    # is a CorruptDataError at the first missing one, not a MemoryError.
    vectors = np.empty((0, dim), np.float32)
    for i in range(want):
        pos = stream.offset
        raw = stream.read_until(b" ", skip=b"\n\r")
        data = stream.read(width) if raw is not None else None
        if raw is None or data is None:
            raise CorruptDataError(path, f"truncated at record {i + 1} of {n} the header promises "
                                         f"(byte offset {pos})")
        try:
            keys.append(raw.decode(encoding, unicode_errors))
        except UnicodeDecodeError as e:
            raise CorruptDataError(path, f"record {i + 1}: key is not valid {encoding_label(encoding)} "
                                         f"(byte offset {pos + e.start}); {decode_advice(encoding)}"
                                   ) from None
        if i == len(vectors):
            grown = np.empty((min(want, max(1024, 2 * len(vectors))), dim), np.float32)
            grown[:i] = vectors
            vectors = grown
        vectors[i] = np.frombuffer(data, dtype="<f4", count=dim)
    tail = stream.offset
    if want == n and not stream.rest_is_blank():
        raise CorruptDataError(path, f"data after the {n} records the header promises (byte offset {tail})")
    return imported_space(path, keys, vectors[:want], unit="record", unicode_errors=unicode_errors,
                          **options)


def write_binary(space: EmbeddingSpace, path: Path) -> None:
    """Write the word2vec C binary format (a newline after each vector, as the C tool does)."""
    check_text_keys(space.keys, "word2vec binary")
    vectors = space.vectors
    with open_binary(path, "wb") as f:
        f.write(f"{len(space)} {space.dim}\n".encode())
        for key, row in zip(space.keys, vectors, strict=True):
            f.write(key.encode("utf-8") + b" " + row.astype("<f4").tobytes() + b"\n")
