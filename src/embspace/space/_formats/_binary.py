"""word2vec C binary format: an ``n dim`` header line, then per vector ``key<space>`` and dim float32."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ...errors import CorruptDataError
from ..embedding_space import EmbeddingSpace
from ._common import check_text_keys, imported_space, open_binary, read_all
from ._text import parse_header


def read_binary(path: Path, **options: Any) -> EmbeddingSpace:
    raw = read_all(path)
    if not raw.strip():
        raise CorruptDataError(path, "empty file")
    nl = raw.find(b"\n")
    head = parse_header(raw[: nl if nl >= 0 else len(raw)])
    if head is None:
        raise CorruptDataError(path, "expected a header line 'count dimension'", line=1)
    n, dim = head
    if dim == 0:
        raise CorruptDataError(path, "header gives dimension 0", line=1)
    width = 4 * dim
    pos = nl + 1
    size = len(raw)
    keys: list[str] = []
    # A record takes at least width + 1 bytes (a space and the floats), so record i can only be
    # whole if (i + 1) * (width + 1) bytes follow the header: never allocate more rows than that,
    # whatever the header promises (a corrupt header is a CorruptDataError, not a MemoryError).
    vectors = np.empty((min(n, (size - pos) // (width + 1)), dim), np.float32)
    for i in range(n):
        while pos < size and raw[pos] in b"\n\r":
            pos += 1
        sp = raw.find(b" ", pos)
        if sp < 0 or sp + 1 + width > size:
            raise CorruptDataError(path, f"truncated at record {i + 1} of {n} the header promises "
                                         f"(byte offset {pos})")
        try:
            keys.append(raw[pos:sp].decode("utf-8"))
        except UnicodeDecodeError:
            raise CorruptDataError(path, f"record {i + 1}: key is not valid UTF-8 "
                                         f"(byte offset {pos})") from None
        vectors[i] = np.frombuffer(raw, dtype="<f4", count=dim, offset=sp + 1)
        pos = sp + 1 + width
    if raw[pos:].strip():
        raise CorruptDataError(path, f"data after the {n} records the header promises (byte offset {pos})")
    return imported_space(path, keys, vectors[:n], unit="record", **options)


def write_binary(space: EmbeddingSpace, path: Path) -> None:
    """Write the word2vec C binary format (a newline after each vector, as the C tool does)."""
    check_text_keys(space.keys, "word2vec binary")
    vectors = space.vectors
    with open_binary(path, "wb") as f:
        f.write(f"{len(space)} {space.dim}\n".encode())
        for key, row in zip(space.keys, vectors, strict=True):
            f.write(key.encode("utf-8") + b" " + row.astype("<f4").tobytes() + b"\n")
