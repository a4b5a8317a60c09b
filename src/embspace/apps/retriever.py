"""Retriever: passages for a query from a collection of document chunks — vector, BM25 or hybrid.

- ``mode="vector"``: the collection's nearest chunks to the query's embedding (its own search, with
  its filters);
- ``mode="bm25"``: Lucene BM25 over the chunks' text (each with its document's title in front unless
  it starts with it), with Elasticsearch's English analysis (stopwords, Snowball stemmer) — see
  :mod:`embspace.apps._bm25`;
- ``mode="hybrid"`` (default): the top ``candidates`` of each fused by reciprocal rank
  (:func:`~embspace.apps.reciprocal_rank_fusion`, ``k = 60``): exact-term matches (names, codes, rare
  words) that embeddings blur, and paraphrases that share no word with the query, both surface.

Optionally a re-ranker (any ``(query, texts) -> scores`` callable, e.g.
:class:`~embspace.apps.CrossEncoderReranker`) re-orders the best candidates.

The BM25 index is derived data, like the vector index: kept in ``PATH/bm25/`` with the identity of the
table it covers (:attr:`~embspace.store.Collection.identity`: uid, version and the token of the write that
made it), built on first use, rebuilt when the collection has changed since or is another table (a
restored older ``collection.sqlite`` written up to the same version), written atomically (a crash leaves
the old index or the new one, never a mix). It is rebuilt in full (SciFact's 12,345 chunks: 2-3 s), so a
collection written between every two queries pays that each time.
"""

from __future__ import annotations

import json
import threading
import warnings
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from ..errors import CorruptDataError, InvalidInputError
from ..store import FilterLike
from ._bm25 import Bm25Index, Identity
from ._passages import passage_from, with_title
from .fusion import reciprocal_rank_fusion
from .reranker import Reranker
from .schemas import MAX_K, MAX_TEXT, Passage, RetrieveRequest, RetrieveResponse

MODES: Final = ("hybrid", "vector", "bm25")
#: Candidates taken from each ranking before fusion (at least k).
DEFAULT_CANDIDATES: Final = 100
#: Candidates a re-ranker scores (at least k).
DEFAULT_RERANK_DEPTH: Final = 30
#: Reciprocal rank fusion's constant (Cormack et al. 2009).
RRF_K: Final = 60
BM25_DIR: Final = "bm25"
MASK_CACHE: Final = 32

__all__ = ["DEFAULT_CANDIDATES", "DEFAULT_RERANK_DEPTH", "MODES", "RRF_K", "Retriever"]


def _with_text(metadata: dict[str, Any], text: str | None) -> dict[str, Any]:
    """An item's metadata with its stored text as ``"text"`` (where passages carry it), when it has one."""
    return metadata if text is None else {**metadata, "text": text}


