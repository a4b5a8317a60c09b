"""The applications over served data: RAG retrieval, near-duplicate groups, zero-shot classification."""

from __future__ import annotations

from fastapi import APIRouter

from ...apps.dedup import find_duplicates
from ...apps.retriever import Retriever
from ...apps.schemas import ClassifyRequest, ClassifyResponse, DedupResponse, RetrieveRequest, RetrieveResponse
from ...errors import InvalidInputError
from .._json import JSONRoute
from ..schemas import DedupRequest
from ._common import MAX_SCAN, ResourcesDep, as_collection, as_space, encoding, holding, using_collection

__all__ = ["router"]

router = APIRouter(route_class=JSONRoute)


@router.post("/classify", tags=["apps"])
def classify(req: ClassifyRequest, resources: ResourcesDep) -> ClassifyResponse:
    """Zero-shot classification of texts (or, with an audio-text model, audio files) over labels with the
    server's encoder."""
    captions = [req.template + label for label in req.labels]  # about what is encoded for the labels
    with encoding(resources, [*(req.texts or []), *captions]):
        result: ClassifyResponse = resources.classifier().run(req)
    return result


@router.post("/collections/{name}/retrieve", tags=["apps"])
def retrieve(name: str, req: RetrieveRequest, resources: ResourcesDep) -> RetrieveResponse:
    """RAG passages for a query (hybrid BM25 + vector by default), with source and offsets to cite."""
    with holding(resources, resources.get("collection", name)) as served:
        retriever = served.cache.get("retriever")
        if not isinstance(retriever, Retriever):
            retriever = served.cache["retriever"] = Retriever(as_collection(served))
        encodes = req.mode != "bm25" or req.rerank  # the query (and, re-ranking, the candidates)
        with encoding(resources, [req.query] if encodes else None, field="query"):
            return retriever.run(req)


@router.post("/collections/{name}/dedup", tags=["apps"])
def dedup_collection(name: str, req: DedupRequest, resources: ResourcesDep) -> DedupResponse:
    """Groups of near-duplicate items (cosine >= threshold)."""
    with using_collection(resources, name) as col:  # the lock only while the vectors are read (one snapshot)
        n = col.count(req.where)
        if n > MAX_SCAN:
            raise InvalidInputError(f"dedup over HTTP scans at most {MAX_SCAN:,} items, this is {n:,}; narrow it "
                                    "with where, or run `embspace dedup`")
        space = col.to_space(req.where)
    return find_duplicates(space, req.threshold)  # the search runs without holding the collection


@router.post("/spaces/{name}/dedup", tags=["apps"])
def dedup_space(name: str, req: DedupRequest, resources: ResourcesDep) -> DedupResponse:
    """Groups of near-duplicate keys (cosine >= threshold)."""
    space = as_space(resources.get("space", name))
    if len(space) > MAX_SCAN:
        raise InvalidInputError(f"dedup over HTTP scans at most {MAX_SCAN:,} vectors, this space has "
                                f"{len(space):,}; run `embspace dedup`")
    return find_duplicates(space, req.threshold, where=req.where)  # a space is read-only: no lock
