"""Load and save EmbeddingSpaces in every supported format, detecting the format from the path.

=================== ============================================ =====================================
format              files                                        notes
=================== ============================================ =====================================
``embspace``        a directory: vectors.npy, keys.json, meta    memory-mapped on load; keeps metric,
                    .json (+ counts.npy)                         normalisation, counts, provenance
``word2vec``        text, ``n dim`` header, ``key v1 .. vd``     ``.txt``; ``.gz``/``.bz2``/``.xz`` ok
``word2vec-binary`` ``n dim`` header, ``key`` + d float32        ``.bin``; the C tool's format
``fasttext``        ``.vec`` text, as word2vec text
``glove``           text without header                          detected when no header
``numpy``           ``name.npy`` + ``name.keys.txt``             never unpickles
``parquet``         key column + fixed-size-list vector column   keeps metric and provenance
``arrow``           the same as Arrow IPC / Feather v2           ``.arrow``, ``.feather``, ``.ipc``
=================== ============================================ =====================================

Text formats cannot hold keys with whitespace; writing such a space to them is an error that
names the key. Reading never half-loads: a bad file raises :class:`~embspace.errors.CorruptDataError`
naming the file and line (or record/row) before any space exists.
"""

from __future__ import annotations

import lzma
from pathlib import Path
from typing import Any, Literal, get_args

from .._artifact import artifact_kind, kind_phrase
from .._atomic import atomic_path
from ..errors import CorruptDataError, InvalidInputError, UnknownFormatError
from ._formats._arrow import read_arrow, write_arrow
from ._formats._binary import read_binary, write_binary
from ._formats._common import open_binary, strip_compression
from ._formats._numpy import read_numpy, write_numpy
from ._formats._own import is_own_dir, read_own, write_own
from ._formats._text import parse_header, read_text, write_text
from .embedding_space import EmbeddingSpace

__all__ = ["FORMATS", "FormatName", "detect_format", "load", "save"]

FormatName = Literal["embspace", "word2vec", "word2vec-binary", "fasttext", "glove", "numpy", "parquet",
                     "arrow"]
FORMATS: tuple[str, ...] = get_args(FormatName)

_BY_SUFFIX: dict[str, FormatName] = {
    ".bin": "word2vec-binary", ".vec": "fasttext", ".npy": "numpy", ".parquet": "parquet", ".pq": "parquet",
    ".arrow": "arrow", ".feather": "arrow", ".ipc": "arrow", ".txt": "word2vec", ".w2v": "word2vec",
}
_TEXTUAL = {"word2vec", "word2vec-binary", "fasttext", "glove"}
_SNIFF_BYTES = 1 << 16


def _check_format(fmt: str) -> FormatName:
    if fmt not in FORMATS:
        raise UnknownFormatError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    return fmt  # type: ignore[return-value]


def _text_row(line: bytes, columns: int, complete: bool) -> bool:
    """Whether ``line`` reads as a text row of a key and ``columns - 1`` numbers.

    An incomplete line (cut by the sniffing window) only has to start like one.
    """
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as e:
        if complete or e.start < len(line) - 3:  # only a character cut at the very end is fine
            return False
        text = line[: e.start].decode("utf-8")
    parts = text.split()
    if complete:
        if len(parts) != columns:
            return False
        values = parts[1:]
    else:
        if not 2 <= len(parts) <= columns:
            return False
        values = parts[1:-1]  # the last number may be cut
    try:
        for v in values:
            float(v)
    except ValueError:
        return False
    return True


def _binary_records(rest: bytes, n: int, dim: int, whole: bool) -> bool:
    """Whether ``rest`` (the bytes after the header) parses as word2vec binary records.

    Records cut by the end of the sniffing window count as fine; at least one must be whole.
    """
    pos, seen, width = 0, 0, 4 * dim
    while seen < n:
        while pos < len(rest) and rest[pos] in b"\n\r":
            pos += 1
        sp = rest.find(b" ", pos)
        if sp < 0 or sp + 1 + width > len(rest):
            return not whole and seen > 0
        try:
            rest[pos:sp].decode("utf-8")
        except UnicodeDecodeError:
            return False
        pos = sp + 1 + width
        seen += 1
    return not whole or not rest[pos:].strip()


