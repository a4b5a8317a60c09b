"""compare_encoders: top-k agreement, metrics with qrels, throughput, errors (on fake encoders: exact cases)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from embspace.errors import InvalidInputError
from embspace.evaluate import EncoderComparison, compare_encoders

DOCS = {f"d{i}": f"doc {i}" for i in range(20)}
QUERIES = {f"q{i}": f"query {i}" for i in range(5)}


class _Fake:
    """Vectors from a fixed table: text "doc i" -> row i, "query i" -> near doc i (or doc 19 - i when flipped)."""

    def __init__(self, name: str, *, flip: bool = False) -> None:
        self.name = name
        self.flip = flip
        rng = np.random.default_rng(0)
        self.table = rng.normal(size=(20, 8)).astype(np.float32)

    def encode(self, texts: list[str], *, normalize: bool = True, progress: bool = True, **_: Any) -> np.ndarray:
        rows = []
        for t in texts:
            kind, i = t.split()
            j = int(i)
            if kind == "query" and self.flip:
                j = 19 - j
            rows.append(self.table[j])
        out = np.stack(rows)
        return out / np.linalg.norm(out, axis=1, keepdims=True)


def test_identical_encoders_agree_fully_and_score_the_same() -> None:
    qrels = {q: {f"d{i}": 1} for i, q in enumerate(QUERIES)}
    r = compare_encoders(_Fake("t"), _Fake("s"), DOCS, QUERIES, qrels, k=5, progress=False)
    assert isinstance(r, EncoderComparison)
    assert r.top_k_agreement == 1.0 and r.n_docs == 20 and r.n_queries == 5
    assert r.teacher_metrics["ndcg@5"] == 1.0 and r.student_metrics["ndcg@5"] == 1.0 and r.retained() == 1.0
    assert r.teacher_docs_per_second > 0 and r.student_docs_per_second > 0 and r.speedup > 0
    assert "ndcg@5" in str(r) and r.to_dict()["retained"] == 1.0


def test_a_different_student_disagrees_and_loses_ndcg() -> None:
    qrels = {q: {f"d{i}": 1} for i, q in enumerate(QUERIES)}
    r = compare_encoders(_Fake("t"), _Fake("s", flip=True), list(DOCS.values()), list(QUERIES.values()),
                         {str(i): {str(i): 1} for i in range(5)}, k=1, progress=False)
    assert r.top_k_agreement == 0.0  # query i finds doc i with the teacher, doc 19 - i with the student
    assert r.teacher_metrics["ndcg@1"] == 1.0 and r.student_metrics["ndcg@1"] == 0.0
    without = compare_encoders(_Fake("t"), _Fake("s", flip=True), DOCS, QUERIES, k=1, progress=False)
    assert without.teacher_metrics == {} and without.retained() is None and without.top_k_agreement == 0.0
    assert qrels  # the mapping form is exercised above


def test_errors() -> None:
    with pytest.raises(InvalidInputError, match="one string"):
        compare_encoders(_Fake("t"), _Fake("s"), "doc 1", QUERIES, progress=False)
    with pytest.raises(InvalidInputError, match="empty"):
        compare_encoders(_Fake("t"), _Fake("s"), [], QUERIES, progress=False)
    with pytest.raises(InvalidInputError, match="relevance judgements"):
        compare_encoders(_Fake("t"), _Fake("s"), DOCS, QUERIES, {"other": {"d1": 1}}, progress=False)
    with pytest.raises(InvalidInputError, match="k must be"):
        compare_encoders(_Fake("t"), _Fake("s"), DOCS, QUERIES, k=0, progress=False)
    with pytest.raises(InvalidInputError, match="expected an encoder"):
        compare_encoders(object(), _Fake("s"), DOCS, QUERIES, progress=False)
