"""What a server serves: collections, spaces and recommenders, by name, and the directory it may write.

Resources are addressed by name only (letters, digits, ``.``, ``_``, ``-``); no request ever carries
a path. Collections created through the API live in the configured data directory, and only those
can be dropped through it.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import stat
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._artifact import artifact_kind, kind_phrase
from .._dirs import default_data_dir
from ..apps.schemas import NAME_PATTERN
from ..errors import EmbspaceError, InvalidInputError
from ._work import EncodeGate
from .config import DEFAULT_MAX_ENCODE_CHARS, DEFAULT_MAX_ENCODES

__all__ = ["OPEN_TIMEOUT", "WRITE_WAIT", "ConflictError", "NotFoundError", "ReadOnlyError", "Resources",
           "default_data_dir"]

_NAME = re.compile(NAME_PATTERN)


log = logging.getLogger("embspace.serve")

#: How long (seconds) a write through the server waits for a collection's writer lock while another
#: process (``embspace collection add``, a script) holds it; then the client gets a 409 ``locked``.
WRITE_WAIT = 5.0
#: How long (seconds) opening one entry of a served directory may take at startup; an entry still opening
#: then is skipped (its reason says so) and the server starts without it.
OPEN_TIMEOUT = 120.0


class NotFoundError(EmbspaceError, LookupError):
    """No resource of that kind and name."""


class ConflictError(EmbspaceError, ValueError):
    """The resource exists already."""


class ReadOnlyError(EmbspaceError, PermissionError):
    """The resource cannot be changed through this server."""


@dataclass
class Served:
    """One served resource with the lock that serialises its use."""

    name: str
    kind: str  # "collection", "space" or "recommender"
    path: Path
    obj: Any
    owned: bool  # lives in the data directory (can be dropped through the API)
    lock: threading.RLock = field(default_factory=threading.RLock)
    cache: dict[str, Any] = field(default_factory=dict)


#: The artifact kinds a server serves, and what it serves them as (a fixed space is a space).
SERVED_KINDS: dict[str, str] = {"collection": "collection", "recommender": "recommender", "space": "space",
                                "fixed-space": "space"}


def kind_of(path: Path) -> str | None:
    """``"collection"``, ``"recommender"``, ``"space"`` or None (not a resource: maybe a directory of them).

    A directory's kind is the one its ``embspace.json`` header names (or its older layout implies:
    :func:`embspace._artifact.artifact_kind`); other artifacts (indexes, maps, models, checkpoints) are
    not served on their own. A file is a space when its format is one embspace reads.
    """
    if path.is_dir():
        kind = artifact_kind(path)
        return None if kind is None else SERVED_KINDS.get(kind)
    from ..space.io import detect_format

    try:
        detect_format(path)
    except (EmbspaceError, OSError, ValueError):
        return None
    return "space"


def _unwritable(path: Path) -> str | None:
    """Why this process may not write the collection at ``path`` (None when it may)."""
    from ..store.collection import DB_NAME

    for p in (path, path / DB_NAME, path / "writer.lock"):
        if p.exists() and not os.access(p, os.W_OK):
            return f"{p} is not writable by this user"
    return None


def _not_served(path: Path) -> str:
    """Why an entry of a served directory is not served (it is no collection, space or recommender)."""
    if path.is_dir():
        other = artifact_kind(path)
        if other is not None:
            return f"{kind_phrase(other)}, which a server does not serve on its own"
        return "a directory that is no collection, space or recommender model (give its path to serve what it holds)"
    return "not a vector file embspace reads"


def _not_vector_file(path: Path) -> str | None:
    """Why a file of a served directory is not read, told by its name alone (None: a directory, or a file
    named like a vector file, which is then read). A page, a picture or notes (``report.html``,
    ``README.md``) would otherwise be parsed, and any text parses as GloVe until a line has no values."""
    from ..space.io import has_vector_suffix

    if not path.is_file():
        return None
    if path.name.endswith(".keys.txt") and path.with_name(path.name[: -len(".keys.txt")] + ".npy").is_file():
        return f"the keys of {path.name[: -len('.keys.txt')]}.npy (served with it)"
    if has_vector_suffix(path):
        return None
    if not Path(path.name).suffix:
        return ("not a vector file embspace reads (its name has no suffix such as .txt, .vec or .bin; give the file "
                "itself to serve it anyway)")
    return "not a vector file embspace reads"


def _not_regular(path: Path) -> str | None:
    """Why an entry of a served directory is never opened: it is no regular file or directory (a FIFO would
    hang the reader, a device or socket is no data), or it cannot even be looked at. None: open it."""
    try:
        mode = path.stat().st_mode
    except OSError as e:
        return f"cannot be read ({e.strerror or e})"
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
        return None
    what = ("a FIFO (named pipe)" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode)
            else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "not a regular file")
    return f"{what}, not a file: never opened"


def _within(timeout: float, what: str, fn: Any) -> Any:
    """``fn()``, given at most ``timeout`` seconds (in a daemon thread: a read that hangs cannot hold up the
    server's start); what it raises is raised here."""
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = fn()
        except BaseException as e:  # handed to the caller
            box["error"] = e

    worker = threading.Thread(target=run, name=f"embspace-open-{what}", daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        raise TimeoutError(f"still opening after {timeout:g} s (a slow or hanging file system?); skipped")
    if "error" in box:
        raise box["error"]
    return box.get("value")


def _reason(path: Path, e: BaseException) -> str:
    """One line: why ``path`` could not be opened (said without the path, which the list gives)."""
    import sqlite3

    why = str(e) or type(e).__name__
    if why.startswith(str(path)):
        why = why[len(str(path)):].lstrip(":, ")
    if isinstance(e, MemoryError):
        why = "needs more memory than this machine has (a damaged or lying header?)" + (f": {why}" if str(e) else "")
    elif isinstance(e, sqlite3.Error):
        why = f"its database cannot be read ({why}); restore it from a backup or remove it"
    return why.splitlines()[0] if why else type(e).__name__


def _model_name(spec: str) -> str:
    """The name an encoder spec's model will have once loaded (what a collection created with it records)."""
    from ..encoders.sentence_encoder import ALIASES

    if spec.lower() in ALIASES:
        return ALIASES[spec.lower()]
    path = Path(spec).expanduser()
    return path.resolve().name if path.is_dir() else spec


class Resources:
    """The collections, spaces and recommenders of one server.

    Parameters
    ----------
    data_dir
        The directory the API may write: collections created through it go here. Resources already in
        it are served too. Created when missing.
    paths
        More resources (collections, spaces, recommender models), or directories of them; each is
        served under its file or directory name.
    encoder
        The text encoder of zero-shot classification and ``/encode`` (a name for
        :func:`~embspace.encoders.get_encoder`); loaded on first use.
    readonly
        Open collections read-only and refuse every write.
    max_encode_chars, max_encodes
        The bounds of text encoding (:class:`~embspace.serve._work.EncodeGate`): characters per request,
        encodes at once.
    open_timeout
        How long opening one entry of a served directory may take (:data:`OPEN_TIMEOUT`).
    url
        Where the server answers (``http://HOST:PORT``), noted in a collection's writer lock while the server
        writes it, so that a process kept waiting can say where to send its items instead.

    Collections are opened without their writer lock: a write request takes it for that write only (waiting
    up to :data:`WRITE_WAIT` seconds when another process holds it), so the CLI and scripts can write them
    while the server runs. A collection this process may not write (its files are read-only) is served
    read-only (:attr:`read_only` says why); entries of a served directory that are not served are listed in
    :attr:`skipped` with the reason. One bad entry never stops the server: non-regular files (a FIFO) are
    never opened, and an entry that fails to open (a damaged database, a file whose header lies about its
    size, one still opening after ``open_timeout``) is skipped with the reason.
    """

    def __init__(self, data_dir: str | Path, paths: Sequence[str | Path] = (), *, encoder: str = "minilm",
                 readonly: bool = False, url: str | None = None, max_encode_chars: int = DEFAULT_MAX_ENCODE_CHARS,
                 max_encodes: int = DEFAULT_MAX_ENCODES, open_timeout: float = OPEN_TIMEOUT) -> None:
        self.data_dir = Path(data_dir).expanduser().resolve()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.default_encoder = encoder
        self.readonly = readonly
        self.url = url
        self.open_timeout = float(open_timeout)
        #: The bounds of text encoding (``/encode``, ``/v1/embeddings``).
        self.encode_gate = EncodeGate(max_encode_chars, max_encodes)
        #: What a served directory holds that is not served, and why: (path, reason), in directory order.
        self.skipped: list[tuple[Path, str]] = []
        #: Collections served read-only although the server writes: name -> why.
        self.read_only: dict[str, str] = {}
        self._items: dict[tuple[str, str], Served] = {}
        self._encoders: dict[str, Any] = {}
        self._classifier: Any = None
        self._lock = threading.RLock()  # guards the tables above (held for lookups only, never for slow work)
        self._loading = threading.Lock()  # one encoder load at a time
        self._creating: set[str] = set()  # collection names being created (reserved, not served yet)
        for p in [self.data_dir, *(Path(x).expanduser().resolve() for x in paths)]:
            self._add_path(p, top=True)

    # -- discovery -----------------------------------------------------------------------------------
    def _add_path(self, path: Path, *, top: bool) -> None:
        if not path.exists():
            raise InvalidInputError(f"{path} does not exist")
        if top and (special := _not_regular(path)) is not None:
            raise InvalidInputError(f"cannot serve {path}: {special}")
        kind = kind_of(path)
        if kind is None:
            other = artifact_kind(path) if top and path.is_dir() else None
            if other is not None:
                raise InvalidInputError(f"{path} holds {kind_phrase(other)}, which a server does not serve on its "
                                        "own; give the space or collection it belongs to (maps are served from "
                                        "SPACE/maps/)")
            if top and path.is_dir():
                for child in sorted(path.iterdir()):
                    if child.name.startswith("."):
                        continue
                    unread = _not_regular(child) or _not_vector_file(child)
                    if unread is not None:  # told by its type or name: never opened, so never a parse error
                        self.skipped.append((child, unread))
                        continue
                    try:
                        if _within(self.open_timeout, child.name, lambda c=child: kind_of(c)) is not None:
                            self._add_path(child, top=False)
                        else:
                            self.skipped.append((child, _not_served(child)))
                    except Exception as e:  # one bad entry (any failure, MemoryError too) must not stop the server
                        log.warning("not serving %s: %s", child, e)
                        self.skipped.append((child, _reason(child, e)))
                return
            if top:
                raise InvalidInputError(f"{path} is not a collection, a space, a recommender model or a directory "
                                        "of them")
            return
        name = path.name if path.is_dir() else path.name.split(".")[0]
        if not _NAME.match(name):
            raise InvalidInputError(f"cannot serve {path}: its name {name!r} must match {NAME_PATTERN}; rename it")
        if (kind, name) in self._items:
            if self._items[(kind, name)].path == path:
                return
            raise InvalidInputError(f"two {kind}s are called {name!r}: {self._items[(kind, name)].path} and {path}")
        try:
            obj = _within(self.open_timeout, name, lambda: self._open(kind, path, name))
        except EmbspaceError:
            raise
        except Exception as e:  # a path given by hand: refused with the reason (a directory's entry: skipped)
            if not top:
                raise
            raise InvalidInputError(f"cannot serve {path}: {_reason(path, e)}") from e
        self._items[(kind, name)] = Served(name, kind, path, obj, owned=path.parent == self.data_dir)

    def _open(self, kind: str, path: Path, name: str) -> Any:
        """The object of a resource, by its loader (what :func:`embspace.open` would call; that function
        sits above every layer, so the server calls the loaders itself)."""
        if kind == "collection":
            from ..store import Collection

            why = None if self.readonly else _unwritable(path)
            col = Collection.open(path, readonly=self.readonly or why is not None, hold_lock=False,
                                  timeout=WRITE_WAIT)
            if why is not None:
                self.read_only[name] = why
            if isinstance(col, Collection):  # what a CLI kept waiting for the lock says about the server
                col.lock_note = {"by": "embspace serve", "collection": name,
                                 **({"url": self.url} if self.url else {})}
            spec = col.encoder_spec
            if spec is not None:
                if spec in self._encoders:
                    col.encoder = self._encoders[spec]
                else:
                    self._remember(spec, col.encoder)
            return col
        if kind == "recommender":
            from ..train import Recommender

            return Recommender.load(path)
        if path.is_dir() and artifact_kind(path) == "fixed-space":
            from ..analysis.fixes import FixedSpace

            return FixedSpace.load(path)
        from ..space.io import load

        return load(path)

    # -- lookup --------------------------------------------------------------------------------------
    def names(self, kind: str) -> list[str]:
        with self._lock:
            return sorted(name for k, name in self._items if k == kind)

    def get(self, kind: str, name: str) -> Served:
        with self._lock:
            got = self._items.get((kind, name))
        if got is None:
            have = self.names(kind)
            raise NotFoundError(f"no {kind} called {name!r}; this server has "
                                + (", ".join(repr(n) for n in have) if have else "none"))
        return got

    @contextmanager
    def using(self, kind: str, name: str) -> Iterator[Any]:
        """The resource's object, used under its lock."""
        served = self.get(kind, name)
        with served.lock:
            yield served.obj

    def encoder(self, spec: str | None = None) -> Any:
        """A text encoder the server offers: ``spec`` must be the default encoder or one a served
        collection uses (never a path a client chose)."""
        spec = spec or self.default_encoder
        with self._lock:
            if spec in self._encoders:
                return self._encoders[spec]
            if spec != self.default_encoder:
                offered = sorted({self.default_encoder, *self._encoders})
                raise InvalidInputError(f"unknown encoder {spec!r}; this server offers {', '.join(offered)}")
        from ..encoders import get_encoder

        with self._loading:  # loaded once, outside the table lock (which /health takes on the event loop)
            with self._lock:
                if spec in self._encoders:
                    return self._encoders[spec]
            enc = get_encoder(spec)
            with self._lock:
                self._remember(spec, enc)
            return enc

    def encoder_for(self, model: str | None) -> Any:
        """The offered encoder whose model is ``model`` (a space's provenance), or None: a space made by
        another model (or learned, like word vectors) takes no free-text queries."""
        if not model:
            return None
        with self._lock:
            if model in self._encoders:
                return self._encoders[model]
        from ..encoders.sentence_encoder import ALIASES

        default = self.default_encoder
        same = ALIASES.get(default.lower(), default).lower() == ALIASES.get(model.lower(), model).lower()
        if not same and Path(default).name != model.rsplit("/", 1)[-1]:
            return None  # not the default encoder's model: no need to load it to find out
        try:
            enc = self.encoder()
        except EmbspaceError:
            return None
        return enc if str(enc.name) == model else None

    def models(self) -> dict[str, list[str]]:
        """The offered text encoders: each model's name -> the specs it is offered under (what
        :meth:`encoder` takes). The default encoder's name is found without loading it (an alias's model,
        a directory's name, or the spec itself)."""
        out: dict[str, list[str]] = {}
        with self._lock:
            for spec, enc in self._encoders.items():
                out.setdefault(str(enc.name), []).append(spec)
            if self.default_encoder not in self._encoders:
                out.setdefault(_model_name(self.default_encoder), []).insert(0, self.default_encoder)
        return out

    def _remember(self, spec: str, enc: Any) -> None:
        """One instance per model: known by the name it was asked for and by its own name (which is what a
        collection created with it records)."""
        self._encoders[spec] = enc
        self._encoders.setdefault(str(enc.name), enc)

    def classifier(self) -> Any:
        """The zero-shot classifier over the default encoder (caption vectors cached across requests)."""
        from ..apps.zero_shot import ZeroShotClassifier

        enc = self.encoder()
        with self._lock:
            if self._classifier is None:
                self._classifier = ZeroShotClassifier(enc)
            return self._classifier

    def encoders(self) -> list[str]:
        with self._lock:
            return sorted({self.default_encoder, *self._encoders})

    # -- collections ---------------------------------------------------------------------------------
    def create_collection(self, name: str, *, dim: int | None, encoder: str | None, metric: str, index: str,
                          rescore: int | None = None) -> Served:
        from ..store import Collection

        if self.readonly:
            raise ReadOnlyError("this server is read-only")
        if not _NAME.match(name):
            raise InvalidInputError(f"a collection name must match {NAME_PATTERN}, got {name!r}")
        path = self.data_dir / name
        with self._lock:  # the name is reserved here; the slow part (an encoder to load, files) runs without
            if ("collection", name) in self._items or name in self._creating or os.path.lexists(path):
                raise ConflictError(f"a collection (or another file) called {name!r} exists already")
            self._creating.add(name)
        try:
            enc = self.encoder(encoder) if encoder is not None else None
            # atomic: built in a temporary directory and renamed into place, so a failure leaves nothing
            Collection.create(path, dim=dim, encoder=enc, metric=metric, index=index, rescore=rescore).close()
            col = self._open("collection", path, name)  # without the writer lock, like every served collection
            with self._lock:
                served = self._items[("collection", name)] = Served(name, "collection", path, col, owned=True)
            return served
        finally:
            with self._lock:
                self._creating.discard(name)

    def drop_collection(self, name: str) -> None:
        if self.readonly:
            raise ReadOnlyError("this server is read-only")
        served = self.get("collection", name)
        if not served.owned:
            raise ReadOnlyError(f"the collection {name!r} was given on the command line, not created in the "
                                "data directory; the API does not delete it")
        with served.lock:  # waits for the collection's requests in flight, never holding the table lock meanwhile
            with self._lock:
                if self._items.get(("collection", name)) is not served:
                    raise NotFoundError(f"no collection called {name!r} (it was dropped meanwhile)")
                del self._items[("collection", name)]
            served.obj.close()
            if served.path.resolve().parent == self.data_dir:
                shutil.rmtree(served.path)

    def close(self) -> None:
        with self._lock:
            for served in self._items.values():
                if served.kind == "collection":
                    with served.lock:
                        served.obj.close()
            self._items.clear()
