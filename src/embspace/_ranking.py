"""Ranking metrics and relevance judgements, shared by ``evaluate.retrieval`` and ``analysis.budget``.

The metrics follow ``pytrec_eval`` (``trec_eval``) as BEIR computes them (see :func:`ranking_metrics`);
qrels files are BEIR's ``query-id corpus-id score`` lines (:func:`read_qrels`). Below every layer, so the
analysis layer scores its searches with the same code as the evaluation layer.
"""

from __future__ import annotations

import gzip
import math
import zlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path

import numpy as np

from .errors import CorruptDataError, InvalidInputError

__all__ = ["DEFAULT_K", "METRIC_FAMILIES", "check_k", "lines", "ranking_metrics", "read_qrels"]

DEFAULT_K: tuple[int, ...] = (1, 3, 5, 10, 100)
METRIC_FAMILIES: tuple[str, ...] = ("ndcg", "map", "recall", "precision", "mrr")
"""Metric names are ``"<family>@<k>"``, e.g. ``"ndcg@10"``, ``"recall@100"``, ``"mrr@10"``."""


def check_k(k_values: Iterable[int]) -> tuple[int, ...]:
    ks = list(k_values)
    for k in ks:
        if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
            raise InvalidInputError(f"k values must be positive integers, got {k!r}")
    if not ks:
        raise InvalidInputError("k_values is empty; give at least one cut-off, e.g. (10,)")
    return tuple(sorted({int(k) for k in ks}))


def ranking_metrics(qrels: Mapping[str, Mapping[str, int]], run: Mapping[str, Sequence[str]],
                    k_values: Iterable[int] = DEFAULT_K) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    """nDCG, MAP, recall, precision and MRR at each k of ranked lists, as ``pytrec_eval``/BEIR define them.

    Parameters
    ----------
    qrels
        ``{query_id: {doc_id: relevance}}``; every query here is evaluated. Documents with
        relevance ``<= 0`` are not relevant.
    run
        ``{query_id: [doc_id, ...]}``, best first. A query missing here scores 0.
    k_values
        Cut-offs.

    Returns
    -------
    means, per_query
        ``{"ndcg@10": mean, ...}`` and ``{query_id: {"ndcg@10": value, ...}}``.

    Notes
    -----
    With ``rel`` the graded relevance of the document at rank ``i`` (1-based, 0 when not relevant)
    and ``R`` the number of relevant documents of the query (judged ``> 0``, whether or not they
    are in the corpus):

    - nDCG@k = sum_{i<=k} rel_i / log2(i + 1), divided by the same sum over the relevances of the
      qrels sorted in decreasing order (``ndcg_cut``); 0 when the query has no relevant document;
    - recall@k = relevant documents in the top k / R (``recall``);
    - precision@k = relevant documents in the top k / k, even when fewer than k were retrieved (``P``);
    - MAP@k = sum over the relevant documents in the top k of the precision at their rank, / R
      (``map_cut``). sentence-transformers' ``InformationRetrievalEvaluator`` divides by
      ``min(k, R)`` instead, and its nDCG uses binary gains: the two agree when relevance is binary
      and ``R <= k``;
    - MRR@k = 1 / rank of the first relevant document within the top k, else 0 (BEIR's ``mrr``).
    """
    ks = check_k(k_values)
    kmax = ks[-1]
    per_query: dict[str, dict[str, float]] = {}
    for qid, judged in qrels.items():
        relevant = np.array(sorted((r for r in judged.values() if r > 0), reverse=True), dtype=np.float64)
        n_rel = len(relevant)
        ranked = list(run.get(qid, ()))[:kmax]
        gains = np.array([max(judged.get(d, 0), 0) for d in ranked], dtype=np.float64)
        m = len(gains)
        discount = 1.0 / np.log2(np.arange(2, max(m, n_rel) + 2, dtype=np.float64))
        dcg = np.cumsum(gains * discount[:m])
        ideal = np.cumsum(relevant * discount[:n_rel])
        hits = np.cumsum(gains > 0)
        ap = np.cumsum(np.where(gains > 0, hits / np.arange(1, m + 1), 0.0))
        first = int(np.argmax(gains > 0)) if hits.size and hits[-1] > 0 else None
        values: dict[str, float] = {}
        for k in ks:
            i = min(k, m) - 1  # index of the last ranked document within the cut-off, -1 for none
            idcg = float(ideal[min(k, n_rel) - 1]) if n_rel else 0.0
            values[f"ndcg@{k}"] = float(dcg[i]) / idcg if i >= 0 and idcg > 0 else 0.0
        for k in ks:
            i = min(k, m) - 1
            values[f"map@{k}"] = float(ap[i]) / n_rel if i >= 0 and n_rel else 0.0
        for k in ks:
            i = min(k, m) - 1
            values[f"recall@{k}"] = float(hits[i]) / n_rel if i >= 0 and n_rel else 0.0
        for k in ks:
            i = min(k, m) - 1
            values[f"precision@{k}"] = float(hits[i]) / k if i >= 0 else 0.0
        for k in ks:
            values[f"mrr@{k}"] = 1.0 / (first + 1) if first is not None and first < k else 0.0
        per_query[qid] = values
    names = [f"{fam}@{k}" for fam in METRIC_FAMILIES for k in ks]
    if not per_query:
        return {n: 0.0 for n in names}, per_query
    means = {n: math.fsum(v[n] for v in per_query.values()) / len(per_query) for n in names}
    return means, per_query