def _sniff(path: Path, prefer_binary: bool = False) -> FormatName:
    """Tell word2vec text, word2vec binary and GloVe text apart from the first bytes."""
    try:
        with open_binary(path) as f:
            head = f.read(_SNIFF_BYTES + 1)
    except (OSError, EOFError, lzma.LZMAError) as e:
        if isinstance(e, FileNotFoundError | PermissionError | IsADirectoryError):
            raise
        raise CorruptDataError(path, f"cannot read: {e}") from None
    whole = len(head) <= _SNIFF_BYTES
    head = head[:_SNIFF_BYTES]
    if not head.strip():
        raise CorruptDataError(path, "empty file", line=1)
    first, _, rest = head.partition(b"\n")
    parsed = parse_header(first)
    if parsed is None:
        return "glove"
    n, dim = parsed
    if not rest.strip():
        return "word2vec"  # a header alone: the reader says there are no vectors
    second = rest.split(b"\n", 1)[0]
    complete = whole or b"\n" in rest
    as_text = dim > 0 and _text_row(second, dim + 1, complete)
    as_binary = dim > 0 and _binary_records(rest, n, dim, whole)
    if as_text and as_binary:
        return "word2vec-binary" if prefer_binary else "word2vec"
    # A GloVe file of dimension 1 whose first row is "<word> <integer>" looks like a header;
    # the number of rows that follow tells them apart.
    rows_disagree = whole and sum(1 for ln in rest.split(b"\n") if ln.strip()) != n
    as_glove = complete and _text_row(second, 2, True) and (dim == 0 or rows_disagree)
    if as_text:
        return "glove" if as_glove and dim == 1 else "word2vec"
    if as_binary:
        return "word2vec-binary"
    if as_glove:
        return "glove"
    # Neither parses: report the errors of the more likely reader.
    return "word2vec" if _looks_textual(second) and not prefer_binary else "word2vec-binary"


def _looks_textual(line: bytes) -> bool:
    """UTF-8 without control characters: a text line (float32 bytes nearly always fail this)."""
    if any(c < 0x20 and c not in b"\t\r\x0b\x0c" for c in line):
        return False
    try:
        line.decode("utf-8")
    except UnicodeDecodeError as e:
        return e.start >= len(line) - 3  # a character cut by the sniffing window
    return True


def detect_format(path: str | Path) -> FormatName:
    """The format of an existing file or directory, from its layout, suffix and first bytes."""
    p = Path(path)
    if p.is_dir():
        if is_own_dir(p):
            return "embspace"
        try:
            kind = artifact_kind(p)
        except CorruptDataError:
            kind = None
        hint = f"; it holds {kind_phrase(kind)}: open it with embspace.open()" if kind else ""
        raise UnknownFormatError(f"{p} is a directory but not an embspace space (no meta.json){hint}")
    if not p.exists():
        raise FileNotFoundError(f"no such file or directory: {p}")
    inner, _ = strip_compression(p)
    fmt = _BY_SUFFIX.get(inner.suffix.lower())
    if fmt in ("numpy", "parquet", "arrow", "fasttext"):
        return fmt
    return _sniff(p, prefer_binary=fmt == "word2vec-binary")


def load(path: str | Path, format: FormatName | str | None = None, **options: Any) -> EmbeddingSpace:
    """Read an EmbeddingSpace from ``path`` in any supported format (detected unless given).

    Parameters
    ----------
    path
        File or space directory.
    format
        One of :data:`FORMATS`; detected from the path and first bytes when ``None``.
    **options
        Passed to the reader: ``metric`` for imported formats; ``mmap`` for ``embspace``;
        ``keys`` for ``numpy``; ``key_column``/``vector_column`` for ``parquet``/``arrow``.

    Raises
    ------
    CorruptDataError
        The file is not valid in its format; the message names the file and line.
    UnknownFormatError
        The format could not be detected, or an unknown format name was given.
    """
    p = Path(path)
    fmt = _check_format(format) if format is not None else detect_format(p)
    if fmt == "embspace":
        return read_own(p, **options)
    if not p.exists():
        raise FileNotFoundError(f"no such file: {p}")
    if fmt in ("word2vec", "fasttext"):
        return read_text(p, header=True, **options)
    if fmt == "glove":
        return read_text(p, header=False, **options)
    if fmt == "word2vec-binary":
        return read_binary(p, **options)
    if fmt == "numpy":
        return read_numpy(p, **options)
    return read_arrow(p, fmt=fmt, **options)


def save(space: EmbeddingSpace, path: str | Path, format: FormatName | str | None = None,
         **options: Any) -> Path:
    """Write ``space`` to ``path``; the format follows the suffix unless given.

    No suffix (or ``format="embspace"``) writes a space directory. ``.txt`` writes word2vec text,
    ``.vec`` fastText, ``.bin`` word2vec binary, ``.npy`` NumPy (+ ``.keys.txt``), ``.parquet``,
    ``.arrow``/``.feather``; ``.gz``/``.bz2``/``.xz`` compress text formats. Every write goes to a
    temporary file first and replaces the target only when complete.

    Returns the path written.
    """
    p = Path(path)
    inner, compression = strip_compression(p)
    fmt = _check_format(format) if format is not None else _BY_SUFFIX.get(inner.suffix.lower(), "embspace")
    if compression is not None and fmt not in _TEXTUAL:
        raise InvalidInputError(
            f"{p.name}: {compression} compression is only for the text formats "
            f"(word2vec, word2vec-binary, fasttext, glove), not {fmt}; drop the {compression} suffix"
        )
    if fmt == "embspace":
        write_own(space, p, **options)
        return p
    if fmt in _TEXTUAL:
        with atomic_path(p) as tmp:
            if fmt == "word2vec-binary":
                write_binary(space, tmp)
            else:
                write_text(space, tmp, header=fmt != "glove", fmt=fmt)
        return p
    if fmt == "numpy":
        write_numpy(space, p)
    else:
        write_arrow(space, p, fmt=fmt)
    return p
