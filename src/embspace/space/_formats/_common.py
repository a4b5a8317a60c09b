"""Shared pieces of the format readers: compressed files, key checks, finishing a space."""

from __future__ import annotations

import bz2
import codecs
import gzip
import lzma
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
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


def check_decoding(encoding: str, unicode_errors: str) -> None:
    """Refuse an unknown codec or error handler before any file is opened."""
    try:
        codecs.lookup(encoding)
    except (LookupError, TypeError):
        raise InvalidInputError(f"unknown encoding {encoding!r}; expected a Python codec name such as "
                                "'utf-8', 'latin-1' or 'cp1252'") from None
    try:
        codecs.lookup_error(unicode_errors)
    except (LookupError, TypeError):
        raise InvalidInputError(f"unknown unicode_errors {unicode_errors!r}; expected 'strict', 'replace', "
                                "'ignore' or 'backslashreplace'") from None


def check_limit(limit: int | None) -> int | None:
    """``None`` (read everything) or a positive number of vectors."""
    if limit is None:
        return None
    if isinstance(limit, bool) or not isinstance(limit, int | np.integer) or limit < 1:
        raise InvalidInputError(f"limit={limit!r}: expected a positive number of vectors to read, "
                                "or None to read them all")
    return int(limit)


def encoding_label(encoding: str) -> str:
    """"UTF-8" for every spelling of it, else the codec's name."""
    name = codecs.lookup(encoding).name
    return "UTF-8" if name == "utf-8" else name


def decode_advice(encoding: str) -> str:
    """What to do when bytes do not decode: the two options that exist for it."""
    other = "'latin-1'" if encoding_label(encoding) == "UTF-8" else "'utf-8'"
    return (f"if the file uses another encoding, pass encoding= (e.g. encoding={other}); to replace or "
            "drop the bad bytes, pass unicode_errors='replace' or 'ignore' (gensim's load_word2vec_format "
            "has the same two options)")


def decode_failure(encoding: str, raw: bytes, err: UnicodeDecodeError, where: str = "column") -> str:
    """The reason of a CorruptDataError for bytes that ``encoding`` cannot decode."""
    pos = f"at {where} {err.start + 1}" if where == "column" else where
    return (f"not valid {encoding_label(encoding)} (byte 0x{raw[err.start]:02x} {pos}); "
            + decode_advice(encoding))


def is_pickle(head: bytes) -> bool:
    """Whether ``head`` starts like a pickle of protocol 2 or later (what ``gensim`` ``.save()`` writes).

    Such a pickle starts with the PROTO opcode (0x80) followed by the protocol number (2 to 5).
    """
    return len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5


def pickle_refusal(path: Path) -> CorruptDataError:
    """The error for a pickle: what it is, why it is not read, and how to export the vectors instead."""
    return CorruptDataError(
        path, "this is a Python pickle (what gensim's KeyedVectors.save, Word2Vec.save or FastText.save "
              "write), and embspace never unpickles a file (unpickling can run any code); export the vectors "
              "from gensim with kv.save_word2vec_format('vectors.bin', binary=True) (kv = model.wv for a "
              "model) and load that file")


def read_head(path: Path, size: int) -> bytes:
    """The first ``size`` bytes of ``path`` (decompressed)."""
    try:
        with open_binary(path) as f:
            return f.read(size)
    except (OSError, EOFError, lzma.LZMAError) as e:
        if isinstance(e, FileNotFoundError | PermissionError | IsADirectoryError):
            raise
        raise CorruptDataError(path, f"cannot read: {e}") from None


