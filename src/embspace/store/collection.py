"""Collection: an embedded embedding database — SQLite (WAL) is the truth, the vector index is derived.

Layout of a collection directory::

    PATH/embspace.json       the artifact header (kind "collection"; collections created before it have none)
    PATH/collection.sqlite   keys, float32 vectors, JSON metadata, texts, a change log (source of truth)
    PATH/index/              the vector index (FAISS or exact) + a sidecar naming the change it covers (covers.json);
                             for a quantised index (binary, SQ, PQ) or ``rescore=``, also the float32 vectors
                             sorted by id (rescore_vectors.npy, memory-mapped to re-score candidates)
    PATH/writer.lock         held (flock) by the one writer, which notes in it who it is (pid, command)

Every write is one SQLite transaction that also appends to the change log, so a write whose call
returned is durable, and a write interrupted by a crash is absent as a whole. The index is
brought up to date lazily — before a search, by replaying the log past the sequence number it
covers — so ingest runs at SQLite speed. A missing or unreadable index is rebuilt from the
table. Deletes and upserts are visible at once (the index drops removed ids at search time) and
their space is reclaimed by automatic compaction (an index rebuild once a fifth of it is dead).

Each item may keep its document text (the nullable ``text`` column, added in 0.2: a collection written
before it gets the column when first opened for writing; opened read-only, its items read as having no
text column, and searches fall back to the ``"text"`` metadata field where older ingestion kept it).
"""

from __future__ import annotations

import base64
import fcntl
import functools
import hashlib
import json
import math
import os
import re
import secrets
import shutil
import sqlite3
import sys
import uuid
import warnings
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

import numpy as np
import numpy.typing as npt

from .._artifact import artifact_kind, check_format_version, kind_phrase, write_header
from .._sqlite import select_in
from ..errors import CollectionLockedError, InvalidInputError, SnapshotChangedError, UnknownKeyError
from ._base import BaseCollection, Metadata, check_keys, resolve_encoder, with_nprobe
from ._filter import Filter, FilterLike, _Exists, compile_filter
from .collection_result import CollectionResult, IncludeArg, Row, attach, check_include, text_of
from .get_result import GetResult
from .milvus import MilvusCollection, is_milvus_uri

FORMAT = 1
DB_NAME = "collection.sqlite"
INDEX_DIR = "index"
EXACT_BELOW = 2048  # a filter matching fewer rows than this is answered by exact search over them
COMPACT_FRACTION = 0.2  # rebuild the index once this share of its entries is removed
SAVE_EVERY = 50_000  # changes applied to the index between automatic saves
FILTER_CACHE = 32  # filters whose matching ids are remembered (until the next change)
# epochs rows kept besides the one of the saved index (see _prune_epochs); a writer prunes every EPOCHS_KEPT
# of its writes and after each index save, so the table holds at most about 2 x EPOCHS_KEPT + 1 rows
EPOCHS_KEPT = 1_000
#: Rows copied per numpy call when many stored vectors become one matrix: numpy holds the interpreter lock
#: through each call, and stacking 300,000 rows in one went ~290 ms without letting the event loop of a
#: server run (the first search after 300,000 adds froze ``/health``); 4,096 rows are ~1 ms.
ROWS_PER_COPY = 4_096
#: Rows an on-disk build (``on_disk=True``) reads from the table, encodes and writes at a time: what it holds
#: of the vectors besides the training sample (100,000 x 128 float32 = 51 MB).
BUILD_SHARD = 100_000

__all__ = ["Collection", "Page", "command_line", "describe_holder", "lock_holder"]

F = TypeVar("F", bound=Callable[..., Any])


def rows_matrix(rows: Sequence[Any], dim: int) -> npt.NDArray[np.float32]:
    """``(len(rows), dim)`` float32 from ``rows``, each the bytes of one stored vector (or a float32 array of
    them), copied :data:`ROWS_PER_COPY` at a time (see there)."""
    out = np.empty((len(rows), dim), np.float32)
    for s in range(0, len(rows), ROWS_PER_COPY):
        part = rows[s : s + ROWS_PER_COPY]
        out[s : s + len(part)] = np.frombuffer(b"".join(part), np.float32).reshape(len(part), dim)
    return out


def _check_rescore(value: object, what: str) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int | np.integer) or isinstance(value, bool) or int(value) < 0:
        raise InvalidInputError(f"{what} must be a positive integer (candidates re-scored per hit, e.g. 4 or 10), "
                                f"0 (no rescoring) or None; got {value!r}")
    return int(value)


def _index_object(dim: int, factory: Any, metric: str) -> Any:
    """A new, empty index for ``factory``: a BinaryIndex for a binary one, else a FaissIndex (which refuses a bad
    string)."""
    from ..index import BinaryIndex, FactorySpec, FaissIndex

    try:
        binary = FactorySpec.parse(factory).is_binary
    except InvalidInputError:
        binary = False  # FaissIndex says what is wrong
    if binary:
        return BinaryIndex(dim, factory, metric=metric)  # type: ignore[arg-type]
    return FaissIndex(dim, factory, metric=metric)  # type: ignore[arg-type]


class Page(NamedTuple):
    """One page of :meth:`Collection.page`: its records (as :meth:`Collection.records` gives them) and the
    cursor of the next page (None after the last)."""

    records: list[dict[str, Any]]
    next: str | None


