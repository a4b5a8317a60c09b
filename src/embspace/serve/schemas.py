"""The HTTP API's own request and response bodies: errors, health, the create/read/write requests of
collections, the requests of spaces, recommenders and maps, and the OpenAI-compatible bodies
(``/v1/embeddings``, ``/v1/models``: OpenAI's shapes, its names).

Models that the library itself takes or returns (:class:`~embspace.apps.schemas.Hits`,
:class:`~embspace.apps.schemas.RetrieveRequest`, :class:`~embspace.apps.schemas.MapQuery`, ...) stay in
:mod:`embspace.apps.schemas`: the API takes and returns those very ones. The class names are the names of
the OpenAPI schema's components.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, Strict

from ..apps.schemas import MAX_BATCH, MAX_ROWS, NAME_PATTERN, Key, Text, Where
from ..apps.schemas import K as _LaxK
from ..apps.schemas import Vector as _LaxVector

#: The deepest rescoring a request may ask for (k x rescore candidates re-scored per query).
MAX_RESCORE = 100
#: A whole number of a request, strictly: JSON's ``true`` or ``1.0`` is no count (they would read as 1).
Int = Annotated[int, Strict()]
#: How many results, strictly an integer.
K = Annotated[_LaxK, Strict()]
#: A number of a request, strictly: JSON's ``true`` or ``false`` is no number (they would read as 1.0 and 0.0).
Float = Annotated[float, Strict()]
#: A yes-or-no of a request, strictly: JSON's true or false (``0``, ``1`` or ``"yes"`` would read as a boolean).
Bool = Annotated[bool, Strict()]
#: A vector of a request: finite numbers, strictly (``[true, false]`` is no vector).
Vector = Annotated[list[Annotated[float, Strict(), Field(allow_inf_nan=False)]],
                   *_LaxVector.__metadata__]

__all__ = [
    "AnalogyRequest",
    "CollectionCreate",
    "CollectionInfo",
    "CountResponse",
    "DedupRequest",
    "DeleteRequest",
    "EncodeRequest",
    "EncodeResponse",
    "ErrorBody",
    "ErrorResponse",
    "GetRequest",
    "Health",
    "Item",
    "ItemsPage",
    "ItemsPageRequest",
    "ItemsRequest",
    "MapPointsRequest",
    "MapSelection",
    "MapSource",
    "NeighborsRequest",
    "OpenAIEmbedding",
    "OpenAIEmbeddingsRequest",
    "OpenAIEmbeddingsResponse",
    "OpenAIErrorBody",
    "OpenAIErrorResponse",
    "OpenAIModel",
    "OpenAIModelList",
    "OpenAIUsage",
    "RecommendRequest",
    "RecommenderInfo",
    "SearchRequest",
    "SimilarityRequest",
    "SimilarityResponse",
    "SkippedEntry",
    "SpaceInfo",
    "StoredItem",
    "WriteResponse",
]


class _Schema(BaseModel):
    model_config = ConfigDict(extra="forbid")


# -------------------------------------------------------------------------------------- errors, server


class ErrorBody(_Schema):
    code: str = Field(description="stable, machine-readable: invalid_input, validation_error, not_found, "
                                  "unknown_key, dimension_mismatch, conflict, unauthorized, forbidden, "
                                  "payload_too_large, read_only, ...")
    message: str
    detail: Any = None


class ErrorResponse(_Schema):
    """Every error of the HTTP API has this shape."""

    error: ErrorBody


class SkippedEntry(_Schema):
    name: str = Field(description="the entry's name in a served directory")
    reason: str = Field(description="why it is not served, in one line")


class Health(_Schema):
    status: Literal["ok"] = "ok"
    version: str
    encoders: list[str]
    collections: list[str]
    spaces: list[str]
    recommenders: list[str]
    skipped: list[SkippedEntry] = Field(default=[], description="entries of the served directories that are not "
                                        "served (a damaged database, a FIFO, an unreadable file, ...), each with why")


class EncodeRequest(_Schema):
    texts: list[Text] = Field(min_length=1, max_length=1000)
    encoder: str | None = Field(None, max_length=200, description="one of the server's encoders (default: its own)")


class EncodeResponse(_Schema):
    encoder: str
    dim: int
    vectors: list[list[float]] = Field(description="unit-length sentence vectors, one per text")


# ---------------------------------------------------------------------------------------- collections


class CollectionCreate(_Schema):
    """A new collection in the server's data directory."""

    name: str = Field(pattern=NAME_PATTERN)
    dim: Int | None = Field(None, ge=1, le=65_536, description="vector size; taken from the encoder when given")
    encoder: str | None = Field(None, max_length=200,
                                description="a text encoder the server offers (see GET /health); texts added "
                                            "and searched are encoded with it")
    metric: Literal["cosine", "dot", "l2"] = "cosine"
    index: str = Field("auto", max_length=100, pattern=r"^[A-Za-z0-9,_.]+$",
                       description="'auto', 'exact' or a FAISS factory string such as 'HNSW32'; quantised: "
                                   "'HNSW32,SQ8' (int8), 'BinaryFlat', 'BinaryHNSW32' (sign bits), best with rescore")
    rescore: Int | None = Field(None, ge=0, le=MAX_RESCORE,
                                description="re-score the index's best k x rescore candidates of every search "
                                            "exactly with the float vectors (kept on disk) and keep the best k; "
                                            "a search's own rescore overrides it; 0 or null: none")


