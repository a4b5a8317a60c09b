"""File encoding (``embspace encode``): files in, an EmbeddingSpace out, with a content-hash cache and chunking.

Inputs: ``.txt`` (one item per line), ``.jsonl``/``.jsonl.gz``, ``.csv``, ``.parquet`` (a text field,
an optional id field, every other field kept as metadata), a directory of text files, a directory
of images, or a directory of audio files (``.wav``, ``.flac``, ``.ogg``, ``.mp3``, ...: see
:mod:`embspace._audio`; an audio model such as CLAP encodes them). Every item's vector is cached under
a hash of its content and the model's ``space_id`` (SQLite, one file per model space), so
re-encoding a file where a few items changed encodes only those. Long texts are truncated at the
model's maximum length (and counted), or cut into overlapping token windows with ``chunk``.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import sqlite3
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import numpy.typing as npt

from .._audio import AUDIO_SUFFIXES
from .._sqlite import select_in
from ..errors import CorruptDataError, InvalidInputError
from ..space.embedding_space import EmbeddingSpace
from ..space.provenance import Provenance
from .encoder import BaseEncoder, item_digest

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff"}
TEXT_SUFFIXES = {".txt", ".md", ".rst", ".text", ".html", ".htm", ".xml", ".tex", ".csv", ".json"}

__all__ = ["AUDIO_SUFFIXES", "CachedVectors", "EncodeReport", "EncodingCache", "Item", "Records", "encode_file",
           "encode_with_cache", "non_document_reason", "read_items", "read_records"]


@dataclass(frozen=True)
class Item:
    """One thing to encode: its id, its content (a text, or an image or audio file path) and its metadata."""

    id: str
    content: str | Path
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class EncodeReport:
    """What :func:`encode_file` did."""

    output: Path
    modality: str
    n_items: int
    n_vectors: int
    n_encoded: int
    n_cached: int
    n_truncated: int
    n_chunked: int
    seconds: float
    model: str

    @property
    def items_per_second(self) -> float:
        return self.n_items / max(self.seconds, 1e-9)

    def __str__(self) -> str:
        parts = [f"{self.n_items:,} items -> {self.n_vectors:,} vectors in {self.seconds:.1f} s "
                 f"({self.items_per_second:,.1f} items/s) with {self.model}",
                 f"encoded {self.n_encoded:,}, from cache {self.n_cached:,}"]
        if self.n_truncated:
            parts.append(f"truncated {self.n_truncated:,}")
        if self.n_chunked:
            parts.append(f"split into chunks {self.n_chunked:,}")
        return "; ".join(parts) + f" -> {self.output}"


# -- reading ------------------------------------------------------------------------------------------
def _open_text(path: Path) -> TextIO:
    if path.name.endswith(".gz"):
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8")
    return open(path, encoding="utf-8")


def _fields(spec: str) -> list[str]:
    out = [f.strip() for f in spec.split(",") if f.strip()]
    if not out:
        raise InvalidInputError("text_field is empty; name the field(s) holding the text, e.g. 'text' or 'title,text'")
    return out


def _record_item(rec: dict[str, Any], row: int, path: Path, text_fields: list[str], id_field: str | None,
                 line: int | None = None) -> Item:
    missing = [f for f in text_fields if f not in rec]
    if len(missing) == len(text_fields):
        raise CorruptDataError(path, f"no text field {'/'.join(text_fields)!r} (fields: {', '.join(map(str, rec))}); "
                                     "choose one with --text-field", line)
    text = " ".join(str(rec[f]) for f in text_fields if rec.get(f) not in (None, "")).strip()
    if id_field is not None:
        if id_field not in rec:
            raise CorruptDataError(path, f"no id field {id_field!r} (fields: {', '.join(map(str, rec))})", line)
        key = str(rec[id_field])
    else:
        key = str(row)
    meta = {k: v for k, v in rec.items() if k not in text_fields and k != id_field}
    return Item(key, text, meta)


def _iter_records(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, record) of a .jsonl[.gz], .csv or .parquet file."""
    name = path.name.lower()
    if name.endswith((".jsonl", ".jsonl.gz", ".ndjson")):
        with _open_text(path) as f:
            for n, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError as e:
                    raise CorruptDataError(path, f"not JSON ({e.msg})", n) from None
                if not isinstance(rec, dict):
                    raise CorruptDataError(path, "each line must be a JSON object", n)
                yield n, rec
    elif name.endswith((".csv", ".csv.gz", ".tsv")):
        with _open_text(path) as f:
            reader = csv.DictReader(f, delimiter="\t" if name.endswith(".tsv") else ",")
            for n, rec in enumerate(reader, 2):
                yield n, dict(rec)
    elif name.endswith(".parquet"):
        import pyarrow.parquet as pq

        table = pq.read_table(path)
        for n, rec in enumerate(table.to_pylist(), 1):
            yield n, rec
    else:
        raise InvalidInputError(f"{path}: unknown input type; use .txt, .jsonl[.gz], .csv, .parquet or a directory")


