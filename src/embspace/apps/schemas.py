"""The wire schemas: the inputs and outputs of embspace's applications, as pydantic models.

The library's application functions (:class:`~embspace.apps.Retriever`, semantic search, near-duplicates,
zero-shot classification, recommendation) return these models, and the HTTP API
(:mod:`embspace.serve`) takes and returns the very same ones, so its OpenAPI schema is the
library's own contract. Limits (``k``, text lengths, batch sizes) are part of the models: a request
beyond them is refused with a clear message before any work is done.
"""

from __future__ import annotations

from typing import Annotated, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "MAX_BATCH",
    "MAX_K",
    "MAX_TEXT",
    "AnalogyRequest",
    "Classification",
    "ClassifyRequest",
    "ClassifyResponse",
    "CollectionCreate",
    "CollectionInfo",
    "CountResponse",
    "DedupRequest",
    "DedupResponse",
    "DeleteRequest",
    "EncodeRequest",
    "EncodeResponse",
    "ErrorBody",
    "ErrorResponse",
    "GetRequest",
    "Health",
    "Hit",
    "Hits",
    "IngestReport",
    "Item",
    "ItemsRequest",
    "MapField",
    "MapHit",
    "MapHits",
    "MapInfo",
    "MapPoint",
    "MapPointsRequest",
    "MapQuery",
    "MapSelection",
    "MapSource",
    "NeighborsRequest",
    "Passage",
    "RecommendRequest",
    "RecommenderInfo",
    "RetrieveRequest",
    "RetrieveResponse",
    "SearchRequest",
    "SimilarityRequest",
    "SimilarityResponse",
    "SpaceInfo",
    "StoredItem",
    "Summary",
    "Where",
    "WriteResponse",
]

#: The most hits one query may ask for.
MAX_K: Final = 1000
#: The longest text (characters) accepted as a query, a document to add or a label.
MAX_TEXT: Final = 100_000
#: The most items (texts, vectors, keys) one call may carry.
MAX_BATCH: Final = 10_000
#: The most map rows one call may name (a lasso selection of a whole 1M-point map is one call).
MAX_ROWS: Final = 2_000_000

#: A metadata filter: a dict of equalities (with optional ``$``-operators) or a filter string
#: (``'lang = "en" and year >= 2000'``); see docs/filters.md.
Where = dict[str, Any] | Annotated[str, Field(max_length=10_000)] | None

Mode = Literal["hybrid", "vector", "bm25"]
#: A key or a label: non-empty, bounded.
Key = Annotated[str, Field(min_length=1, max_length=1000)]
Text = Annotated[str, Field(min_length=1, max_length=MAX_TEXT)]
#: A vector component: a finite float (JSON has no NaN or Infinity).
Component = Annotated[float, Field(allow_inf_nan=False)]
Vector = Annotated[list[Component], Field(min_length=1, max_length=65_536)]
K = Annotated[int, Field(ge=1, le=MAX_K, description=f"how many results (1 to {MAX_K})")]
#: A collection, space or model name: what the server calls it (letters, digits, '.', '_', '-').
NAME_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Hit(_Model):
    """One search hit: the item's key, its similarity (higher is more similar) and its metadata."""

    key: str
    score: float
    metadata: dict[str, Any] | None = None


class Hits(_Model):
    """The hits of one query, best first: the wire form of a :class:`~embspace.SearchResult` (one query)."""

    hits: list[Hit]

    @classmethod
    def of(cls, result: Any, metadata: dict[str, dict[str, Any]] | None = None) -> Hits:
        """From a single-query :class:`~embspace.SearchResult` (``metadata``: key -> metadata to attach)."""
        return cls(hits=[Hit(key=k, score=float(s), metadata=None if metadata is None else metadata.get(k))
                         for k, s in zip(result.keys, result.scores.tolist(), strict=True)])


class ErrorBody(_Model):
    code: str = Field(description="stable, machine-readable: invalid_input, validation_error, not_found, "
                                  "unknown_key, dimension_mismatch, conflict, unauthorized, forbidden, "
                                  "payload_too_large, read_only, ...")
    message: str
    detail: Any = None


class ErrorResponse(_Model):
    """Every error of the HTTP API has this shape."""

    error: ErrorBody


# ---------------------------------------------------------------------------------------- collections


class CollectionCreate(_Model):
    """A new collection in the server's data directory."""

    name: str = Field(pattern=NAME_PATTERN)
    dim: int | None = Field(None, ge=1, le=65_536, description="vector size; taken from the encoder when given")
    encoder: str | None = Field(None, max_length=200,
                                description="a text encoder the server offers (see GET /health); texts added "
                                            "and searched are encoded with it")
    metric: Literal["cosine", "dot", "l2"] = "cosine"
    index: str = Field("auto", max_length=100, pattern=r"^[A-Za-z0-9,_.]+$",
                       description="'auto', 'exact' or a FAISS factory string such as 'HNSW32'")