class CollectionInfo(_Schema):
    name: str
    count: int
    dim: int
    metric: str
    index: str
    encoder: str | None = None
    writable: bool
    rescore: int | None = Field(None, description="the collection's rescoring depth (null: none)")


class Item(_Schema):
    """An item to store: a key with a text (encoded by the collection's encoder), a vector, or both (the
    vector is stored and the text kept with it). The text is stored with the item either way."""

    key: Key
    text: Text | None = Field(None, description="the item's document text, stored with it (encoded when no "
                                                "vector is given)")
    vector: Vector | None = None
    metadata: dict[str, Any] | None = None


class ItemsRequest(_Schema):
    items: list[Item] = Field(min_length=1, max_length=MAX_BATCH)


class WriteResponse(_Schema):
    count: int = Field(description="items written or deleted")


class DeleteRequest(_Schema):
    """Delete by keys, or every item matching a filter (one of the two)."""

    keys: list[Key] | None = Field(None, max_length=MAX_BATCH)
    where: Where = None


class GetRequest(_Schema):
    keys: list[Key] = Field(min_length=1, max_length=MAX_BATCH)
    vectors: Bool = Field(False, description="include the stored vectors")


class StoredItem(_Schema):
    key: str
    metadata: dict[str, Any]
    text: str | None = Field(None, description="the item's stored text (null without one)")
    vector: list[float] | None = None


class ItemsPageRequest(_Schema):
    """One page of a collection's items: no cursor for the first page, then the ``next`` of the previous one
    (with the same ``where``). Every page shows the collection as it was at the first page."""

    limit: Int = Field(1_000, ge=1, le=10_000, description="items per page at most (a page of long texts or many "
                       "vectors may hold fewer; follow next)")
    cursor: str | None = Field(None, max_length=2_000, description="the next of the previous page; none for the "
                               "first page")
    where: Where = None
    vectors: Bool = Field(False, description="include the stored vectors")


class ItemsPage(_Schema):
    items: list[StoredItem]
    next: str | None = Field(description="the cursor of the next page; null after the last page")


class CountResponse(_Schema):
    count: int


class SearchRequest(_Schema):
    """Search by one of: a text (encoded by the collection's encoder), a vector, or a stored item's key
    (itself left out of the hits)."""

    text: Text | None = None
    vector: Vector | None = None
    key: Key | None = None
    k: K = 10
    where: Where = None
    metadata: Bool = Field(True, description="attach each hit's metadata")
    include_text: Bool = Field(False, description="attach each hit's stored text")
    rescore: Int | None = Field(None, ge=0, le=MAX_RESCORE,
                                description="this search's rescoring depth: the index's best k x rescore "
                                            "candidates re-scored exactly with the float vectors; 0: none; null: "
                                            "the collection's own")


class DedupRequest(_Schema):
    threshold: Float = Field(0.95, ge=-1.0, le=1.0, description="cosine similarity that makes two items duplicates")
    where: Where = None


# --------------------------------------------------------------------------------------------- spaces


class SpaceInfo(_Schema):
    name: str
    size: int
    dim: int
    metric: str
    normalized: bool
    model: str | None = None


class NeighborsRequest(_Schema):
    """Nearest neighbours of a stored key (itself left out) or of a vector (one of the two)."""

    key: Key | None = None
    vector: Vector | None = None
    k: K = 10