#: File names (before the first dot, any case) that describe a folder rather than being one of its
#: documents: skipped by ``read_items(..., include_all=False)`` (``embspace collection add`` without --all).
NON_DOCUMENT_NAMES = ("readme", "license", "licence", "copying", "changelog", "notice", "authors")
#: Bytes read from the start of a file to tell a binary (a NUL byte among them) from text.
BINARY_SNIFF_BYTES = 8192


def non_document_reason(path: Path, root: Path) -> str | None:
    """Why ``path`` (a file under ``root``) is not a document of the folder, or None when it is one.

    Hidden files and files in hidden folders, README/LICENSE/COPYING/CHANGELOG/NOTICE/AUTHORS files
    (any suffix), files whose suffix is not a text suffix, binaries (a NUL byte in the first 8 KiB)
    and empty files.
    """
    rel = path.relative_to(root)
    if any(part.startswith(".") for part in rel.parts):
        return "hidden"
    stem = path.name.split(".", 1)[0].lower()
    if stem in NON_DOCUMENT_NAMES:
        return "describes the folder, not a document"
    if path.suffix.lower() not in TEXT_SUFFIXES and path.suffix:
        return f"not a text file ({path.suffix})"
    with open(path, "rb") as f:
        head = f.read(BINARY_SNIFF_BYTES)
    if b"\x00" in head:
        return "binary"
    if not head.strip():
        return "empty"
    return None


def read_items(path: str | Path, *, text_field: str = "text", id_field: str | None = None,
               include_all: bool = True, skipped: list[tuple[str, str]] | None = None) -> tuple[list[Item], str]:
    """The items of an input file or directory, and their modality (``"text"``, ``"image"`` or ``"audio"``).

    A directory where at least half the files are images (audio files) is a directory of images
    (audio): its items are those files, keyed by their path relative to the directory, with the
    metadata ``path`` (and ``label``, the name of the folder holding the file, when it is not the
    directory itself: ``dogs/bark1.wav`` is labelled ``dogs``).

    ``text_field`` may name several fields separated by commas (``"title,text"``): they are joined
    with a space. Items without an ``id_field`` are numbered from 0 (lines of a .txt file by line
    number, files of a directory by their relative path).

    In a directory, ``include_all=False`` leaves out what is not a document (see
    :func:`non_document_reason`: README and LICENSE files, hidden files, binaries, files that are not
    UTF-8 text) and appends ``(relative path, reason)`` for each to ``skipped`` when given; with the
    default ``include_all=True`` every text file is read (hidden files excepted) and one that is not
    UTF-8 is an error.
    """
    p = Path(path).expanduser()
    if not p.exists():
        raise InvalidInputError(f"no input at {p}")
    if p.is_dir():
        every = sorted(f for f in p.rglob("*") if f.is_file())
        files = [f for f in every if not f.name.startswith(".")]
        for suffixes, kind in ((IMAGE_SUFFIXES, "image"), (AUDIO_SUFFIXES, "audio")):
            media = [f for f in files if f.suffix.lower() in suffixes]
            if media and len(media) >= len(files) / 2:
                return [Item(str(f.relative_to(p)), f, _media_meta(f, p, kind)) for f in media], kind
        if include_all:
            texts = [f for f in files if f.suffix.lower() in TEXT_SUFFIXES or not f.suffix]
        else:
            texts = []
            for f in every:
                why = non_document_reason(f, p)
                if why is None:
                    texts.append(f)
                elif skipped is not None:
                    skipped.append((str(f.relative_to(p)), why))
        if not texts:
            raise InvalidInputError(f"{p} holds no text files ({', '.join(sorted(TEXT_SUFFIXES))}) or images")
        items = []
        for f in texts:
            try:
                items.append(Item(str(f.relative_to(p)), f.read_text("utf-8").strip(), {"path": str(f)}))
            except UnicodeDecodeError:
                if include_all:
                    raise CorruptDataError(f, "not UTF-8 text") from None
                if skipped is not None:
                    skipped.append((str(f.relative_to(p)), "not UTF-8 text"))
        if not items:
            raise InvalidInputError(f"{p} holds no documents (every file was skipped)")
        return items, "text"
    name = p.name.lower()
    if name.endswith((".txt", ".txt.gz")):
        with _open_text(p) as fh:
            return [Item(str(n), line.strip(), {"line": n}) for n, line in enumerate(fh, 1) if line.strip()], "text"
    fields = _fields(text_field)
    items = [_record_item(rec, i, p, fields, id_field, line) for i, (line, rec) in enumerate(_iter_records(p))]
    seen: set[str] = set()
    for it in items:
        if it.id in seen:
            raise InvalidInputError(f"{p}: id {it.id!r} occurs twice in field {id_field!r}; ids must be unique")
        seen.add(it.id)
    return items, "text"


