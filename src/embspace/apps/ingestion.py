"""Ingestion (:func:`ingest`): a directory of documents into a collection of token chunks, ready for RAG retrieval.

Each readable document (:mod:`embspace.apps.documents`) is cut into windows of ``chunk_tokens``
tokens of the collection's encoder overlapping by ``overlap`` tokens
(:meth:`~embspace.encoders.TextEncoder.chunk`); each chunk is encoded (with its document's title in
front, unless it starts with it) and stored under the key ``"SOURCE#CHUNK"``, its text (the chunk:
``document_text[start:end]``) in the item's text column, with the metadata a citation needs::

    source     the file's path relative to the directory
    title      the document's title
    start, end character offsets of the chunk in the document's extracted text
    chunk      the chunk's position in its document (0 first); chunks: how many it has
    doc_chars  length of the document's text
    doc_hash   hash of the document's title, text and the chunking settings
    kind       text, markdown, html or pdf; page: the PDF page the chunk starts on

Ingesting the same directory again skips documents whose ``doc_hash`` is unchanged, and replaces the
chunks of a changed document (its old chunks are deleted first, so a document that got shorter keeps
no stale chunk). ``prune=True`` also deletes the chunks of documents whose file is gone.

Collections ingested before texts were kept hold each chunk's text in a ``"text"`` metadata field;
retrieval reads either (the column first).
"""

from __future__ import annotations

import hashlib
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._progress import TrainingProgress
from ..errors import (
    CorruptDataError,
    InvalidInputError,
    MissingDependencyError,
    UnknownFormatError,
)
from ._passages import with_title
from .documents import Document, find_documents, read_document, skip_reason
from .schemas import IngestReport

#: Tokens per chunk (special tokens included) when the encoder allows it. all-MiniLM-L6-v2 reads at
#: most 256 word pieces: 200 leave room for the title put in front of each chunk, and keep a chunk
#: to a paragraph or two — a passage precise enough to cite, long enough to hold its context.
DEFAULT_CHUNK_TOKENS = 200
#: Overlap as a share of the chunk: 20% (40 of 200 tokens) — a sentence of up to ~40 word pieces cut
#: at a chunk boundary is whole in one of the two chunks, at the cost of 25% more chunks.
DEFAULT_OVERLAP_SHARE = 0.2
#: Chunks encoded and written together (the encoder sorts them by length into token-budget batches).
FLUSH_CHUNKS = 512
#: Version of the chunk layout; part of ``doc_hash``, so a change re-ingests everything.
CHUNK_FORMAT = 2
#: A chunk edge inside a word moves to the word's edge, by at most this many characters.
SNAP_CHARS = 24

__all__ = ["DEFAULT_CHUNK_TOKENS", "DEFAULT_OVERLAP_SHARE", "ingest"]


@dataclass
class _Stored:
    """The chunks of one source already in the collection."""

    keys: list[str] = field(default_factory=list)
    hashes: set[Any] = field(default_factory=set)
    indices: set[Any] = field(default_factory=set)
    counts: set[Any] = field(default_factory=set)

    def holds(self, doc_hash: str) -> bool:
        """Whether the stored chunks are exactly one complete ingestion of ``doc_hash``."""
        if self.hashes != {doc_hash} or len(self.counts) != 1:
            return False
        n = next(iter(self.counts))
        return isinstance(n, int) and self.indices == set(range(n)) and len(self.keys) == n


