"""word2vec C text format, fastText ``.vec`` (both with an ``n dim`` header) and GloVe text (none)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, NoReturn

import numpy as np

from ..._types import FloatArray
from ...errors import CorruptDataError
from ..embedding_space import EmbeddingSpace
from ._common import check_text_keys, imported_space, open_binary, read_all

_CHUNK = 20_000  # lines converted to float at once


def parse_header(line: bytes) -> tuple[int, int] | None:
    """``(n, dim)`` when ``line`` is a word2vec header ("n dim"), else ``None``."""
    parts = line.split()
    if len(parts) == 2 and parts[0].isdigit() and parts[1].isdigit():
        return int(parts[0]), int(parts[1])
    return None


def _decode(path: Path, raw: bytes, lineno: int) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise CorruptDataError(
            path, f"not valid UTF-8 (byte 0x{raw[e.start]:02x} at column {e.start + 1})", line=lineno
        ) from None


def read_text(path: Path, *, header: bool | None = None, **options: Any) -> EmbeddingSpace:
    """Read a text vector file; ``header=None`` detects the word2vec/fastText header."""
    raw = read_all(path)
    lines = raw.split(b"\n")
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines:
        raise CorruptDataError(path, "empty file", line=1)
    first = 1
    expected_n: int | None = None
    dim: int | None = None
    head = parse_header(lines[0]) if header is not False else None
    if header and head is None:
        raise CorruptDataError(path, "expected a header line 'count dimension'", line=1)
    if head is not None:
        expected_n, dim = head
        if dim == 0:
            raise CorruptDataError(path, "header gives dimension 0", line=1)
        lines = lines[1:]
        first = 2
    if expected_n is not None and len(lines) != expected_n:
        what = "truncated" if len(lines) < expected_n else "has extra lines"
        raise CorruptDataError(path, f"header promises {expected_n} vectors but the file has {len(lines)} "
                                     f"({what})", line=first + min(len(lines), expected_n))
    keys: list[str] = []
    blocks: list[FloatArray] = []
    for c0 in range(0, len(lines), _CHUNK):
        values: list[str] = []
        for j, rawline in enumerate(lines[c0 : c0 + _CHUNK]):
            lineno = first + c0 + j
            parts = _decode(path, rawline, lineno).split()
            if not parts:
                raise CorruptDataError(path, "empty line", line=lineno)
            if dim is None:
                dim = len(parts) - 1
                if dim == 0:
                    raise CorruptDataError(path, f"key {parts[0]!r} has no values", line=lineno)
            if len(parts) != dim + 1:
                raise CorruptDataError(path, f"expected a key and {dim} values, found {len(parts) - 1} "
                                             "values", line=lineno)
            keys.append(parts[0])
            values.extend(parts[1:])
        try:
            with np.errstate(over="ignore"):  # beyond float32 becomes inf, refused with its line
                blocks.append(np.array(values, dtype=np.float32).reshape(-1, dim if dim is not None else 1))
        except ValueError:
            _locate_bad_value(path, lines, c0, first)
    vectors = np.concatenate(blocks) if blocks else np.empty((0, dim or 1), np.float32)
    return imported_space(path, keys, vectors, first_line=first, **options)


def _locate_bad_value(path: Path, lines: list[bytes], c0: int, first: int) -> NoReturn:
    """Raise the error naming the first value of the chunk that NumPy cannot parse."""
    for j, rawline in enumerate(lines[c0 : c0 + _CHUNK]):
        parts = rawline.decode("utf-8").split()[1:]
        for col, tok in enumerate(parts):
            try:
                with np.errstate(over="ignore"):
                    np.array(tok, dtype=np.float32)  # the parser the chunk used, not float()
            except ValueError:
                raise CorruptDataError(path, f"value #{col + 1} {tok!r} is not a number",
                                       line=first + c0 + j) from None
    raise CorruptDataError(path, "unparseable values", line=first + c0)


def write_text(space: EmbeddingSpace, path: Path, *, header: bool = True, fmt: str = "word2vec") -> None:
    """Write word2vec/fastText text (``header=True``) or GloVe text (``header=False``).

    Values are written with 9 significant digits, which round-trips float32 exactly.
    """
    check_text_keys(space.keys, fmt)
    vectors = space.vectors
    with open_binary(path, "wb") as f:
        if header:
            f.write(f"{len(space)} {space.dim}\n".encode())
        for r0 in range(0, len(space), _CHUNK):
            block = vectors[r0 : r0 + _CHUNK].tolist()
            keys = space.keys[r0 : r0 + _CHUNK]
            text = "".join(k + " " + " ".join([f"{v:.9g}" for v in row]) + "\n"
                           for k, row in zip(keys, block, strict=True))
            f.write(text.encode("utf-8"))