def _filter_print(where: FilterLike) -> str:
    """A short fingerprint of a filter, so a cursor is not used with another one."""
    spec = where if isinstance(where, str) else json.dumps(where, sort_keys=True, default=str)
    return hashlib.sha256(spec.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def _in_transaction(db: sqlite3.Connection) -> bool:
    return db.in_transaction


def _has_text_column(db: sqlite3.Connection) -> bool:
    return any(row[1] == "text" for row in db.execute("PRAGMA table_info(items)"))

SCHEMA = """
CREATE TABLE IF NOT EXISTS info (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS items (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT NOT NULL UNIQUE,
    vector BLOB NOT NULL,
    metadata TEXT NOT NULL DEFAULT '{}',
    seq INTEGER NOT NULL,
    text TEXT
);
CREATE TABLE IF NOT EXISTS changes (seq INTEGER PRIMARY KEY AUTOINCREMENT, op TEXT NOT NULL, id INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS epochs (seq INTEGER PRIMARY KEY, token TEXT NOT NULL);
"""
# epochs: one row per write, a random token keyed by the write's first change sequence number. The index
# records the token of the write it covers up to: a table whose history differs from the one the index
# saw (a restored older database, then new writes reusing the same sequence numbers) shows another token.
# Only the rows a check can still ask for are kept (_prune_epochs): the saved index's, and the latest writes'
# (for readers whose index in memory is a little behind; one further behind finds no row of its write and
# rebuilds: a needless rebuild at worst, never a wrong match, since tokens are random and never reused).
EPOCHS = "CREATE TABLE IF NOT EXISTS epochs (seq INTEGER PRIMARY KEY, token TEXT NOT NULL)"


def lock_holder(path: str | Path) -> dict[str, Any] | None:
    """Who holds the writer lock of the collection at ``path``, as the holder noted it in ``writer.lock``
    (``{"pid", "command", ...}`` plus what it added: :attr:`Collection.lock_note`), or None when nobody
    noted anything (no writer, or one from before the note existed)."""
    try:
        text = (Path(path) / "writer.lock").read_text(encoding="utf-8").strip()
        note = json.loads(text) if text else None
    except (OSError, ValueError):
        return None
    return note if isinstance(note, dict) else None


_SECRET_OPTION = re.compile(r"key|token|secret|passw", re.I)
_URL_CREDENTIALS = re.compile(r"://[^/@\s]+@")


def command_line(argv: Sequence[str] | None = None) -> str:
    """This process's command line (``sys.argv``) as a lock holder notes it: the program's file name, and the
    values of options that look secret (``--api-key``, ``--token``...) and credentials in URLs hidden."""
    argv = list(sys.argv if argv is None else argv)
    if not argv:
        return ""
    words, hide = [Path(argv[0]).name if argv[0] else ""], False
    for arg in argv[1:]:
        if hide:
            words.append("***")
            hide = False
        elif arg.startswith("-") and _SECRET_OPTION.search(arg.split("=", 1)[0]):
            hide = "=" not in arg
            words.append(arg if hide else arg.split("=", 1)[0] + "=***")
        else:
            words.append(_URL_CREDENTIALS.sub("://***@", arg))
    return " ".join(w for w in words if w)


def describe_holder(holder: Mapping[str, Any]) -> str:
    """A lock holder's note in words: ``"pid 123, `embspace collection add docs notes/`"``."""
    pid, command = holder.get("pid"), holder.get("command")
    return ", ".join(x for x in (f"pid {pid}" if pid else "", f"`{command}`" if command else "") if x) or "unknown"


def _writes(method: F) -> F:
    """A writing method: a collection that does not hold its writer lock (``hold_lock=False``) takes it
    for the call (waiting up to its ``timeout``) and releases it after."""

    @functools.wraps(method)
    def write(self: Collection, *args: Any, **kwargs: Any) -> Any:
        if self._lock_file is not None or not self.writable or self._closed:
            return method(self, *args, **kwargs)  # holding it already (or refused by the method)
        self._take_writer_lock(self._timeout)
        try:
            self._dirty = True  # other processes may have written since we last looked
            return method(self, *args, **kwargs)
        finally:
            self._release_writer_lock()

    return write  # type: ignore[return-value]


class Collection(BaseCollection):
    """Vectors with keys and JSON metadata on disk, searchable by vector, text or key, under filters.

    Create with :meth:`create`, open with :meth:`open`. One process writes at a time (a second
    writer waits up to ``timeout`` seconds, then gets a clear error); any number read. A writer opened
    with ``hold_lock=False`` (a server, say) takes the writer lock only while it writes.
    """

    def __init__(self, path: Path, db: sqlite3.Connection, info: dict[str, Any], *, writable: bool,
                 encoder: Any = None) -> None:
        self.path = path
        self._db = db
        self._info = info
        self.dim = int(info["dim"])
        self.metric: str = info["metric"]
        self.index_factory: str = info["index"]
        #: Candidates per hit re-scored exactly with the float vectors (None: the index's own scores).
        self.rescore: int | None = info.get("rescore")
        #: The index's inverted lists live in a memory-mapped file (``Collection.create(..., on_disk=True)``).
        self.on_disk: bool = bool(info.get("on_disk"))
        self._rescore_vectors: Any = None  # a RescoreVectors, kept with the index (None: not needed)
        self.writable = writable
        self._encoder = encoder
        self._index: Any = None
        self._index_seq = 0
        self._index_identity: tuple[Any, Any] = (None, None)  # (table uid, token at _index_seq) the index covers
        self._has_epochs: bool | None = None  # the epochs table exists (None: not looked yet)
        self._epochs_since_prune = 0  # writes of this connection since it last pruned the epochs table
        self._applied_since_save = 0
        self._lock_file: Any = None
        self._hold = True  # hold the writer lock from open to close (False: only while writing)
        self._timeout = 10.0  # how long a write waits for the writer lock (when not held)
        #: Added to what this writer notes in ``writer.lock`` when it takes the lock (see :func:`lock_holder`).
        self.lock_note: dict[str, Any] = {}
        self._closed = False
        self._names: dict[int, str] = {}  # id -> key; ids are never reused (AUTOINCREMENT), so never stale
        self._seen_version = -1  # PRAGMA data_version at the last sync: unchanged means no new commits
        self._dirty = True  # this connection wrote since the last sync (data_version ignores own writes)
        # filter -> (index sequence number, matching ids): valid while no change was applied since
        self._filter_cache: dict[tuple[str, tuple[Any, ...]], tuple[int, dict[str, Any]]] = {}
        self._has_text = True  # the items table has the text column (a read-only open of an older one may not)
        self._fields: tuple[int, frozenset[str]] | None = None  # (version, metadata fields any item has)

    # -- opening -------------------------------------------------------------------------------------
    @classmethod
    def create(cls, path: str | Path, *, dim: int | None = None, encoder: Any = None, metric: str = "cosine",
               index: str = "auto", exist_ok: bool = False, token: str | None = None,
               rescore: int | None = None, on_disk: bool = False) -> Collection | MilvusCollection:
        """A new, empty collection at ``path``: a directory, or a Milvus address (``milvus://HOST:PORT/NAME``,
        ``milvus+https://...``, ``milvus-lite:FILE.db#NAME``; ``token`` authenticates to a server).

        Parameters
        ----------
        dim
            Vector dimension; taken from ``encoder`` when given. With a text encoder given by name, a smaller
            ``dim`` truncates its vectors (``get_encoder(encoder, dim=dim)``: a Matryoshka model's first
            ``dim`` components, re-normalised; a :class:`~embspace.encoders.DimensionTruncationWarning` when
            the model was not trained for that size), and the collection reopens with the same truncation.
        encoder
            An encoder object or a name for :func:`~embspace.encoders.get_encoder`: texts added or
            searched are encoded with it, and queries from another model are refused.
        metric
            ``"cosine"`` (vectors normalised on the way in), ``"dot"`` or ``"l2"``.
        index
            ``"auto"`` (chosen from the size at the first index build), or a FAISS factory string
            (``"Flat"``, ``"HNSW32"``, ``"IVF1024,Flat"``, ``"IVF4096,PQ32"``, ``"HNSW32,SQ8"``), a binary
            index (``"BinaryFlat"``, ``"BinaryHNSW32"``, ``"BinaryIVF1024"``: sign bits, 32x smaller than
            float32), or ``"exact"``.
        rescore
            Re-score the best ``k * rescore`` candidates of the index exactly with the float vectors
            (memory-mapped from a file kept with the index, never read row by row from SQLite) and keep
            the best ``k``: the recall of a quantised index at the price of ``k * rescore`` dot products.
            Kept in the collection's header; :meth:`search` takes ``rescore=`` to override it per query.
        on_disk
            Keep the index's inverted lists in a memory-mapped file instead of memory, for collections larger
            than the memory (docs/scale.md): ``index`` must be an IVF factory (``"IVF4096,PQ32"``). The index
            is built without holding all the vectors: the coarse quantiser and the codec are trained on a
            seeded sample (:func:`~embspace.index.training_sample`), the lists filled :data:`BUILD_SHARD`
            rows at a time (:class:`~embspace.index.OnDiskIVFIndex`); items added later are searched from
            memory until the next rebuild or a save merges them. Combine with ``rescore=`` to re-score
            candidates with the float vectors (memory-mapped as well).
        """
        rescore = _check_rescore(rescore, "rescore")
        if not isinstance(on_disk, bool):
            raise InvalidInputError(f"on_disk must be True or False, got {on_disk!r}")
        if is_milvus_uri(path):
            if rescore is not None:
                raise InvalidInputError("rescore= is for local collections (a directory); Milvus re-ranks itself")
            if on_disk:
                raise InvalidInputError("on_disk= is for local collections (a directory); a Milvus server keeps its "
                                        "own segments on disk (index='DISKANN' or an IVF index, see docs/scale.md)")
            return MilvusCollection.create(str(path), dim=dim, encoder=encoder, metric=metric, index=index,
                                           exist_ok=exist_ok, token=token)
        p = Path(path).expanduser()
        if (p / DB_NAME).exists():
            if exist_ok:
                return cls.open(p)
            raise InvalidInputError(f"a collection already exists at {p}; open it with Collection.open")
        other = artifact_kind(p)
        if other not in (None, "collection"):
            raise InvalidInputError(f"{p} holds {kind_phrase(other)}, not a collection; choose another directory")
        if metric not in ("cosine", "dot", "l2"):
            raise InvalidInputError(f"unknown metric {metric!r}; choose 'cosine', 'dot' or 'l2'")
        enc, dim, enc_info = resolve_encoder(encoder, dim)
        if on_disk:
            from ..index.ondisk_index import check_ivf

            if not isinstance(index, str) or index.lower() in ("auto", "exact"):
                raise InvalidInputError(f"on_disk=True needs an IVF factory string for index= (e.g. 'IVF4096,PQ32' "
                                        f"or 'IVF1024,Flat'), got {index!r}")
            check_ivf(index)
        if not isinstance(index, str) or index.lower() not in ("auto", "exact"):
            _index_object(int(dim), index, metric)  # a bad factory: refused, nothing written
        info: dict[str, Any] = {"format": FORMAT, "dim": int(dim), "metric": metric, "index": index,
                                "encoder": enc_info, "uid": uuid.uuid4().hex}
        if rescore is not None:
            info["rescore"] = rescore
        if on_disk:
            info["on_disk"] = True
        cls._create_files(p, info, dim=int(dim), metric=metric)
        db = cls._connect(p / DB_NAME)
        col = cls(p, db, info, writable=True, encoder=enc)
        col._take_writer_lock(timeout=0)
        col._clean_temp_dirs()
        return col

    @classmethod
    def _create_files(cls, p: Path, info: dict[str, Any], *, dim: int, metric: str) -> None:
        """The files of a new, empty collection at ``p``, put there atomically: built in a temporary directory
        beside it (same file system) and renamed into place, so a failure (a full disk, a kill) leaves no
        half-made collection — at worst a hidden ``.NAME.creating-*`` directory, never a database at ``p``. A
        directory already at ``p`` with files in it gets the database, then the header (which marks a whole
        collection), each by an atomic rename."""
        p.parent.mkdir(parents=True, exist_ok=True)
        tmp = p.parent / f".{p.name}.creating-{os.getpid()}-{secrets.token_hex(4)}"
        tmp.mkdir()  # with the umask's permissions, like a directory made in place
        try:
            db = cls._connect(tmp / DB_NAME)
            try:
                with db:
                    db.executescript(SCHEMA)
                    db.executemany("INSERT OR REPLACE INTO info (name, value) VALUES (?, ?)",
                                   [(k, json.dumps(v)) for k, v in info.items()])
            finally:
                db.close()  # its journal files are named by path: closed before the directory moves
            write_header(tmp, "collection", FORMAT, dim=dim, metric=metric)  # after the table: marks a whole one
            try:
                os.rename(tmp, p)  # p missing (or an empty directory): one atomic step
            except OSError:
                if not p.is_dir():
                    raise
                if (p / DB_NAME).exists():  # another process created it meanwhile
                    raise InvalidInputError(f"a collection already exists at {p}; open it with Collection.open"
                                            ) from None
                for name in [DB_NAME, *(f.name for f in tmp.iterdir() if f.name != DB_NAME)]:
                    os.replace(tmp / name, p / name)  # the database first, the header after it
                tmp.rmdir()
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise

    @classmethod
    def open(cls, path: str | Path, *, readonly: bool = False, encoder: Any = None,
             timeout: float = 10.0, token: str | None = None, hold_lock: bool = True
             ) -> Collection | MilvusCollection:
        """Open the collection at ``path`` (a directory or a Milvus address; for writing unless ``readonly``).

        One process writes a collection at a time: a writer takes the collection's writer lock, waiting up
        to ``timeout`` seconds for it (then :class:`~embspace.errors.CollectionLockedError`, which names
        the holder). By default a writer holds the lock until :meth:`close`; with ``hold_lock=False`` it
        takes it only for each write (add, upsert, delete, compact, tune) and releases it after, so other
        processes can write in between — what a long-running process that writes now and then (a server)
        should do. Readers (``readonly``) never take it.
        """
        if is_milvus_uri(path):
            return MilvusCollection.open(str(path), readonly=readonly, encoder=encoder, token=token)
        p = Path(path).expanduser()
        if not (p / DB_NAME).is_file():
            raise InvalidInputError(f"no collection at {p} (no {DB_NAME}); create one with Collection.create")
        header = check_format_version(p, "collection", FORMAT)
        db = cls._connect(p / DB_NAME)
        rows = db.execute("SELECT name, value FROM info").fetchall()
        info = {k: json.loads(v) for k, v in rows}
        if int(info.get("format", 0)) > FORMAT:
            raise InvalidInputError(f"{p} was written by a newer embspace (format {info['format']})")
        col = cls(p, db, info, writable=not readonly, encoder=encoder)
        col._hold, col._timeout = hold_lock, float(timeout)
        col._has_text = _has_text_column(db)
        if not readonly:
            col._take_writer_lock(timeout=timeout if hold_lock else 0.0, missing_ok=not hold_lock)
            if header is None and col._lock_file is not None:  # made before the header existed: the writer adds it
                write_header(p, "collection", FORMAT, dim=col.dim, metric=col.metric)
            if col._lock_file is not None and not col._has_text:  # written before texts were kept: add the column
                col._add_text_column()
            if col._lock_file is not None:
                col._ensure_identity()
                col._clean_temp_dirs()
            if not hold_lock:
                col._release_writer_lock()
        return col

    @staticmethod
    def _connect(file: Path) -> sqlite3.Connection:
        db = sqlite3.connect(file, timeout=30.0, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")  # durable at return, also across power loss
        db.isolation_level = "DEFERRED"
        return db

    def _take_writer_lock(self, timeout: float, *, missing_ok: bool = False) -> None:
        """Take the writer lock, waiting up to ``timeout`` seconds; then note who holds it in the lock file.
        With ``missing_ok``, a lock held by another process is no error (nothing is taken)."""
        import time

        f = open(self.path / "writer.lock", "a+", encoding="utf-8")  # noqa: SIM115 - held while writing
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    f.close()
                    if missing_ok:
                        return
                    holder = lock_holder(self.path)
                    who = f"another process ({describe_holder(holder)})" if holder else "another process"
                    err = CollectionLockedError(f"{self.path} is open for writing by {who}; open it with "
                                                "readonly=True, or close the writer, then retry")
                    err.path, err.holder = self.path, holder
                    raise err from None
                time.sleep(0.05)
        note = {"pid": os.getpid(), "command": command_line()[:300], **self.lock_note}
        f.seek(0)
        f.truncate()
        f.write(json.dumps(note))
        f.flush()
        self._lock_file = f

    def _release_writer_lock(self) -> None:
        f, self._lock_file = self._lock_file, None
        if f is not None:
            f.truncate(0)  # nobody writes now
            f.flush()
            fcntl.flock(f, fcntl.LOCK_UN)
            f.close()

    def close(self) -> None:
        """Save the index (when writable and changed) and release the collection.

        The database and the writer lock are released even when saving the index fails (a full disk, say):
        the index is derived data, so nothing is lost — the failure is a warning, and the next open replays
        the change log past what the saved index covers (or rebuilds it).
        """
        if self._closed:
            return
        try:
            if self.writable and self._index is not None and self._applied_since_save:
                if self._lock_file is None:  # a writer that takes the lock per write: save now if nobody writes
                    self._take_writer_lock(0.0, missing_ok=True)
                if self._lock_file is not None:
                    self._save_index()
        except Exception as e:  # derived data: warn, and release everything all the same
            warnings.warn(f"{self.path}: could not save the index ({e.__class__.__name__}: {e}); nothing is lost: "
                          "the next open brings it up to date from the table", RuntimeWarning, stacklevel=2)
        finally:
            self._closed = True
            try:
                self._db.close()
            finally:
                self._release_writer_lock()

    def _clean_temp_dirs(self) -> None:
        """Remove what an interrupted index save left (``.index-*`` and ``.old-index-*`` directories). Only
        the writer lock's holder saves the index, so while we hold it, any such directory is stale."""
        import shutil

        if self._lock_file is None:
            return
        for pattern in (".index-*", ".old-index-*"):
            for p in self.path.glob(pattern):
                if p.is_dir() and not p.is_symlink():
                    shutil.rmtree(p, ignore_errors=True)
                else:
                    p.unlink(missing_ok=True)

    def _ensure_identity(self) -> None:
        """Give a collection made before the index checked its table a uid and the epochs table (under the
        writer lock)."""
        with self._db:
            self._db.execute(EPOCHS)
            if self._db.execute("SELECT 1 FROM info WHERE name = 'uid'").fetchone() is None:
                self._db.execute("INSERT INTO info (name, value) VALUES ('uid', ?)", (json.dumps(uuid.uuid4().hex),))
        self._has_epochs = True

    def _new_epoch(self, seq: int) -> None:
        """Record a fresh token for the write starting at change ``seq`` (inside the write's transaction)."""
        if not self._has_epochs:
            self._db.execute(EPOCHS)
            self._has_epochs = True
        self._db.execute("INSERT OR REPLACE INTO epochs (seq, token) VALUES (?, ?)", (seq, uuid.uuid4().hex))
        self._epochs_since_prune += 1
        if self._epochs_since_prune >= EPOCHS_KEPT:
            self._prune_epochs()

    def _saved_index_seq(self) -> int | None:
        """The change the saved index covers up to (``index/covers.json``), None when there is none."""
        try:
            covers = json.loads((self._index_path() / "covers.json").read_text())
            return int(covers["seq"])
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def _prune_epochs(self) -> None:
        """Delete the epochs rows no consistency check needs (inside a write transaction, by the writer): all
        but the newest :data:`EPOCHS_KEPT` and the row of the write the saved index covers up to. The
        check of an index at change ``seq`` reads the newest row at or below ``seq``: the row of its own
        write when kept, else an older one whose token differs (the index is rebuilt), never another
        history's token."""
        self._epochs_since_prune = 0
        if not self._has_epochs:
            return
        self._db.execute(
            "DELETE FROM epochs WHERE seq < (SELECT seq FROM epochs ORDER BY seq DESC LIMIT 1 OFFSET ?) "
            "AND seq IS NOT (SELECT MAX(seq) FROM epochs WHERE seq <= ?)", (EPOCHS_KEPT - 1, self._saved_index_seq()))

    # -- writing -------------------------------------------------------------------------------------
    def _require_writer(self) -> None:
        if not self.writable:
            raise InvalidInputError(f"{self.path} is open read-only")
        if self._closed:
            raise InvalidInputError("the collection is closed")

    def _rows(self, keys: Sequence[str | int], data: Any, metadata: Sequence[Metadata] | None,
              texts: Sequence[str | None] | None) -> list[tuple[str, bytes, str, str | None]]:
        keys, vecs, metas, text_list = self._checked_items(keys, data, metadata, texts)
        return [(k, v.tobytes(), json.dumps(m, ensure_ascii=False), t)
                for k, v, m, t in zip(keys, vecs, metas, text_list, strict=True)]

    @_writes
    def add(self, keys: Sequence[str | int], data: Any = None,
            metadata: Sequence[Mapping[str, Any] | None] | None = None, *,
            texts: Sequence[str | None] | None = None) -> int:
        """Add new items; an existing key is an error (its message points to :meth:`upsert`).

        Parameters
        ----------
        keys
            One key per item: strings, or integers (stored as their decimal text: ``7`` is the key ``"7"``).
        data
            The vectors, float ``(n, dim)`` (an array, a list of arrays, a pandas Series of arrays), or a
            list of texts, encoded with the collection's encoder and kept as the items' texts.
        metadata
            One dict (or None) per item, JSON values by the metadata value rule: NumPy scalars become
            Python numbers and bools, arrays lists, dates and timestamps ISO-8601 strings; a missing value
            (None, NaN, NaT, ``pd.NA``) leaves its field out; anything else raises InvalidInputError.
        texts
            The document text of each item (a str or None), stored with it and returned by :meth:`get`
            and by searches with ``include="text"``. With ``data=None`` the texts are encoded; with
            vectors as ``data`` the vectors are stored and the texts kept as they are.

        Returns the number of items added.
        """
        return self._write(keys, data, metadata, texts, replace=False)

    @_writes
    def upsert(self, keys: Sequence[str | int], data: Any = None,
               metadata: Sequence[Mapping[str, Any] | None] | None = None, *,
               texts: Sequence[str | None] | None = None) -> int:
        """Add items, replacing those whose key exists (the same arguments as :meth:`add`)."""
        return self._write(keys, data, metadata, texts, replace=True)

    @_writes  # the funnel of every add and upsert (a new writing method must be @_writes too)
    def _write(self, keys: Sequence[str | int], data: Any, metadata: Any, texts: Any, *, replace: bool) -> int:
        self._require_writer()
        rows = self._rows(keys, data, metadata, texts)
        if not self._has_text:  # an older collection opened without taking the lock: the column is added now
            self._add_text_column()
        if not rows:
            return 0
        db = self._db
        with db:
            seq = self._next_seq()
            self._new_epoch(seq)
            if replace:
                old = self._ids_for([r[0] for r in rows])
                if old:
                    db.executemany("INSERT INTO changes (op, id) VALUES ('del', ?)", [(i,) for i in old.values()])
                    db.executemany("DELETE FROM items WHERE id = ?", [(i,) for i in old.values()])
            else:
                clash = self._ids_for([r[0] for r in rows])
                if clash:
                    raise InvalidInputError(f"key {next(iter(clash))!r} already exists ({len(clash)} of these keys "
                                            "do); use upsert to replace")
            db.executemany("INSERT INTO items (key, vector, metadata, seq, text) VALUES (?, ?, ?, ?, ?)",
                           [(k, v, m, seq, t) for k, v, m, t in rows])
            db.execute("INSERT INTO changes (op, id) SELECT 'add', id FROM items WHERE seq = ? ORDER BY id", (seq,))
        self._dirty = True
        return len(rows)

    def _next_seq(self) -> int:
        row = self._db.execute("SELECT COALESCE(MAX(seq), 0) FROM changes").fetchone()
        return int(row[0]) + 1

    def _ids_for(self, keys: Sequence[str]) -> dict[str, int]:
        return {k: int(i) for k, i in select_in(self._db, "SELECT key, id FROM items WHERE key IN ({in})", keys)}

    @_writes
    def delete(self, keys: Sequence[str] | None = None, *, where: FilterLike = None) -> int:
        """Delete by keys, or every item matching a filter; returns how many were deleted."""
        self._require_writer()
        if (keys is None) == (where is None):
            raise InvalidInputError("delete takes keys or where=, not both and not neither")
        db = self._db
        with db:
            if keys is not None:
                ids = list(self._ids_for(check_keys(keys)).values())
            else:
                f = compile_filter(where)
                self._check_fields(where)
                ids = [int(r[0]) for r in db.execute(f"SELECT id FROM items WHERE {f.sql}", f.params)]
            if ids:
                self._new_epoch(self._next_seq())
            db.executemany("INSERT INTO changes (op, id) VALUES ('del', ?)", [(i,) for i in ids])
            db.executemany("DELETE FROM items WHERE id = ?", [(i,) for i in ids])
        self._dirty = True
        return len(ids)

    # -- reading -------------------------------------------------------------------------------------
    def count(self, where: FilterLike = None) -> int:
        """Items in the collection (matching ``where`` when given)."""
        if where is None:
            return int(self._db.execute("SELECT COUNT(*) FROM items").fetchone()[0])
        f = compile_filter(where)
        self._check_fields(where)
        return int(self._db.execute(f"SELECT COUNT(*) FROM items WHERE {f.sql}", f.params).fetchone()[0])

    def __len__(self) -> int:
        return self.count()

    @property
    def version(self) -> int:
        """The sequence number of the last committed change (0 for a collection never written to).

        Every add, upsert and delete that changes an item raises it, and it never goes down, so data
        derived from the items (a BM25 index, a cache) can record the version it covers and tell when
        it is stale. Writes by other processes count as soon as they are committed.
        """
        return int(self._db.execute("SELECT COALESCE(MAX(seq), 0) FROM changes").fetchone()[0])

    @property
    def identity(self) -> tuple[str | None, int, str | None]:
        """``(uid, version, token)``: which table, at which version, with which history — what derived data
        (the vector index, a BM25 index) records to tell that it describes this table as it is now.

        :attr:`version` alone does not: a restored older ``collection.sqlite`` written to since, or another
        collection, can reach the same version with other items. ``uid`` is the table's random id (kept by a
        copy of the file), ``token`` the random token of the write that made ``version`` (a write after a
        restore gets a new one). All three are read in one read transaction. ``uid`` and ``token`` are None
        for a collection made before they were recorded, until its first writer."""
        with self._snapshot():
            seq = self._last_seq()
            uid, token = self._table_identity(seq)
        return (str(uid) if uid is not None else None), seq, (str(token) if token is not None else None)

    def __contains__(self, key: object) -> bool:
        return self._db.execute("SELECT 1 FROM items WHERE key = ?", (str(key),)).fetchone() is not None

    def _fields_version(self) -> int | None:
        return self.version

    def _has_field(self, name: str) -> bool:
        f = compile_filter(Filter(_Exists((name,))))
        return self._db.execute(f"SELECT 1 FROM items WHERE {f.sql} LIMIT 1", f.params).fetchone() is not None

    def _all_fields(self) -> list[str]:
        return [r[0] for r in self._db.execute(
            "SELECT DISTINCT j.key FROM items, json_each(items.metadata) AS j ORDER BY j.key")]

    def get(self, keys: Sequence[str | int], *, vectors: bool = True, strict: bool = False) -> GetResult:
        """The stored items of ``keys`` that exist, in the order asked: a :class:`~embspace.store.GetResult`
        (a list) of ``{"key", "vector", "metadata", "text"}`` dicts (no ``"vector"`` when not ``vectors``),
        whose ``.missing`` lists the keys not found. ``strict=True`` raises UnknownKeyError for the first
        missing key instead. Integer keys are read as their decimal text.

        ``"text"`` is the item's stored text (None without one; for items written before texts were kept,
        the ``"text"`` metadata field when it is a string).
        """
        wanted = check_keys(keys)
        cols = f"key, {'vector' if vectors else 'NULL'}, metadata, {self._text_sql}"
        found: dict[str, dict[str, Any]] = {}
        for k, v, m, t in select_in(self._db, f"SELECT {cols} FROM items WHERE key IN ({{in}})", wanted):
            meta = json.loads(m)
            item: dict[str, Any] = {"key": k}
            if vectors:
                item["vector"] = np.frombuffer(v, np.float32).copy()
            item["metadata"] = meta
            item["text"] = t if t is not None else text_of(meta)
            found[k] = item
        missing = [k for k in wanted if k not in found]
        if missing and strict:
            raise UnknownKeyError(missing[0], where="the collection")
        return GetResult([found[k] for k in wanted if k in found], missing=missing)

    def _add_text_column(self) -> None:
        """Add the text column to a collection written before texts were kept (the caller holds the writer
        lock; nothing is rewritten: existing items have no text)."""
        if not _has_text_column(self._db):
            with self._db:
                self._db.execute("ALTER TABLE items ADD COLUMN text TEXT")
        self._has_text = True

    @property
    def _text_sql(self) -> str:
        """The SQL of an item's text column (NULL in a read-only collection written before texts were kept)."""
        if not self._has_text:  # a writer may have added it since this read-only open
            self._has_text = _has_text_column(self._db)
        return "text" if self._has_text else "NULL"

    def items(self, where: FilterLike = None, batch: int = 10_000) -> Iterator[tuple[str, npt.NDArray[np.float32],
                                                                              dict[str, Any]]]:
        """Every (key, vector, metadata), in insertion order (matching ``where`` when given)."""
        for k, v, m in self._scan(where, "key, vector, metadata", batch):
            yield k, np.frombuffer(v, np.float32).copy(), json.loads(m)

    def records(self, where: FilterLike = None, *, vectors: bool = True, batch: int = 10_000
                ) -> Iterator[dict[str, Any]]:
        """Every item as ``{"key", "vector", "metadata", "text"}`` (no ``"vector"`` when not ``vectors``), in
        insertion order (matching ``where`` when given); ``"text"`` as :meth:`get` reads it."""
        cols = f"key, {'vector' if vectors else 'NULL'}, metadata, {self._text_sql}"
        for k, v, m, t in self._scan(where, cols, batch):
            meta = json.loads(m)
            rec: dict[str, Any] = {"key": k}
            if vectors:
                rec["vector"] = np.frombuffer(v, np.float32).copy()
            rec["metadata"] = meta
            rec["text"] = t if t is not None else text_of(meta)
            yield rec

    def keys(self, where: FilterLike = None, batch: int = 10_000) -> Iterator[str]:
        """Every key, in insertion order (matching ``where`` when given); no vector is read."""
        for (k,) in self._scan(where, "key", batch):
            yield k

    def page(self, limit: int = 1_000, *, cursor: str | None = None, where: FilterLike = None,
             vectors: bool = False, max_text: int | None = None) -> Page:
        """One page of the items (matching ``where``), in insertion order, for reading a collection in several
        calls (across requests of a server): ``cursor=None`` for the first page, then each page's ``next``.

        Every page shows the collection as it was at the first page (one snapshot across calls): the cursor
        carries the table's identity and version then (:attr:`identity`) and the last item given. Items added
        since are left out of the later pages; when an item was deleted or replaced since (or the table is
        another one: a restored database), the pages could not hide it, and a later page raises
        :class:`~embspace.errors.SnapshotChangedError` — read again from the first page. Never a key twice,
        never two versions of one item.

        Parameters
        ----------
        limit
            Items per page at most (1 to 100,000).
        cursor
            The ``next`` of the previous page (opaque; with the same ``where``); None for the first page.
        where
            A metadata filter, the same for every page.
        vectors
            Include each item's vector.
        max_text
            Stop a page early (after at least one item) before its texts hold more than this many characters.
        """
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 100_000:
            raise InvalidInputError(f"limit must be an int from 1 to 100,000, got {limit!r}")
        f = compile_filter(where)
        self._check_fields(where)
        fingerprint = _filter_print(where)
        with self._snapshot():
            if cursor is None:
                after, version = 0, self._last_seq()
                uid, token = self._table_identity(version)
            else:
                uid, version, token, after = self._read_cursor(cursor, fingerprint)
                self._check_page_snapshot(uid, version, token)
            cols = f"id, key, {'vector' if vectors else 'NULL'}, metadata, {self._text_sql}"
            rows = self._db.execute(f"SELECT {cols} FROM items WHERE id > ? AND seq <= ? AND {f.sql} ORDER BY id "
                                    "LIMIT ?", (after, version, *f.params, limit + 1)).fetchall()
        more = len(rows) > limit
        records: list[dict[str, Any]] = []
        chars = 0
        for _, k, v, m, t in rows[:limit]:
            meta = json.loads(m)
            text = t if t is not None else text_of(meta)
            chars += len(text) if isinstance(text, str) else 0
            if max_text is not None and records and chars > max_text:
                more = True
                break
            rec: dict[str, Any] = {"key": k}
            if vectors:
                rec["vector"] = np.frombuffer(v, np.float32).copy()
            rec["metadata"], rec["text"] = meta, text
            records.append(rec)
        last = int(rows[len(records) - 1][0]) if records else after
        nxt = None
        if more:
            state = {"u": uid, "v": version, "t": token, "a": last, "f": fingerprint}
            nxt = base64.urlsafe_b64encode(json.dumps(state, separators=(",", ":")).encode()).decode().rstrip("=")
        return Page(records, nxt)

    def _read_cursor(self, cursor: str, fingerprint: str) -> tuple[Any, int, Any, int]:
        """(uid, version, token, last id) of a cursor of :meth:`page` made with the filter ``fingerprint``."""
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
            state = json.loads(raw)
            uid, version, token, after, made = state["u"], state["v"], state["t"], state["a"], state["f"]
            ok = (all(isinstance(x, int) and not isinstance(x, bool) and x >= 0 for x in (version, after))
                  and all(x is None or isinstance(x, str) for x in (uid, token)))
        except (ValueError, TypeError, KeyError):
            ok = False
        if not ok:
            raise InvalidInputError(f"{cursor[:40]!r} is not a cursor of this collection's pages: give the 'next' of "
                                    "the previous page, or none for the first page")
        if made != fingerprint:
            raise InvalidInputError("this cursor was made for another filter: give the same where on every page, "
                                    "or start from the first page")
        return uid, int(version), token, int(after)

    def _check_page_snapshot(self, uid: Any, version: int, token: Any) -> None:
        """Refuse a later page when the snapshot of the first can no longer be shown (inside the snapshot)."""
        last = self._last_seq()
        why = None
        if version > last:
            why = "the table is at an older version now: another database was restored"
        elif self._table_identity(version) != (uid, token):
            why = "the table's history differs: another table, or a restored database"
        elif self._db.execute("SELECT 1 FROM changes WHERE seq > ? AND op = 'del' LIMIT 1", (version,)).fetchone():
            why = "items were deleted or replaced since"
        if why is not None:
            raise SnapshotChangedError(f"the collection changed since the first page of this read ({why}; it was at "
                                       f"version {version}, it is at {last} now): the pages would mix versions; read "
                                       "again from the first page (without a cursor)")

    def _scan(self, where: FilterLike, columns: str, batch: int) -> Iterator[tuple[Any, ...]]:
        """``columns`` of the rows matching ``where``, in insertion order, ``batch`` rows per query — all
        from one snapshot: the pages are read in one read transaction on a connection of their own, so
        writes committed meanwhile (by this or another process) are not seen, and no key comes twice."""
        f = compile_filter(where)
        self._check_fields(where, stacklevel=4)
        reader = sqlite3.connect(self.path / DB_NAME, timeout=30.0, isolation_level=None, check_same_thread=False)
        try:
            reader.execute("BEGIN")  # deferred: the snapshot is taken by the first SELECT and kept to the end
            last = 0
            while True:
                rows = reader.execute(f"SELECT id, {columns} FROM items WHERE id > ? AND {f.sql} ORDER BY id "
                                      "LIMIT ?", (last, *f.params, batch)).fetchall()
                if not rows:
                    return
                for row in rows:
                    yield tuple(row[1:])
                last = int(rows[-1][0])
        finally:
            reader.close()  # ends the read transaction (nothing to commit)

    @contextmanager
    def _snapshot(self) -> Generator[None, None, None]:
        """Run the enclosed reads of ``self._db`` in one read transaction (one consistent version of the
        table); inside another transaction (or snapshot), the enclosing one."""
        db = self._db
        if db.in_transaction:
            yield
            return
        db.execute("BEGIN")
        try:
            yield
        finally:
            if _in_transaction(db):  # (an error inside may have ended it)
                db.execute("COMMIT")

    def _table_identity(self, seq: int) -> tuple[Any, Any]:
        """(the table's uid, the token of the write holding change ``seq``): what an index covering the
        table up to ``seq`` records, and must find again."""
        row = self._db.execute("SELECT value FROM info WHERE name = 'uid'").fetchone()
        uid = json.loads(row[0]) if row else None
        if self._has_epochs is None or not self._has_epochs:
            self._has_epochs = self._db.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'epochs'").fetchone() is not None
        token = None
        if self._has_epochs and seq > 0:
            got = self._db.execute("SELECT token FROM epochs WHERE seq <= ? ORDER BY seq DESC LIMIT 1",
                                   (seq,)).fetchone()
            token = got[0] if got else None
        return uid, token

    def _last_seq(self) -> int:
        return int(self._db.execute("SELECT COALESCE(MAX(seq), 0) FROM changes").fetchone()[0])

    def _covers_table(self, seq: int, identity: tuple[Any, Any]) -> str | None:
        """None when an index covering changes up to ``seq`` of the table ``identity`` describes (a prefix of)
        this table's history; else what differs (call inside :meth:`_snapshot`)."""
        last = self._last_seq()
        if seq > last:
            return f"it covers change {seq}, the table has {last}"
        got = self._table_identity(seq)
        if got[0] != identity[0]:
            return ("it was saved by an older embspace, without the table's identity" if identity[0] is None
                    else "it was built from another collection")
        if got[1] != identity[1]:
            return f"the table's history up to change {seq} differs from the one it was built from"
        return None

    # -- the index -----------------------------------------------------------------------------------
    def _index_path(self) -> Path:
        return self.path / INDEX_DIR

    def _new_index(self, n: int) -> Any:
        from ..index import ExactIndex, FactorySpec, choose_index

        factory = self.index_factory
        if self.on_disk:
            from ..index import OnDiskIVFIndex

            return OnDiskIVFIndex(self.dim, factory, metric=self.metric)  # type: ignore[arg-type]
        if factory == "auto":
            factory = choose_index(max(n, 1), self.dim)
        if factory.lower() == "exact":
            return ExactIndex(self.dim, metric=self.metric)  # type: ignore[arg-type]
        spec: FactorySpec | None = None
        bad: list[str] = []
        try:
            spec = FactorySpec.parse(factory)
        except InvalidInputError:
            pass  # FaissIndex gives its own message
        else:
            bad = spec.limit_violations(self.dim)
        if spec is not None and bad:  # stored before the limits: opens, on the nearest factory within them
            clamped = spec.clamped(self.dim)
            warnings.warn(f"collection {str(self.path)!r}: its factory {factory!r} is beyond embspace's limits "
                          f"({'; '.join(bad)}); the index is built as {str(clamped)!r} instead", stacklevel=3)
            factory = str(clamped)
        return _index_object(self.dim, factory, self.metric)

    def _load_index(self) -> None:
        """Load the saved index if it describes this table (the same uid, and the same history up to the
        change it covers, and as many items when it covers the last change); else rebuild it."""
        from ..index import load_index

        p = self._index_path()
        seq_file = p / "covers.json"
        if p.is_dir() and seq_file.is_file():
            try:
                index = load_index(p)
                covers = json.loads(seq_file.read_text())
                covered = int(covers["seq"])
                identity = (covers.get("uid"), covers.get("token"))
                if index.dim == self.dim and index.metric == self.metric:
                    with self._snapshot():
                        why = self._covers_table(covered, identity)
                        if why is None and covered == self._last_seq() and int(index.ntotal) != self.count():
                            why = f"it holds {int(index.ntotal)} items, the table {self.count()}"
                        rescore_vectors = None
                        if why is None:
                            rescore_vectors, why = self._open_rescore_vectors(index, covers)
                        if why is None:
                            self._index, self._index_seq, self._index_identity = index, covered, identity
                            self._rescore_vectors = rescore_vectors
                            self._load_names()
                            return
                    warnings.warn(f"{p}: the index does not match the table ({why}); rebuilding it from the table",
                                  RuntimeWarning, stacklevel=3)
            except Exception as e:  # corrupt or from another version: derived data, rebuild it
                warnings.warn(f"{p}: unreadable index ({e.__class__.__name__}: {e}); rebuilding it from the table",
                              RuntimeWarning, stacklevel=3)
        self.rebuild_index()

    def rebuild_index(self) -> None:
        """Build the index again from the table (what compaction does).

        The change-log position, the table's identity and the vectors are read in one read transaction,
        so the index covers exactly the version it was built from."""
        if self.on_disk:
            self._rebuild_on_disk()
            return
        with self._snapshot():
            last = self._last_seq()
            identity = self._table_identity(last)
            ids, vecs = self._all_vectors()
            self._load_names()
        index = self._new_index(len(ids))
        if len(ids):
            index.add(vecs, ids)
        self._rescore_vectors = None
        if self._wants_rescore_vectors(index):
            from ._rescore import RescoreVectors

            self._rescore_vectors = RescoreVectors.from_arrays(ids, self._stored_form(vecs), self.dim)
        self._index, self._index_seq, self._index_identity = index, last, identity
        self._filter_cache.clear()
        self._applied_since_save = 1
        if self._lock_file is not None:  # only the lock's holder writes the index files
            self._save_index()

    def _rebuild_on_disk(self) -> None:
        """:meth:`rebuild_index` of an on-disk collection, never holding all the vectors: the ids, a seeded
        training sample, then :data:`BUILD_SHARD` rows at a time (encoded into the lists file, and written into
        the rescoring file when wanted), all read in one read transaction."""
        import tempfile

        from ..index import OnDiskIVFIndex, training_sample

        try:  # beside the collection: the lists file is then linked (not copied) into index/ when saved
            work = Path(tempfile.mkdtemp(prefix=".index-build-", dir=self.path))
        except OSError:  # a reader without write access to the directory
            work = Path(tempfile.mkdtemp(prefix="embspace-ivf-"))
        index = OnDiskIVFIndex(self.dim, self.index_factory, metric=self.metric,  # type: ignore[arg-type]
                               workdir=work)
        rescore_vectors = None
        try:
            with self._snapshot():
                last = self._last_seq()
                identity = self._table_identity(last)
                ids = np.fromiter((r[0] for r in self._db.execute("SELECT id FROM items ORDER BY id")), np.int64)
                self._names = {}  # filled as hits come (a dict of every key would hold ~100 bytes an item)
                if len(ids):
                    sample = training_sample(ids, int(index.nlist or 1)).tolist()
                    got = self._vectors_by_id(sample)
                    index.train(rows_matrix([got[i] for i in sample], self.dim))
                    del got
                    rows_file = None
                    if self._wants_rescore_vectors(index):
                        from ._rescore import IDS, VECTORS, RowsWriter

                        rows_file = RowsWriter(work / VECTORS, len(ids), self.dim)
                        np.save(work / IDS, ids, allow_pickle=False)
                    try:
                        index.add_shards(self._shards(rows_file))
                    finally:
                        if rows_file is not None:
                            rows_file.close()
                    if rows_file is not None:
                        from ._rescore import RescoreVectors

                        rescore_vectors = RescoreVectors.open(work, self.dim)
            self._rescore_vectors = rescore_vectors
            self._index, self._index_seq, self._index_identity = index, last, identity
            self._filter_cache.clear()
            self._applied_since_save = 1
            if self._lock_file is not None:  # only the lock's holder writes the index files
                self._save_index()
        finally:
            if self._lock_file is not None:  # saved (linked into index/) or failed: the work files can go
                shutil.rmtree(work, ignore_errors=True)

    def _shards(self, rows_file: Any) -> Iterator[tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]]:
        """``(vectors, ids)`` of every item in id order, :data:`BUILD_SHARD` rows at a time (inside the caller's
        read transaction); each shard's stored form also written into ``rows_file`` (rescoring) when given."""
        after = 0
        while True:
            rows = self._db.execute("SELECT id, vector FROM items WHERE id > ? ORDER BY id LIMIT ?",
                                    (after, BUILD_SHARD)).fetchall()
            if not rows:
                return
            ids = np.fromiter((r[0] for r in rows), np.int64, len(rows))
            x = rows_matrix([r[1] for r in rows], self.dim)
            del rows
            if rows_file is not None:
                rows_file.write(self._stored_form(x))
            after = int(ids[-1])
            yield x, ids

    def _wants_rescore_vectors(self, index: Any) -> bool:
        """Whether the float vectors are kept with ``index`` for rescoring: with ``rescore`` set, and always for a
        binary index (whose own scores are coarse) and an on-disk one (so that ``search(rescore=...)`` never
        reads every vector from the table)."""
        return bool(self.rescore) or getattr(index, "kind", "") in ("faiss-binary", "faiss-ondisk")

    def _stored_form(self, x: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """Vectors as the index stores them (unit rows under cosine), for exact re-scoring."""
        from ..index.base import normalize_rows

        x = np.ascontiguousarray(x, dtype=np.float32)
        return normalize_rows(x, allow_zero=True, what="vector") if self.metric == "cosine" else x

    def _open_rescore_vectors(self, index: Any, covers: Mapping[str, Any]) -> tuple[Any, str | None]:
        """(the saved rescoring vectors of ``index``, None) — or (None, why they do not match it)."""
        from ._rescore import VECTORS, RescoreVectors

        p = self._index_path()
        if not (p / VECTORS).is_file():
            if self._wants_rescore_vectors(index):
                return None, "the float vectors for rescoring are missing"
            return None, None
        try:
            rv = RescoreVectors.open(p, self.dim)
        except Exception as e:  # derived data: rebuild
            return None, f"unreadable rescoring vectors ({e})"
        live = np.asarray(index.ids, np.int64)
        if covers.get("rescore_vectors") != len(rv) or len(rv) != len(live) or not rv.covers(live):
            return None, f"its {len(rv)} rescoring vectors do not match its {len(live)} items"
        return rv, None

    def _rescore_source(self) -> Any:
        """The rescoring vectors; built from the table in one read when the index was saved without them (a
        per-query ``rescore=`` on a collection created without it), and written with the index from then on."""
        if self._rescore_vectors is None:
            from ._rescore import RescoreVectors

            with self._snapshot():
                ids, vecs = self._all_vectors()
            self._rescore_vectors = RescoreVectors.from_arrays(ids, self._stored_form(vecs), self.dim)
            self._applied_since_save = max(self._applied_since_save, 1)  # saved with the index at close
        return self._rescore_vectors

    def _rescored(self, q: npt.NDArray[np.float32], ids: npt.NDArray[np.int64], k: int
                  ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]:
        """The best ``k`` of the candidates ``ids`` (``(nq, m)``, ``-1`` for none) by exact float scores."""
        nq, m = ids.shape
        source = self._rescore_source()
        if nq == 1:  # one query (the common case): few NumPy calls
            x1, found1 = source.get(ids[0])
            s1 = x1 @ q[0] if self.metric != "l2" else -np.sqrt(((x1 - q[0]) ** 2).sum(axis=1))
            s1 = np.where(found1 & (ids[0] >= 0), s1, -np.inf).astype(np.float32)
            best = np.argsort(-s1, kind="stable")[:k]
            top1 = s1[best]
            return top1[None, :], np.where(np.isfinite(top1), ids[0][best], -1)[None, :]
        scores = np.empty((nq, m), np.float32)
        step = max(1, (1 << 22) // max(m * self.dim, 1))  # queries per block: ~16 MB of gathered rows
        for q0 in range(0, nq, step):
            block = ids[q0:q0 + step]
            x, found = source.get(block.reshape(-1))
            x = x.reshape(len(block), m, self.dim)
            qb = q[q0:q0 + step]
            if self.metric == "l2":
                s = -np.sqrt(np.maximum(((x - qb[:, None, :]) ** 2).sum(axis=2), 0.0))
            else:
                s = np.einsum("qkd,qd->qk", x, qb)
            scores[q0:q0 + step] = np.where(found.reshape(len(block), m) & (block >= 0), s, -np.inf)
        order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
        top = np.take_along_axis(scores, order, 1)
        top_ids = np.where(np.isfinite(top), np.take_along_axis(ids, order, 1), -1)
        return np.ascontiguousarray(top), top_ids

    def _all_vectors(self, where: FilterLike = None) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]:
        f = compile_filter(where)
        rows = self._db.execute(f"SELECT id, vector FROM items WHERE {f.sql} ORDER BY id", f.params).fetchall()
        ids = np.fromiter((r[0] for r in rows), np.int64, len(rows))
        vecs = rows_matrix([r[1] for r in rows], self.dim)
        return ids, vecs

    def _load_names(self) -> None:
        """id -> key of every item, so search results map to keys without a query per search (on disk: none
        preloaded, the keys of hits are read as they come)."""
        if self.on_disk:
            self._names = {}
            return
        self._names = {int(i): k for i, k in self._db.execute("SELECT id, key FROM items")}

    def _save_index(self) -> None:
        import shutil
        import tempfile

        tmp = Path(tempfile.mkdtemp(prefix=".index-", dir=self.path))
        try:
            self._index.save(tmp / "i")
            uid, token = self._index_identity
            covers = {"seq": self._index_seq, "uid": uid, "token": token, "count": int(self._index.ntotal)}
            if self._rescore_vectors is not None:  # the float vectors of the same items, covered by the same record
                live = np.asarray(self._index.ids, np.int64)
                self._rescore_vectors.write(tmp / "i", live)
                covers["rescore_vectors"] = len(live)
            (tmp / "i" / "covers.json").write_text(json.dumps(covers))
            old = self._index_path()
            if old.exists():  # a name of its own (not the pid: a killed process's leftover may hold that one)
                os.replace(old, tmp / "old")
            os.replace(tmp / "i", old)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        if self._rescore_vectors is not None:  # from now on memory-mapped from the file just written
            from ._rescore import RescoreVectors

            self._rescore_vectors = RescoreVectors.open(self._index_path(), self.dim)
        self._applied_since_save = 0
        if not self._db.in_transaction and self._has_epochs:  # (inside a read snapshot: the next write prunes)
            with self._db:
                self._prune_epochs()  # the rows of the index saved before are no longer needed

    def _sync_index(self) -> None:
        """Replay the change log past what the index covers (adds, deletes), compacting when needed."""
        if self._index is None:
            self._load_index()
        elif self._lock_file is not None and not self._dirty:
            return  # we hold the writer lock (and looked when we took it): nobody else can have committed
        version = int(self._db.execute("PRAGMA data_version").fetchone()[0])
        if version == self._seen_version and not self._dirty:
            return  # nobody committed since the last sync (data_version covers other connections)
        with self._snapshot():  # the log, the vectors and the keys of one version
            self._seen_version, self._dirty = version, False
            why = self._covers_table(self._index_seq, self._index_identity)
            if why is not None:  # the table was replaced under us (a restored database)
                warnings.warn(f"{self.path}: the index no longer matches the table ({why}); rebuilding it",
                              RuntimeWarning, stacklevel=3)
                self.rebuild_index()
                return
            if self.on_disk and not self._index.is_trained:  # the first items: train on a sample of the table
                # (asked before reading the log: 10M adds are 10M rows of it, gigabytes as Python tuples)
                if self._db.execute("SELECT 1 FROM changes WHERE seq > ? LIMIT 1", (self._index_seq,)).fetchone():
                    self.rebuild_index()
                return
            rows = self._db.execute("SELECT seq, op, id FROM changes WHERE seq > ? ORDER BY seq",
                                    (self._index_seq,)).fetchall()
            if not rows:
                return
            last = int(rows[-1][0])
            identity = self._table_identity(last)
            dels = [int(i) for _, op, i in rows if op == "del"]
            dead = set(dels)
            live_adds = [int(i) for _, op, i in rows if op == "add" and int(i) not in dead]
            got = self._vectors_by_id(live_adds) if live_adds else {}
            names = dict(select_in(self._db, "SELECT id, key FROM items WHERE id IN ({in})", list(got)))
        try:  # idempotent: an id the index has already is not added again, one it lacks is not removed
            removable = [i for i in dels if i in self._index]
            if removable:
                self._index.remove(removable)
            keep = [i for i in live_adds if i in got and i not in self._index]
            if keep:
                new_x, new_ids = rows_matrix([got[i] for i in keep], self.dim), np.asarray(keep, np.int64)
                self._index.add(new_x, new_ids)
                if self._rescore_vectors is not None:
                    self._rescore_vectors.add(new_ids, self._stored_form(new_x))
            self._names.update({int(i): k for i, k in names.items()})
        except Exception as e:  # an index that disagrees with the log: never wedge, rebuild from the table
            warnings.warn(f"{self.path}: replaying the change log failed ({e.__class__.__name__}: {e}); rebuilding "
                          "the index from the table", RuntimeWarning, stacklevel=3)
            self.rebuild_index()
            return
        self._index_seq, self._index_identity = last, identity
        self._applied_since_save += len(rows)
        removed = int(getattr(self._index, "n_removed", 0))
        if removed and removed > COMPACT_FRACTION * max(self._index.ntotal + removed, 1):
            self.rebuild_index()
        elif self._lock_file is not None and self._applied_since_save >= SAVE_EVERY:
            self._save_index()

    def _vectors_by_id(self, ids: Sequence[int]) -> dict[int, npt.NDArray[np.float32]]:
        return {int(i): np.frombuffer(v, np.float32)
                for i, v in select_in(self._db, "SELECT id, vector FROM items WHERE id IN ({in})", ids)}

    @_writes
    def compact(self) -> None:
        """Rebuild the index without removed entries and reclaim SQLite's free pages."""
        self._require_writer()
        self.rebuild_index()
        self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    @_writes
    def tune(self, target_recall: float = 0.95, *, k: int = 10, queries: Any = None, n_queries: int = 200,
             seed: int = 0) -> Any:
        """Pick the cheapest index search parameters reaching ``target_recall`` (recall@k against exact
        search over this collection's own vectors) and save them with the index.

        ``queries`` default to ``n_queries`` stored vectors drawn at random (each a realistic query:
        a point of the data). Returns the :class:`~embspace.index.TuneResult` (its trials table too).
        """
        from ..index import tune

        self._require_writer()
        self._sync_index()
        ids, vecs = self._all_vectors()
        if len(ids) == 0:
            raise InvalidInputError("the collection is empty: nothing to tune on")
        if queries is None:
            rng = np.random.default_rng(seed)
            queries = vecs[rng.choice(len(vecs), min(n_queries, len(vecs)), replace=False)]
        else:
            queries = self._query_vectors(queries)[0]
        result = tune(self._index, queries, target_recall=target_recall, k=k, vectors=vecs, ids=ids)
        self._applied_since_save = max(self._applied_since_save, 1)
        self._save_index()
        return result

    # -- search --------------------------------------------------------------------------------------
    def search(self, query: Any = None, k: int = 10, *, key: str | None = None, where: FilterLike = None,
               params: Mapping[str, int] | None = None, include: IncludeArg = (),
               rescore: int | None = None, nprobe: int | None = None) -> CollectionResult:
        """The ``k`` nearest items to ``query`` (a vector, a batch of vectors, or a text or texts — encoded
        with the collection's encoder; in a collection without an encoder a string is a key) or to the
        item ``key`` (itself excluded), best first.

        ``where`` restricts the search to items whose metadata matches (a dict of equalities or a
        filter string, see docs/filters.md); few matches are searched exactly, many through the index
        with an id selector, so recall holds at any selectivity.

        ``include`` names what each hit carries besides its key and score: ``"metadata"``, ``"text"``
        (the item's stored text; for items written before texts were kept, the metadata's ``"text"``
        field) and ``"vector"``
        (see :class:`~embspace.store.CollectionResult`); they are read in one query for all hits.

        ``rescore`` overrides the collection's setting for this search: the index's best ``k * rescore``
        candidates are re-scored exactly with the float vectors (memory-mapped) and the best ``k`` kept,
        with their exact scores; ``0`` turns it off.

        ``nprobe`` (IVF indexes) is the number of inverted lists a query visits, for this search only: the
        same as ``params={"nprobe": N}`` (more lists: higher recall, slower; the default is the one saved with
        the index, ``round(sqrt(nlist))`` unless :meth:`tune` chose another).
        """
        if nprobe is not None:
            params = with_nprobe(params, nprobe)
        extras = check_include(include) if include else frozenset()
        factor = self.rescore if rescore is None else _check_rescore(rescore, "rescore")
        if (where is None and key is None and type(query) is np.ndarray and query.ndim == 1
                and query.dtype == np.float32 and type(k) is int and k > 0):
            fast = self._search_one(query, k, factor, params)  # one vector, no filter: the hot path
            if fast is not None:
                return self._with_extras(fast, extras) if extras else fast
        q, single, exclude = self._search_input(query, key, k)
        self._sync_index()
        entry: dict[str, Any] = {}
        if where is not None:
            entry = self._filter_entry(where)
            if len(entry["ids"]) == 0:
                return attach(CollectionResult.empty(not single, len(q)), extras, self.dim, [[]] * len(q), {})
        kk = k + len(exclude)
        if entry and len(entry["ids"]) < EXACT_BELOW:
            if "exact" not in entry:
                entry["exact"] = self._exact_index_over(entry["ids"])
            res = entry["exact"].search(q, min(kk, entry["exact"].ntotal))
        else:  # q is checked and normalised already: skip the index's own validation
            if entry and "selection" not in entry:
                entry["selection"] = self._index.select(entry["ids"])
            got = self._index.search_prepared(q, kk * factor if factor else kk, params=params,
                                              allowed_ids=entry.get("selection"))
            if got is None:
                return attach(CollectionResult.empty(not single, len(q)), extras, self.dim, [[]] * len(q), {})
            if factor:
                got = self._rescored(q, got[1], kk)
            res = CollectionResult([], got[0], got[1])
        result = self._keyed(res, k, exclude, single)
        return self._with_extras(result, extras) if extras else result

    def _with_extras(self, result: CollectionResult, extras: frozenset[str]) -> CollectionResult:
        """``result`` with the metadata, texts or vectors of its hits, read in one query (by row id)."""
        keys = [result.keys] if not result.batched else result.keys
        handles = [row[: len(ks)] for row, ks in zip(np.atleast_2d(result.ids).tolist(), keys, strict=True)]
        wanted = sorted({i for row in handles for i in row if i >= 0})
        columns = ["vector" if "vector" in extras else "NULL"]
        columns.append("metadata" if "metadata" in extras else "NULL")
        if "text" in extras:  # the text column; else (items written before it) the "text" metadata field
            columns.append(f"COALESCE({self._text_sql}, CASE WHEN json_type(metadata, '$.text') = 'text' "
                           "THEN json_extract(metadata, '$.text') END)")
        else:
            columns.append("NULL")
        found: dict[int, Row] = {}
        for i, v, m, t in select_in(self._db, f"SELECT id, {', '.join(columns)} FROM items WHERE id IN ({{in}})",
                                    wanted):
            vec = None if v is None else np.frombuffer(v, np.float32)
            found[int(i)] = (None if m is None else json.loads(m), t, vec)
        return attach(result, extras, self.dim, handles, found)

    def _filter_entry(self, where: FilterLike) -> dict[str, Any]:
        """``{"ids": ids matching where, ...}`` from SQLite, kept for the filter until the next change
        together with what searches derive from it (an exact index over few rows, or the index's
        label selection over many)."""
        f = compile_filter(where)
        key = (f.sql, tuple(f.params))
        hit = self._filter_cache.pop(key, None)
        if hit is None or hit[0] != self._index_seq:  # not cached: also the check of the fields it names
            self._check_fields(where, stacklevel=4)
            ids = np.fromiter((r[0] for r in self._db.execute(f"SELECT id FROM items WHERE {f.sql}", f.params)),
                              np.int64)
            hit = (self._index_seq, {"ids": ids})
        self._filter_cache[key] = hit  # most recently used last
        while len(self._filter_cache) > FILTER_CACHE:
            self._filter_cache.pop(next(iter(self._filter_cache)))
        return hit[1]

    def _search_one(self, query: npt.NDArray[np.float32], k: int, factor: int | None = None,
                    params: Mapping[str, int] | None = None) -> CollectionResult | None:
        """:meth:`search` of one float32 vector without filter, in as few steps as possible (None: take the
        general path, which also produces the errors). With ``factor`` (rescoring), the index's ``k * factor``
        candidates are re-scored as :meth:`_rescored` does for one query — the same operations, so the same
        hits and scores: one gather of their float rows, one matrix-vector product, one sort."""
        if query.shape[0] != self.dim:
            return None
        q = np.ascontiguousarray(query.reshape(1, -1))
        n2 = float(np.dot(query, query))  # NaN or Inf anywhere makes it non-finite (no cold ufunc reduction)
        if not n2 < math.inf or (self.metric == "cosine" and not n2 > 0.0):
            return None  # the general path says what is wrong
        if self.metric == "cosine":
            q = q * np.float32(1.0 / math.sqrt(n2))
        self._sync_index()
        if factor:
            source = self._rescore_vectors if self._rescore_vectors is not None else self._rescore_source()
            got = self._index.search_prepared(q, k * factor, params=params)
            if got is None:
                return None
            cand = got[1][0]
            x = source.rows_of(cand)
            if x is None:  # some added since the files were written (kept in memory), or a row not filled
                x, found = source.get(cand)
                if not found.all() or int(cand.min()) < 0:
                    return None
            s1 = -np.sqrt(((x - q[0]) ** 2).sum(axis=1)) if self.metric == "l2" else x @ q[0]
            best = np.argsort(-s1, kind="stable")[:k]
            scores1, ids1 = s1[best], cand[best]
        else:
            got = self._index.search_prepared(q, k, params=params)
            if got is None:
                return None
            scores1, ids1 = got[0][0], got[1][0]
        names = self._names
        try:
            keys = [names[i] for i in ids1.tolist()]
        except KeyError:
            return None
        return CollectionResult(keys, scores1, ids1)

    def _exact_index_over(self, ids: npt.NDArray[np.int64]) -> Any:
        from ..index import ExactIndex

        got = self._vectors_by_id(ids.tolist())
        keep = np.asarray([i for i in ids.tolist() if i in got], np.int64)
        index = ExactIndex(self.dim, metric=self.metric)  # type: ignore[arg-type]
        if len(keep):
            index.add(rows_matrix([got[i] for i in keep.tolist()], self.dim), keep)
        return index

    def _keyed(self, res: Any, k: int, exclude: set[str], single: bool) -> CollectionResult:
        ids = np.atleast_2d(np.asarray(res.ids, np.int64))
        scores = np.atleast_2d(np.asarray(res.scores, np.float32))
        names = self._names
        id_rows = ids.tolist()
        wanted = sorted({i for row in id_rows for i in row if i >= 0 and i not in names})
        if wanted:
            names.update({int(i): key for i, key in
                          select_in(self._db, "SELECT id, key FROM items WHERE id IN ({in})", wanted)})
        if not exclude and ids.shape[1] == k and ids.size and int(ids.min()) >= 0:  # every row full: no holes
            try:
                keys_full = [[names[i] for i in row] for row in id_rows]
            except KeyError:  # an id removed since the index was searched: the careful path below
                pass
            else:
                if single:
                    return CollectionResult(keys_full[0], scores[0], ids[0])
                return CollectionResult(keys_full, scores, ids)
        keys_out: list[list[str]] = []
        score_out = np.full((len(id_rows), k), -np.inf, np.float32)
        id_out = np.full((len(id_rows), k), -1, np.int64)
        for r, row in enumerate(id_rows):
            cols = [c for c, i in enumerate(row) if (name := names.get(i)) is not None and name not in exclude][:k]
            keys_out.append([names[row[c]] for c in cols])
            score_out[r, : len(cols)] = scores[r, cols]
            id_out[r, : len(cols)] = ids[r, cols]
        n = max((len(x) for x in keys_out), default=0)
        if single:
            m = len(keys_out[0])
            return CollectionResult(keys_out[0], score_out[0, :m], id_out[0, :m])
        return CollectionResult(keys_out, score_out[:, :n], id_out[:, :n])

    def info(self) -> dict[str, Any]:
        """Size, dimension, metric, index and encoder of the collection."""
        self._sync_index()
        return {"path": str(self.path), "count": self.count(), "dim": self.dim, "metric": self.metric,
                "index": self.index_factory, "index_entries": int(self._index.ntotal),
                "index_removed": int(getattr(self._index, "n_removed", 0)),
                "index_bytes": int(self._index.memory_bytes()), "rescore": self.rescore,
                "rescore_file_bytes": 0 if self._rescore_vectors is None else int(self._rescore_vectors.file_bytes),
                "on_disk": self.on_disk, "index_file_bytes": int(getattr(self._index, "file_bytes", lambda: 0)()),
                "encoder": (self._info.get("encoder") or {}).get("name")}

    def __repr__(self) -> str:
        return f"Collection({str(self.path)!r}, dim={self.dim}, metric={self.metric!r}, index={self.index_factory!r})"