def _media_meta(f: Path, root: Path, kind: str) -> dict[str, Any]:
    """An image's metadata: its path. An audio file's: its path, and its folder's name as ``label`` when it
    lies in a subfolder (what the projector and a collection show beside the key)."""
    meta: dict[str, Any] = {"path": str(f)}
    if kind == "audio" and f.parent != root:
        meta["label"] = f.parent.name
    return meta


@dataclass(frozen=True)
class Records:
    """The columns :func:`read_records` took from a file of records, one entry per record."""

    keys: list[str]
    texts: list[str | None] | None
    vectors: npt.NDArray[np.float32] | None
    metadata: list[dict[str, Any]]
    fields: list[str]


def _field_names(path: Path) -> list[str]:
    """The fields of a record file: the Parquet schema, the CSV header, or the union over JSONL lines."""
    name = path.name.lower()
    if name.endswith(".parquet"):
        import pyarrow.parquet as pq

        return list(pq.read_schema(path).names)
    seen: dict[str, None] = {}
    for _line, rec in _iter_records(path):
        seen.update(dict.fromkeys(map(str, rec)))
        if name.endswith((".csv", ".csv.gz", ".tsv")):
            break
    return list(seen)


def _as_vector(value: Any, path: Path, line: int, field_name: str) -> Any:
    if isinstance(value, str):  # a CSV cell: the vector written as a JSON list
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise CorruptDataError(path, f"field {field_name!r} is not a vector (a list of numbers): "
                                         f"{value[:40]!r}", line) from None
    if not isinstance(value, list | tuple | np.ndarray) or not len(value):
        raise CorruptDataError(path, f"field {field_name!r} is not a vector (a list of numbers): "
                                     f"{str(value)[:40]!r}", line)
    return value