def ingest(docs_dir: str | Path, collection: Any, *, encoder: Any = None, chunk_tokens: int | None = None,
           overlap: int | None = None, batch_size: int | None = None, prune: bool = False,
           progress: bool = True) -> IngestReport:
    """Read, chunk, encode and store every document of ``docs_dir`` in ``collection``.

    Parameters
    ----------
    docs_dir
        A directory of ``.txt``, ``.md``, ``.html``/``.htm`` and ``.pdf`` files (read recursively; hidden
        entries, other suffixes, and links leading outside it are skipped, each with its reason).
    collection
        An open, writable collection with an encoder, or a path (or Milvus address): opened when a
        collection is there, created with ``encoder`` otherwise (and closed at the end).
    encoder
        For a new collection: an encoder name (default ``"minilm"``, all-MiniLM-L6-v2) or object. For
        an existing one: ``None`` (its own encoder), or the same name it was created with.
    chunk_tokens
        Tokens per chunk, special tokens included; default ``min(200, encoder.max_length)``.
    overlap
        Tokens shared by consecutive chunks; default 20% of ``chunk_tokens``.
    batch_size
        Encoding batch size (default: the encoder's token-budget batches).
    prune
        Also delete the chunks of documents that are no longer in ``docs_dir``.
    progress
        Show a progress bar with the rate (documents/s) on stderr.

    Returns
    -------
    IngestReport
        Documents and chunks stored, documents unchanged (skipped) and removed, files skipped with
        the reason, and the time taken.
    """
    t0 = time.perf_counter()
    col, owned, name = _open(collection, encoder)
    try:
        enc = _checked_encoder(col, encoder)
        size, step = _chunking(enc, chunk_tokens, overlap)
        own_dir = getattr(col, "path", None)
        files, skipped = find_documents(docs_dir, exclude=own_dir if isinstance(own_dir, Path) else None)
        stored = _stored_sources(col)
        writer = _Writer(col, enc, size, step, batch_size, stored)
        unchanged = 0
        with TrainingProgress(len(files), "ingest", unit="docs", enabled=progress) as bar:
            for source, path in files:
                try:
                    doc = read_document(path, source=source)
                except (CorruptDataError, UnknownFormatError, MissingDependencyError, OSError) as e:
                    skipped.append(skip_reason(source, e))
                    bar.advance(1)
                    continue
                doc_hash = _doc_hash(doc, size, step)
                old = stored.get(source)
                if old is not None and old.holds(doc_hash):
                    unchanged += 1
                    bar.advance(1)
                    continue
                bar.advance(writer.add(doc, doc_hash))
            bar.advance(writer.flush())
        removed = 0
        if prune:
            present = {source for source, _ in files}
            gone = [s for s in stored if s not in present]
            for s in gone:
                col.delete(stored[s].keys)
            removed = len(gone)
        _refresh_bm25(col)
        return IngestReport(collection=name, documents=writer.documents, chunks=writer.chunks,
                            unchanged=unchanged, removed=removed, skipped=skipped,
                            seconds=round(time.perf_counter() - t0, 3))
    finally:
        if owned:
            col.close()


# ------------------------------------------------------------------------------------------ set-up
def _open(collection: Any, encoder: Any) -> tuple[Any, bool, str]:
    """(the collection, whether we opened it, its name for the report)."""
    if isinstance(collection, str | Path):
        from ..store import Collection

        # an existing collection is opened as it is (with its own encoder); a new one is made
        return Collection.create(collection, encoder=encoder or "minilm", exist_ok=True), True, str(collection)
    if not getattr(collection, "writable", False):
        raise InvalidInputError("ingest needs a collection open for writing (not readonly)")
    return collection, False, str(getattr(collection, "path", None) or getattr(collection, "name", collection))


def _checked_encoder(col: Any, encoder: Any) -> Any:
    spec = col.encoder_spec
    if spec is None:
        raise InvalidInputError("this collection has no encoder, so it cannot encode document chunks; ingest into "
                                "a new collection, or one created with an encoder (encoder='minilm')")
    if isinstance(encoder, str) and encoder != spec:
        raise InvalidInputError(f"this collection was created with the encoder {spec!r}, not {encoder!r}; leave the "
                                "encoder out to use the collection's own")
    if encoder is not None and not isinstance(encoder, str):
        col.encoder = encoder  # refused unless it makes vectors of the collection's space
    enc = col.encoder
    if not callable(getattr(enc, "chunk", None)):
        raise InvalidInputError(f"the encoder {enc.name!r} cannot cut texts by tokens (it has no chunk method); use "
                                "a transformer text encoder such as 'minilm'")
    return enc


def _chunking(enc: Any, chunk_tokens: int | None, overlap: int | None) -> tuple[int, int]:
    limit = int(getattr(enc, "max_length", DEFAULT_CHUNK_TOKENS))
    size = int(chunk_tokens) if chunk_tokens is not None else min(DEFAULT_CHUNK_TOKENS, limit)
    if size < 2:
        raise InvalidInputError(f"chunk_tokens must be at least 2, got {chunk_tokens}")
    step = int(overlap) if overlap is not None else int(size * DEFAULT_OVERLAP_SHARE)
    if overlap is None and chunk_tokens is not None and step >= size - 2:
        step = 0
    enc.chunk(["x"], size, step)  # the encoder's own checks: size within its limit, overlap below size
    return size, step


def _doc_hash(doc: Document, size: int, step: int) -> str:
    h = hashlib.sha256(f"{CHUNK_FORMAT}\0{size}\0{step}\0{doc.kind}\0{doc.title}\0".encode())
    h.update(doc.text.encode("utf-8", "surrogatepass"))
    return h.hexdigest()[:32]