class AnalogyRequest(_Schema):
    """a is to b as c is to ? (``b - a + c``); a, b and c are left out of the answers."""

    a: Key
    b: Key
    c: Key
    k: K = 5
    method: Literal["3cosadd", "3cosmul"] = "3cosadd"


class SimilarityRequest(_Schema):
    pairs: list[tuple[Key, Key]] = Field(min_length=1, max_length=MAX_BATCH)


class SimilarityResponse(_Schema):
    scores: list[float]


# ------------------------------------------------------------------------------------------ recommenders


class RecommenderInfo(_Schema):
    name: str
    users: int
    items: int
    dim: int
    objective: str


class RecommendRequest(_Schema):
    """Items for a known user, or for a new user described by items they liked."""

    user: Key | None = None
    items: list[Key] | None = Field(None, min_length=1, max_length=MAX_BATCH)
    k: K = 10
    exclude_seen: Bool = True


# ----------------------------------------------------------------------------------- maps (the projector)


class MapSource(_Schema):
    """A space or collection the projector can show."""

    source: Literal["space", "collection"]
    name: str
    size: int
    saved: bool = Field(description="a map is saved beside it (else one is computed on first use, by PCA)")


class MapPointsRequest(_Schema):
    """Map rows to describe (hover labels)."""

    rows: list[Annotated[Int, Field(ge=0)]] = Field(min_length=1, max_length=MAX_BATCH)


class MapSelection(_Schema):
    """Map rows to export as keys (a lasso selection)."""

    rows: list[Annotated[Int, Field(ge=0)]] = Field(min_length=1, max_length=MAX_ROWS)


# -------------------------------------------------------------------- OpenAI-compatible (/v1/...)

#: The most inputs one ``/v1/embeddings`` request may carry (OpenAI's own limit).
MAX_OPENAI_INPUTS = 2048
#: A token id (token arrays are part of OpenAI's schema, and refused here: send the text).
TokenIds = Annotated[list[Annotated[Int, Field(ge=0)]], Field(min_length=1, max_length=MAX_BATCH)]


class OpenAIErrorBody(BaseModel):
    message: str
    type: str = Field(description="invalid_request_error (4xx) or server_error (5xx)")
    param: str | None = Field(None, description="the request field at fault, when one is")
    code: str | None = Field(None, description="stable, machine-readable: invalid_api_key, model_not_found, "
                                               "validation_error, tokens_not_supported, invalid_input, ...")


class OpenAIErrorResponse(BaseModel):
    """Every error of the OpenAI-compatible routes (``/v1/...``) has OpenAI's shape."""

    error: OpenAIErrorBody


class OpenAIEmbeddingsRequest(BaseModel):
    """OpenAI's embeddings request. Unknown fields are ignored, as by OpenAI-compatible servers."""

    model_config = ConfigDict(extra="ignore")

    input: Text | Annotated[list[Text], Field(min_length=1, max_length=MAX_OPENAI_INPUTS)] | TokenIds | Annotated[
        list[TokenIds], Field(min_length=1, max_length=MAX_OPENAI_INPUTS)] = Field(
        description="a text or a list of texts (token arrays are refused: send the text)")
    model: str = Field(min_length=1, max_length=200, description="one of the server's encoders: its name, or its "
                       "Hugging Face id with or without the organisation (GET /v1/models)")
    encoding_format: Literal["float", "base64"] | None = Field(
        "float", description="float (or null): lists of numbers; base64: little-endian float32 bytes, "
                             "base64-encoded")
    dimensions: Int | None = Field(None, ge=1, le=65_536, description="keep the first dimensions and "
                                   "re-normalise (a Matryoshka model keeps its quality; others warn in the "
                                   "X-Embspace-Warning header)")
    user: str | None = Field(None, max_length=1000, description="accepted and ignored")


class OpenAIEmbedding(BaseModel):
    object: Literal["embedding"] = "embedding"
    index: int
    embedding: list[float] | str = Field(description="unit-length vector, or its base64 float32 bytes")


class OpenAIUsage(BaseModel):
    prompt_tokens: int = Field(description="tokens the model read (its tokenizer, special tokens included)")
    total_tokens: int


class OpenAIEmbeddingsResponse(BaseModel):
    object: Literal["list"] = "list"
    data: list[OpenAIEmbedding]
    model: str = Field(description="the model that encoded the inputs")
    usage: OpenAIUsage


class OpenAIModel(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int = Field(description="when the server started (Unix seconds)")
    owned_by: str = "embspace"


class OpenAIModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[OpenAIModel]