def read_records(path: str | Path, *, text_field: str | None = "text", key_field: str | None = None,
                 vector_field: str | None = None, metadata_fields: Sequence[str] | None = None) -> Records:
    """The keys, texts, vectors and metadata of a .jsonl[.gz]/.csv/.tsv/.parquet file, each field applied
    exactly as named or refused (a named field the file lacks is an error listing the fields it has).

    key_field
        Field of each record's key (values turned into strings); default: ``key`` when the file has
        it, else the row number (from 0).
    vector_field
        Field holding each record's vector (a list of numbers; in CSV a JSON list); default: ``vector``
        when the file has it, else the records are texts (``vectors`` None).
    text_field
        Field(s) of the text, several joined with a space (``"title,text"``); ``texts`` None when the
        file has none of them and vectors were found (with no vectors, the text is required).
    metadata_fields
        Fields kept as metadata; default: every field not used above. A record without a listed field
        simply lacks it in its metadata.
    """
    p = Path(path).expanduser()
    if not p.exists():
        raise InvalidInputError(f"no input at {p}")
    names = _field_names(p)
    have = set(names)
    listing = ", ".join(names) or "none"

    def need(field_name: str, what: str) -> None:
        if field_name not in have:
            raise InvalidInputError(f"{p.name} has no field {field_name!r} for the {what}; its fields are: {listing}")

    if key_field is not None:
        need(key_field, "keys")
    elif "key" in have:
        key_field = "key"
    if vector_field is not None:
        need(vector_field, "vectors")
    elif "vector" in have:
        vector_field = "vector"
    text_fields = _fields(text_field) if text_field else []
    if text_fields and not have & set(text_fields):
        if vector_field is None:
            raise InvalidInputError(f"{p.name} has no text field {'/'.join(text_fields)!r} and no vector field; its "
                                    f"fields are: {listing}")
        if text_field != "text":  # named on purpose: refused, not ignored
            raise InvalidInputError(f"{p.name} has no text field {text_field!r}; its fields are: {listing}")
        text_fields = []
    if vector_field is not None and key_field is None:
        raise InvalidInputError(f"{p.name} holds vectors but no field 'key'; name the field of the keys (key_field, "
                                f"--key-field); its fields are: {listing}")
    used: set[str] = {f for f in (key_field, vector_field, *text_fields) if f is not None}
    if metadata_fields is not None:
        metadata_fields = [m.strip() for m in metadata_fields if m.strip()]
        for m in metadata_fields:
            need(m, "metadata")
        clash = used & set(metadata_fields)
        if clash:
            raise InvalidInputError(f"field {sorted(clash)[0]!r} is already used as the key, vector or text; "
                                    "list only other fields as metadata")
    keys: list[str] = []
    texts: list[str | None] | None = [] if text_fields else None
    vectors: list[Any] = []
    metas: list[dict[str, Any]] = []
    for row, (line, rec) in enumerate(_iter_records(p)):
        if key_field is not None:
            if rec.get(key_field) in (None, ""):
                raise CorruptDataError(p, f"no key in field {key_field!r}", line)
            keys.append(str(rec[key_field]))
        else:
            keys.append(str(row))
        if vector_field is not None:
            if rec.get(vector_field) is None:
                raise CorruptDataError(p, f"no vector in field {vector_field!r}", line)
            vectors.append(_as_vector(rec[vector_field], p, line, vector_field))
        if texts is not None:
            text = " ".join(str(rec[f]) for f in text_fields if rec.get(f) not in (None, "")).strip()
            if vector_field is None and not any(f in rec for f in text_fields):
                raise CorruptDataError(p, f"no text field {'/'.join(text_fields)!r} (fields: "
                                          f"{', '.join(map(str, rec))}); choose one with --text-field", line)
            texts.append(text if text or vector_field is None else None)  # stored vectors: no text is None
        if metadata_fields is not None:
            metas.append({m: rec[m] for m in metadata_fields if m in rec})
        else:
            meta = {k: v for k, v in rec.items() if k not in used}
            packed = meta.get("metadata")
            if isinstance(packed, str) and packed.startswith("{"):  # a collection's export: metadata as JSON text
                try:
                    unpacked = json.loads(packed)
                except json.JSONDecodeError:
                    unpacked = None
                if isinstance(unpacked, dict):
                    del meta["metadata"]
                    meta = {**unpacked, **meta}
            metas.append(meta)
    seen: set[str] = set()
    for k in keys:
        if k in seen:
            raise InvalidInputError(f"{p}: key {k!r} occurs twice in field {key_field!r}; keys must be unique")
        seen.add(k)
    matrix = None
    if vector_field is not None:
        try:
            matrix = np.asarray(vectors, dtype=np.float32)
        except ValueError:
            raise CorruptDataError(p, f"the vectors in field {vector_field!r} have different lengths") from None
        if matrix.ndim != 2:
            raise CorruptDataError(p, f"field {vector_field!r} does not hold one vector per record")
    return Records(keys, texts, matrix, metas, names)


