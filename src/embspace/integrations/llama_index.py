"""LlamaIndex: embspace encoders as a ``BaseEmbedding``, an embspace collection as a vector store.

::

    from llama_index.core import Settings, StorageContext, VectorStoreIndex
    from embspace.integrations.llama_index import EmbspaceEmbedding, EmbspaceVectorStore
    from embspace.store import Collection

    Settings.embed_model = EmbspaceEmbedding("minilm")
    store = EmbspaceVectorStore(Collection.create("coll/kb", encoder="minilm"))
    index = VectorStoreIndex.from_documents(docs, storage_context=StorageContext.from_defaults(vector_store=store))
    index.as_retriever(similarity_top_k=3).retrieve("how do I reset my password")

The store keeps each node's text (a collection's ``text``), its id as the item's key, and its
metadata, with the node itself serialised as LlamaIndex's vector stores do (``_node_content``,
``ref_doc_id``...), so that a query returns whole nodes and ``delete(ref_doc_id)`` removes a
document's nodes. ``MetadataFilters`` are translated to the collection's filter language
(docs/filters.md). Needs ``pip install "embspace[llama-index]"``. See docs/integrations.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from ..errors import InvalidInputError, MissingDependencyError
from ..store import BaseCollection, Filter, parse_filter
from ._filters import llama_index_filter
from ._mmr import maximal_marginal_relevance

try:
    from llama_index.core.base.embeddings.base import BaseEmbedding
    from llama_index.core.bridge.pydantic import Field, PrivateAttr
    from llama_index.core.schema import BaseNode, MetadataMode, TextNode
    from llama_index.core.vector_stores.types import (
        BasePydanticVectorStore,
        MetadataFilters,
        VectorStoreQuery,
        VectorStoreQueryMode,
        VectorStoreQueryResult,
    )
    from llama_index.core.vector_stores.utils import metadata_dict_to_node, node_to_metadata_dict
except ImportError as e:  # pragma: no cover - the llama-index extra is part of dev
    raise MissingDependencyError("llama-index-core", "llama-index", "embspace.integrations.llama_index") from e

__all__ = ["EmbspaceEmbedding", "EmbspaceVectorStore"]

#: Texts per call of the encoder (LlamaIndex's own default, 10, leaves a sentence encoder's batches small).
DEFAULT_BATCH = 64
#: How many candidates an MMR query fetches per result it returns (unless ``mmr_prefetch_k`` is given).
MMR_PREFETCH_FACTOR = 4


class EmbspaceEmbedding(BaseEmbedding):
    """An embspace encoder as a LlamaIndex embedding model.

    Parameters
    ----------
    model_name : str, default "minilm"
        A name for :func:`embspace.encoders.get_encoder` (loaded on first use).
    encoder : encoder object, optional
        An encoder already loaded (anything with ``encode(texts)``); ``model_name`` is then its name.
    normalize : bool, default True
        Unit-length vectors.
    encoder_kwargs : dict, optional
        Passed to ``get_encoder`` (``{"device": "cpu"}``...).
    **kwargs
        LlamaIndex's own fields (``embed_batch_size``: texts per encoder call, 64 by default rather than
        LlamaIndex's 10; ``callback_manager``...).
    """

    normalize: bool = Field(default=True, description="Return unit-length vectors.")
    encoder_kwargs: dict[str, Any] = Field(default_factory=dict, description="Arguments of get_encoder.")
    _encoder: Any = PrivateAttr(default=None)

    def __init__(self, model_name: str | None = None, *, encoder: Any = None, normalize: bool = True,
                 encoder_kwargs: dict[str, Any] | None = None, **kwargs: Any) -> None:
        if model_name is None:
            model_name = str(getattr(encoder, "name", None) or "minilm")
        kwargs.setdefault("embed_batch_size", DEFAULT_BATCH)
        super().__init__(model_name=model_name, normalize=normalize, encoder_kwargs=dict(encoder_kwargs or {}),
                         **kwargs)
        self._encoder = encoder

    @classmethod
    def class_name(cls) -> str:
        return "EmbspaceEmbedding"

    @property
    def encoder(self) -> Any:
        """The embspace encoder (loaded on first use)."""
        if self._encoder is None:
            from ..encoders import get_encoder

            self._encoder = get_encoder(self.model_name, **self.encoder_kwargs)
        return self._encoder

    def _encode(self, texts: list[str]) -> list[list[float]]:
        if not texts:
            return []
        kwargs: dict[str, Any] = {"progress": False}
        if not self.normalize:
            kwargs["normalize"] = False
        arr = np.asarray(self.encoder.encode(list(texts), **kwargs), dtype=np.float32).reshape(len(texts), -1)
        return [row.tolist() for row in arr]

    def _get_query_embedding(self, query: str) -> list[float]:
        return self._encode([query])[0]

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return self._get_query_embedding(query)

    def _get_text_embedding(self, text: str) -> list[float]:
        return self._encode([text])[0]

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        return self._encode(texts)


#: One search hit: (key, score, text, metadata, vector or None).
_Hit = tuple[str, float, str | None, dict[str, Any] | None, npt.NDArray[np.float32] | None]


def _and(*filters: Filter | None) -> Filter | None:
    parts = [f for f in filters if f is not None]
    if not parts:
        return None
    if len(parts) == 1:
        return parts[0]
    return parse_filter(" and ".join(f"({f})" for f in parts))  # str(Filter) is canonical text that parses back


def _scores(metric: str, matrix: npt.NDArray[np.float32], query: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
    """Scores (higher is more similar) of stored rows against a query, as the collection computes them."""
    m = matrix.astype(np.float64)
    q = query.astype(np.float64)
    out: npt.NDArray[np.float64]
    if metric == "l2":
        out = -np.linalg.norm(m - q, axis=1)
        return out
    if metric == "cosine":  # stored rows are unit length; the query may not be
        norm = float(np.linalg.norm(q))
        q = q / norm if norm > 0 else q
    out = m @ q
    return out


class EmbspaceVectorStore(BasePydanticVectorStore):
    """An embspace collection as a LlamaIndex vector store (it stores the nodes' text: ``stores_text``).

    Parameters
    ----------
    collection : Collection or MilvusCollection
        The collection (open for writing to add or delete). Node ids are its keys; the vectors are
        the ones LlamaIndex computed with its embedding model, so the collection's dimension must be
        that model's (an :class:`EmbspaceEmbedding` of the collection's encoder, typically).

    Notes
    -----
    Query modes: ``default`` and ``mmr`` (``mmr_threshold`` is MMR's lambda, 0.5 when unset;
    ``mmr_prefetch_k`` or ``mmr_prefetch_factor`` in the query kwargs size the candidate pool).
    Similarities are the collection's scores: cosine similarity for cosine collections, the inner
    product for dot, minus the Euclidean distance for l2.
    """

    stores_text: bool = True
    flat_metadata: bool = False
    _collection: Any = PrivateAttr()

    def __init__(self, collection: BaseCollection, **kwargs: Any) -> None:
        if not isinstance(collection, BaseCollection):
            raise InvalidInputError(f"collection must be an embspace Collection (Collection.create or Collection.open),"
                                    f" got {type(collection).__name__}")
        super().__init__(**kwargs)
        self._collection = collection

    @classmethod
    def class_name(cls) -> str:
        return "EmbspaceVectorStore"

    @property
    def client(self) -> Any:
        """The collection."""
        return self._collection

    @property
    def collection(self) -> BaseCollection:
        """The collection."""
        return self._collection  # type: ignore[no-any-return]

    # -- writing ------------------------------------------------------------------------------------
    def add(self, nodes: Sequence[BaseNode], **add_kwargs: Any) -> list[str]:
        """Store the nodes (with their embeddings); a node whose id exists is replaced. Returns their ids."""
        if not nodes:
            return []
        keys, vectors, metas, texts = [], [], [], []
        for node in nodes:
            if node.embedding is None:
                raise InvalidInputError(f"node {node.node_id!r} has no embedding; build the index with an embedding "
                                        "model (Settings.embed_model = EmbspaceEmbedding(...)) or embed the nodes "
                                        "first")
            keys.append(node.node_id)
            vectors.append(node.embedding)
            metas.append(node_to_metadata_dict(node, remove_text=True, flat_metadata=self.flat_metadata))
            texts.append(node.get_content(metadata_mode=MetadataMode.NONE))
        self.collection.upsert(keys, np.asarray(vectors, dtype=np.float32), metas, texts=texts)
        return keys

    def delete(self, ref_doc_id: str, **delete_kwargs: Any) -> None:
        """Delete every node of the document ``ref_doc_id``."""
        self.collection.delete(where={"ref_doc_id": str(ref_doc_id)})

    def delete_nodes(self, node_ids: list[str] | None = None, filters: MetadataFilters | None = None,
                     **delete_kwargs: Any) -> None:
        """Delete the nodes with these ids and/or matching ``filters`` (both given: those that are both)."""
        where = llama_index_filter(filters)
        if node_ids is None and where is None:
            raise InvalidInputError("delete_nodes needs node_ids or filters (use clear() to delete every node)")
        if node_ids is None:
            self.collection.delete(where=where)
            return
        keys = [str(k) for k in node_ids]
        if where is not None:
            keys = [item["key"] for item in self._get(keys) if where.matches(item.get("metadata"))]
        self.collection.delete(keys)

    def clear(self) -> None:
        """Delete every node."""
        self.collection.delete(list(self.collection.keys()))

    # -- reading ------------------------------------------------------------------------------------
    def _get(self, keys: list[str], *, vectors: bool = False) -> list[dict[str, Any]]:
        return list(self.collection.get(keys, vectors=vectors, strict=False))

    @staticmethod
    def _node(key: str, text: str | None, metadata: dict[str, Any] | None) -> BaseNode:
        meta = dict(metadata or {})
        if "_node_content" in meta:
            return metadata_dict_to_node(meta, text=text)
        return TextNode(id_=key, text=text or "", metadata=meta)  # an item not written by LlamaIndex

    def get_nodes(self, node_ids: list[str] | None = None, filters: MetadataFilters | None = None) -> list[BaseNode]:
        """The nodes with these ids (those that exist, in that order) and/or matching ``filters``."""
        where = llama_index_filter(filters)
        if node_ids is not None:
            items = self._get([str(k) for k in node_ids])
            return [self._node(i["key"], i.get("text"), i.get("metadata")) for i in items
                    if where is None or where.matches(i.get("metadata"))]
        if where is None:
            raise InvalidInputError("get_nodes needs node_ids or filters")
        keys = list(self.collection.keys(where))
        return [self._node(i["key"], i.get("text"), i.get("metadata")) for i in self._get(keys)]

    def query(self, query: VectorStoreQuery, **kwargs: Any) -> VectorStoreQueryResult:
        """The ``similarity_top_k`` nodes nearest to ``query.query_embedding`` that pass its filters.

        ``filters`` (MetadataFilters), ``doc_ids`` (their ``ref_doc_id``) and ``node_ids`` (a non-empty list)
        restrict the nodes searched; the modes are ``default`` and ``mmr``.
        """
        if query.query_embedding is None:
            raise InvalidInputError("this store searches by vector: the query needs query_embedding (LlamaIndex "
                                    "computes it when the index has an embedding model)")
        mode = VectorStoreQueryMode(query.mode)
        if mode not in (VectorStoreQueryMode.DEFAULT, VectorStoreQueryMode.MMR):
            raise InvalidInputError(f"query mode {mode.value!r} is not supported by EmbspaceVectorStore; use "
                                    "'default' or 'mmr'")
        k = int(query.similarity_top_k)
        if k < 1:
            return VectorStoreQueryResult(nodes=[], similarities=[], ids=[])
        vector = np.ascontiguousarray(np.asarray(query.query_embedding, dtype=np.float32).reshape(-1))
        where = _and(llama_index_filter(query.filters),
                     None if query.doc_ids is None else parse_filter({"ref_doc_id": {"$in": list(query.doc_ids)}}))
        mmr = mode == VectorStoreQueryMode.MMR
        fetch = k
        if mmr:
            factor = int(kwargs.get("mmr_prefetch_factor") or MMR_PREFETCH_FACTOR)
            fetch = max(k, int(kwargs.get("mmr_prefetch_k") or k * factor))
        # node_ids=[] is no restriction: a VectorStoreIndex over a store that keeps text holds no node ids of its
        # own, and its retrievers pass that empty list
        hits = (self._hits_among(query.node_ids, vector, fetch, where) if query.node_ids
                else self._hits(vector, fetch, where, vectors=mmr))
        if mmr and hits:
            lam = 0.5 if query.mmr_threshold is None else float(query.mmr_threshold)
            cands = np.stack([h[4] if h[4] is not None else np.zeros(len(vector), np.float32) for h in hits])
            hits = [hits[i] for i in maximal_marginal_relevance(vector, cands, k, lam)]
        hits = hits[:k]
        return VectorStoreQueryResult(nodes=[self._node(key, text, meta) for key, _, text, meta, _ in hits],
                                      similarities=[score for _, score, _, _, _ in hits],
                                      ids=[key for key, _, _, _, _ in hits])

    def _hits(self, vector: npt.NDArray[np.float32], k: int, where: Filter | None, *, vectors: bool) -> list[_Hit]:
        include: tuple[Any, ...] = ("metadata", "text", "vector") if vectors else ("metadata", "text")
        res = self.collection.search(vector, k=k, where=where, include=include)
        metas, texts = res.metadata or [], res.texts or []
        return [(str(key), float(score), texts[i], metas[i], None if res.vectors is None else res.vectors[i])
                for i, (key, score) in enumerate(zip(res.keys, res.scores.tolist(), strict=True))
                if metas[i] is not None]  # None: deleted by another writer meanwhile

    def _hits_among(self, node_ids: list[str], vector: npt.NDArray[np.float32], k: int,
                    where: Filter | None) -> list[_Hit]:
        """Exact search over the nodes ``node_ids`` (those that exist and pass ``where``)."""
        items = [i for i in self._get([str(n) for n in node_ids], vectors=True)
                 if where is None or where.matches(i.get("metadata"))]
        if not items:
            return []
        matrix = np.stack([np.asarray(i["vector"], np.float32) for i in items])
        scores = _scores(self.collection.metric, matrix, vector)
        order = np.argsort(-scores, kind="stable")[:k]
        return [(items[j]["key"], float(scores[j]), items[j].get("text"), items[j].get("metadata"), matrix[j])
                for j in order.tolist()]
