"""Load and save EmbeddingSpaces in every supported format, detecting the format from the path.

=================== ============================================ =====================================
format              files                                        notes
=================== ============================================ =====================================
``embspace``        a directory: vectors.npy, keys.json, meta    memory-mapped on load; keeps metric,
                    .json (+ counts.npy)                         normalisation, counts, provenance
``word2vec``        text, ``n dim`` header, ``key v1 .. vd``     ``.txt``; ``.gz``/``.bz2``/``.xz`` ok
``word2vec-binary`` ``n dim`` header, ``key`` + d float32        ``.bin``; the C tool's format
``fasttext``        ``.vec`` text, as word2vec text; a ``.bin``   a SubwordSpace saved as ``fasttext``
                    model when the file is one                   to a path not ending ``.vec`` writes
                                                                 a ``.bin``
``fasttext-bin``    fastText's native ``.bin`` model             a SubwordSpace (unknown words from
                                                                 n-grams); written from one
``glove``           text without header                          detected when no header
``numpy``           ``name.npy`` + ``name.keys.txt``             never unpickles
``parquet``         key column + fixed-size-list vector column   keeps metric and provenance
``arrow``           the same as Arrow IPC / Feather v2           ``.arrow``, ``.feather``, ``.ipc``
=================== ============================================ =====================================

Text formats cannot hold keys with whitespace; writing such a space to them is an error that
names the key. Reading splits fields on the ASCII space only, as word2vec.c and gensim do, so a
key read from a file may hold a tab or a non-breaking space. The legacy formats take
``encoding=``, ``unicode_errors=`` and ``limit=`` like gensim's ``load_word2vec_format``. A
pickle (a gensim model saved with ``.save()``) is refused, never unpickled. Reading never
half-loads: a bad file raises :class:`~embspace.errors.CorruptDataError` naming the file and line
(or record/row) before any space exists.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, get_args

from .._artifact import artifact_kind, kind_phrase
from .._atomic import atomic_path
from ..errors import CorruptDataError, InvalidInputError, UnknownFormatError
from ._formats._arrow import read_arrow, write_arrow
from ._formats._binary import read_binary, write_binary
from ._formats._common import (
    check_decoding,
    check_limit,
    is_pickle,
    pickle_refusal,
    read_head,
    strip_compression,
)
from ._formats._fasttext import MAGIC_BYTES, looks_like_old_fasttext, read_fasttext_bin, write_fasttext_bin
from ._formats._numpy import read_numpy, write_numpy
from ._formats._own import is_own_dir, read_own, write_own
from ._formats._text import parse_header, read_text, split_fields, write_text
from .embedding_space import EmbeddingSpace
from .subword_space import SubwordSpace

__all__ = ["FORMATS", "VECTOR_SUFFIXES", "FormatName", "detect_format", "has_vector_suffix", "load", "save"]

FormatName = Literal["embspace", "word2vec", "word2vec-binary", "fasttext", "fasttext-bin", "glove", "numpy",
                     "parquet", "arrow"]
FORMATS: tuple[str, ...] = get_args(FormatName)

_BY_SUFFIX: dict[str, FormatName] = {
    ".bin": "word2vec-binary", ".vec": "fasttext", ".npy": "numpy", ".parquet": "parquet", ".pq": "parquet",
    ".arrow": "arrow", ".feather": "arrow", ".ipc": "arrow", ".txt": "word2vec", ".w2v": "word2vec",
    ".ftz": "fasttext-bin",
}
#: The suffixes of the vector files embspace reads (a compressed file counts by the suffix inside: ``.txt.gz``).
VECTOR_SUFFIXES: frozenset[str] = frozenset(_BY_SUFFIX)
_TEXTUAL = {"word2vec", "word2vec-binary", "fasttext", "glove"}
_LEGACY = _TEXTUAL | {"fasttext-bin"}  # the formats that take encoding=, unicode_errors= and limit=
_SNIFF_BYTES = 1 << 16


def _check_format(fmt: str) -> FormatName:
    if fmt not in FORMATS:
        raise UnknownFormatError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    return fmt  # type: ignore[return-value]


def _text_row(line: bytes, columns: int, complete: bool, encoding: str = "utf-8",
              errors: str = "strict") -> bool:
    """Whether ``line`` reads as a text row of a key and ``columns - 1`` numbers.

    An incomplete line (cut by the sniffing window) only has to start like one.
    """
    try:
        text = line.decode(encoding, errors)
    except UnicodeDecodeError as e:
        if complete or e.start < len(line) - 3:  # only a character cut at the very end is fine
            return False
        text = line[: e.start].decode(encoding, errors)
    parts = split_fields(text)
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


def _binary_records(rest: bytes, n: int, dim: int, whole: bool, encoding: str = "utf-8",
                    errors: str = "strict") -> bool:
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
            rest[pos:sp].decode(encoding, errors)
        except UnicodeDecodeError:
            return False
        pos = sp + 1 + width
        seen += 1
    return not whole or not rest[pos:].strip()


def _sniff(path: Path, prefer_binary: bool = False, encoding: str = "utf-8",
           errors: str = "strict") -> FormatName:
    """Tell word2vec text, word2vec binary, GloVe text and fastText ``.bin`` apart from the first bytes."""
    head = read_head(path, _SNIFF_BYTES + 1)
    if is_pickle(head):
        raise pickle_refusal(path)
    if head.startswith(MAGIC_BYTES) or (prefer_binary and looks_like_old_fasttext(head)):
        return "fasttext-bin"
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
    as_text = dim > 0 and _text_row(second, dim + 1, complete, encoding, errors)
    as_binary = dim > 0 and _binary_records(rest, n, dim, whole, encoding, errors)
    if as_text and as_binary:
        return "word2vec-binary" if prefer_binary else "word2vec"
    # A GloVe file of dimension 1 whose first row is "<word> <integer>" looks like a header;
    # the number of rows that follow tells them apart.
    rows_disagree = whole and sum(1 for ln in rest.split(b"\n") if ln.strip()) != n
    as_glove = complete and _text_row(second, 2, True, encoding, errors) and (dim == 0 or rows_disagree)
    if as_text:
        return "glove" if as_glove and dim == 1 else "word2vec"
    if as_binary:
        return "word2vec-binary"
    if as_glove:
        return "glove"
    # Neither parses: report the errors of the more likely reader.
    return "word2vec" if _looks_textual(second, encoding, errors) and not prefer_binary else "word2vec-binary"


def _looks_textual(line: bytes, encoding: str = "utf-8", errors: str = "strict") -> bool:
    """Text without control characters (float32 bytes nearly always fail this).

    A line whose key does not decode but whose values are numbers is text in another encoding:
    the text reader then names the bad byte and the ``encoding=``/``unicode_errors=`` options.
    """
    if any(c < 0x20 and c not in b"\t\r\x0b\x0c" for c in line):
        return False
    try:
        line.decode(encoding, errors)
    except UnicodeDecodeError as e:
        if e.start >= len(line) - 3:  # a character cut by the sniffing window
            return True
        parts = split_fields(line.decode(encoding, "replace"))
        values = parts[1:-1] if len(parts) > 2 else parts[1:]  # the last one may be cut by the window
        try:
            for v in values:
                float(v)
        except ValueError:
            return False
        return len(parts) > 1
    return True


def detect_format(path: str | Path, *, encoding: str = "utf-8", unicode_errors: str = "strict") -> FormatName:
    """The format of an existing file or directory, from its layout, suffix and first bytes.

    ``encoding``/``unicode_errors`` are those the file will be read with (they decide whether a
    line reads as text). A pickle is refused here (:class:`CorruptDataError`), with what to do
    instead.
    """
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
    if fmt in ("numpy", "parquet", "arrow"):
        return fmt
    if fmt in ("fasttext", "fasttext-bin"):
        _refuse_pickle(p)
        return fmt
    return _sniff(p, prefer_binary=fmt == "word2vec-binary", encoding=encoding, errors=unicode_errors)


def has_vector_suffix(path: str | Path) -> bool:
    """Whether the name of ``path`` ends like a vector file embspace reads (:data:`VECTOR_SUFFIXES`, behind
    ``.gz``/``.bz2``/``.xz``). Nothing is read: a page, a picture or notes beside the vectors (``report.html``,
    ``README.md``) are told apart by name, where :func:`detect_format` would try to parse them (any text
    reads as GloVe until a line has no values)."""
    inner, _ = strip_compression(Path(path))
    return inner.suffix.lower() in VECTOR_SUFFIXES


def _refuse_pickle(path: Path) -> None:
    if is_pickle(read_head(path, 2)):
        raise pickle_refusal(path)


def load(path: str | Path, format: FormatName | str | None = None, *, encoding: str = "utf-8",
         unicode_errors: str = "strict", limit: int | None = None, **options: Any) -> EmbeddingSpace:
    """Read an EmbeddingSpace from ``path`` in any supported format (detected unless given).

    Parameters
    ----------
    path
        File or space directory.
    format
        One of :data:`FORMATS`; detected from the path and first bytes when ``None``.
    encoding, unicode_errors
        How the keys of a legacy file (word2vec text or binary, GloVe, fastText ``.vec`` or
        ``.bin``) are decoded, as in ``bytes.decode`` and gensim's ``load_word2vec_format``:
        ``encoding="latin-1"`` for a file in Latin-1, ``unicode_errors="replace"`` (or
        ``"ignore"``) for keys cut in the middle of a UTF-8 character.
    limit
        Read only the first ``limit`` vectors of a legacy file (the rest of the file is not read),
        as gensim's ``limit``; ``None`` reads them all.
    **options
        Passed to the reader: ``metric`` for imported formats; ``mmap`` for ``embspace``;
        ``keys`` for ``numpy``; ``key_column``/``vector_column`` for ``parquet``/``arrow``.

    Raises
    ------
    CorruptDataError
        The file is not valid in its format (the message names the file and line), or is a
        pickle (never unpickled; the message says how to export the vectors instead).
    UnknownFormatError
        The format could not be detected, an unknown format name was given, or the file is a
        quantized fastText model.
    InvalidInputError
        ``encoding``, ``unicode_errors`` or ``limit`` is unusable, or was given for a format
        that does not take it.
    """
    p = Path(path)
    check_decoding(encoding, unicode_errors)
    limit = check_limit(limit)
    fmt = (_check_format(format) if format is not None
           else detect_format(p, encoding=encoding, unicode_errors=unicode_errors))
    if fmt not in _LEGACY:
        given = [f"{name}={value!r}" for name, value, default in
                 (("encoding", encoding, "utf-8"), ("unicode_errors", unicode_errors, "strict"),
                  ("limit", limit, None)) if value != default]
        if given:
            raise InvalidInputError(
                f"{', '.join(given)}: these options are for the legacy vector files (word2vec text and "
                f"binary, GloVe, fastText .vec and .bin), not the {fmt} format, which stores UTF-8 keys "
                "and is read whole; leave them out (the first rows: space.subset(space.keys[:n]))"
                if fmt != "embspace" else
                f"{', '.join(given)}: these options are for the legacy vector files (word2vec text and "
                "binary, GloVe, fastText .vec and .bin), not an embspace space directory; leave them out")
    if fmt == "embspace":
        return read_own(p, **options)
    if not p.exists():
        raise FileNotFoundError(f"no such file: {p}")
    if fmt == "fasttext" and read_head(p, len(MAGIC_BYTES)) == MAGIC_BYTES:
        fmt = "fasttext-bin"  # format="fasttext" names the family: a .bin model is read as one
    if fmt in _LEGACY:
        _refuse_pickle(p)
        legacy: dict[str, Any] = {"encoding": encoding, "unicode_errors": unicode_errors, "limit": limit}
        if fmt in ("word2vec", "fasttext"):
            return read_text(p, header=True, **legacy, **options)
        if fmt == "glove":
            return read_text(p, header=False, **legacy, **options)
        if fmt == "fasttext-bin":
            return read_fasttext_bin(p, **legacy, **options)
        return read_binary(p, **legacy, **options)
    if fmt == "numpy":
        return read_numpy(p, **options)
    return read_arrow(p, fmt=fmt, **options)


def save(space: EmbeddingSpace, path: str | Path, format: FormatName | str | None = None,
         **options: Any) -> Path:
    """Write ``space`` to ``path``; the format follows the suffix unless given.

    No suffix (or ``format="embspace"``) writes a space directory. ``.txt`` writes word2vec text,
    ``.vec`` fastText text; ``format="fasttext"`` writes a :class:`SubwordSpace` as fastText's native
    ``.bin`` model (vocabulary and n-gram buckets) unless the path ends ``.vec``; ``.bin`` word2vec binary,
    ``.npy`` NumPy (+ ``.keys.txt``), ``.parquet``,
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
    if (fmt == "fasttext" and isinstance(space, SubwordSpace) and compression is None
            and inner.suffix.lower() not in (".vec", ".txt")):
        fmt = "fasttext-bin"  # a space with n-grams keeps them: fastText's .bin model
    if fmt == "fasttext-bin":
        if inner.suffix.lower() == ".ftz":
            raise InvalidInputError(
                f"{p.name}: .ftz is fastText's quantized model, which embspace does not write; save a .bin "
                "(format='fasttext') and quantize it with 'fasttext quantize', or save the vectors as .vec text")
        with atomic_path(p) as tmp:
            write_fasttext_bin(space, tmp)
        return p
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