# -- cache --------------------------------------------------------------------------------------------
class EncodingCache:
    """Vectors by content hash for one model space: ``<cache>/vectors/<space_id>.sqlite`` (WAL).

    A key is the SHA-256 of the item's content and the ``normalize`` flag; the file is per
    ``space_id``, so another model (or revision, or pooling) never reads these vectors.
    """

    def __init__(self, space_id: str, dim: int, root: Path | None = None) -> None:
        from ._cache import cache_dir

        self.dim = dim
        folder = (root or cache_dir()) / "vectors"
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / f"{space_id}.sqlite"
        self._db = sqlite3.connect(self.path)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS vectors (key BLOB PRIMARY KEY, vector BLOB NOT NULL)")

    @staticmethod
    def key(content: Any, normalize: bool) -> bytes:
        return hashlib.sha256(f"{int(normalize)}\x00{item_digest(content)}".encode()).digest()

    def get(self, keys: Sequence[bytes]) -> dict[bytes, npt.NDArray[np.float32]]:
        width = self.dim * 4
        return {k: np.frombuffer(v, np.float32)
                for k, v in select_in(self._db, "SELECT key, vector FROM vectors WHERE key IN ({in})", keys)
                if len(v) == width}

    def put(self, keys: Sequence[bytes], vectors: npt.NDArray[np.float32]) -> None:
        with self._db:
            self._db.executemany("INSERT OR REPLACE INTO vectors (key, vector) VALUES (?, ?)",
                                 [(k, np.ascontiguousarray(v, np.float32).tobytes()) for k, v in zip(keys, vectors,
                                                                                                      strict=True)])

    def close(self) -> None:
        self._db.close()


@dataclass(frozen=True)
class CachedVectors:
    """What :func:`encode_with_cache` returns: the vectors (in the order of the texts) and how they came."""

    vectors: npt.NDArray[np.float32]
    n_encoded: int
    n_cached: int
    n_truncated: int
    hashes: list[bytes]  # the content hash of each text (what the cache is keyed by)


def encode_with_cache(texts: Sequence[Any], encoder: Callable[[], Any], *, space_id: str | None, dim: int,
                      progress: bool = False, cache: bool = True, cache_dir: str | Path | None = None,
                      batch_size: int | None = None, normalize: bool = True) -> CachedVectors:
    """Vectors of ``texts`` (normalised unless not ``normalize``, as ``encode`` gives them), those of contents
    seen before read from the :class:`EncodingCache` of ``space_id``; only the others are encoded, and then
    cached. The one path by which files, folders and collections encode through the cache.

    ``encoder`` is called (once, and only when something is not cached) to get the encoder, so a fully
    cached input never loads the model. ``space_id`` None (an encoder without one) disables the cache.
    A :class:`~embspace.encoders.text_encoder.TruncationWarning` of the encoder is counted in
    ``n_truncated`` instead of being shown; other warnings pass through.
    """
    n = len(texts)
    vectors = np.empty((n, dim), np.float32)
    store = EncodingCache(space_id, dim, Path(cache_dir) if cache_dir else None) if cache and space_id else None
    try:
        hashes = [EncodingCache.key(c, normalize) for c in texts]
        hits = store.get(hashes) if store is not None else {}
        todo = [i for i in range(n) if hashes[i] not in hits]
        for i, h in enumerate(hashes):
            if h in hits:
                vectors[i] = hits[h]
        n_truncated = 0
        if todo:
            enc = encoder()
            kwargs: dict[str, Any] = {"progress": progress}
            if not normalize:  # the default of every encoder's encode; said only when it is not wanted
                kwargs["normalize"] = False
            if batch_size is not None:
                kwargs["batch_size"] = batch_size
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                fresh = np.asarray(enc.encode([texts[i] for i in todo], **kwargs), dtype=np.float32)
            for w in caught:
                if w.category.__name__ == "TruncationWarning":
                    n_truncated = int(getattr(enc, "last_truncated_", 0) or 0)
                else:
                    warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
            if fresh.ndim != 2 or fresh.shape != (len(todo), dim):
                raise InvalidInputError(f"the encoder gave vectors of shape {fresh.shape}, expected "
                                        f"({len(todo)}, {dim})")
            vectors[todo] = fresh
            if store is not None:
                store.put([hashes[i] for i in todo], fresh)
    finally:
        if store is not None:
            store.close()
    return CachedVectors(vectors, len(todo), n - len(todo), n_truncated, hashes)


