"""compare_encoders: how much of a teacher's retrieval quality a fast student (a distilled model) keeps, on your data.

Both encoders encode the same corpus and queries (each timed), every query searches the corpus exactly in each
encoder's own space, and the two rankings are compared: with relevance judgements (``qrels``) by nDCG, recall and
MRR of each; always by the agreement of the student's top-k with the teacher's (the share of the teacher's top k
that the student also returns in its top k), which needs no judgements.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._ranking import ranking_metrics
from ..errors import InvalidInputError
from ..space.embedding_space import EmbeddingSpace
from ._retrieval import _as_matrix, _encoder_name, _search

__all__ = ["EncoderComparison", "compare_encoders"]


@dataclass(frozen=True)
class EncoderComparison:
    """The result of :func:`compare_encoders`.

    Attributes
    ----------
    teacher, student
        The encoders' names.
    k
        The cut-off of the top-k agreement (and of the ranking metrics' main column).
    top_k_agreement
        Mean over the queries of ``|top-k(teacher) & top-k(student)| / k``: 1.0 when the student returns the
        teacher's k documents (in any order).
    teacher_metrics, student_metrics
        ``{"ndcg@10": ..., "recall@10": ..., ...}`` against the qrels (empty without qrels).
    teacher_docs_per_second, student_docs_per_second
        Encoding throughput of each on the corpus.
    n_docs, n_queries
        Sizes.
    per_query_agreement
        ``{query_id: agreement}``.
    """

    teacher: str
    student: str
    k: int
    top_k_agreement: float
    teacher_metrics: dict[str, float]
    student_metrics: dict[str, float]
    teacher_docs_per_second: float
    student_docs_per_second: float
    n_docs: int
    n_queries: int
    per_query_agreement: dict[str, float] = field(repr=False, default_factory=dict)

    @property
    def speedup(self) -> float:
        """Student throughput / teacher throughput on the corpus."""
        return self.student_docs_per_second / max(self.teacher_docs_per_second, 1e-12)

    def retained(self, metric: str | None = None) -> float | None:
        """Student / teacher of ``metric`` (default ``ndcg@k``); None without qrels or when the teacher scores 0."""
        name = metric or f"ndcg@{self.k}"
        t, s = self.teacher_metrics.get(name), self.student_metrics.get(name)
        if t is None or s is None or t == 0:
            return None
        return s / t

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (without the per-query agreement)."""
        return {"teacher": self.teacher, "student": self.student, "k": self.k, "n_docs": self.n_docs,
                "n_queries": self.n_queries, "top_k_agreement": self.top_k_agreement,
                "teacher_metrics": dict(self.teacher_metrics), "student_metrics": dict(self.student_metrics),
                "teacher_docs_per_second": self.teacher_docs_per_second,
                "student_docs_per_second": self.student_docs_per_second, "speedup": self.speedup,
                "retained": self.retained()}

    def __str__(self) -> str:
        lines = [f"{self.student} vs its teacher {self.teacher}: {self.n_docs:,} documents, {self.n_queries:,} "
                 f"queries",
                 f"  top-{self.k} agreement with the teacher: {self.top_k_agreement:.3f}",
                 f"  throughput: teacher {self.teacher_docs_per_second:,.1f} docs/s, student "
                 f"{self.student_docs_per_second:,.1f} docs/s ({self.speedup:,.1f}x)"]
        for name in (f"ndcg@{self.k}", f"recall@{self.k}", f"mrr@{self.k}"):
            if name in self.teacher_metrics:
                t, s = self.teacher_metrics[name], self.student_metrics[name]
                kept = f" ({s / t:.1%} of the teacher)" if t else ""
                lines.append(f"  {name}: teacher {t:.4f}, student {s:.4f}{kept}")
        return "\n".join(lines)


def _texts(items: Sequence[str] | Mapping[str, str], what: str) -> tuple[list[str], list[str]]:
    """(ids, texts) of a list of texts (ids "0", "1", ...) or an ``{id: text}`` mapping."""
    if isinstance(items, str):
        raise InvalidInputError(f"{what} is one string; give a list of texts or an {{id: text}} mapping")
    if isinstance(items, Mapping):
        ids, texts = [str(k) for k in items], [items[k] for k in items]
    else:
        texts = list(items)
        ids = [str(i) for i in range(len(texts))]
    if not texts:
        raise InvalidInputError(f"{what} is empty; give at least one text")
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise TypeError(f"{what} item #{i} is {type(t).__name__}, expected str")
    return ids, texts


def _resolve(encoder: Any) -> Any:
    if isinstance(encoder, str) or hasattr(encoder, "__fspath__"):
        from ..encoders.registry import get_encoder

        return get_encoder(encoder)
    if not callable(getattr(encoder, "encode", None)):
        raise InvalidInputError(f"expected an encoder (with encode(texts)) or a model name/path, got "
                                f"{type(encoder).__name__}")
    return encoder


def _encode(encoder: Any, texts: list[str], what: str, progress: bool) -> tuple[np.ndarray, float]:
    t0 = time.perf_counter()
    arr = _as_matrix(encoder.encode(texts, normalize=True, progress=progress), len(texts), what)
    return arr, time.perf_counter() - t0


def compare_encoders(teacher: Any, student: Any, corpus: Sequence[str] | Mapping[str, str],
                     queries: Sequence[str] | Mapping[str, str],
                     qrels: Mapping[str, Mapping[str, int]] | None = None, *, k: int = 10,
                     progress: bool = True) -> EncoderComparison:
    """Compare a student encoder (e.g. a :class:`~embspace.encoders.DistilledEncoder`) with its teacher on your data.

    Parameters
    ----------
    teacher, student
        Encoders, or names/paths for :func:`~embspace.encoders.get_encoder`.
    corpus
        The documents: a list of texts (ids ``"0"``, ``"1"``, ...) or ``{doc_id: text}``.
    queries
        The queries: a list of texts or ``{query_id: text}``.
    qrels
        ``{query_id: {doc_id: relevance}}``: then nDCG, recall, MAP, precision and MRR at 1, 3, 5, ``k``, 100 of
        both encoders (queries without judgements are left out of those means). Without: only the top-``k``
        agreement.
    k
        The cut-off of the agreement.
    progress
        Show encoding progress.

    Returns
    -------
    EncoderComparison
        Agreement, both encoders' metrics and throughputs; ``str()`` is a readable summary.

    Examples
    --------
    >>> r = compare_encoders("minilm", "models/minilm-static", docs, queries)   # doctest: +SKIP
    >>> r.top_k_agreement, r.speedup                                            # doctest: +SKIP
    (0.41, 212.0)
    """
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise InvalidInputError(f"k must be a positive int, got {k!r}")
    doc_ids, doc_texts = _texts(corpus, "corpus")
    query_ids, query_texts = _texts(queries, "queries")
    if len(set(doc_ids)) != len(doc_ids) or len(set(query_ids)) != len(query_ids):
        raise InvalidInputError("corpus and query ids must be unique")
    if qrels is not None:
        judged = [q for q in query_ids if q in qrels]
        if not judged:
            raise InvalidInputError(f"none of the {len(query_ids)} query ids has relevance judgements in qrels "
                                    f"(e.g. {query_ids[0]!r}); qrels must be {{query_id: {{doc_id: relevance}}}} "
                                    "with the ids of queries and corpus")
    teacher_enc, student_enc = _resolve(teacher), _resolve(student)
    runs: list[dict[str, list[str]]] = []
    rates: list[float] = []
    depth = max(k, 100) if qrels is not None else k
    for enc in (teacher_enc, student_enc):
        docs, seconds = _encode(enc, doc_texts, "documents", progress)
        rates.append(len(doc_texts) / max(seconds, 1e-9))
        qv, _ = _encode(enc, query_texts, "queries", progress)
        space = EmbeddingSpace(doc_ids, docs, metric="cosine", copy=False)
        runs.append(_search(space, qv, query_ids, min(depth, len(doc_ids)), ignore_identical_ids=False))
    agreement = {q: len(set(runs[0][q][:k]) & set(runs[1][q][:k])) / min(k, len(doc_ids)) for q in query_ids}
    metrics: list[dict[str, float]] = [{}, {}]
    if qrels is not None:
        sub = {q: qrels[q] for q in query_ids if q in qrels}
        ks = sorted({1, 3, 5, k, 100})
        for i in range(2):
            metrics[i], _ = ranking_metrics(sub, runs[i], k_values=ks)
    return EncoderComparison(
        teacher=_encoder_name(teacher_enc), student=_encoder_name(student_enc), k=k,
        top_k_agreement=float(np.mean(list(agreement.values()))), teacher_metrics=metrics[0],
        student_metrics=metrics[1], teacher_docs_per_second=rates[0], student_docs_per_second=rates[1],
        n_docs=len(doc_ids), n_queries=len(query_ids), per_query_agreement=agreement)
