"""Helpers shared by the space tests: a float64 reference search and hypothesis strategies.

The reference is deliberately naive (the full score matrix and a sort) so it can be trusted; the
comparison is tie-robust: returned scores must be the reference scores of the returned ids, and
those must be (within a tolerance) the best scores available.
"""

from __future__ import annotations

import string
from collections.abc import Callable
from typing import Any

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

# ----------------------------------------------------------------------------- reference search


def unit_rows(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm in float64; zero rows stay zero."""
    x = np.asarray(x, dtype=np.float64)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return np.divide(x, norms, out=np.zeros_like(x), where=norms > 0)


def ref_scores(vectors: np.ndarray, queries: np.ndarray, metric: str) -> np.ndarray:
    """Float64 ``(nq, n)`` scores, higher is more similar (l2: negated Euclidean distance)."""
    x = np.asarray(vectors, dtype=np.float64)
    q = np.atleast_2d(np.asarray(queries, dtype=np.float64))
    if metric == "cosine":
        return unit_rows(q) @ unit_rows(x).T
    if metric == "dot":
        return q @ x.T
    if metric == "l2":
        return -np.sqrt(((q[:, None, :] - x[None, :, :]) ** 2).sum(-1))
    raise ValueError(metric)


def tolerance(vectors: np.ndarray, query: np.ndarray, metric: str) -> tuple[float, Callable[[Any], Any]]:
    """``(atol, to_domain)``: float32 rounding allowance for comparing scores of ``query``.

    ``l2`` scores are compared as negated squared distances (the quantity that is actually
    computed), so that the cancellation near distance 0 does not need a huge tolerance.
    """
    x = np.asarray(vectors, dtype=np.float64)
    q = np.asarray(query, dtype=np.float64)
    row_norm = float(np.linalg.norm(x, axis=1).max()) if len(x) else 0.0
    q_norm = float(np.linalg.norm(q))
    if metric == "cosine":
        return 2e-5, lambda s: np.asarray(s, np.float64)
    if metric == "dot":
        return 2e-5 * (1.0 + q_norm * row_norm), lambda s: np.asarray(s, np.float64)
    return 2e-5 * (1.0 + q_norm**2 + row_norm**2), lambda s: -np.asarray(s, np.float64) ** 2


def assert_topk(scores: np.ndarray, ids: np.ndarray, ref_row: np.ndarray, valid: np.ndarray, length: int,
                atol: float, to_domain: Callable[[Any], Any] = np.asarray) -> None:
    """Check one query's hits against the reference row, robustly to ties."""
    ids = np.asarray(ids)
    scores = np.asarray(scores)
    assert scores.dtype == np.float32 and ids.dtype == np.int64
    assert len(ids) == len(scores) == length, (len(ids), length)
    assert len(set(ids.tolist())) == length, f"duplicate hits {ids}"
    assert valid[ids].all(), f"an excluded row was returned: {ids[~valid[ids]]}"
    # Best first, by the scores that are reported.
    assert np.all(np.diff(scores.astype(np.float64)) <= 0), f"scores not sorted: {scores}"
    ref_dom = to_domain(ref_row)
    # The reported scores are the true scores of the reported ids...
    np.testing.assert_allclose(to_domain(scores), ref_dom[ids], atol=atol, rtol=0)
    # ...and those are the best available (equal up to ties).
    best = np.sort(ref_dom[valid])[::-1][:length]
    np.testing.assert_allclose(ref_dom[ids], best, atol=2 * atol, rtol=0)


def ref_topk_exact(s: np.ndarray, k: int, excluded: set[int]) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-k of one score row, ties broken by ascending id (the documented order)."""
    ids = np.array([i for i in range(len(s)) if i not in excluded], dtype=np.int64)
    order = np.lexsort((ids, -s[ids].astype(np.float64)))[:k]
    return s[ids[order]], ids[order]


# ----------------------------------------------------------------------------- strategies

# Values for search tests: a coarse grid (many exact ties and zero rows) mixed with floats of
# moderate magnitude; tiny magnitudes are rounded to 0 so float32 underflow is not what is tested.
search_values = st.one_of(
    st.integers(-3, 3).map(float),
    st.floats(-10, 10, width=32, allow_subnormal=False).map(lambda v: 0.0 if abs(v) < 1e-3 else v),
)


@st.composite
def search_matrices(draw: st.DrawFn, max_n: int = 24, max_dim: int = 6) -> np.ndarray:
    n = draw(st.integers(1, max_n))
    dim = draw(st.integers(1, max_dim))
    return draw(hnp.arrays(np.float32, (n, dim), elements=search_values))


# Any finite float32, -0.0, subnormals and extremes included: formats must keep them bit-exact.
any_finite32 = st.floats(width=32, allow_nan=False, allow_infinity=False)

_no_surrogates = st.characters(blacklist_categories=("Cs",))
text_format_keys = st.text(_no_surrogates.filter(lambda c: not c.isspace()), min_size=1, max_size=8)
"""Keys a whitespace-separated text format can store: non-empty, no whitespace of any kind."""
numpy_keys = st.text(_no_surrogates.filter(lambda c: c not in "\r\n"), max_size=8)
"""Keys a one-key-per-line sidecar can store: anything but line breaks (empty allowed)."""
any_keys = st.text(_no_surrogates, max_size=8)
"""Keys the structured formats store: any string."""
simple_keys = st.text(string.ascii_letters + string.digits + "_-'.", min_size=1, max_size=8)


@st.composite
def spaces_data(draw: st.DrawFn, keys: st.SearchStrategy[str], max_n: int = 10,
                max_dim: int = 5) -> tuple[list[str], np.ndarray]:
    """Unique keys and a float32 matrix of any finite values."""
    key_list = draw(st.lists(keys, min_size=1, max_size=max_n, unique=True))
    dim = draw(st.integers(1, max_dim))
    vectors = draw(hnp.arrays(np.float32, (len(key_list), dim), elements=any_finite32))
    return key_list, vectors


def bits(a: np.ndarray) -> np.ndarray:
    """The float32 bit patterns, for bit-exact comparison (-0.0 and 0.0 differ)."""
    return np.ascontiguousarray(a, dtype=np.float32).view(np.uint32)


def fast(max_examples: int = 60) -> Any:
    """Hypothesis settings for this suite: bounded examples, no deadline (CI machines vary)."""
    from hypothesis import HealthCheck, settings

    return settings(max_examples=max_examples, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


TOY = {
    "king": [1, 1, 0, 0],
    "queen": [1, 0, 1, 0],
    "man": [0, 1, 0, 0],
    "woman": [0, 0, 1, 0],
    "apple": [0, 0, 0, 1],
}
"""The toy space of the issue: man is to king as woman is to queen."""