class ModelIndex:
    """``<cache>/vectors/models.sqlite``: a model fingerprint -> the space it encodes into.

    A fingerprint is computed from the model's name and files without loading it, so a fully
    cached input is answered without starting the model at all.
    """

    def __init__(self, root: Path | None = None) -> None:
        from ._cache import cache_dir

        folder = (root or cache_dir()) / "vectors"
        folder.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(folder / "models.sqlite")
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS models (fingerprint TEXT PRIMARY KEY, info TEXT NOT NULL)")

    def get(self, fingerprint: str) -> dict[str, Any] | None:
        row = self._db.execute("SELECT info FROM models WHERE fingerprint = ?", (fingerprint,)).fetchone()
        return json.loads(row[0]) if row else None

    def put(self, fingerprint: str, encoder: BaseEncoder) -> None:
        info = {"space_id": encoder.space_id, "dim": encoder.dim, "modality": encoder.modality, "name": encoder.name,
                "provenance": {"model": encoder.provenance.model, "config": dict(encoder.provenance.config)}}
        with self._db:
            self._db.execute("INSERT OR REPLACE INTO models (fingerprint, info) VALUES (?, ?)",
                             (fingerprint, json.dumps(info)))

    def close(self) -> None:
        self._db.close()


def model_fingerprint(model: str, options: dict[str, Any]) -> str | None:
    """A hash naming ``model`` with ``options`` without loading it: its files' revision (model directories),
    the package version (the bundled MiniLM), the file's size and time (static:SPACE); None for hub ids."""
    from .sentence_encoder import ALIASES, bundled_minilm
    from .text_encoder import dir_revision

    name = str(model)
    if name.lower() in ALIASES:
        bundled = bundled_minilm()
        if bundled is None:
            return None
        ident = f"bundled:{bundled[1]}"
    elif name.startswith("static:"):
        target = Path(name.removeprefix("static:")).expanduser()
        if not target.exists():
            return None
        files = [target] if target.is_file() else sorted(f for f in target.iterdir() if f.is_file())
        ident = "static:" + ";".join(f"{f.resolve()}:{f.stat().st_size}:{f.stat().st_mtime_ns}" for f in files)
    elif Path(name).expanduser().is_dir():
        ident = f"dir:{Path(name).expanduser().resolve()}:{dir_revision(Path(name).expanduser())}"
    else:
        return None
    raw = json.dumps({"model": ident, "options": options}, sort_keys=True, default=str)
    return hashlib.sha256(raw.encode()).hexdigest()


