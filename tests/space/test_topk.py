"""The chunked exact top-k, driven directly with a tiny memory budget so rows come in many blocks."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from space_testing import fast, ref_topk_exact

from embspace.space import _topk

ORDERS = ["random", "increasing", "decreasing", "ties", "constant"]


@pytest.fixture(autouse=True, params=["numba", "numpy"] if _topk.HAVE_NUMBA else ["numpy"])
def selection_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run every test on both selection paths: the compiled scan and the NumPy fallback."""
    monkeypatch.setattr(_topk, "USE_NUMBA", request.param == "numba")
    return str(request.param)


def _scores(order: str, nq: int, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if order == "random":
        return rng.standard_normal((nq, n)).astype(np.float32)
    if order == "increasing":  # every block beats the running threshold: the adversarial case
        return np.sort(rng.standard_normal((nq, n)), axis=1).astype(np.float32)
    if order == "decreasing":  # nothing after the first block matters
        return -np.sort(rng.standard_normal((nq, n)), axis=1).astype(np.float32)
    if order == "ties":  # few distinct values: ties straddle every boundary
        return rng.integers(0, 4, (nq, n)).astype(np.float32)
    return np.zeros((nq, n), np.float32)


class Recorder:
    """A score_block over a precomputed matrix that records the blocks asked for."""

    def __init__(self, s: np.ndarray) -> None:
        self.s = s
        self.calls: list[tuple[int, int, int, int]] = []

    def __call__(self, q0: int, q1: int, r0: int, r1: int, out: np.ndarray) -> np.ndarray:
        self.calls.append((q0, q1, r0, r1))
        assert out.shape == (q1 - q0, r1 - r0) and out.flags.c_contiguous
        out[...] = self.s[q0:q1, r0:r1]
        return out


def _check(s: np.ndarray, k: int, exclude: np.ndarray | None, per_query: np.ndarray | None,
           budget: int) -> Recorder:
    nq, n = s.shape
    rec = Recorder(s)
    out_s, out_i = _topk.topk(rec, nq, n, k, exclude=exclude, exclude_per_query=per_query, budget=budget)
    assert out_s.shape == out_i.shape == (nq, k)
    assert out_s.dtype == np.float32 and out_i.dtype == np.int64
    for q in range(nq):
        excluded = set() if exclude is None else set(exclude.tolist())
        if per_query is not None:
            excluded |= {int(r) for r in per_query[q] if r >= 0}
        ref_s, ref_i = ref_topk_exact(s[q], k, excluded)
        # Scores come straight from the matrix, so the comparison is exact, ties broken by id.
        np.testing.assert_array_equal(out_s[q], ref_s)
        np.testing.assert_array_equal(out_i[q], ref_i)
    return rec


@st.composite
def block_cases(draw: st.DrawFn) -> dict[str, Any]:
    n = draw(st.integers(300, 2500))
    nq = draw(st.integers(1, 5))
    n_excl = draw(st.integers(0, 40))
    n_pq = draw(st.integers(0, 4))
    k = draw(st.one_of(st.integers(1, 8), st.integers(9, 70), st.integers(71, 400)))
    k = min(k, n - n_excl - n_pq)
    return {
        "n": n, "nq": nq, "k": k, "order": draw(st.sampled_from(ORDERS)),
        "seed": draw(st.integers(0, 2**32 - 1)), "n_excl": n_excl, "n_pq": n_pq,
    }


@fast(80)
@given(block_cases())
def test_topk_many_blocks_matches_reference(case: dict[str, Any]) -> None:
    n, nq, k = case["n"], case["nq"], case["k"]
    s = _scores(case["order"], nq, n, case["seed"])
    rng = np.random.default_rng(case["seed"] + 1)
    exclude = np.unique(rng.choice(n, case["n_excl"], replace=False)) if case["n_excl"] else None
    per_query = None
    if case["n_pq"]:
        per_query = rng.integers(-1, n, (nq, case["n_pq"])).astype(np.int64)  # -1: nothing, repeats allowed
    rec = _check(s, k, exclude, per_query, budget=1)
    ranges = sorted({(c[2], c[3]) for c in rec.calls})  # the row blocks tile [0, n) exactly
    assert ranges[0][0] == 0 and ranges[-1][1] == n
    assert all(a[1] == b[0] for a, b in itertools.pairwise(ranges))


def test_tiny_budget_bounds_the_block_size() -> None:
    s = _scores("random", 3, 5000, 7)
    rec = _check(s, 5, None, None, budget=4096)
    widths = {c[3] - c[2] for c in rec.calls}
    assert len(rec.calls) >= 10
    assert max(widths) * 3 * 4 <= max(4096, 3 * 4 * 256)  # within the budget (or the 256-row floor)
    # Every row is scored exactly once per query block.
    covered = sorted((c[2], c[3]) for c in rec.calls)
    assert covered[0][0] == 0 and covered[-1][1] == 5000
    assert all(a[1] == b[0] for a, b in itertools.pairwise(covered))


def test_adversarial_increasing_rows_with_exclusions() -> None:
    s = _scores("increasing", 4, 3000, 3)
    exclude = np.array([2999, 2998, 1500, 10], dtype=np.int64)  # the very best rows excluded
    per_query = np.array([[2997, -1], [2996, 2995], [-1, -1], [0, 2997]], dtype=np.int64)
    _check(s, 5, exclude, per_query, budget=1)
    _check(s, 300, exclude, per_query, budget=1)


def test_more_queries_than_one_query_block() -> None:
    nq = _topk.MAX_QUERY_BLOCK + 37
    s = _scores("ties", nq, 300, 11)
    per_query = np.random.default_rng(0).integers(-1, 300, (nq, 2)).astype(np.int64)
    rec = _check(s, 3, np.array([5, 6], dtype=np.int64), per_query, budget=_topk.DEFAULT_BUDGET)
    blocks = sorted({(c[0], c[1]) for c in rec.calls})  # query blocks tile [0, nq), none too large
    assert blocks[0][0] == 0 and blocks[-1][1] == nq and len(blocks) >= 2
    assert all(a[1] == b[0] for a, b in itertools.pairwise(blocks))
    assert all(b - a <= _topk.MAX_QUERY_BLOCK for a, b in blocks)


def test_k_zero_and_no_queries() -> None:
    s, i = _topk.topk(lambda *a: np.zeros((0, 0), np.float32), 0, 10, 3)
    assert s.shape == (0, 3)
    s, i = _topk.topk(lambda q0, q1, r0, r1, out: np.zeros((q1 - q0, r1 - r0), np.float32), 2, 10, 0)
    assert s.shape == (2, 0) and i.shape == (2, 0)


def test_ties_broken_by_ascending_id_in_one_block() -> None:
    s = np.array([[1, 2, 2, 2, 2, 0, 2]], np.float32)
    for k in range(1, 7):
        _, ids = _topk.topk(lambda q0, q1, r0, r1, out: s[q0:q1, r0:r1].copy(), 1, 7, k)
        assert ids[0].tolist() == [1, 2, 3, 4, 6, 0][:k]


@pytest.mark.parametrize("nq", [1, 3, 40])
@pytest.mark.parametrize("threads", [1, 3])
def test_thread_splits_by_rows_or_queries_match_reference(nq: int, threads: int) -> None:
    s = _scores("ties", nq, 3000, 5)
    exclude = np.array([0, 7, 2999], dtype=np.int64)
    per_query = np.random.default_rng(1).integers(-1, 3000, (nq, 3)).astype(np.int64)
    out_s, out_i = _topk.topk(Recorder(s), nq, 3000, 25, exclude=exclude, exclude_per_query=per_query,
                              budget=4096, threads=threads)
    for q in range(nq):
        ref_s, ref_i = ref_topk_exact(s[q], 25, set(exclude.tolist()) | {int(r) for r in per_query[q] if r >= 0})
        np.testing.assert_array_equal(out_s[q], ref_s)
        np.testing.assert_array_equal(out_i[q], ref_i)
