"""word2vec C text format, fastText ``.vec`` (both with an ``n dim`` header) and GloVe text (none)."""

from __future__ import annotations

import lzma
from pathlib import Path
from typing import Any, NoReturn

import numpy as np

from ..._types import FloatArray
from ...errors import CorruptDataError
from ..embedding_space import EmbeddingSpace
from ._common import check_text_keys, decode_failure, imported_space, open_binary, read_all

_CHUNK = 20_000  # lines converted to float at once
# Trailing bytes stripped from a line: gensim strips all ASCII whitespace (``line.rstrip()`` on bytes);
# fastText's .vec writer leaves a space after the last value and Windows files end lines with \r.
_TRAILING = " \t\r\n\x0b\x0c"


def parse_header(line: bytes) -> tuple[int, int] | None:
    """``(n, dim)`` when ``line`` is a word2vec header ("n dim"), else ``None``."""
    parts = line.split()
    if len(parts) == 2 and parts[0].isdigit() and parts[1].isdigit():
        return int(parts[0]), int(parts[1])
    return None


def split_fields(text: str) -> list[str]:
    """The key and the values of a decoded line, split as word2vec.c and gensim split them.

    Fields are separated by the ASCII space only. word2vec.c writes ``fprintf("%s ", word)`` then
    each value followed by ``' '`` (text), or the word, ``' '`` and the floats (binary), and its
    distance.c reads a binary key as the bytes up to ``' '`` (newlines dropped); gensim reads a
    text line as ``line.rstrip().split(" ")`` (``keyedvectors._word2vec_line_to_vector``) and a
    binary key up to ``b' '`` (``_add_bytes_to_kv``). So any other whitespace (a tab, a
    non-breaking space U+00A0, U+3000...) is part of the key, where Python's ``str.split()`` would
    cut it. Unlike gensim, runs of spaces count as one separator, so a double space is not an
    empty value.
    """
    parts = text.rstrip(_TRAILING).split(" ")
    if "" in parts:
        parts = [p for p in parts if p]
    return parts


def _decode(path: Path, raw: bytes, lineno: int, encoding: str = "utf-8", errors: str = "strict") -> str:
    try:
        return raw.decode(encoding, errors)
    except UnicodeDecodeError as e:
        raise CorruptDataError(path, decode_failure(encoding, raw, e), line=lineno) from None


def _read_lines(path: Path, max_lines: int | None) -> list[bytes]:
    """The lines of the file (without their ``\n``); with ``max_lines``, only the first ones are read."""
    if max_lines is None:
        return read_all(path).split(b"\n")
    lines: list[bytes] = []
    try:
        with open_binary(path) as f:
            for raw in f:
                lines.append(raw[:-1] if raw.endswith(b"\n") else raw)
                if len(lines) >= max_lines:
                    break
    except (OSError, EOFError, lzma.LZMAError) as e:
        if isinstance(e, FileNotFoundError | PermissionError | IsADirectoryError):
            raise
        raise CorruptDataError(path, f"cannot decompress: {e}") from e
    return lines


def read_text(path: Path, *, header: bool | None = None, encoding: str = "utf-8",
              unicode_errors: str = "strict", limit: int | None = None, **options: Any) -> EmbeddingSpace:
    """Read a text vector file; ``header=None`` detects the word2vec/fastText header.

    ``encoding`` and ``unicode_errors`` decode each line (as ``bytes.decode`` does); ``limit`` reads
    only the first ``limit`` vectors and leaves the rest of the file unread.
    """
    lines = _read_lines(path, None if limit is None else limit + 1)
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
    elif limit is not None:
        lines = lines[:limit]  # no header: the line read for it is a vector too many
    if expected_n is not None:
        want = expected_n if limit is None else min(expected_n, limit)
        if len(lines) < want or (len(lines) > expected_n):
            what = "truncated" if len(lines) < want else "has extra lines"
            raise CorruptDataError(path, f"header promises {expected_n} vectors but the file has "
                                         f"{len(lines)} ({what})", line=first + min(len(lines), want))
        lines = lines[:want]
    keys: list[str] = []
    blocks: list[FloatArray] = []
    for c0 in range(0, len(lines), _CHUNK):
        values: list[str] = []
        for j, rawline in enumerate(lines[c0 : c0 + _CHUNK]):
            lineno = first + c0 + j
            parts = split_fields(_decode(path, rawline, lineno, encoding, unicode_errors))
            if not parts:
                raise CorruptDataError(path, "empty line", line=lineno)
            if dim is None:
                dim = len(parts) - 1
                if dim == 0:
                    raise CorruptDataError(path, f"key {parts[0]!r} has no values{_tab_hint(parts)}",
                                           line=lineno)
            if len(parts) != dim + 1:
                raise CorruptDataError(path, f"expected a key and {dim} values, found {len(parts) - 1} "
                                             f"values{_tab_hint(parts)}", line=lineno)
            keys.append(parts[0])
            values.extend(parts[1:])
        try:
            with np.errstate(over="ignore"):  # beyond float32 becomes inf, refused with its line
                blocks.append(np.array(values, dtype=np.float32).reshape(-1, dim if dim is not None else 1))
        except ValueError:
            _locate_bad_value(path, lines, c0, first, encoding, unicode_errors)
    vectors = np.concatenate(blocks) if blocks else np.empty((0, dim or 1), np.float32)
    return imported_space(path, keys, vectors, first_line=first, unicode_errors=unicode_errors, **options)


def _tab_hint(parts: list[str]) -> str:
    if any("\t" in p for p in parts):
        return ("; fields are separated by single spaces (as word2vec.c and gensim write them), and a tab "
                "is part of the key or value it is in")
    return ""


def _locate_bad_value(path: Path, lines: list[bytes], c0: int, first: int, encoding: str,
                      errors: str) -> NoReturn:
    """Raise the error naming the first value of the chunk that NumPy cannot parse."""
    for j, rawline in enumerate(lines[c0 : c0 + _CHUNK]):
        parts = split_fields(rawline.decode(encoding, errors))[1:]
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