# -- the file-encoding job -----------------------------------------------------------------------------
def encode_file(input: str | Path, output: str | Path, *, model: str = "minilm", encoder: BaseEncoder | None = None,
                text_field: str = "text", id_field: str | None = None, chunk: int | None = None, overlap: int = 0,
                batch_size: int | None = None, normalize: bool = True, cache: bool = True,
                cache_dir: str | Path | None = None, format: str | None = None, progress: bool = True,
                encoder_options: dict[str, Any] | None = None, engine: str = "local",
                address: str | None = None) -> EncodeReport:
    """Encode the items of ``input`` and save them as an EmbeddingSpace at ``output``.

    Parameters
    ----------
    input
        A .txt/.jsonl[.gz]/.csv/.parquet file, a directory of text files, of images, or of audio files
        (encoded by an audio model: ``model="clap"``, a ClapModel directory).
    output
        Where the space is written (its format follows the suffix; a directory is embspace's own
        format). Metadata (other fields, chunk spans) goes beside it in ``metadata.jsonl``.
    model, encoder
        A name for :func:`~embspace.encoders.get_encoder`, or an encoder object.
    chunk, overlap
        Cut texts into windows of ``chunk`` tokens overlapping by ``overlap`` (keys ``id#n``);
        without ``chunk``, texts longer than the model's maximum are truncated (and counted).
    cache, cache_dir
        Reuse vectors of unchanged items (by content hash; default cache under ``$EMBSPACE_CACHE``).
    engine, address
        ``"local"`` (this process) or ``"ray"``: Ray Data reads the input on a Ray cluster and encoder
        actors (one per CPU slot, or per GPU) encode the items not in the cache; the driver writes the
        vectors as Parquet shards (``<output>.ray-shards``, removed once the space is written; an
        interrupted run resumes from them) and then the same space as the local engine. ``address``:
        None (the cluster this process joined, else a new local one), ``"auto"`` (the running local
        cluster, ``ray start --head``) or ``"ray://host:10001"``. Texts only; no ``chunk``. Needs
        ``pip install "embspace[ray]"``.
    """
    t0 = time.perf_counter()
    if engine not in ("local", "ray"):
        raise InvalidInputError(f"engine={engine!r} is not an engine; use 'local' or 'ray'")
    if engine == "local" and address is not None:
        raise InvalidInputError(f"address={address!r} is for engine='ray'; pass engine='ray' as well")
    if engine == "ray":
        return _encode_file_on_ray(input, output, model=model, encoder=encoder, text_field=text_field,
                                   id_field=id_field, chunk=chunk, batch_size=batch_size, normalize=normalize,
                                   cache=cache, cache_dir=cache_dir, format=format, progress=progress,
                                   encoder_options=encoder_options, address=address, t0=t0)
    items, modality = read_items(input, text_field=text_field, id_field=id_field)
    if not items:
        raise InvalidInputError(f"{input}: no items to encode")
    options = dict(encoder_options or {})
    options.pop("progress", None)
    fingerprint = model_fingerprint(model, options) if encoder is None and cache and chunk is None else None
    index = ModelIndex(Path(cache_dir) if cache_dir else None) if cache else None
    try:
        known = index.get(fingerprint) if index is not None and fingerprint is not None else None
        if known is not None and known["modality"] != modality:
            known = None
        contents_all = [i.content for i in items]
        if known is not None:  # try answering from the cache alone, without starting the model
            hashes = [EncodingCache.key(c, normalize) for c in contents_all]
            quick = EncodingCache(known["space_id"], int(known["dim"]), Path(cache_dir) if cache_dir else None)
            try:
                hits = quick.get(hashes)
            finally:
                quick.close()
            if len(hits) == len(hashes):
                vectors = np.stack([hits[h] for h in hashes]).astype(np.float32, copy=False)
                prov = known["provenance"]
                return _write(output, format, [i.id for i in items], vectors, [dict(i.metadata) for i in items],
                              hashes, Provenance(model=prov["model"], config=prov["config"]), normalize, modality,
                              len(items), 0, 0, 0, t0, known["name"])
        if encoder is None:
            from .registry import get_encoder

            encoder = get_encoder(model, **options)
            if index is not None and fingerprint is not None:
                index.put(fingerprint, encoder)
    finally:
        if index is not None:
            index.close()
    if encoder.modality != modality:
        raise InvalidInputError(f"{input} holds {modality}s but {encoder.name} encodes {encoder.modality}s")
    keys: list[str] = []
    contents: list[Any] = []
    metas: list[dict[str, Any]] = []
    n_chunked = 0
    if chunk is not None:
        chunker = getattr(encoder, "chunk", None)
        if modality != "text" or chunker is None:
            raise InvalidInputError(f"chunking needs a transformer text encoder; {encoder.name} cannot chunk")
        for item, parts in zip(items, chunker([str(i.content) for i in items], chunk, overlap), strict=True):
            n_chunked += len(parts) > 1
            for c in parts:
                keys.append(f"{item.id}#{c.index}" if len(parts) > 1 else item.id)
                contents.append(c.text)
                metas.append({**item.metadata, "parent": item.id, "chunk": c.index, "start": c.start, "end": c.end})
    else:
        for item in items:
            keys.append(item.id)
            contents.append(item.content)
            metas.append(dict(item.metadata))
    enc = encoder
    got = encode_with_cache(contents, lambda: enc, space_id=encoder.space_id, dim=encoder.dim, progress=progress,
                            cache=cache, cache_dir=cache_dir, batch_size=batch_size, normalize=normalize)
    vectors, hashes = got.vectors, got.hashes
    prov = Provenance(model=encoder.provenance.model, config=dict(encoder.provenance.config))
    return _write(output, format, keys, vectors, metas, hashes, prov, normalize, modality, len(items), got.n_encoded,
                  got.n_truncated, n_chunked, t0, encoder.name)


