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

from pathlib import Path
from typing import Any, Literal, get_args

from ..errors import CorruptDataError, UnknownFormatError
from ._formats._arrow import read_arrow, write_arrow
from ._formats._binary import read_binary, write_binary
from ._formats._common import atomic_path, open_binary, strip_compression
from ._formats._numpy import read_numpy, write_numpy
from ._formats._own import is_own_dir, read_own, write_own
from ._formats._text import parse_header, read_text, write_text
from .embedding_space import EmbeddingSpace

__all__ = ["FORMATS", "FormatName", "detect_format", "load", "save"]

FormatName = Literal["embspace", "word2vec", "word2vec-binary", "fasttext", "glove", "numpy", "parquet", "arrow"]
FORMATS: tuple[str, ...] = get_args(FormatName)

_BY_SUFFIX: dict[str, FormatName] = {
    ".bin": "word2vec-binary", ".vec": "fasttext", ".npy": "numpy", ".parquet": "parquet", ".pq": "parquet",
    ".arrow": "arrow", ".feather": "arrow", ".ipc": "arrow", ".txt": "word2vec", ".w2v": "word2vec",
}
_TEXTUAL = {"word2vec", "word2vec-binary", "fasttext", "glove"}


def _check_format(fmt: str) -> FormatName:
    if fmt not in FORMATS:
        raise UnknownFormatError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    return fmt  # type: ignore[return-value]


def _sniff(path: Path) -> FormatName:
    """Tell word2vec text, word2vec binary and GloVe text apart from the first bytes."""
    try:
        with open_binary(path) as f:
            head = f.read(1 << 16)
    except OSError as e:
        if isinstance(e, FileNotFoundError | PermissionError):
            raise
        raise CorruptDataError(path, f"cannot read: {e}") from None
    if not head.strip():
        raise CorruptDataError(path, "empty file")
    first, _, rest = head.partition(b"\n")
    parsed = parse_header(first)
    if parsed is None:
        return "glove"
    dim = parsed[1]
    line = rest.split(b"\n", 1)[0]
    try:
        parts = line.decode("utf-8").split()
        if len(parts) == dim + 1:
            [float(x) for x in parts[1:]]
            return "word2vec"
    except (UnicodeDecodeError, ValueError):
        pass
    return "word2vec-binary" if rest else "word2vec"


def detect_format(path: str | Path) -> FormatName:
    """The format of an existing file or directory, from its layout, suffix and first bytes."""
    p = Path(path)
    if p.is_dir():
        if is_own_dir(p):
            return "embspace"
        raise UnknownFormatError(f"{p} is a directory but not an embspace space (no meta.json)")
    if not p.exists():
        raise FileNotFoundError(f"no such file or directory: {p}")
    inner, _ = strip_compression(p)
    fmt = _BY_SUFFIX.get(inner.suffix.lower())
    if fmt in ("numpy", "parquet", "arrow", "fasttext"):
        return fmt
    return _sniff(p)


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
    if format is not None:
        fmt = _check_format(format)
    else:
        inner, _ = strip_compression(p)
        fmt = _BY_SUFFIX.get(inner.suffix.lower(), "embspace") if inner.suffix or not p.is_file() else "embspace"
    if fmt == "embspace":
        write_own(space, p)
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
