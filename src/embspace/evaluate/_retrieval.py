"""Retrieval evaluation on BEIR-layout datasets: nDCG@k, recall@k, precision@k, MAP@k and MRR@k.

The metrics follow ``pytrec_eval`` (``trec_eval``) as BEIR computes them: graded gains for nDCG,
documents judged ``<= 0`` not relevant, every judged query of the split averaged (one with no
relevant document scores 0), and a hit whose id equals the query's id skipped.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from .. import _html
from .._ranking import DEFAULT_K, METRIC_FAMILIES, ranking_metrics
from .._ranking import check_k as _check_k
from ..errors import DimensionMismatchError, IncompatibleSpaceError, InvalidInputError, UnknownKeyError
from ..space.embedding_space import EmbeddingSpace
from ..space.provenance import Provenance
from ._beir import BeirDataset, load_beir
from ._grid import grid_html, grid_lines

if TYPE_CHECKING:
    from ..encoders.encoder import Encoder

__all__ = ["DEFAULT_K", "METRIC_FAMILIES", "BeirDataset", "RetrievalResult", "load_beir", "ranking_metrics",
           "retrieval"]

_ROW_BLOCK = 65536


@dataclass
class RetrievalResult:
    """Retrieval quality of one model on one dataset split, with its timings.

    Attributes
    ----------
    dataset, split
        The dataset's name and split.
    model
        The model that encoded the texts (or the provenance model of precomputed spaces).
    metrics
        Mean over the split's queries of each metric: ``"ndcg@10"``, ``"map@100"``,
        ``"recall@100"``, ``"precision@10"``, ``"mrr@10"``, ... for every k of ``k_values``.
    per_query
        ``{query_id: {metric: value}}``.
    n_queries, n_docs
        Queries evaluated and documents searched.
    k_values
        The cut-offs computed.
    encode_seconds
        Time spent encoding documents and queries (``None`` for precomputed spaces).
    docs_per_second
        Documents encoded per second (``None`` for precomputed spaces).
    search_seconds
        Time of the exact search of all queries.
    """

    dataset: str
    split: str
    model: str
    metrics: dict[str, float]
    per_query: dict[str, dict[str, float]] = field(repr=False)
    n_queries: int
    n_docs: int
    k_values: tuple[int, ...]
    encode_seconds: float | None = None
    docs_per_second: float | None = None
    search_seconds: float = 0.0

    def to_dict(self, per_query: bool = False) -> dict[str, Any]:
        """A JSON-ready dict; with ``per_query`` the per-query values too."""
        out: dict[str, Any] = {
            "dataset": self.dataset, "split": self.split, "model": self.model, "n_queries": self.n_queries,
            "n_docs": self.n_docs, "k_values": list(self.k_values), "metrics": dict(self.metrics),
            "encode_seconds": self.encode_seconds, "docs_per_second": self.docs_per_second,
            "search_seconds": self.search_seconds,
        }
        if per_query:
            out["per_query"] = {q: dict(m) for q, m in self.per_query.items()}
        return out

    def __repr__(self) -> str:
        main = f"ndcg@10={self.metrics['ndcg@10']:.4f}, " if "ndcg@10" in self.metrics else ""
        return (f"RetrievalResult({self.model!r} on {self.dataset}/{self.split}: {main}queries={self.n_queries}, "
                f"docs={self.n_docs})")

    def _repr_html_(self) -> str:
        facts = [("dataset", self.dataset), ("split", self.split), ("model", self.model), ("queries", self.n_queries),
                 ("documents", self.n_docs), ("encode seconds", self.encode_seconds),
                 ("docs per second", self.docs_per_second), ("search seconds", self.search_seconds)]
        grid = grid_html(self.metrics, METRIC_FAMILIES, self.k_values)
        return _html.frame("RetrievalResult", _html.kv_table(facts), grid,
                           subtitle=f"{self.dataset}/{self.split}")

    def __str__(self) -> str:
        lines = [f"retrieval on {self.dataset} ({self.split}): {self.n_queries:,} queries, {self.n_docs:,} documents, "
                 f"model {self.model}"]
        if self.encode_seconds is not None:
            rate = f", {self.docs_per_second:,.0f} docs/s" if self.docs_per_second else ""
            lines.append(f"encoded in {self.encode_seconds:.2f} s{rate}; searched in {self.search_seconds:.2f} s")
        else:
            lines.append(f"precomputed vectors; searched in {self.search_seconds:.2f} s")
        return "\n".join(lines + grid_lines(self.metrics, METRIC_FAMILIES, self.k_values))


# --------------------------------------------------------------------------- metrics
# --------------------------------------------------------------------------- search
def _unit_rows(arr: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """Rows scaled to unit L2 norm, norms summed in float64 a block at a time (zero rows stay zero:
    they score 0 against everything)."""
    out = np.empty(arr.shape, np.float32)
    for r0 in range(0, len(arr), _ROW_BLOCK):
        blk = arr[r0 : r0 + _ROW_BLOCK].astype(np.float64)
        norms = np.sqrt(np.einsum("ij,ij->i", blk, blk))
        out[r0 : r0 + len(blk)] = blk / np.where(norms == 0, 1.0, norms)[:, None]
    return out


def _as_matrix(x: Any, n: int, what: str) -> npt.NDArray[np.float32]:
    arr = np.asarray(x)
    if arr.ndim != 2 or arr.shape[0] != n:
        raise InvalidInputError(f"the encoder returned an array of shape {arr.shape} for {n} {what}; "
                                f"expected ({n}, dim)")
    out = np.ascontiguousarray(arr, dtype=np.float32)
    if not np.all(np.isfinite(out)):
        raise InvalidInputError(f"the encoder returned NaN or Inf for some {what}")
    return out


def _search(corpus: EmbeddingSpace, queries: npt.NDArray[np.float32], query_ids: Sequence[str], k: int,
            ignore_identical_ids: bool) -> dict[str, list[str]]:
    """The top-k corpus keys of each query, best first (ties: corpus order), skipping the query's own id."""
    if queries.shape[1] != corpus.dim:
        raise DimensionMismatchError(queries.shape[1], corpus.dim, "query vectors")
    skip = ignore_identical_ids and any(q in corpus for q in query_ids)
    if corpus.metric == "cosine":  # cosine = dot product of unit rows; a zero query then ranks in corpus order
        corpus = corpus.normalize().with_metric("dot")
        queries = _unit_rows(queries)
    hits = corpus.neighbors(queries, k=k + 1 if skip else k)
    keys: list[list[str]] = hits.keys  # type: ignore[assignment]  # a batch: one list per query
    run: dict[str, list[str]] = {}
    for qid, row in zip(query_ids, keys, strict=True):
        run[qid] = [d for d in row if d != qid][:k] if skip else row
    return run