def _encode_file_on_ray(input: str | Path, output: str | Path, *, model: str, encoder: BaseEncoder | None,
                        text_field: str, id_field: str | None, chunk: int | None, batch_size: int | None,
                        normalize: bool, cache: bool, cache_dir: str | Path | None, format: str | None,
                        progress: bool, encoder_options: dict[str, Any] | None, address: str | None,
                        t0: float) -> EncodeReport:
    """``encode_file(..., engine="ray")``: the model space is named from the cache's model index (or by
    loading the model once here), then :mod:`._ray_encoding` runs the job on the cluster."""
    from ._ray_encoding import _ray, encode_on_ray, encoder_info

    _ray()  # a missing ray is said before anything is loaded
    if chunk is not None:
        raise InvalidInputError("chunk is not available with engine='ray' yet; use engine='local' to split "
                                "long texts into windows")
    p = Path(input).expanduser()
    if not p.exists():
        raise InvalidInputError(f"no input at {p}")
    options = dict(encoder_options or {})
    options.pop("progress", None)
    info: dict[str, Any] | None = None
    if encoder is not None:
        info = encoder_info(encoder)
    else:
        fingerprint = model_fingerprint(model, options) if cache else None
        index = ModelIndex(Path(cache_dir) if cache_dir else None) if cache else None
        try:
            if index is not None and fingerprint is not None:
                info = index.get(fingerprint)
            if info is None:  # load the model once, here, to learn its space (the actors load their own)
                from .registry import get_encoder

                loaded = get_encoder(model, **options)
                info = encoder_info(loaded)
                if index is not None and fingerprint is not None:
                    index.put(fingerprint, loaded)
                del loaded
        finally:
            if index is not None:
                index.close()
    if info["modality"] != "text":
        raise InvalidInputError(f"engine='ray' encodes texts; {info['name']} encodes {info['modality']}s: use "
                                "engine='local'")
    report: EncodeReport = encode_on_ray(p, output, address=address, model=model, encoder=encoder, info=info,
                                         options=options, text_field=text_field, id_field=id_field,
                                         batch_size=batch_size, normalize=normalize, cache=cache,
                                         cache_dir=cache_dir, format=format, progress=progress, t0=t0)
    return report


def _write(output: str | Path, format: str | None, keys: list[str], vectors: npt.NDArray[np.float32],
           metas: list[dict[str, Any]], hashes: list[bytes], prov: Provenance, normalize: bool, modality: str,
           n_items: int, n_encoded: int, n_truncated: int, n_chunked: int, t0: float, name: str) -> EncodeReport:
    """Save the space (provenance with the data hash) and its metadata; the report."""
    from ..space.io import save

    data_hash = hashlib.sha256(b"".join(hashes)).hexdigest()
    prov = Provenance(model=prov.model, config=dict(prov.config), data_hash=data_hash)
    space = EmbeddingSpace(keys, vectors, metric="cosine", provenance=prov, copy=False,
                           is_normalized=True if normalize else None)
    out = save(space, output, format)
    meta_path = out / "metadata.jsonl" if out.is_dir() else out.parent / f"{out.name}.metadata.jsonl"
    with open(meta_path, "w", encoding="utf-8") as f:
        for k, m in zip(keys, metas, strict=True):
            f.write(json.dumps({"key": k, **m}, ensure_ascii=False, default=str) + "\n")
    return EncodeReport(out, modality, n_items, len(keys), n_encoded, len(keys) - n_encoded, n_truncated,
                        n_chunked, time.perf_counter() - t0, name)
