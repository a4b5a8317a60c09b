"""The wire schemas: the inputs and outputs of embspace's applications, as pydantic models.

The library's application functions (:class:`~embspace.apps.Retriever`, semantic search, near-duplicates,
zero-shot classification, recommendation) return these models, and the HTTP API
(:mod:`embspace.serve`) takes and returns the very same ones, so its OpenAPI schema is the
library's own contract. Limits (``k``, text lengths, batch sizes) are part of the models: a request
beyond them is refused with a clear message before any work is done.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Annotated, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, Strict

if TYPE_CHECKING:
    from ..space.search_result import SearchResult

__all__ = [
    "MAX_AUDIO_B64",
    "MAX_AXIS_EXAMPLES",
    "MAX_BATCH",
    "MAX_K",
    "MAX_TEXT",
    "AxisInfo",
    "Classification",
    "ClassifyRequest",
    "ClassifyResponse",
    "ConceptAxis",
    "DedupResponse",
    "Hit",
    "Hits",
    "IngestReport",
    "MapAxes",
    "MapAxesRequest",
    "MapField",
    "MapHit",
    "MapHits",
    "MapInfo",
    "MapPoint",
    "MapQuery",
    "Passage",
    "RetrieveRequest",
    "RetrieveResponse",
    "Summary",
    "Where",
]

#: The most hits one query may ask for.
MAX_K: Final = 1000
#: The longest text (characters) accepted as a query, a document to add or a label.
MAX_TEXT: Final = 100_000
#: Most base64 characters of one audio file in a request (about 6 MB of audio).
MAX_AUDIO_B64: Final = 8_000_000
#: The most items (texts, vectors, keys) one call may carry.
MAX_BATCH: Final = 10_000
#: The most map rows one call may name (a lasso selection of a whole 1M-point map is one call).
MAX_ROWS: Final = 2_000_000

#: The most examples one pole of a concept axis may list (a map's axes are read from examples, not word lists).
MAX_AXIS_EXAMPLES: Final = 100

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
    """One search hit: the item's key, its similarity (higher is more similar), its metadata and its text
    (each when asked)."""

    key: str
    score: float
    metadata: dict[str, Any] | None = None
    text: str | None = None


class Hits(_Model):
    """The hits of one query, best first: the wire form of a :class:`~embspace.SearchResult` (one query)."""

    hits: list[Hit]

    @classmethod
    def of(cls, result: SearchResult, metadata: Mapping[str, dict[str, Any] | None] | None = None) -> Hits:
        """From a single-query :class:`~embspace.SearchResult`. Each hit's metadata comes from ``metadata``
        (key -> metadata) when given, else from the result: a :class:`~embspace.store.CollectionResult`
        searched with ``include="metadata"`` carries it, aligned with its keys (and its texts with
        ``include="text"``)."""
        keys = [str(k) for k in result.keys]
        if metadata is not None:
            metas: Sequence[dict[str, Any] | None] = [metadata.get(k) for k in keys]
        else:  # a CollectionResult's metadata (None when not asked); a plain SearchResult has none
            metas = getattr(result, "metadata", None) or [None] * len(keys)
        texts = getattr(result, "texts", None) or [None] * len(keys)  # a CollectionResult's, when asked
        return cls(hits=[Hit(key=k, score=float(s), metadata=m, text=t)
                         for k, s, m, t in zip(keys, result.scores.tolist(), metas, texts, strict=True)])


# ---------------------------------------------------------------------------------------- collections


class DedupResponse(_Model):
    """Groups of near-duplicate keys (two or more each), largest first."""

    threshold: float
    groups: list[list[str]]


# --------------------------------------------------------------------------------------------- spaces


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


class ClassifyRequest(_Model):
    """Zero-shot classification over labels: each item goes to the label whose caption (``template`` with
    the label in place of ``{}``) it is closest to. The items are ``texts`` or, for a server whose encoder is
    an audio-text model (CLAP, TwoTowerClap), ``audio``: files (WAV, FLAC, OGG, MP3...) as base64 text.
    Exactly one of the two."""

    texts: list[Text] | None = Field(None, min_length=1, max_length=1000)
    audio: list[Annotated[str, Field(min_length=4, max_length=MAX_AUDIO_B64)]] | None = Field(
        None, min_length=1, max_length=64, description="audio files, each base64-encoded (decoded with libsndfile; "
                                                       "resampled to the model's rate)")
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
    rerank: Annotated[bool, Strict()] = Field(False, description="re-rank the candidates with the retriever's "
                                                                 "cross-encoder (true or false, not 0 or 1)")


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


# -- maps (the web projector) ---------------------------------------------------------------------
class MapField(_Model):
    """A per-point field the map can be coloured by."""

    name: str
    type: Literal["categorical", "numeric"]
    categories: list[str] | None = Field(default=None, description="categorical: the labels, by code")
    min: float | None = Field(default=None, description="numeric: the smallest value")
    max: float | None = Field(default=None, description="numeric: the largest value")
    computed: bool = Field(default=False, description="computed by the server on first use (clusters, metadata)")


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


class MapPoint(_Model):
    row: int
    key: str
    text: str | None = Field(default=None, description="the item's text (metadata 'text'), cut to 500 characters")
    metadata: dict[str, Any] | None = None


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


class ConceptAxis(_Model):
    """One concept axis of a map: the direction from the ``negative`` examples to the ``positive`` ones
    (``man, he -> woman, she``; see :func:`embspace.analysis.direction`). Examples are keys of the map's space or
    collection or, when it has a text encoder and some example is not a key, texts (all encoded)."""

    positive: Annotated[list[Key], Field(min_length=1, max_length=MAX_AXIS_EXAMPLES,
                                         description="examples of the pole the axis points to (its high end)")]
    negative: Annotated[list[Key], Field(max_length=MAX_AXIS_EXAMPLES,
                                         description="examples of the opposite pole (its low end); may be empty "
                                                     "for method 'mean'")] = []
    name: Annotated[str, Field(max_length=200)] | None = Field(
        default=None, description="the axis label (default: 'negative -> positive' from the first examples)")


class MapAxesRequest(_Model):
    """A map whose x and y are two concept axes: every point placed by its projections on them."""

    x: ConceptAxis
    y: ConceptAxis
    method: Literal["mean", "pca", "probe"] = Field(
        default="mean", description="how each direction is learnt (see embspace.analysis.direction)")


class AxisInfo(_Model):
    """One concept axis as it was learnt: its label, how well it separates its own held-out examples, and the
    examples the map's source lacks."""

    name: str = Field(description="the axis label")
    low: str = Field(description="the label of the axis' low end (its negative examples)")
    high: str = Field(description="the label of the axis' high end (its positive examples)")
    method: str
    encoded: bool = Field(description="the examples were texts through the encoder, not keys")
    n_positive: int = Field(description="positive examples used")
    n_negative: int = Field(description="negative examples used")
    missing: list[str] = Field(description="examples that are not keys of the source (left out; the first 20)")
    n_missing: int = Field(description="how many examples are not keys of the source")
    reliability: float | None = Field(default=None, description="held-out accuracy of the projection "
                                      "(cross-validated; null with too few examples)")
    auc: float | None = Field(default=None, description="held-out ROC AUC of the projection (null: too few)")
    min: float = Field(description="the lowest projection on this axis among the map's points")
    max: float = Field(description="the highest projection on this axis among the map's points")


class MapAxes(_Model):
    """What ``POST /maps/{source}/{name}/axes`` placed the points by: its two axes and how aligned they are."""

    size: int = Field(description="points on the map")
    x: AxisInfo
    y: AxisInfo
    cosine: float = Field(description="cosine between the two directions (near 0: independent axes)")


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
