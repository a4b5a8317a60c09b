"""The Milvus backend: the Collection API over a Milvus server, a Milvus cluster or Milvus Lite.

``Collection.create("milvus://host:19530/name", dim=384)`` (or ``milvus+https://`` for TLS; a token
from ``token=`` or ``$MILVUS_TOKEN``) and ``Collection.create("milvus-lite:vectors.db#name", ...)``
return a :class:`MilvusCollection`. Each item is one row ``(key VARCHAR primary key, vector
FLOAT_VECTOR, metadata JSON, text VARCHAR nullable)``; what embspace needs to reopen it (dimension, metric, encoder) is
kept in the collection's properties. Filters in embspace's language (``docs/filters.md``) are
translated into Milvus boolean expressions; the few differences of semantics are listed in
``docs/collections.md``. Durability, concurrency and compaction are Milvus's own.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from ..errors import InvalidInputError, MissingDependencyError, UnknownKeyError
from ..index import FactorySpec
from ._base import BaseCollection, Metadata, check_keys, resolve_encoder, with_nprobe
from ._filter import Filter, FilterLike, _And, _Compare, _Exists, _In, _Node, _Not, _Or, _Path, parse_filter
from .collection_result import CollectionResult, IncludeArg, Row, attach, check_include, text_of
from .get_result import GetResult

__all__ = ["MilvusCollection", "is_milvus_uri", "milvus_filter"]

PREFIXES = ("milvus://", "milvus+http://", "milvus+https://", "milvus-lite:")
INFO_PROPERTY = "embspace.info"
DEFAULT_NAME = "embspace"
MAX_KEY_BYTES = 65_535
MAX_TEXT_BYTES = 65_535  # Milvus's longest VARCHAR
FIELD_SAMPLE = 10_000  # items read to list the metadata fields in an UnknownFieldWarning
BATCH = 5_000  # rows per insert/upsert request (well under Milvus's 64 MB message limit at 1k dimensions)
_METRICS = {"cosine": "COSINE", "dot": "IP", "l2": "L2"}
_OPS = {"=": "==", "<": "<", "<=": "<=", ">": ">", ">=": ">="}


def is_milvus_uri(path: object) -> bool:
    """Whether ``path`` names a Milvus collection (``milvus://...``, ``milvus-lite:...``)."""
    return isinstance(path, str) and path.startswith(PREFIXES)


def parse_uri(uri: str) -> tuple[str, str]:
    """``(pymilvus uri, collection name)`` of ``milvus://host:port/name`` or ``milvus-lite:FILE.db#name``."""
    if uri.startswith("milvus-lite:"):
        rest = uri[len("milvus-lite:"):]
        file, _, name = rest.partition("#")
        if not file:
            raise InvalidInputError(f"{uri!r}: give the Milvus Lite file, e.g. 'milvus-lite:vectors.db#name'")
        if not file.endswith(".db"):
            raise InvalidInputError(f"{uri!r}: a Milvus Lite file name must end in .db")
        return os.path.abspath(os.path.expanduser(file)), name or DEFAULT_NAME
    scheme, _, rest = uri.partition("://")
    host, _, name = rest.partition("/")
    if not host:
        raise InvalidInputError(f"{uri!r}: expected milvus://HOST:PORT/NAME")
    http = "https" if scheme == "milvus+https" else "http"
    return f"{http}://{host}", name.strip("/") or DEFAULT_NAME


def _pymilvus() -> Any:
    try:
        import pymilvus
    except ImportError:
        raise MissingDependencyError("pymilvus", "milvus", "the Milvus backend") from None
    return pymilvus


# ------------------------------------------------------------------------------------------ filters


def _literal(value: object, what: str) -> str:
    """A Milvus literal: strings double-quoted with \\ and " escaped; control characters refused."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidInputError(f"{what}: only finite numbers can be compared")
        return repr(value)
    if isinstance(value, str):
        if any(ord(c) < 32 or ord(c) == 127 for c in value):
            raise InvalidInputError(f"{what} {value!r} contains a control character, which Milvus expressions "
                                    "cannot carry")
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    raise InvalidInputError(f"the Milvus backend cannot compare with {value!r}: null comparisons are not supported "
                            "there (use 'exists')")


def _field(path: _Path) -> str:
    return "metadata" + "".join(f"[{_literal(name, 'the metadata key')}]" for name in path)


def _expr(node: _Node) -> str:
    if isinstance(node, _And | _Or):
        if not node.args:
            return "true" if isinstance(node, _And) else "key in []"
        word = " and " if isinstance(node, _And) else " or "
        return "(" + word.join(_expr(a) for a in node.args) + ")"
    if isinstance(node, _Not):
        return f"(not {_expr(node.arg)})"
    field = _field(node.path)
    if isinstance(node, _Exists):
        return f"(exists {field})"
    if isinstance(node, _Compare):  # guarded by exists: a missing key makes it false, so `not` is true
        return f"(exists {field} and {field} {_OPS[node.op]} {_literal(node.value, 'the value')})"
    assert isinstance(node, _In)
    if not node.values:
        return "key in []"
    alts = " or ".join(f"{field} == {_literal(v, 'the value')}" for v in node.values)
    return f"(exists {field} and ({alts}))"


def milvus_filter(where: FilterLike) -> str:
    """A filter (string or dict, see docs/filters.md) as a Milvus boolean expression ("" for none).

    Every key and value is written as an escaped literal of Milvus's expression language; text
    that could break out of a literal (a control character) is refused, never passed through.
    """
    if where is None:
        return ""
    f = parse_filter(where)
    node = f.node
    if isinstance(node, _And) and not node.args:
        return ""
    return _expr(node)


# --------------------------------------------------------------------------------------- collection


def _index_params(factory: str) -> tuple[str, dict[str, int]]:
    """Milvus index type and build parameters of an embspace index string."""
    low = factory.replace(" ", "").lower()
    if low in ("auto", "autoindex"):
        return "AUTOINDEX", {}
    if low == "exact":
        return "FLAT", {}
    spec = FactorySpec.parse(factory)  # a malformed string: the parser's message, with the nearest valid part
    spec.check_limits()  # the bounds of embspace.index.LIMITS (Milvus sizes memory itself)
    plain = not spec.transforms and spec.refine is None
    if plain and spec.index == "Flat":
        return "FLAT", {}
    if plain and spec.index == "HNSW" and spec.encoding is None:
        return "HNSW", {"M": int(spec.m or 32), "efConstruction": 200}
    if plain and spec.index == "IVF" and spec.coarse is None and spec.nlist is not None:
        if spec.encoding == "Flat":
            return "IVF_FLAT", {"nlist": spec.nlist}
        if spec.encoding == f"PQ{spec.pq_m}":
            return "IVF_PQ", {"nlist": spec.nlist, "m": int(spec.pq_m or 0), "nbits": 8}
    raise InvalidInputError(f"the Milvus backend has no index for {factory!r}; use 'auto', 'Flat', 'HNSW<M>', "
                            "'IVF<nlist>,Flat' or 'IVF<nlist>,PQ<m>'")


class MilvusCollection(BaseCollection):
    """A collection stored in Milvus (server, cluster or Lite), with the API of :class:`Collection`.

    Create and open it through ``Collection.create`` / ``Collection.open`` with a ``milvus://`` or
    ``milvus-lite:`` address.
    """

    def __init__(self, client: Any, uri: str, name: str, info: dict[str, Any], *, writable: bool,
                 encoder: Any = None) -> None:
        self._client = client
        self.uri = uri
        self.name = name
        self._info = info
        self.dim = int(info["dim"])
        self.metric = str(info["metric"])
        self.index_factory = str(info["index"])
        self.writable = writable
        self._encoder = encoder
        self._closed = False
        self._has_text = True  # the collection has the text field (those created before it had none)
        self._fields: tuple[int, frozenset[str]] | None = None

    # -- opening -------------------------------------------------------------------------------------
    @staticmethod
    def _connect(uri: str, token: str | None) -> tuple[Any, str, str]:
        pm = _pymilvus()
        client_uri, name = parse_uri(uri)
        token = token if token is not None else os.environ.get("MILVUS_TOKEN", "")
        try:
            client = pm.MilvusClient(uri=client_uri, token=token)
        except Exception as e:
            raise InvalidInputError(f"cannot connect to Milvus at {client_uri}: {e}") from None
        return client, client_uri, name

    @classmethod
    def create(cls, uri: str, *, dim: int | None = None, encoder: Any = None, metric: str = "cosine",
               index: str = "auto", exist_ok: bool = False, token: str | None = None) -> MilvusCollection:
        """A new collection in Milvus (see :meth:`Collection.create` for the arguments)."""
        if metric not in _METRICS:
            raise InvalidInputError(f"unknown metric {metric!r}; choose 'cosine', 'dot' or 'l2'")
        index_type, build = _index_params(index)
        client, client_uri, name = cls._connect(uri, token)
        if client.has_collection(name):
            client.close()
            if exist_ok:
                return cls.open(uri, token=token)
            raise InvalidInputError(f"a collection {name!r} already exists at {client_uri}; open it with "
                                    "Collection.open")
        try:  # the encoder is loaded only for a collection that is really made
            enc, dim, enc_info = resolve_encoder(encoder, dim)
        except BaseException:
            client.close()
            raise
        pm = _pymilvus()
        info: dict[str, Any] = {"format": 1, "dim": dim, "metric": metric, "index": index, "encoder": enc_info}
        schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("key", pm.DataType.VARCHAR, is_primary=True, max_length=MAX_KEY_BYTES)
        schema.add_field("vector", pm.DataType.FLOAT_VECTOR, dim=dim)
        schema.add_field("metadata", pm.DataType.JSON)
        schema.add_field("text", pm.DataType.VARCHAR, max_length=MAX_TEXT_BYTES, nullable=True)
        params = client.prepare_index_params()
        params.add_index(field_name="vector", index_type=index_type, metric_type=_METRICS[metric], params=build)
        try:
            client.create_collection(name, schema=schema, index_params=params, consistency_level="Strong")
            client.alter_collection_properties(name, properties={INFO_PROPERTY: json.dumps(info)})
        except Exception as e:
            raise InvalidInputError(f"Milvus refused to create {name!r}: {e}") from None
        return cls(client, uri, name, info, writable=True, encoder=enc)

    @classmethod
    def open(cls, uri: str, *, readonly: bool = False, encoder: Any = None, token: str | None = None
             ) -> MilvusCollection:
        """Open a collection that embspace created in Milvus."""
        client, client_uri, name = cls._connect(uri, token)
        if not client.has_collection(name):
            client.close()
            raise InvalidInputError(f"no collection {name!r} at {client_uri}; create one with Collection.create")
        props = client.describe_collection(name).get("properties") or {}
        if INFO_PROPERTY not in props:
            client.close()
            raise InvalidInputError(f"{name!r} at {client_uri} was not created by embspace (no {INFO_PROPERTY} "
                                    "property)")
        fields = {f.get("name") for f in client.describe_collection(name).get("fields") or []}
        client.load_collection(name)
        col = cls(client, uri, name, json.loads(props[INFO_PROPERTY]), writable=not readonly, encoder=encoder)
        col._has_text = "text" in fields
        if not col._has_text and not readonly:  # created before texts were kept: add the field if Milvus can
            try:
                client.add_collection_field(name, "text", _pymilvus().DataType.VARCHAR, max_length=MAX_TEXT_BYTES,
                                            nullable=True)
                col._has_text = True
            except Exception:  # an older server: texts are refused on write, read from metadata["text"]
                pass
        return col

    def close(self) -> None:
        if not self._closed:
            self._client.close()
            self._closed = True

    def __repr__(self) -> str:
        return f"MilvusCollection({self.uri!r}, dim={self.dim}, metric={self.metric!r}, index={self.index_factory!r})"

    # -- writing -------------------------------------------------------------------------------------
    def _require_writer(self) -> None:
        if not self.writable:
            raise InvalidInputError(f"{self.uri} is open read-only")
        if self._closed:
            raise InvalidInputError("the collection is closed")

    def _existing(self, keys: Sequence[str]) -> set[str]:
        found: set[str] = set()
        for s in range(0, len(keys), BATCH):
            rows = self._client.get(self.name, ids=list(keys[s : s + BATCH]), output_fields=["key"])
            found.update(r["key"] for r in rows)
        return found

    def _write(self, keys: Sequence[str | int], data: Any, metadata: Sequence[Metadata] | None,
               texts: Sequence[str | None] | None, *, replace: bool) -> int:
        self._require_writer()
        keys, vecs, metas, text_list = self._checked_items(keys, data, metadata, texts)
        for k in keys:
            if not k or len(k.encode("utf-8")) > MAX_KEY_BYTES:
                raise InvalidInputError(f"Milvus keys must be 1 to {MAX_KEY_BYTES} bytes, got {len(k.encode())}")
        for k, t in zip(keys, text_list, strict=True):
            if t is not None and len(t.encode("utf-8")) > MAX_TEXT_BYTES:
                raise InvalidInputError(f"the text of {k!r} has {len(t.encode('utf-8')):,} bytes; Milvus keeps at "
                                        f"most {MAX_TEXT_BYTES:,}: split it into passages (embspace ingest chunks "
                                        "texts)")
        if not self._has_text and any(t is not None for t in text_list):
            raise InvalidInputError(f"the Milvus collection {self.name!r} was created before embspace kept texts and "
                                    "this server cannot add the field; keep the texts in a metadata field, or copy "
                                    "the items into a new collection")
        if not replace:
            clash = self._existing(keys)
            if clash:
                raise InvalidInputError(f"key {next(iter(clash))!r} already exists ({len(clash)} of these keys do); "
                                        "use upsert to replace")
        op = self._client.upsert if replace else self._client.insert
        for s in range(0, len(keys), BATCH):
            rows = [{"key": k, "vector": v.tolist(), "metadata": m, **({"text": t} if self._has_text else {})}
                    for k, v, m, t in zip(keys[s : s + BATCH], vecs[s : s + BATCH], metas[s : s + BATCH],
                                          text_list[s : s + BATCH], strict=True)]
            op(self.name, rows)
        return len(keys)

    def add(self, keys: Sequence[str | int], data: Any = None, metadata: Sequence[Metadata] | None = None, *,
            texts: Sequence[str | None] | None = None) -> int:
        """As :meth:`Collection.add <embspace.store.Collection.add>` (texts up to 65,535 bytes each)."""
        return self._write(keys, data, metadata, texts, replace=False)

    def upsert(self, keys: Sequence[str | int], data: Any = None, metadata: Sequence[Metadata] | None = None, *,
               texts: Sequence[str | None] | None = None) -> int:
        """As :meth:`Collection.upsert <embspace.store.Collection.upsert>`."""
        return self._write(keys, data, metadata, texts, replace=True)

    def delete(self, keys: Sequence[str] | None = None, *, where: FilterLike = None) -> int:
        self._require_writer()
        if (keys is None) == (where is None):
            raise InvalidInputError("delete takes keys or where=, not both and not neither")
        if keys is not None:
            gone = sorted(self._existing(check_keys(keys)))
        else:
            self._check_fields(where)
            gone = [r["key"] for r in self._scan(where, ["key"])]
        for s in range(0, len(gone), BATCH):
            self._client.delete(self.name, ids=gone[s : s + BATCH])
        return len(gone)

    # -- reading -------------------------------------------------------------------------------------
    def count(self, where: FilterLike = None) -> int:
        self._check_fields(where)
        rows = self._client.query(self.name, filter=milvus_filter(where), output_fields=["count(*)"])
        return int(rows[0]["count(*)"])

    def __contains__(self, key: object) -> bool:
        return bool(self._client.get(self.name, ids=[str(key)], output_fields=["key"]))

    def _has_field(self, name: str) -> bool:
        return bool(self._client.query(self.name, filter=milvus_filter(Filter(_Exists((name,)))),
                                       output_fields=["key"], limit=1))

    def _all_fields(self) -> list[str]:
        """The fields of the first FIELD_SAMPLE items (Milvus has no cheap way to list JSON keys)."""
        rows = self._client.query(self.name, filter="", output_fields=["metadata"], limit=FIELD_SAMPLE)
        return sorted({k for r in rows for k in (r.get("metadata") or {})})

    def get(self, keys: Sequence[str | int], *, vectors: bool = True, strict: bool = False) -> GetResult:
        """As :meth:`Collection.get <embspace.store.Collection.get>`."""
        wanted = check_keys(keys)
        found: dict[str, dict[str, Any]] = {}
        fields = (["vector"] if vectors else []) + ["metadata"] + (["text"] if self._has_text else [])
        for s in range(0, len(wanted), BATCH):
            for r in self._client.get(self.name, ids=wanted[s : s + BATCH], output_fields=fields):
                found[r["key"]] = _record(r, vectors)
        missing = [k for k in wanted if k not in found]
        if missing and strict:
            raise UnknownKeyError(missing[0], where="the collection")
        return GetResult([found[k] for k in wanted if k in found], missing=missing)

    def _scan(self, where: FilterLike, fields: list[str], batch: int = 10_000) -> Iterator[dict[str, Any]]:
        it = self._client.query_iterator(self.name, batch_size=batch, filter=milvus_filter(where),
                                         output_fields=fields)
        try:
            while True:
                rows = it.next()
                if not rows:
                    return
                yield from rows
        finally:
            it.close()

    def items(self, where: FilterLike = None, batch: int = 10_000) -> Iterator[tuple[str, npt.NDArray[np.float32],
                                                                              dict[str, Any]]]:
        """Every (key, vector, metadata) matching ``where``, in Milvus's order."""
        for r in self._scan(where, ["key", "vector", "metadata"], batch):
            yield r["key"], np.asarray(r["vector"], np.float32), dict(r["metadata"] or {})

    def records(self, where: FilterLike = None, *, vectors: bool = True, batch: int = 10_000
                ) -> Iterator[dict[str, Any]]:
        """As :meth:`Collection.records <embspace.store.Collection.records>`, in Milvus's order."""
        fields = ["key"] + (["vector"] if vectors else []) + ["metadata"] + (["text"] if self._has_text else [])
        for r in self._scan(where, fields, batch):
            yield _record(r, vectors)

    def keys(self, where: FilterLike = None, batch: int = 10_000) -> Iterator[str]:
        """Every key matching ``where``, in Milvus's order; no vector is read."""
        for r in self._scan(where, ["key"], batch):
            yield r["key"]

    def search(self, query: Any = None, k: int = 10, *, key: str | None = None, where: FilterLike = None,
               params: Mapping[str, int] | None = None, include: IncludeArg = (),
               rescore: int | None = None, nprobe: int | None = None) -> CollectionResult:
        """As :meth:`Collection.search`; ``params`` takes ``efSearch`` (HNSW) or ``nprobe`` (IVF). The extras
        of ``include`` come back with the hits, in the search request itself. ``rescore`` (a local
        collection's exact re-ranking) is refused: Milvus re-ranks itself. ``nprobe=N`` is ``params={"nprobe": N}``."""
        params = with_nprobe(params, nprobe)
        if rescore:
            raise InvalidInputError("rescore= is for local collections (a directory); Milvus re-ranks itself")
        extras = check_include(include)
        q, single, exclude = self._search_input(query, key, k)
        self._check_fields(where)
        sp: dict[str, Any] = {"metric_type": _METRICS[self.metric], "params": {}}
        for name, value in (params or {}).items():
            if name not in ("efSearch", "nprobe"):
                raise InvalidInputError(f"unknown search parameter {name!r} for Milvus; it takes efSearch or nprobe")
            sp["params"]["ef" if name == "efSearch" else "nprobe"] = int(value)
        fields = ["key"] + (["metadata"] if extras & {"metadata", "text"} else []) + \
            (["text"] if "text" in extras and self._has_text else []) + (["vector"] if "vector" in extras else [])
        hits = self._client.search(self.name, data=q.tolist(), limit=k + len(exclude), filter=milvus_filter(where),
                                   search_params=sp, anns_field="vector", output_fields=fields)
        keys_out: list[list[str]] = []
        found: dict[str, Row] = {}
        score_out = np.full((len(q), k), -np.inf, np.float32)
        for r, row in enumerate(hits):
            kept = [h for h in row if h["key"] not in exclude][:k]
            ks = [h["key"] for h in kept]
            ds = [float(h["distance"]) for h in kept]
            scores = [-math.sqrt(max(d, 0.0)) for d in ds] if self.metric == "l2" else ds
            keys_out.append(ks)
            score_out[r, : len(ks)] = scores
            if extras:
                for h in kept:
                    meta = dict(h["metadata"] or {}) if "metadata" in fields else None
                    vec = np.asarray(h["vector"], np.float32) if "vector" in extras else None
                    text = h.get("text")
                    found[h["key"]] = (meta if "metadata" in extras else None,
                                       text if text is not None else text_of(meta), vec)
        no_ids = np.full(score_out.shape, -1, np.int64)  # Milvus rows have keys, not embspace row ids
        if single:
            m = len(keys_out[0])
            result = CollectionResult(keys_out[0], score_out[0, :m], no_ids[0, :m])
        else:
            n = max((len(x) for x in keys_out), default=0)
            result = CollectionResult([x + [""] * (n - len(x)) for x in keys_out], score_out[:, :n], no_ids[:, :n])
        return attach(result, extras, self.dim, keys_out, found) if extras else result

    def info(self) -> dict[str, Any]:
        return {"path": self.uri, "count": self.count(), "dim": self.dim, "metric": self.metric,
                "index": self.index_factory, "backend": "milvus",
                "encoder": (self._info.get("encoder") or {}).get("name")}

    def compact(self) -> None:
        """Ask Milvus to compact the collection's segments (it also does so on its own)."""
        self._require_writer()
        self._client.compact(self.name)

    def tune(self, target_recall: float = 0.95, *, k: int = 10, queries: Any = None, n_queries: int = 200,
             seed: int = 0) -> Any:
        raise InvalidInputError("Milvus builds and tunes its index on the server; pass search parameters with "
                                "search(..., params={'efSearch': ...}) or {'nprobe': ...}")


def _record(row: Mapping[str, Any], vectors: bool) -> dict[str, Any]:
    """``{"key", "vector"?, "metadata", "text"}`` of a Milvus row (the text of items written before the text
    field existed is their ``"text"`` metadata field)."""
    meta = dict(row["metadata"] or {})
    rec: dict[str, Any] = {"key": row["key"]}
    if vectors:
        rec["vector"] = np.asarray(row["vector"], np.float32)
    rec["metadata"] = meta
    text = row.get("text")
    rec["text"] = text if text is not None else text_of(meta)
    return rec