class CollectionInfo(_Model):
    name: str
    count: int
    dim: int
    metric: str
    index: str
    encoder: str | None = None
    writable: bool


class Item(_Model):
    """An item to store: a key with either a text (encoded by the collection's encoder) or a vector."""

    key: Key
    text: Text | None = None
    vector: Vector | None = None
    metadata: dict[str, Any] | None = None


class ItemsRequest(_Model):
    items: list[Item] = Field(min_length=1, max_length=MAX_BATCH)


class WriteResponse(_Model):
    count: int = Field(description="items written or deleted")


class DeleteRequest(_Model):
    """Delete by keys, or every item matching a filter (one of the two)."""

    keys: list[Key] | None = Field(None, max_length=MAX_BATCH)
    where: Where = None


class GetRequest(_Model):
    keys: list[Key] = Field(min_length=1, max_length=MAX_BATCH)
    vectors: bool = Field(False, description="include the stored vectors")


class StoredItem(_Model):
    key: str
    metadata: dict[str, Any]
    vector: list[float] | None = None


class CountResponse(_Model):
    count: int


class SearchRequest(_Model):
    """Search by one of: a text (encoded by the collection's encoder), a vector, or a stored item's key
    (itself left out of the hits)."""

    text: Text | None = None
    vector: Vector | None = None
    key: Key | None = None
    k: K = 10
    where: Where = None
    metadata: bool = Field(True, description="attach each hit's metadata")


class DedupRequest(_Model):
    threshold: float = Field(0.95, ge=-1.0, le=1.0, description="cosine similarity that makes two items duplicates")
    where: Where = None


class DedupResponse(_Model):
    """Groups of near-duplicate keys (two or more each), largest first."""

    threshold: float
    groups: list[list[str]]


# --------------------------------------------------------------------------------------------- spaces


class SpaceInfo(_Model):
    name: str
    size: int
    dim: int
    metric: str
    normalized: bool
    model: str | None = None


class NeighborsRequest(_Model):
    """Nearest neighbours of a stored key (itself left out) or of a vector (one of the two)."""

    key: Key | None = None
    vector: Vector | None = None
    k: K = 10


class AnalogyRequest(_Model):
    """a is to b as c is to ? (``b - a + c``); a, b and c are left out of the answers."""

    a: Key
    b: Key
    c: Key
    k: K = 5
    method: Literal["3cosadd", "3cosmul"] = "3cosadd"


class SimilarityRequest(_Model):
    pairs: list[tuple[Key, Key]] = Field(min_length=1, max_length=MAX_BATCH)


class SimilarityResponse(_Model):
    scores: list[float]


class Summary(_Model):
    """The geometry of a space, measured on a sample (see docs/analysis.md)."""

    size: int
    dim: int
    metric: str
    norms: dict[str, Any]
    anisotropy: dict[str, Any]
    intrinsic_dimension: dict[str, Any]
    hubness: dict[str, Any]


# ---------------------------------------------------------------------------------- recommend, classify


class RecommenderInfo(_Model):
    name: str
    users: int
    items: int
    dim: int
    objective: str


class RecommendRequest(_Model):
    """Items for a known user, or for a new user described by items they liked."""

    user: Key | None = None
    items: list[Key] | None = Field(None, min_length=1, max_length=MAX_BATCH)
    k: K = 10
    exclude_seen: bool = True


class ClassifyRequest(_Model):
    """Zero-shot classification of texts over labels: each text goes to the label whose caption
    (``template`` with the label in place of ``{}``) it is closest to."""

    texts: list[Text] = Field(min_length=1, max_length=1000)
    labels: list[Annotated[str, Field(min_length=1, max_length=1000)]] = Field(min_length=1, max_length=1000)
    template: str = Field("This text is about {}.", min_length=2, max_length=1000)


class Classification(_Model):
    label: str
    scores: dict[str, float] = Field(description="probability of every label (they sum to 1)")


class ClassifyResponse(_Model):
    results: list[Classification]


class Passage(_Model):
    """A retrieved chunk of a document, with what a citation needs.

    ``text`` is ``document[start:end]`` of the source document's extracted text (characters).
    """

    key: str = Field(description="the chunk's key in the collection: 'SOURCE#CHUNK'")
    text: str
    source: str = Field(description="the document's path relative to the ingested directory")
    title: str | None = None
    start: int = Field(ge=0, description="first character of the chunk in the document's text")
    end: int = Field(ge=0, description="one past the last character of the chunk")
    chunk: int = Field(ge=0, description="the chunk's position in its document (0 = first)")
    score: float = Field(description="the fused (or re-ranked) score; higher is more relevant")
    metadata: dict[str, Any] = Field(default_factory=dict)


