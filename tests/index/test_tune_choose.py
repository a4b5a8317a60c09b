"""tune() reaches its target with the cheapest passing setting; choose_index() follows its rules."""

from __future__ import annotations

import numpy as np
import pytest
from index_testing import DIM, IDS, K, Q, X, clustered, exact_ids, recall

from embspace.errors import InvalidInputError
from embspace.index import ExactIndex, FaissIndex, choose_index, estimate_memory, tune

TUNE_Q = clustered(100, seed=21)  # tuning queries, distinct from the evaluation queries Q


def _previous(values: list[int], v: int) -> int | None:
    i = values.index(v)
    return values[i - 1] if i else None


@pytest.mark.parametrize(("factory", "name", "target"), [("HNSW32", "efSearch", 0.99), ("IVF64,Flat", "nprobe", 0.95)])
def test_tune_picks_the_smallest_passing_parameter(factory: str, name: str, target: float) -> None:
    index = FaissIndex(DIM, factory, metric="l2")
    index.add(X, IDS)
    result = tune(index, TUNE_Q, target_recall=target, k=K)
    print(result)
    assert result.reached and result.recall >= target
    assert index.params[name] == result.params[name]
    tried = [t.params[name] for t in result.trials]
    assert tried == sorted(tried) and tried[-1] == result.params[name]
    prev = _previous(tried, result.params[name])
    assert prev is not None  # the next smaller value was tried and failed
    assert next(t for t in result.trials if t.params[name] == prev).recall < target
    # the chosen setting holds on held-out queries (a little slack: other queries)
    assert recall(index.search(Q, K).ids, exact_ids(X, IDS, Q, "l2")) >= target - 0.03
    assert "recall@10" in result.to_markdown()


def test_tune_two_parameters_with_refinement() -> None:
    index = FaissIndex(DIM, "IVF64,PQ8", metric="cosine", refine=1)
    index.add(X, IDS)
    result = tune(index, TUNE_Q, target_recall=0.95)
    print(result)
    assert result.reached and set(result.params) == {"nprobe", "k_factor"}
    passing = [t for t in result.trials if t.recall >= 0.95]
    assert result.params == min(passing, key=lambda t: t.cost).params
    assert index.params == {**index.params, **result.params}


def test_tune_compressed_index_needs_the_vectors() -> None:
    index = FaissIndex(DIM, "IVF64,PQ8", metric="l2")
    index.add(X, IDS)
    assert not index.stores_exact_vectors
    with pytest.raises(InvalidInputError, match="original vectors"):
        tune(index, TUNE_Q)
    result = tune(index, TUNE_Q, target_recall=0.5, vectors=X, ids=IDS)
    assert result.reached and result.params["nprobe"] <= 64
    # an unreachable target: a warning, and the best recall is kept
    with pytest.warns(RuntimeWarning, match="no setting reached"):
        result = tune(index, TUNE_Q, target_recall=1.0, vectors=X)
    assert not result.reached and result.recall == max(t.recall for t in result.trials)
    assert index.params["nprobe"] == result.params["nprobe"]


def test_tune_exact_and_bad_arguments() -> None:
    exact = ExactIndex(DIM)
    with pytest.raises(InvalidInputError, match="empty"):
        tune(exact, TUNE_Q)
    exact.add(X[:500])
    result = tune(exact, TUNE_Q)
    assert result.reached and result.recall == 1.0 and result.params == {}
    for bad in (0, 1.5, True):
        with pytest.raises(InvalidInputError, match="target_recall"):
            tune(exact, TUNE_Q, target_recall=bad)
    with pytest.raises(InvalidInputError, match="sample_queries"):
        tune(exact, TUNE_Q[0])


def test_choose_index_rules() -> None:
    assert choose_index(0, 8) == "Flat"
    assert choose_index(19_999, 768) == "Flat"
    assert choose_index(20_000, 768) == "HNSW32"
    assert choose_index(10_000_000, 128) == "HNSW32"  # no budget: memory is not a constraint
    n, dim = 1_000_000, 384
    hnsw = estimate_memory("HNSW32", n, dim)
    assert choose_index(n, dim, memory_budget=hnsw) == "HNSW32"
    refined = choose_index(n, dim, memory_budget=hnsw * 0.95)
    assert refined == "IVF4096,PQ64,Refine(Flat)"
    assert choose_index(n, dim, memory_budget=2**30) == "IVF4096,PQ64,Refine(SQ8)"
    small = choose_index(n, dim, memory_budget=100 * 2**20)
    assert small.startswith("IVF4096,PQ") and "Refine" not in small
    for budget in (hnsw * 0.95, 2**30, 100 * 2**20):
        assert estimate_memory(choose_index(n, dim, memory_budget=budget), n, dim) <= budget
    # lists: 39 training vectors each, power of two near 4 sqrt(n)
    assert choose_index(30_000, 64, memory_budget=3_000_000).startswith("IVF512,PQ16")
    with pytest.raises(InvalidInputError, match="too small"):
        choose_index(n, dim, memory_budget=1000)
    for bad in ((-1, 8), (10, 0), (1.5, 8)):
        with pytest.raises(InvalidInputError):
            choose_index(*bad)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="memory_budget"):
        choose_index(10, 8, memory_budget=0)


@pytest.mark.parametrize("factory", ["Flat", "HNSW32", "IVF4096,PQ64,Refine(Flat)", "IVF4096,PQ64,Refine(SQ8)",
                                     "IVF512,PQ16"])
def test_chosen_factories_build(factory: str) -> None:
    index = FaissIndex(384 if "PQ64" in factory else 64, factory)
    assert index.factory == factory and index.ntotal == 0
    assert np.isfinite(estimate_memory(factory, 1000, index.dim))