def _check_keys(space: EmbeddingSpace, ids: Sequence[str], what: str, item: str) -> None:
    missing = [i for i in ids if i not in space]
    if missing:
        raise UnknownKeyError(missing[0], where=f"the {what}, which must hold every {item} id of the dataset "
                                                f"({len(missing):,} of {len(ids):,} are missing)")


def _encoder_name(encoder: Any) -> str:
    name = getattr(encoder, "name", None)
    return name if isinstance(name, str) and name else type(encoder).__name__


def _status(progress: bool, message: str) -> None:
    if progress:
        from rich.console import Console

        Console(stderr=True, highlight=False).print(message, markup=False)


def retrieval(
    dataset: BeirDataset | str | Path,
    encoder: Encoder | str | None = None,
    *,
    model: str | None = None,
    corpus_space: EmbeddingSpace | None = None,
    query_space: EmbeddingSpace | None = None,
    split: str = "test",
    k_values: Iterable[int] = DEFAULT_K,
    batch_size: int | None = None,
    ignore_identical_ids: bool = True,
    progress: bool = True,
) -> RetrievalResult:
    """Exact dense retrieval of a BEIR dataset's queries over its corpus, scored against its qrels.

    Give one of: an ``encoder`` (any object with ``encode(texts, batch_size=, normalize=, progress=)``
    returning an ``(n, dim)`` array, e.g. an :class:`~embspace.encoders.Encoder`), a ``model`` name
    for :func:`embspace.encoders.get_encoder` (``"minilm"``, a model directory, a hub id), or
    precomputed ``corpus_space`` and ``query_space`` whose keys are the corpus and query ids.

    Parameters
    ----------
    dataset
        A :class:`BeirDataset`, or the directory to read with :func:`load_beir`.
    encoder
        The encoder; a string is taken as ``model``.
    model
        Name of a pretrained encoder.
    corpus_space, query_space
        Precomputed vectors of every document and every query of the split (extra keys are
        ignored). Both must come from the same model (equal ``space_id``). Documents are ranked by
        the corpus space's metric (cosine for encoders).
    split
        The qrels split, when ``dataset`` is a path.
    k_values
        Cut-offs of the metrics; the search retrieves ``max(k_values)`` documents per query.
    batch_size
        Encoding batch size (the encoder's default when ``None``).
    ignore_identical_ids
        Never return a document whose id equals the query's id (BEIR's default).
    progress
        Show encoding progress.

    Returns
    -------
    RetrievalResult
        Mean and per-query metrics (see :func:`ranking_metrics` for their definitions), sizes and timings.

    Raises
    ------
    InvalidInputError
        None or several of ``encoder``/``model``/spaces given, or a bad ``k_values``.
    IncompatibleSpaceError
        The two spaces come from different models.
    UnknownKeyError
        A corpus or query id is missing from its space.
    """
    ks = _check_k(k_values)
    if isinstance(encoder, str):
        if model is not None:
            raise InvalidInputError("give the model name once: as encoder or as model=, not both")
        encoder, model = None, encoder
    spaces = corpus_space is not None or query_space is not None
    given = sum((encoder is not None, model is not None, spaces))
    if given != 1:
        raise InvalidInputError("give exactly one of: an encoder, model=NAME, or corpus_space= with query_space= "
                                f"(got {given})")
    ds = dataset if isinstance(dataset, BeirDataset) else load_beir(dataset, split=split)
    encode_seconds: float | None = None
    docs_per_second: float | None = None
    if spaces:
        if corpus_space is None or query_space is None:
            raise InvalidInputError("precomputed vectors need both corpus_space= and query_space=")
        if corpus_space.space_id != query_space.space_id:
            raise IncompatibleSpaceError(
                f"the corpus space is {corpus_space.provenance.describe()} but the query space is "
                f"{query_space.provenance.describe()}: vectors of different models cannot be compared; encode "
                "queries and documents with the same model")
        _check_keys(corpus_space, ds.corpus_ids, "corpus space", "document")
        _check_keys(query_space, ds.query_ids, "query space", "query")
        corpus = corpus_space if corpus_space.keys == ds.corpus_ids else corpus_space.subset(ds.corpus_ids)
        queries = np.ascontiguousarray(query_space[list(ds.query_ids)], dtype=np.float32)
        name = corpus_space.provenance.model
    else:
        enc: Any = encoder
        if enc is None:
            from ..encoders import get_encoder

            enc = get_encoder(model if model is not None else "minilm")
        name = _encoder_name(enc)
        _status(progress, f"encoding {ds.n_docs:,} documents of {ds.name} with {name}")
        t0 = time.perf_counter()
        docs = _as_matrix(enc.encode(list(ds.corpus_texts), batch_size=batch_size, normalize=True,
                                         progress=progress), ds.n_docs, "documents")
        t1 = time.perf_counter()
        _status(progress, f"encoding {ds.n_queries:,} queries")
        queries = _as_matrix(enc.encode(list(ds.query_texts), batch_size=batch_size, normalize=True,
                                            progress=progress), ds.n_queries, "queries")
        encode_seconds = time.perf_counter() - t0
        docs_per_second = ds.n_docs / (t1 - t0) if t1 > t0 else None
        if queries.shape[1] != docs.shape[1]:
            raise DimensionMismatchError(queries.shape[1], docs.shape[1], "query vectors")
        corpus = EmbeddingSpace(ds.corpus_ids, _unit_rows(docs), metric="cosine", copy=False,
                                provenance=Provenance(model=name, config={"evaluation": ds.name}))
    t0 = time.perf_counter()
    run = _search(corpus, queries, ds.query_ids, ks[-1], ignore_identical_ids)
    search_seconds = time.perf_counter() - t0
    means, per_query = ranking_metrics({q: ds.qrels[q] for q in ds.query_ids}, run, ks)
    return RetrievalResult(dataset=ds.name, split=ds.split, model=name, metrics=means, per_query=per_query,
                           n_queries=ds.n_queries, n_docs=ds.n_docs, k_values=ks, encode_seconds=encode_seconds,
                           docs_per_second=docs_per_second, search_seconds=search_seconds)