class Retriever:
    """Passages for queries from a collection written by :func:`~embspace.apps.ingest`.

    Parameters
    ----------
    collection
        An open collection, or a path (or Milvus address), opened read-only (and closed by
        :meth:`close`). Milvus collections support ``mode="vector"`` only.
    reranker
        Optional ``(query, texts) -> scores`` callable (higher is more relevant), used when
        :meth:`retrieve` is asked to re-rank (by default: whenever a re-ranker is given).
    rrf_k
        The rank constant of reciprocal rank fusion.
    rerank_depth
        How many of the best candidates the re-ranker scores (at least ``k``).

    Safe to call from several threads at once: the collection is read under a lock, and a stale
    BM25 index is rebuilt by one thread while the others wait for it.
    """

    def __init__(self, collection: Any, *, reranker: Reranker | None = None, rrf_k: float = RRF_K,
                 rerank_depth: int = DEFAULT_RERANK_DEPTH) -> None:
        from ..store import Collection

        if reranker is not None and not callable(reranker):
            raise InvalidInputError("reranker must be a callable (query, texts) -> scores, e.g. "
                                    "CrossEncoderReranker(model)")
        if not rrf_k > 0:
            raise InvalidInputError(f"rrf_k must be positive, got {rrf_k}")
        if isinstance(rerank_depth, bool) or not isinstance(rerank_depth, int) or rerank_depth < 1:
            raise InvalidInputError(f"rerank_depth must be a positive int, got {rerank_depth!r}")
        self._owned = isinstance(collection, str | Path)
        self.collection: Any = Collection.open(collection, readonly=True) if self._owned else collection
        self.reranker = reranker
        self.rrf_k = float(rrf_k)
        self.rerank_depth = rerank_depth
        self._lock = threading.RLock()  # the collection (its connection, its index sync) and the encoder
        self._bm25_lock = threading.Lock()
        self._bm25: Bm25Index | None = None
        self._masks: OrderedDict[tuple[str, Identity], npt.NDArray[np.bool_]] = OrderedDict()

    # -- the API -------------------------------------------------------------------------------------
    def retrieve(self, query: str, k: int = 5, *, mode: str = "hybrid", where: FilterLike = None,
                 rerank: bool | None = None, candidates: int | None = None) -> list[Passage]:
        """The ``k`` best passages for ``query``, best first.

        Parameters
        ----------
        query
            The question or search text.
        k
            Passages to return (1 to ``MAX_K``).
        mode
            ``"hybrid"`` (BM25 and vector search fused by reciprocal rank), ``"vector"`` or ``"bm25"``.
        where
            A metadata filter (a dict or a filter string, see docs/filters.md), applied to both rankings:
            only chunks matching it are returned, e.g. ``{"source": "guide.md"}``.
        rerank
            Re-order the best ``max(k, rerank_depth)`` candidates with the re-ranker; default: when the
            retriever has one.
        candidates
            Chunks taken from each ranking before fusion (default ``max(k, 100)``).

        Returns
        -------
        list of Passage
            Each with its text, source, title, character offsets ``start``/``end`` in the source's
            text, chunk number, score (cosine similarity, BM25 score, fused score or re-ranker
            score) and the chunk's other metadata.
        """
        k, depth = self._check(query, k, mode, candidates)
        if rerank is None:
            rerank = self.reranker is not None
        elif rerank and self.reranker is None:
            raise InvalidInputError("rerank=True, but this retriever has no re-ranker; create it with "
                                    "Retriever(collection, reranker=CrossEncoderReranker(model))")
        if mode != "vector":
            self._require_embedded("BM25 and hybrid retrieval")
        rankings: list[tuple[list[str], list[float]]] = []
        known: dict[str, dict[str, Any]] = {}  # metadata that came with the vector hits (vector mode)
        if mode == "vector":  # the hits are the passages: their metadata comes with them, in the search
            rankings.append(self._vector(query, depth, where, known))
        elif mode == "hybrid":  # most fused keys are not passages: only the final k are read, after fusion
            rankings.append(self._vector(query, depth, where))
        if mode in ("bm25", "hybrid"):
            rankings.append(self._bm25_ranking(query, depth, where))
        if mode == "hybrid":
            fused = reciprocal_rank_fusion([keys for keys, _ in rankings], k=self.rrf_k)
            ranked = [key for key, _ in fused]
            scores = [score for _, score in fused]
        else:
            ranked, scores = rankings[0]
        if rerank and ranked:
            return self._reranked(query, ranked[: max(k, self.rerank_depth)], k, known)
        ranked, scores = ranked[:k], scores[:k]
        metas = self._metadata(ranked, known)
        return [passage_from(key, s, metas[key]) for key, s in zip(ranked, scores, strict=True) if key in metas]

    def run(self, request: RetrieveRequest) -> RetrieveResponse:
        """Answer a :class:`~embspace.apps.schemas.RetrieveRequest` (what the HTTP API calls)."""
        passages = self.retrieve(request.query, request.k, mode=request.mode, where=request.where,
                                 rerank=request.rerank)
        return RetrieveResponse(query=request.query, mode=request.mode, passages=passages)

    def refresh(self) -> bool:
        """Bring the BM25 index up to date with the collection; True when it was (re)built or loaded."""
        self._require_embedded("BM25 retrieval")
        return self._current_bm25()[1]

    def close(self) -> None:
        """Close the collection if the retriever opened it."""
        if self._owned:
            self.collection.close()

    def __enter__(self) -> Retriever:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        where = getattr(self.collection, "path", None) or self.collection
        return f"Retriever({str(where)!r}, reranker={self.reranker!r})"

    # -- checks --------------------------------------------------------------------------------------
    @staticmethod
    def _check(query: Any, k: Any, mode: Any, candidates: Any) -> tuple[int, int]:
        if not isinstance(query, str):
            raise InvalidInputError(f"the query must be a string, got {type(query).__name__}")
        if not query.strip():
            raise InvalidInputError("the query is empty; give a question or some search words")
        if len(query) > MAX_TEXT:
            raise InvalidInputError(f"the query has {len(query):,} characters; at most {MAX_TEXT:,} are accepted")
        if isinstance(k, bool) or not isinstance(k, int | np.integer) or not 1 <= k <= MAX_K:
            raise InvalidInputError(f"k must be an integer from 1 to {MAX_K}, got {k!r}")
        if mode not in MODES:
            raise InvalidInputError(f"unknown mode {mode!r}; choose 'hybrid', 'vector' or 'bm25'")
        depth = max(int(k), DEFAULT_CANDIDATES)
        if candidates is not None:
            if isinstance(candidates, bool) or not isinstance(candidates, int | np.integer) or \
                    not 1 <= candidates <= MAX_K:
                raise InvalidInputError(f"candidates must be an integer from 1 to {MAX_K}, got {candidates!r}")
            depth = max(int(k), int(candidates))
        return int(k), depth

    def _require_embedded(self, what: str) -> None:
        from ..store import Collection

        if not isinstance(self.collection, Collection):
            raise InvalidInputError(f"{what} needs an embedded collection (a directory; its change log tells "
                                    f"when the BM25 index is stale); this is a {type(self.collection).__name__}: "
                                    "use mode='vector'")

    # -- the two rankings ----------------------------------------------------------------------------
    def _vector(self, query: str, depth: int, where: FilterLike,
                metadata: dict[str, dict[str, Any]] | None = None) -> tuple[list[str], list[float]]:
        """The collection's ranking for ``query``; with ``metadata`` (a dict, filled here) the hits'
        metadata is read by the same search."""
        with self._lock:
            enc = self.collection.encoder
            if enc is None:
                raise InvalidInputError("this collection has no encoder, so a text query cannot be embedded; use "
                                        "mode='bm25', or a collection written by ingest")
            vec = enc.encode([query], progress=False)[0]
            res = self.collection.search(vec, k=depth, where=where,
                                         include=("metadata", "text") if metadata is not None else ())
        keys = [str(key) for key in res.keys]
        if metadata is not None and res.metadata is not None:
            texts = res.texts or [None] * len(keys)
            metadata.update((key, _with_text(m, t)) for key, m, t in zip(keys, res.metadata, texts, strict=True)
                            if m is not None)
        return keys, [float(s) for s in np.asarray(res.scores)]

    def _bm25_ranking(self, query: str, depth: int, where: FilterLike) -> tuple[list[str], list[float]]:
        index, _ = self._current_bm25()
        allowed = None if where is None else self._mask(index, where)
        keys, scores = index.search(query, depth, allowed)
        return keys, [float(s) for s in scores]

    def _current_bm25(self) -> tuple[Bm25Index, bool]:
        """The BM25 index for the collection's table as it is now (loaded or built when needed), and
        whether it had to be."""
        with self._lock:
            identity = self.collection.identity
        index = self._bm25
        if index is not None and index.identity == identity:
            return index, False
        with self._bm25_lock:
            index = self._bm25  # another thread may have done it meanwhile
            if index is not None and index.identity == identity:
                return index, False
            index = self._load_or_build(identity)
            self._bm25 = index
            self._masks.clear()
            return index, True

    def _load_or_build(self, identity: Identity) -> Bm25Index:
        path = Path(self.collection.path) / BM25_DIR
        if Bm25Index.covered(path) == identity:  # the same table (uid), version and history (token)
            try:
                index = Bm25Index.load(path)
                if index.identity == identity:
                    return index
            except CorruptDataError as e:
                warnings.warn(f"{e}; rebuilding it from the collection", RuntimeWarning, stacklevel=4)
        with self._lock:
            identity = self.collection.identity  # read before the items: a later write makes it stale again
            keys: list[str] = []
            texts: list[str] = []
            for rec in self.collection.records(vectors=False):  # the text column, else metadata["text"]
                text = rec["text"]
                if isinstance(text, str) and text:
                    keys.append(rec["key"])
                    texts.append(with_title(rec["metadata"].get("title"), text))
        index = Bm25Index.build(keys, texts, identity)
        self._save(index, path)
        return index

    @staticmethod
    def _save(index: Bm25Index, path: Path) -> None:
        from .._atomic import atomic_path

        try:
            with atomic_path(path, is_dir=True) as tmp:
                index.save(tmp)
        except OSError as e:  # a read-only directory, a concurrent writer: keep it in memory only
            warnings.warn(f"could not save the BM25 index to {path} ({e}); it is kept in memory only",
                          RuntimeWarning, stacklevel=5)

    def _mask(self, index: Bm25Index, where: FilterLike) -> npt.NDArray[np.bool_]:
        """Rows of ``index`` whose item matches ``where`` (by the collection's own filter evaluation)."""
        spec = where if isinstance(where, str) else json.dumps(where, sort_keys=True, default=str)
        cache_key = (spec, index.identity)
        hit = self._masks.get(cache_key)
        if hit is not None:
            return hit
        with self._lock:
            keys = set(self.collection.keys(where))
        mask = index.mask(keys)
        self._masks[cache_key] = mask
        while len(self._masks) > MASK_CACHE:
            self._masks.popitem(last=False)
        return mask

    # -- passages ------------------------------------------------------------------------------------
    def _metadata(self, keys: Sequence[str], known: Mapping[str, dict[str, Any]] | None = None
                  ) -> dict[str, dict[str, Any]]:
        """Metadata of the keys still in the collection (one deleted since the ranking is left out); those in
        ``known`` (read with the vector hits) are not read again."""
        known = known or {}
        metas = {key: known[key] for key in keys if key in known}
        missing = [key for key in keys if key not in metas]
        if not missing:
            return metas
        with self._lock:
            got = self.collection.get(missing, vectors=False)  # the keys deleted meanwhile are left out
        metas.update((g["key"], _with_text(g["metadata"], g["text"])) for g in got)
        return metas

    def _reranked(self, query: str, keys: list[str], k: int, known: Mapping[str, dict[str, Any]]) -> list[Passage]:
        assert self.reranker is not None
        metas = self._metadata(keys, known)
        keys = [key for key in keys if key in metas]
        texts = [with_title(metas[key].get("title"), str(metas[key].get("text") or "")) for key in keys]
        scores = np.asarray(self.reranker(query, texts), dtype=np.float64).reshape(-1)
        if len(scores) != len(keys):
            raise InvalidInputError(f"the re-ranker returned {len(scores)} scores for {len(keys)} passages")
        if not np.isfinite(scores).all():
            raise InvalidInputError("the re-ranker returned NaN or infinite scores")
        order = sorted(range(len(keys)), key=lambda i: -scores[i])[:k]  # stable: ties keep the first ranking
        return [passage_from(keys[i], float(scores[i]), metas[keys[i]]) for i in order]