class ByteStream:
    """Buffered reads of a (possibly compressed) binary file with its absolute offset.

    Reads stop where the caller stops: a reader with ``limit=`` leaves the rest of the file unread.
    Decompression errors become :class:`CorruptDataError` naming the file.
    """

    def __init__(self, path: Path, f: IO[bytes], block: int = 1 << 22) -> None:
        self.path = path
        self._f = f
        self._block = block
        self._buf = bytearray()
        self._pos = 0
        self._dropped = 0  # bytes consumed and dropped from the front of the buffer

    @property
    def offset(self) -> int:
        """The offset in the (decompressed) file of the next unread byte."""
        return self._dropped + self._pos

    def _more(self) -> bool:
        if self._pos:
            del self._buf[: self._pos]
            self._dropped += self._pos
            self._pos = 0
        try:
            chunk = self._f.read(self._block)
        except (OSError, EOFError, lzma.LZMAError) as e:
            raise CorruptDataError(self.path, f"cannot decompress: {e}") from None
        self._buf += chunk
        return bool(chunk)

    def read(self, n: int) -> bytes | None:
        """Exactly ``n`` bytes, or ``None`` when the file ends first."""
        while len(self._buf) - self._pos < n:
            if not self._more():
                return None
        out = bytes(self._buf[self._pos : self._pos + n])
        self._pos += n
        return out

    def read_until(self, sep: bytes, skip: bytes = b"") -> bytes | None:
        """The bytes before the next ``sep`` (which is consumed), after skipping leading ``skip`` bytes;
        ``None`` when the file ends first."""
        while True:
            while self._pos < len(self._buf) and self._buf[self._pos] in skip:
                self._pos += 1
            if self._pos < len(self._buf):
                break
            if not self._more():
                return None
        start = self._pos
        while True:
            at = self._buf.find(sep, start)
            if at >= 0:
                out = bytes(self._buf[self._pos : at])
                self._pos = at + len(sep)
                return out
            start = max(self._pos, len(self._buf) - len(sep) + 1)
            scanned = start - self._pos
            if not self._more():
                return None
            start = self._pos + scanned

    def rest(self) -> bytes:
        """Everything left (reads to the end)."""
        while self._more():
            pass
        out = bytes(self._buf[self._pos :])
        self._pos = len(self._buf)
        return out

    def rest_is_blank(self) -> bool:
        """Whether everything left is whitespace (reads to the end)."""
        while True:
            if bytes(self._buf[self._pos :]).strip():
                return False
            self._pos = len(self._buf)
            if not self._more():
                return True


@contextmanager
def reading(path: Path) -> Iterator[IO[bytes]]:
    """:func:`open_binary` for reading, a stream that cannot be decompressed (a cut gzip, bad lzma data) raised
    as :class:`CorruptDataError`; a missing, unreadable or directory path raises as it is."""
    try:
        with open_binary(path) as f:
            yield f
    except (OSError, EOFError, lzma.LZMAError) as e:
        if isinstance(e, FileNotFoundError | PermissionError | IsADirectoryError):
            raise
        raise CorruptDataError(path, f"cannot decompress: {e}") from e


def read_all(path: Path) -> bytes:
    with reading(path) as f:
        return f.read()


def check_text_keys(keys: Sequence[str], fmt: str) -> None:
    for i, k in enumerate(keys):
        if not k or any(ch.isspace() for ch in k):
            raise InvalidInputError(
                f"key #{i} {k!r} is empty or contains whitespace, which the {fmt} format cannot store; "
                "use the embspace, parquet or arrow format for such keys"
            )


def imported_space(path: Path, keys: list[str], vectors: FloatArray, *, metric: Metric = "cosine",
                   counts: Any = None, provenance: Provenance | None = None,
                   normalized: bool | None = None, first_line: int = 1, unit: str = "line",
                   unicode_errors: str = "strict") -> EmbeddingSpace:
    """Validate what a reader produced (duplicates, NaN/Inf) and build the space.

    Entry ``i`` is reported as ``unit`` number ``first_line + i`` (a line of a text file, a record
    of a binary file, a row of a table). ``unicode_errors`` is the handler the keys were decoded
    with: a lossy one can make two keys alike, which a duplicate's message then says.
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
            hint = (f" (unicode_errors={unicode_errors!r} may have made two different keys alike; pass the "
                    "file's encoding= instead)" if unicode_errors != "strict" else "")
            raise fail(i, f"duplicate key {k!r}, first seen at {unit} {first_line + seen[k]}{hint}")
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