def lines(path: Path) -> Iterator[tuple[int, str]]:
    """``(line number, text)`` of a UTF-8 file, plain or gzip; blank lines skipped, bad bytes reported by line."""
    lineno = 0
    try:
        with (gzip.open(path, "rb") if path.suffix == ".gz" else path.open("rb")) as f:
            for lineno, raw in enumerate(f, 1):
                if lineno == 1 and raw.startswith(b"\xef\xbb\xbf"):
                    raw = raw[3:]
                try:
                    line = raw.decode("utf-8").rstrip("\r\n")
                except UnicodeDecodeError as e:
                    raise CorruptDataError(path, f"not valid UTF-8 ({e.reason} at byte {e.start} of the line)",
                                           line=lineno) from None
                if line.strip():
                    yield lineno, line
    except (OSError, EOFError, zlib.error) as e:
        if isinstance(e, FileNotFoundError | PermissionError | IsADirectoryError):
            raise
        raise CorruptDataError(path, f"cannot read the file as {'gzip' if path.suffix == '.gz' else 'text'} "
                                     f"({e})", line=lineno + 1) from None


def _relevance(field: str) -> int | None:
    try:
        return int(field)
    except ValueError:
        try:
            value = float(field)
        except ValueError:
            return None
        return int(value) if value.is_integer() else None


def read_qrels(path: Path) -> tuple[dict[str, dict[str, int]], dict[str, int]]:
    """``{query_id: {doc_id: relevance}}`` and the first line of each query, from ``query-id corpus-id score``
    lines (tab-separated, or whitespace-separated; TREC's four columns ``qid iter docid rel`` too), with or
    without a header line."""
    qrels: dict[str, dict[str, int]] = {}
    first_line: dict[str, int] = {}
    header_allowed = True
    for lineno, line in lines(path):
        fields = [f.strip() for f in (line.split("\t") if "\t" in line else line.split())]
        first, header_allowed = header_allowed, False
        if len(fields) == 3:
            qid, doc_id, score = fields
        elif len(fields) == 4:
            qid, _, doc_id, score = fields
        else:
            raise CorruptDataError(path, f"expected 'query-id<TAB>corpus-id<TAB>score', found {len(fields)} "
                                         "fields", line=lineno)
        rel = _relevance(score)
        if rel is None:
            if first:  # a header line ("query-id corpus-id score")
                continue
            raise CorruptDataError(path, f"relevance {score!r} is not an integer", line=lineno)
        if not qid or not doc_id:
            raise CorruptDataError(path, "empty query id or corpus id", line=lineno)
        qrels.setdefault(qid, {})[doc_id] = rel
        first_line.setdefault(qid, lineno)
    if not qrels:
        raise CorruptDataError(path, "no relevance judgements")
    return qrels, first_line
