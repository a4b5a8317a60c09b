"""Applications of a space: RAG retrieval (token chunks, hybrid BM25 + vector search fused by reciprocal
rank, optional cross-encoder re-ranking), semantic search, recommendation, near-duplicates
(``find_duplicates``), zero-shot classification, and ``MapView`` (a map joined with its collection's metadata).

Their inputs and outputs are pydantic models, the wire schemas (:mod:`embspace.apps.schemas`): the HTTP API
(:mod:`embspace.serve`) takes and returns the very same models.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY: dict[str, str] = {  # name -> module (bm25s, torch and the encoders load on first use)
    "CrossEncoderReranker": ".reranker",
    "Document": ".documents",
    "MapView": ".map_view",
    "Retriever": ".retriever",
    "ingest": ".ingestion",
    "read_document": ".documents",
    "read_documents": ".documents",
    "reciprocal_rank_fusion": ".fusion",
    "ZeroShotClassifier": ".zero_shot",
    "find_duplicates": ".dedup",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module 'embspace.apps' has no attribute {name!r}")


__all__: list[str] = sorted(_LAZY)
