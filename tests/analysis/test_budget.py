"""analysis.budget: the Pareto fronts, the recommendation rule, the sweep on seeded data, its outputs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from embspace import EmbeddingSpace
from embspace.analysis import BudgetCandidate, BudgetReport, budget, pareto_front
from embspace.analysis.budget import _factory, _finish, recommend, truncate_rows
from embspace.errors import DimensionMismatchError, InvalidInputError


def cand(name: str, quality: float, ram: int, qps: float, *, precision: str = "float32", dim: int = 64,
         rescore: int = 0) -> BudgetCandidate:
    return BudgetCandidate(dim=dim, precision=precision, index=name, rescore=rescore, params={}, quality=quality,
                           quality_share=quality, bytes_per_vector=ram / 100, index_bytes=ram, build_seconds=0.1,
                           qps=qps, batch_qps=qps * 5)


# ------------------------------------------------------------------------------------------ fronts


def test_pareto_front_hand_made_table() -> None:
    # (quality, cost): lower cost better. 0 dominates 3 (better both); 4 is a duplicate of 1 (both stay);
    # 5 has the best quality; 2 is the cheapest.
    quality = [0.90, 0.80, 0.50, 0.85, 0.80, 0.99, 0.40]
    cost = [100, 50, 10, 120, 50, 400, 10]
    assert pareto_front(quality, cost) == [2, 1, 4, 0, 5]


def test_pareto_front_edge_cases() -> None:
    assert pareto_front([], []) == []
    assert pareto_front([0.5], [3]) == [0]
    with pytest.raises(InvalidInputError):
        pareto_front([0.5], [1, 2])


def test_report_fronts_memory_and_speed() -> None:
    c = [cand("Flat", 1.0, 1000, 100), cand("HNSW32", 0.97, 1500, 900), cand("BinaryFlat", 0.96, 60, 300,
                                                                                   precision="binary"),
         cand("HNSW32,SQ8", 0.95, 600, 500, precision="int8"), cand("BinaryHNSW32", 0.94, 400, 800,
                                                                    precision="binary")]
    r = _finish(c, "recall@10", 1.0, 1000, 64, 50, 10, "cosine", 0.95, None)
    assert [x.index for x in r.memory_front] == ["BinaryFlat", "Flat"]
    assert [x.index for x in r.speed_front] == ["HNSW32", "Flat"]
    rows = {row["index"]: row for row in r.rows()}
    assert rows["BinaryFlat"]["memory_front"] and not rows["BinaryFlat"]["speed_front"]
    assert rows["HNSW32,SQ8"]["memory_front"] is False


# ----------------------------------------------------------------------------------- the rule


def test_recommend_smallest_ram_keeping_quality() -> None:
    c = [cand("Flat", 1.0, 1000, 100), cand("BinaryFlat", 0.93, 40, 300, precision="binary"),
         cand("HNSW32,SQ8", 0.96, 600, 500, precision="int8"), cand("BinaryHNSW32", 0.95, 400, 800,
                                                                    precision="binary", rescore=4)]
    assert recommend(c, keep=0.95).index == "BinaryHNSW32"  # BinaryFlat is smaller but loses 7%
    assert recommend(c, keep=0.90).index == "BinaryFlat"
    assert recommend(c, keep=0.99).index == "Flat"
    assert recommend(c, keep=0.95, min_qps=850) is None
    # within 5% of the smallest RAM: the faster wins
    tie = [cand("a", 0.99, 100, 50), cand("b", 0.98, 104, 90), cand("c", 0.99, 120, 1000)]
    assert recommend(tie, keep=0.95).index == "b"


def test_recommendation_sentence_names_ratios() -> None:
    c = [cand("HNSW32", 1.0, 2400, 1000), cand("BinaryHNSW32", 0.987, 100, 2100, precision="binary", rescore=4)]
    r = _finish(c, "recall@10", 1.0, 1000, 64, 50, 10, "cosine", 0.95, None)
    assert r.recommended is c[1] and r.reference is c[0]
    assert r.recommendation.startswith("binary HNSW32 + rescore x4 keeps 98.7% of recall@10 at 1/24 of the memory "
                                       "and 2.10x the QPS of float32 HNSW32")
    none = _finish(c, "recall@10", 1.0, 1000, 64, 50, 10, "cosine", 0.999, 5000)
    assert none.recommended is None and "No candidate keeps" in none.recommendation


# -------------------------------------------------------------------------------------- helpers


def test_factory_names() -> None:
    assert _factory("float32", "HNSW32") == ("HNSW32", "float32")
    assert _factory("int8", "HNSW32") == ("HNSW32,SQ8", "int8")
    assert _factory("binary", "HNSW32") == ("BinaryHNSW32", "binary")
    assert _factory("int8", "Flat") == ("SQ8", "int8")
    assert _factory("binary", "Flat") == ("BinaryFlat", "binary")
    assert _factory("float32", "IVF64,PQ8") == ("IVF64,PQ8", "pq")


def test_truncate_rows_first_k_renormalised() -> None:
    x = np.array([[3.0, 4.0, 12.0], [0.0, 0.0, 1.0]], np.float32)
    t = truncate_rows(x, 2)
    np.testing.assert_allclose(t[0], [0.6, 0.8], rtol=1e-6)  # float rounding of the division
    assert not t[1].any()  # a zero row stays zero
    with pytest.raises(InvalidInputError):
        truncate_rows(x, 4)


# ------------------------------------------------------------------------------------ the sweep


def clustered(n: int = 1500, dim: int = 32, seed: int = 0) -> tuple[EmbeddingSpace, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, dim)).astype(np.float32)
    q = x[:40] + 0.05 * rng.standard_normal((40, dim)).astype(np.float32)
    return EmbeddingSpace([f"d{i}" for i in range(n)], x, metric="cosine"), q


def test_budget_float_candidates_and_outputs(tmp_path: Path) -> None:
    space, q = clustered()
    r = budget(space, queries=q, precisions=["float32"], indexes=["Flat"], dims=[32, 8], repeats=1,
               timing_queries=10, progress=False)
    assert isinstance(r, BudgetReport)
    full, short = r.candidates
    assert (full.dim, short.dim) == (32, 8)
    assert full.quality == pytest.approx(1.0)  # exact float search is the truth itself
    assert short.quality < 0.9  # a random space keeps little at a quarter of its dimensions
    assert full.bytes_per_vector == 128 and short.bytes_per_vector == 32
    assert full.qps > 0 and full.batch_qps > 0 and full.index_bytes > 0
    assert r.recommended is full and r.reference is full
    data = json.loads(r.to_json())
    assert data["metric"] == "recall@10" and len(data["candidates"]) == 2
    assert r.save(tmp_path / "b.json").read_text().startswith("{")
    assert r.plot(tmp_path / "b.png").read_bytes()[:4] == b"\x89PNG"
    assert "recall@10" in str(r) and "candidate" in r.to_markdown()
    assert "Memory" not in r.html() and "<table>" in r.html()
    both = r.combined(budget(space, queries=q, precisions=["float32"], indexes=["exact"], dims=[32], repeats=1,
                             timing_queries=10, progress=False))
    assert [c.index for c in both.candidates] == ["Flat", "Flat", "exact"]
    assert both.recommended is not None and both.recommended.dim == 32


def test_budget_with_qrels_scores_ndcg(tmp_path: Path) -> None:
    space, q = clustered()
    ids = [f"q{i}" for i in range(len(q))]
    qspace = EmbeddingSpace(ids, q, metric="cosine")
    qrels = {f"q{i}": {f"d{i}": 1} for i in range(len(q))}  # each query is a noisy copy of its document
    r = budget(space, queries=qspace, qrels=qrels, precisions=["float32"], indexes=["Flat"], repeats=1,
               timing_queries=5, progress=False)
    assert r.metric == "ndcg@10"
    assert r.float_quality == pytest.approx(1.0)
    path = tmp_path / "qrels.tsv"
    path.write_text("query-id\tcorpus-id\tscore\n" + "".join(f"q{i}\td{i + 1}\t1\n" for i in range(len(q))))
    r2 = budget(space, queries=qspace, qrels=path, precisions=["float32"], indexes=["Flat"], repeats=1,
                timing_queries=5, progress=False)
    assert r2.float_quality < 0.5  # judged the neighbouring document: exact search rarely ranks it first
    with pytest.raises(InvalidInputError, match="no query id is judged"):
        budget(space, queries=q, qrels=qrels, precisions=["float32"], indexes=["Flat"], progress=False)


def test_budget_query_inputs(tmp_path: Path) -> None:
    space, q = clustered(n=300)
    np.save(tmp_path / "q.npy", q)
    r = budget(space, queries=tmp_path / "q.npy", precisions=["float32"], indexes=["exact"], repeats=1,
               timing_queries=3, progress=False)
    assert r.n_queries == len(q)
    with pytest.raises(DimensionMismatchError):
        budget(space, queries=q[:, :8], precisions=["float32"], indexes=["Flat"], progress=False)
    with pytest.raises(InvalidInputError, match="no encoder"):
        budget(space, queries=["a text"], precisions=["float32"], indexes=["Flat"], progress=False)
    with pytest.raises(InvalidInputError, match="unknown precision"):
        budget(space, queries=q, precisions=["float16"], progress=False)


def test_report_has_the_budget_section() -> None:
    from embspace.analysis import report

    space, q = clustered(n=400)
    b = budget(space, queries=q, precisions=["float32"], indexes=["Flat"], repeats=1, timing_queries=3,
               progress=False)
    r = report(space, sample=400, map_method=None, progress=False, budget=b)
    assert r.budget is b and "budget" in r.figures
    assert "<h2>Memory and speed budget</h2>" in r.html()
    assert any(line.startswith("Memory and speed: ") for line in r.recommendations)
    assert r.to_dict()["budget"]["recommendation"] == b.recommendation


# ------------------------------------------------------------------- the known answer (quantised)


def unit(a: np.ndarray) -> np.ndarray:
    return (a / np.linalg.norm(a, axis=1, keepdims=True)).astype(np.float32)


def binary_friendly(seed: int = 0) -> tuple[EmbeddingSpace, np.ndarray]:
    """100 clusters of 20 points around sign vectors (8% of the signs flipped, a little noise): the sign bits
    keep the neighbourhoods, so binary codes with rescoring find the exact top 10."""
    rng = np.random.default_rng(seed)
    centres = np.sign(rng.standard_normal((100, 64)))
    x = centres[np.repeat(np.arange(100), 20)] * np.where(rng.random((2000, 64)) < 0.08, -1, 1)
    q = centres[rng.integers(0, 100, 50)] * np.where(rng.random((50, 64)) < 0.08, -1, 1)
    x = unit(x + 0.05 * rng.standard_normal(x.shape))
    return EmbeddingSpace([f"d{i}" for i in range(2000)], x), unit(q + 0.05 * rng.standard_normal(q.shape))


def binary_hostile(seed: int = 0) -> tuple[EmbeddingSpace, np.ndarray]:
    """Isotropic Gaussian vectors: one bit a dimension loses the fine distances (recall@10 ~0.4 even with
    4x rescoring), while int8 keeps them."""
    rng = np.random.default_rng(seed)
    x = unit(rng.standard_normal((2000, 64)))
    q = unit(x[:50] + 0.3 * rng.standard_normal((50, 64)))
    return EmbeddingSpace([f"d{i}" for i in range(2000)], x), q


@pytest.mark.parametrize(("make", "expected"), [(binary_friendly, "binary"), (binary_hostile, "int8")])
def test_recommendation_known_answer(make, expected) -> None:  # type: ignore[no-untyped-def]
    space, q = make()
    r = budget(space, queries=q, precisions=["float32", "int8", "binary"], indexes=["Flat"], rescore=[0, 4],
               keep=0.98, repeats=1, timing_queries=10, progress=False)
    by = {(c.precision, c.rescore): c for c in r.candidates}
    assert set(by) == {("float32", 0), ("int8", 0), ("int8", 4), ("binary", 0), ("binary", 4)}
    assert by[("float32", 0)].quality == pytest.approx(1.0)
    assert by[("binary", 4)].bytes_per_vector == 8 and by[("int8", 4)].bytes_per_vector == 64
    assert by[("binary", 4)].index_bytes < by[("int8", 4)].index_bytes < by[("float32", 0)].index_bytes
    assert by[("int8", 4)].quality >= 0.98
    if expected == "binary":  # Hamming order alone misses some of the top 10; 4x rescoring finds them all
        assert by[("binary", 0)].quality < 0.98 <= by[("binary", 4)].quality
    else:
        assert by[("binary", 4)].quality < 0.8
    assert r.recommended is not None and r.recommended.precision == expected, r.recommendation
    assert r.recommended.quality_share >= 0.98
    if expected == "binary":
        assert r.recommended.rescore == 4
    assert r.recommendation.startswith(f"{expected} Flat")
    assert "of the memory" in r.recommendation and "float32 Flat" in r.recommendation


def test_default_dims_follow_a_matryoshka_model(monkeypatch: pytest.MonkeyPatch) -> None:
    import embspace.encoders

    space, q = clustered(n=300)
    marker = object()  # stands for an encoder trained for truncation
    monkeypatch.setattr(embspace.encoders, "matryoshka_dims",
                        lambda model: (32, 16, 8) if model is marker else None)
    r = budget(space, queries=q, encoder=marker, precisions=["float32"], indexes=["Flat"], repeats=1,
               timing_queries=3, progress=False)
    assert [c.dim for c in r.candidates] == [32, 16, 8]
    plain = budget(space, queries=q, precisions=["float32"], indexes=["Flat"], repeats=1, timing_queries=3,
                   progress=False)
    assert [c.dim for c in plain.candidates] == [32]
