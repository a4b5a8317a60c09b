"""LangChain: embspace encoders as ``Embeddings``, an embspace collection as a ``VectorStore``.

::

    from embspace.integrations.langchain import EmbspaceEmbeddings, EmbspaceVectorStore

    store = EmbspaceVectorStore.from_texts(texts, EmbspaceEmbeddings("minilm"), metadatas=metas, path="coll/kb")
    store.similarity_search("how do I reset my password", k=4, filter={"lang": "en"})
    retriever = store.as_retriever(search_type="mmr", search_kwargs={"k": 4})

The store keeps each document's text with its vector (a collection's ``text``), its metadata as the
item's JSON metadata, and its id as the item's key. Adding a document whose id exists replaces it
(LangChain's upsert semantics). Filters are LangChain's dict filters (``{"genre": "sf", "year": {"$gte":
2000}}``, ``$and``/``$or``/``$not``), translated to the collection's filter language (docs/filters.md);
a filter string in that language is accepted as well. Needs ``pip install "embspace[langchain]"``.
See docs/integrations.md.
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
import weakref
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ..errors import InvalidInputError, MissingDependencyError
from ..store import BaseCollection, Collection
from ._filters import langchain_filter
from ._mmr import maximal_marginal_relevance

try:
    from langchain_core.documents import Document
    from langchain_core.embeddings import Embeddings
    from langchain_core.vectorstores import VectorStore
except ImportError as e:  # pragma: no cover - the langchain extra is part of dev
    raise MissingDependencyError("langchain-core", "langchain", "embspace.integrations.langchain") from e

__all__ = ["EmbspaceEmbeddings", "EmbspaceVectorStore"]


class EmbspaceEmbeddings(Embeddings):
    """An embspace encoder as LangChain ``Embeddings``.

    Parameters
    ----------
    model : str, default "minilm"
        A name for :func:`embspace.encoders.get_encoder` (``"minilm"``, a model directory, a hub id, a
        name given to :func:`~embspace.encoders.register_encoder`). The model loads on first use.
    encoder : encoder object, optional
        An encoder already loaded (anything with ``encode(texts)``); ``model`` is then only its name
        (the encoder's ``name`` by default).
    batch_size : int, optional
        Texts per forward pass (the encoder's default when None).
    normalize : bool, default True
        Unit-length vectors (what cosine search expects).
    **encoder_kwargs
        Passed to ``get_encoder`` (``device="cpu"``, ``precision="int8"``...).

    Examples
    --------
    >>> emb = EmbspaceEmbeddings("minilm")            # doctest: +SKIP
    >>> len(emb.embed_query("hello"))                 # doctest: +SKIP
    384
    """

    def __init__(self, model: str | None = None, *, encoder: Any = None, batch_size: int | None = None,
                 normalize: bool = True, **encoder_kwargs: Any) -> None:
        if model is None:
            model = str(getattr(encoder, "name", None) or "minilm")
        self.model = model
        self.batch_size = batch_size
        self.normalize = normalize
        self.encoder_kwargs = encoder_kwargs
        self._encoder = encoder

    @property
    def encoder(self) -> Any:
        """The embspace encoder (loaded on first use)."""
        if self._encoder is None:
            from ..encoders import get_encoder

            self._encoder = get_encoder(self.model, **self.encoder_kwargs)
        return self._encoder

    def encode(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """The vectors of ``texts``, float32 ``(n, dim)``."""
        texts = list(texts)
        for i, t in enumerate(texts):
            if not isinstance(t, str):
                raise InvalidInputError(f"text {i} is a {type(t).__name__}, not a string: {t!r}")
        if not texts:
            return np.zeros((0, 0), np.float32)
        kwargs: dict[str, Any] = {"progress": False}
        if self.batch_size is not None:
            kwargs["batch_size"] = self.batch_size
        if not self.normalize:
            kwargs["normalize"] = False
        return np.asarray(self.encoder.encode(texts, **kwargs), dtype=np.float32).reshape(len(texts), -1)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """One vector (a list of floats) per text."""
        return [row.tolist() for row in self.encode(texts)]

    def embed_query(self, text: str) -> list[float]:
        """The vector of one query."""
        return [float(x) for x in self.encode([text]).reshape(-1)]

    def __repr__(self) -> str:
        return f"EmbspaceEmbeddings(model={self.model!r})"


def _relevance_fn(metric: str) -> Callable[[float], float]:
    """Our scores (higher is more similar) mapped to LangChain's relevance in [0, 1]."""
    if metric == "l2":  # the score is minus the Euclidean distance d: 1 / (1 + d)
        return lambda score: 1.0 / (1.0 - min(score, 0.0))
    # cosine (and dot over unit vectors): the similarity s in [-1, 1] as (1 + s) / 2
    return lambda score: min(1.0, max(0.0, (1.0 + score) / 2.0))


class EmbspaceVectorStore(VectorStore):
    """An embspace collection as a LangChain ``VectorStore``.

    Parameters
    ----------
    collection : Collection or MilvusCollection
        The collection to read and write (open for writing to add or delete). Its items are
        LangChain documents: the key is the document id, the stored text its ``page_content``, the
        metadata its ``metadata``.
    embedding : Embeddings, optional
        What embeds texts and queries. None: the collection's own encoder (a collection created with
        ``encoder=...``). An :class:`EmbspaceEmbeddings` must make vectors of the collection's space.
    relevance_score_fn : callable, optional
        Maps a score (higher is more similar) to a relevance in [0, 1] for
        ``similarity_search_with_relevance_scores``. The default is ``(1 + s) / 2`` for cosine and dot
        (unit vectors) and ``1 / (1 + distance)`` for l2.

    Notes
    -----
    Scores of ``similarity_search_with_score`` are the collection's: cosine similarity for cosine
    collections, the inner product for dot, minus the Euclidean distance for l2 (higher is more
    similar, always).
    """

    def __init__(self, collection: BaseCollection, embedding: Embeddings | None = None, *,
                 relevance_score_fn: Callable[[float], float] | None = None) -> None:
        if not isinstance(collection, BaseCollection):
            raise InvalidInputError(f"collection must be an embspace Collection (Collection.create or Collection.open),"
                                    f" got {type(collection).__name__}; to make one from texts use "
                                    "EmbspaceVectorStore.from_texts(texts, embedding, path=...)")
        if embedding is None:
            if collection.encoder_spec is None:
                raise InvalidInputError("this collection has no encoder, so the store needs embedding=... (an "
                                        "Embeddings object, e.g. EmbspaceEmbeddings('minilm')); or create the "
                                        "collection with encoder=...")
            embedding = EmbspaceEmbeddings(collection.encoder_spec)  # its encoder: the collection's (_check_space)
            self._from_collection = True
        else:
            self._from_collection = False
        self.collection = collection
        self._embedding = embedding
        self._space_checked = False
        self.override_relevance_score_fn = relevance_score_fn
        self._cleanup: Callable[[], None] | None = None

    # -- plumbing -----------------------------------------------------------------------------------
    @property
    def embeddings(self) -> Embeddings:
        """What embeds the texts and queries (for a collection's own encoder: that very encoder object)."""
        self._check_space()
        return self._embedding

    def _check_space(self) -> None:
        """An EmbspaceEmbeddings must make vectors of the collection's space (checked once)."""
        if self._space_checked:
            return
        emb = self._embedding
        if isinstance(emb, EmbspaceEmbeddings) and self.collection.encoder_spec is not None:
            if self._from_collection:
                emb._encoder = self.collection.encoder
            else:
                self.collection.encoder = emb.encoder  # IncompatibleSpaceError from another model
        self._space_checked = True

    def _embed_texts(self, texts: list[str]) -> npt.NDArray[np.float32]:
        self._check_space()
        if isinstance(self._embedding, EmbspaceEmbeddings):
            return self._embedding.encode(texts)
        return np.asarray(self._embedding.embed_documents(texts), dtype=np.float32).reshape(len(texts), -1)

    def _embed_query(self, text: str) -> npt.NDArray[np.float32]:
        self._check_space()
        if isinstance(self._embedding, EmbspaceEmbeddings):
            return self._embedding.encode([text]).reshape(-1)
        return np.asarray(self._embedding.embed_query(text), dtype=np.float32)

    def _select_relevance_score_fn(self) -> Callable[[float], float]:
        if self.override_relevance_score_fn is not None:
            return self.override_relevance_score_fn
        return _relevance_fn(self.collection.metric)

    def close(self) -> None:
        """Close the collection if this store opened it (``from_texts``), and remove a temporary one."""
        if self._cleanup is not None:
            self._cleanup()
            self._cleanup = None

    def __enter__(self) -> EmbspaceVectorStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"EmbspaceVectorStore({self.collection!r}, embedding={self._embedding!r})"

    # -- writing ------------------------------------------------------------------------------------
    def add_texts(self, texts: Iterable[str], metadatas: list[dict[str, Any]] | None = None, *,
                  ids: list[str] | None = None, **kwargs: Any) -> list[str]:
        """Embed and store ``texts``; an id that exists is replaced (upsert). Returns the ids (new ones are UUIDs).

        Parameters
        ----------
        texts
            The documents' texts (stored, and returned as ``page_content``).
        metadatas
            One JSON-like dict per text (or None).
        ids
            One id per text; None (or a None entry) makes a new UUID.
        """
        texts = list(texts)
        if kwargs:
            raise InvalidInputError(f"add_texts: unknown argument(s) {', '.join(sorted(kwargs))}")
        if metadatas is not None and len(metadatas) != len(texts):
            raise InvalidInputError(f"{len(metadatas)} metadatas for {len(texts)} texts; give one per text")
        if ids is not None and len(ids) != len(texts):
            raise InvalidInputError(f"{len(ids)} ids for {len(texts)} texts; give one per text")
        given: list[str | None] = list(ids) if ids is not None else [None] * len(texts)
        keys = [str(i) if i is not None else uuid.uuid4().hex for i in given]
        if not texts:
            return []
        vectors = self._embed_texts(texts)
        metas = [dict(m) if m else {} for m in (metadatas or [{}] * len(texts))]
        self.collection.upsert(keys, vectors, metas, texts=texts)
        return keys

    def delete(self, ids: list[str] | None = None, **kwargs: Any) -> bool | None:
        """Delete the documents with these ids (unknown ids are ignored), or, with ``filter=``, those matching it.

        ``delete()`` with neither deletes nothing and raises, so that a forgotten argument cannot empty
        the store; ``delete(filter={})`` deletes every document.
        """
        flt = kwargs.pop("filter", None) if "filter" in kwargs else ...
        if kwargs:
            raise InvalidInputError(f"delete: unknown argument(s) {', '.join(sorted(kwargs))}")
        if ids is not None:
            if flt is not ...:
                raise InvalidInputError("delete takes ids or filter=, not both")
            self.collection.delete([str(i) for i in ids])
            return True
        if flt is ...:
            raise InvalidInputError("delete() needs ids, or filter= (filter={} deletes every document)")
        where = langchain_filter(flt)
        if where is None:
            self.collection.delete(list(self.collection.keys()))
        else:
            self.collection.delete(where=where)
        return True

    # -- reading ------------------------------------------------------------------------------------
    def _document(self, key: str, text: str | None, metadata: dict[str, Any] | None) -> Document:
        return Document(id=key, page_content=text or "", metadata=dict(metadata or {}))

    def get_by_ids(self, ids: Sequence[str], /) -> list[Document]:
        """The documents with these ids, in the order asked; ids not in the store are left out."""
        got = self.collection.get([str(i) for i in ids], vectors=False, strict=False)
        return [self._document(item["key"], item.get("text"), item.get("metadata")) for item in got]

    def _search(self, vector: npt.ArrayLike, k: int, flt: Any, *, vectors: bool = False
                ) -> list[tuple[Document, float, npt.NDArray[np.float32] | None]]:
        if k < 1:
            raise InvalidInputError(f"k must be positive, got {k}")
        query = np.ascontiguousarray(np.asarray(vector, dtype=np.float32).reshape(-1))
        include: tuple[Any, ...] = ("metadata", "text", "vector") if vectors else ("metadata", "text")
        res = self.collection.search(query, k=k, where=langchain_filter(flt), include=include)
        metas = res.metadata or []
        texts = res.texts or []
        out = []
        for i, (key, score) in enumerate(zip(res.keys, res.scores.tolist(), strict=True)):
            if metas[i] is None:  # deleted by another writer between the search and the read
                continue
            vec = None if res.vectors is None else res.vectors[i]
            out.append((self._document(str(key), texts[i], metas[i]), float(score), vec))
        return out

    def similarity_search_with_score_by_vector(self, embedding: list[float], k: int = 4, filter: Any = None,
                                               **kwargs: Any) -> list[tuple[Document, float]]:
        """The ``k`` documents nearest to a vector, with their scores (higher is more similar), best first."""
        return [(doc, score) for doc, score, _ in self._search(embedding, k, filter)]

    def similarity_search_with_score(self, query: str, k: int = 4, filter: Any = None,
                                     **kwargs: Any) -> list[tuple[Document, float]]:
        """The ``k`` documents nearest to ``query``, with their scores (higher is more similar), best first.

        ``filter``: a LangChain dict filter (``{"lang": "en", "year": {"$gte": 2000}}``) or a filter string.
        """
        return self.similarity_search_with_score_by_vector(self._embed_query(query).tolist(), k, filter)

    def similarity_search(self, query: str, k: int = 4, filter: Any = None, **kwargs: Any) -> list[Document]:
        """The ``k`` documents nearest to ``query``, best first (``filter`` as in similarity_search_with_score)."""
        return [doc for doc, _ in self.similarity_search_with_score(query, k, filter)]

    def similarity_search_by_vector(self, embedding: list[float], k: int = 4, filter: Any = None,
                                    **kwargs: Any) -> list[Document]:
        """The ``k`` documents nearest to a vector, best first."""
        return [doc for doc, _ in self.similarity_search_with_score_by_vector(embedding, k, filter)]

    def max_marginal_relevance_search_by_vector(self, embedding: list[float], k: int = 4, fetch_k: int = 20,
                                                lambda_mult: float = 0.5, filter: Any = None,
                                                **kwargs: Any) -> list[Document]:
        """``k`` documents among the ``fetch_k`` nearest to a vector, picked by maximal marginal relevance.

        ``lambda_mult`` 1 ranks by similarity alone, 0 by diversity alone; similarity between documents
        is the cosine of their stored vectors.
        """
        hits = self._search(embedding, max(fetch_k, k), filter, vectors=True)
        if not hits:
            return []
        cands = np.stack([v if v is not None else np.zeros(self.collection.dim, np.float32) for _, _, v in hits])
        picked = maximal_marginal_relevance(np.asarray(embedding, np.float32), cands, k, lambda_mult)
        return [hits[i][0] for i in picked]

    def max_marginal_relevance_search(self, query: str, k: int = 4, fetch_k: int = 20, lambda_mult: float = 0.5,
                                      filter: Any = None, **kwargs: Any) -> list[Document]:
        """``k`` documents among the ``fetch_k`` nearest to ``query``, picked by maximal marginal relevance."""
        return self.max_marginal_relevance_search_by_vector(self._embed_query(query).tolist(), k, fetch_k,
                                                            lambda_mult, filter)

    # -- construction -------------------------------------------------------------------------------
    @classmethod
    def from_texts(cls, texts: list[str], embedding: Embeddings, metadatas: list[dict[str, Any]] | None = None, *,
                   ids: list[str] | None = None, path: str | Path | None = None,
                   collection: BaseCollection | None = None, metric: str = "cosine", index: str = "auto",
                   **kwargs: Any) -> EmbspaceVectorStore:
        """A store holding ``texts``, in ``collection``, in the collection at ``path`` (created if missing),
        or in a temporary collection removed when the store is closed or garbage-collected.

        Parameters
        ----------
        texts, metadatas, ids
            As in :meth:`add_texts`.
        embedding
            What embeds the texts and the queries. An :class:`EmbspaceEmbeddings` also becomes the
            encoder of a collection created here (so the embspace CLI and server can search it by text).
        path
            A collection directory (or a Milvus address): opened for writing when it exists, else created.
        metric, index
            Of a collection created here (see :meth:`embspace.store.Collection.create`).
        **kwargs
            ``relevance_score_fn`` (see the class).
        """
        relevance = kwargs.pop("relevance_score_fn", None)
        if kwargs:
            raise InvalidInputError(f"from_texts: unknown argument(s) {', '.join(sorted(kwargs))}")
        if collection is not None and path is not None:
            raise InvalidInputError("from_texts takes collection= or path=, not both")
        texts = list(texts)
        cleanup: Callable[[], None] | None = None
        if collection is None:
            temp = None
            if path is None:
                temp = tempfile.mkdtemp(prefix="embspace-langchain-")
                path = Path(temp) / "collection"
            if isinstance(embedding, EmbspaceEmbeddings):  # it becomes the collection's encoder
                spec: Any = embedding.model if embedding._encoder is None else embedding.encoder
                made = Collection.create(path, encoder=spec, metric=metric, index=index, exist_ok=True)
            else:
                dim = len(embedding.embed_query(texts[0] if texts else "dimension"))
                made = Collection.create(path, dim=dim, metric=metric, index=index, exist_ok=True)
            collection = made
            cleanup = _closer(made, temp)
        store = cls(collection, embedding, relevance_score_fn=relevance)
        if cleanup is not None:
            store._cleanup = cleanup
            weakref.finalize(store, cleanup)
        if texts:
            store.add_texts(texts, metadatas, ids=ids)
        return store


def _closer(collection: BaseCollection, temp: str | None) -> Callable[[], None]:
    done = False

    def close() -> None:
        nonlocal done
        if done:
            return
        done = True
        collection.close()
        if temp is not None:
            shutil.rmtree(temp, ignore_errors=True)

    return close