def _stored_sources(col: Any) -> dict[str, _Stored]:
    """What an earlier ingestion left in the collection, by source."""
    out: dict[str, _Stored] = {}
    if col.count() == 0:
        return out
    for key, _vec, meta in col.items():
        source = meta.get("source")
        if not isinstance(source, str) or "doc_hash" not in meta:
            continue
        s = out.setdefault(source, _Stored())
        s.keys.append(key)
        s.hashes.add(meta.get("doc_hash"))
        s.indices.add(meta.get("chunk"))
        s.counts.add(meta.get("chunks"))
    return out


def _refresh_bm25(col: Any) -> None:
    """Bring the BM25 index up to date now, so the first retrieval does not pay for it."""
    from ..store.collection import Collection

    if isinstance(col, Collection):
        from ._bm25 import Bm25Index
        from .retriever import BM25_DIR, Retriever

        if Bm25Index.covered(Path(col.path) / BM25_DIR) != col.identity:  # nothing written: nothing to do
            Retriever(col).refresh()


# ------------------------------------------------------------------------------------------ writing
def _whole_words(text: str, chunk: Any) -> Any:
    """``chunk`` widened to whole words: a window of word pieces may start or end inside a word
    ("...ficiency and"), which reads badly in a citation. The pieces added are in the neighbouring,
    overlapping chunk anyway; a run of word characters longer than SNAP_CHARS is left cut."""
    from ..encoders.text_encoder import Chunk

    start, end = chunk.start, chunk.end
    a = start
    while a > 0 and start - a < SNAP_CHARS and text[a - 1].isalnum() and text[a].isalnum():
        a -= 1
    b = end
    while b < len(text) and b - end < SNAP_CHARS and text[b - 1].isalnum() and text[b].isalnum():
        b += 1
    if a > 0 and text[a - 1].isalnum() and text[a].isalnum():
        a = start  # the word is longer than SNAP_CHARS: keep the tokenizer's cut
    if b < len(text) and text[b - 1].isalnum() and text[b].isalnum():
        b = end
    if (a, b) == (start, end):
        return chunk
    return Chunk(text[a:b], a, b, chunk.index)


class _Writer:
    """Chunks documents as they come, encodes and writes them FLUSH_CHUNKS at a time."""

    def __init__(self, col: Any, enc: Any, size: int, step: int, batch_size: int | None,
                 stored: dict[str, _Stored]) -> None:
        self.col, self.enc, self.size, self.step, self.batch_size = col, enc, size, step, batch_size
        self.stored = stored
        self.pending: list[tuple[Document, str, list[Any]]] = []
        self.n_pending = 0
        self.documents = 0
        self.chunks = 0

    def add(self, doc: Document, doc_hash: str) -> int:
        """Queue a document; returns how many documents were written (0 until a flush)."""
        chunks = [_whole_words(doc.text, c) for c in self.enc.chunk([doc.text], self.size, self.step)[0]]
        self.pending.append((doc, doc_hash, chunks))
        self.n_pending += len(chunks)
        return self.flush() if self.n_pending >= FLUSH_CHUNKS else 0

    def flush(self) -> int:
        if not self.pending:
            return 0
        keys: list[str] = []
        inputs: list[str] = []
        texts: list[str] = []
        metas: list[dict[str, Any]] = []
        for doc, doc_hash, chunks in self.pending:
            for c in chunks:
                keys.append(f"{doc.source}#{c.index}")
                inputs.append(with_title(doc.title, c.text))
                texts.append(c.text)
                meta: dict[str, Any] = {"source": doc.source, "title": doc.title, "start": c.start,
                                        "end": c.end, "chunk": c.index, "chunks": len(chunks),
                                        "doc_chars": len(doc.text), "doc_hash": doc_hash, "kind": doc.kind}
                page = doc.page_of(c.start)
                if page is not None:
                    meta["page"] = page
                metas.append(meta)
        vectors = self._encode(inputs)
        old = [k for doc, _, _ in self.pending for k in self.stored.get(doc.source, _Stored()).keys]
        if old:
            self.col.delete(old)  # first: a document that got shorter keeps no stale chunk
        if keys:
            self.col.upsert(keys, vectors, metas, texts=texts)
        n = len(self.pending)
        self.documents += n
        self.chunks += len(keys)
        self.pending, self.n_pending = [], 0
        return n

    def _encode(self, inputs: Sequence[str]) -> Any:
        from ..encoders.text_encoder import TruncationWarning

        with warnings.catch_warnings():
            # a long title in front of a full chunk may pass the model's limit: the chunk's end is then not
            # embedded (the next chunk, overlapping, holds it); the stored text is whole
            warnings.simplefilter("ignore", TruncationWarning)
            return self.enc.encode(list(inputs), batch_size=self.batch_size, progress=False)