class RetrieveRequest(_Model):
    """A RAG retrieval query."""

    query: str = Field(min_length=1, max_length=MAX_TEXT)
    k: int = Field(5, ge=1, le=MAX_K)
    mode: Mode = "hybrid"
    where: Where = None
    rerank: bool = Field(False, description="re-rank the candidates with the retriever's cross-encoder")


class RetrieveResponse(_Model):
    """Passages for one query, best first."""

    query: str
    mode: Mode
    passages: list[Passage]


class IngestReport(_Model):
    """What :func:`~embspace.apps.ingest` did."""

    collection: str
    documents: int = Field(description="documents read and stored")
    chunks: int = Field(description="chunks encoded and stored")
    unchanged: int = Field(0, description="documents already stored as they are now, left alone")
    removed: int = Field(0, description="documents whose file is gone, deleted (prune)")
    skipped: list[str] = Field(default_factory=list, description="files skipped, each with the reason")
    seconds: float


class EncodeRequest(_Model):
    texts: list[Text] = Field(min_length=1, max_length=1000)
    encoder: str | None = Field(None, max_length=200, description="one of the server's encoders (default: its own)")


class EncodeResponse(_Model):
    encoder: str
    dim: int
    vectors: list[list[float]] = Field(description="unit-length sentence vectors, one per text")


class Health(_Model):
    status: Literal["ok"] = "ok"
    version: str
    encoders: list[str]
    collections: list[str]
    spaces: list[str]
    recommenders: list[str]


# -- maps (the web projector) ---------------------------------------------------------------------
class MapField(_Model):
    """A per-point field the map can be coloured by."""

    name: str
    type: Literal["categorical", "numeric"]
    categories: list[str] | None = Field(default=None, description="categorical: the labels, by code")
    min: float | None = Field(default=None, description="numeric: the smallest value")
    max: float | None = Field(default=None, description="numeric: the largest value")
    computed: bool = Field(default=False, description="computed by the server on first use (clusters, metadata)")


class MapSource(_Model):
    """A space or collection the projector can show."""

    source: Literal["space", "collection"]
    name: str
    size: int
    saved: bool = Field(description="a map is saved beside it (else one is computed on first use, by PCA)")


class MapInfo(_Model):
    """A 2-D or 3-D map of a space or a collection."""

    source: Literal["space", "collection"]
    name: str
    size: int = Field(description="points on the map")
    total: int = Field(description="items in the space or collection (the map may show a sample)")
    n_components: int
    method: str
    saved: bool = Field(description="read from a saved map (else computed now, by PCA)")
    fields: list[MapField]
    encoder: str | None = Field(default=None, description="the text encoder behind text queries, if any")
    bounds: list[list[float]] = Field(description="[[min, max]] per map axis")


class MapPointsRequest(_Model):
    """Map rows to describe (hover labels)."""

    rows: list[Annotated[int, Field(ge=0)]] = Field(min_length=1, max_length=MAX_BATCH)


class MapPoint(_Model):
    row: int
    key: str
    text: str | None = Field(default=None, description="the item's text (metadata 'text'), cut to 500 characters")
    metadata: dict[str, Any] | None = None


class MapSelection(_Model):
    """Map rows to export as keys (a lasso selection)."""

    rows: list[Annotated[int, Field(ge=0)]] = Field(min_length=1, max_length=MAX_ROWS)


class MapQuery(_Model):
    """One query on a map: neighbours of a point (``row`` or ``key``), a search (``text``: a key of the map or,
    through the encoder, free text), or an analogy (``a``, ``b``, ``c``: a is to b as c is to ?)."""

    row: Annotated[int, Field(ge=0)] | None = None
    key: Key | None = None
    text: Text | None = None
    a: Key | None = None
    b: Key | None = None
    c: Key | None = None
    k: K = 10


class MapHit(_Model):
    key: str
    score: float
    row: int = Field(description="the hit's row on the map, -1 when the map (a sample) does not show it")


class MapHits(_Model):
    """The wire form of a search on a map: hits from the index (never from the map's 2-D distances),
    with their map rows."""

    query: str = Field(description="how the query was read: 'neighbors', 'key', 'text' or 'analogy'")
    row: int | None = Field(default=None, description="the query point's own row, for a point query")
    hits: list[MapHit]
