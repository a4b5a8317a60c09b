"""quantize(), Calibration and QuantizedSpace (issue 24, deliver 3)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from embspace import analysis
from embspace.errors import InvalidInputError
from embspace.index import Calibration, ExactIndex, QuantizedSpace, quantize
from embspace.index.calibration import hamming
from embspace.space import EmbeddingSpace


def _data(n: int = 2000, dim: int = 64, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((20, dim))
    return (centres[rng.integers(0, 20, n)] + 0.5 * rng.standard_normal((n, dim))).astype(np.float32)


def _lowrank(n: int, dim: int = 64, seed: int = 0) -> np.ndarray:
    """Points near a 16-dimensional subspace: like real embeddings, a low intrinsic dimension (on
    isotropic Gaussian points sign bits keep little of the neighbourhoods)."""
    rng = np.random.default_rng(seed)
    basis = np.random.default_rng(99).standard_normal((16, dim))
    return (rng.standard_normal((n, 16)) @ basis + 0.3 * rng.standard_normal((n, dim))).astype(np.float32)


@pytest.mark.parametrize("precision", ["int8", "uint8", "binary", "ubinary"])
def test_a_single_query_gets_its_batch_codes(precision: str) -> None:
    x = _data()
    q = quantize(x, precision)
    queries = _data(50, seed=9)
    batch = q.encode(queries)
    for i in (0, 17, 49):
        single = q.encode(queries[i])
        assert single.shape == (q.calibration.code_bytes,)
        assert single.dtype == batch.dtype
        assert (single == batch[i]).all()
    # and a single query is not collapsed: it spreads over the codes like the corpus does
    if precision in ("int8", "uint8"):
        assert len(np.unique(q.encode(queries[0]))) > 10
    # the space's own rows re-encoded give its codes (queries use the space's calibration)
    assert (q.encode(x[:100]) == q.codes[:100]).all()


def test_out_of_range_values_clip_to_the_extreme_codes() -> None:
    cal = Calibration.fit(np.array([[-1.0, 0.0, 2.0], [1.0, 1.0, 4.0]]), "int8")
    codes = cal.encode(np.array([[-50.0, 1e6, -1e6], [50.0, -3.0, 9.0], [-1.0, 0.0, 2.0], [1.0, 1.0, 4.0]]))
    assert codes.dtype == np.int8
    assert codes.tolist() == [[-128, 127, -128], [127, -128, 127], [-128, -128, -128], [127, 127, 127]]
    u = Calibration.fit(np.array([[-1.0], [1.0]]), "uint8").encode(np.array([[-7.0], [7.0], [0.5]]))
    assert u.dtype == np.uint8 and u.ravel().tolist() == [0, 255, 191]


def test_codes_decode_within_half_a_step() -> None:
    x = _data(500, 32)
    cal = Calibration.fit(x, "int8")
    assert cal.low is not None and cal.high is not None
    step = (cal.high - cal.low) / 255
    err = np.abs(cal.decode(cal.encode(x)) - x)
    assert (err <= step / 2 + 1e-6).all()  # float32 arithmetic: a rounding's worth above half a step


def test_quantile_ranges_clip_outliers() -> None:
    x = _data(2000, 8)
    x[0, 0] = 1000.0  # one rogue value
    minmax = Calibration.fit(x, "int8")
    robust = Calibration.fit(x, "int8", quantile=0.001)
    assert minmax.high is not None and robust.high is not None
    assert minmax.high[0] == 1000.0 and robust.high[0] < 10
    assert robust.method == "quantile" and robust.encode(x[0])[0] == 127


def test_calibration_set_is_used_once_not_the_data() -> None:
    x = _data(300, 16)
    sample = x[:100]
    q = quantize(x, "int8", calibration=sample)
    assert q.calibration.n == 100
    again = quantize(x, "int8", calibration=q.calibration)
    assert again.calibration is q.calibration and (again.codes == q.codes).all()
    with pytest.raises(InvalidInputError, match="uint8"):
        quantize(x, "uint8", calibration=q.calibration)


def test_binary_bits_follow_faiss_and_sentence_transformers() -> None:
    faiss = pytest.importorskip("faiss")
    x = _data(400, 48)
    ub = quantize(x, "ubinary", metric="dot")
    b = quantize(x, "binary", metric="dot")
    want = np.zeros_like(ub.codes)
    faiss.real_to_binary(x.size, faiss.swig_ptr(np.ascontiguousarray(x)), faiss.swig_ptr(want))  # FAISS's bit order
    assert (ub.codes == want).all()
    # sentence-transformers' "binary": the packed byte minus 128 (its bit order is big-endian)
    assert (b.codes.astype(np.int16) == ub.codes.astype(np.int16) - 128).all()
    assert (np.packbits(x > 0, axis=1) == np.packbits(np.unpackbits(ub.codes, axis=1, bitorder="little"),
                                                      axis=1)).all()


def test_binary_hamming_agrees_with_faiss_index_binary_flat() -> None:
    faiss = pytest.importorskip("faiss")
    x = _data(1000, 64)
    q = quantize(x, "binary")
    queries = _data(20, 64, seed=5)
    index = faiss.IndexBinaryFlat(64)
    index.add(q.calibration.unsigned(q.codes))
    dist, rows = index.search(q.calibration.unsigned(q.encode(queries)), 10)
    mine = hamming(q.encode(queries), q.codes)
    assert (np.take_along_axis(mine, rows, 1) == dist).all()
    assert (np.sort(mine, axis=1)[:, :10] == dist).all()
    res = q.search(queries, k=10)
    np.testing.assert_array_equal(res.scores, 64 - 2 * dist)  # integer-valued scores: exact


@pytest.mark.parametrize("precision", ["int8", "binary"])
def test_rescored_search_gives_exact_float_scores(precision: str) -> None:
    x = _lowrank(3000)
    space = EmbeddingSpace([f"k{i}" for i in range(len(x))], x)
    q = quantize(space, precision)
    queries = _lowrank(30, seed=3)
    oracle = ExactIndex(64)
    oracle.add(x)
    truth = oracle.search(queries, k=10)
    res = q.search(queries, k=10, rescore=10, vectors=space)
    hits = sum(len(set(map(int, r)) & set(t)) for r, t in
               zip([[int(k[1:]) for k in row] for row in res.keys], truth.ids.tolist(), strict=True))
    recall = hits / truth.ids.size
    assert recall >= (0.99 if precision == "int8" else 0.85)  # measured: 1.0 and 0.92 (binary x10, seeded)
    # the rescored scores are float cosine scores of the hits (another summation order: tolerance)
    xs = x / np.linalg.norm(x, axis=1, keepdims=True)
    qs = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    rows = np.array([[int(k[1:]) for k in row] for row in res.keys])
    np.testing.assert_allclose(res.scores, np.einsum("qkd,qd->qk", xs[rows], qs), atol=1e-5)
    plain = q.search(queries, k=10)
    assert plain.scores.shape == (30, 10)


def test_int8_search_finds_itself() -> None:
    x = _data(800, 32)
    for metric in ("cosine", "l2"):
        q = quantize(x, "int8", metric=metric)
        res = q.search(x[:20], k=1)
        assert [int(k[0]) for k in res.keys] == list(range(20)), metric
    oracle = ExactIndex(32, metric="dot")  # under dot the best hit is not the query itself: compare with the oracle
    oracle.add(x)
    truth = oracle.search(x[:20], k=10).ids
    got = quantize(x, "int8", metric="dot").search(x[:20], k=10).ids
    assert np.mean([len(set(a) & set(b)) / 10 for a, b in zip(got.tolist(), truth.tolist(), strict=True)]) >= 0.9


def test_save_load_round_trip(tmp_path: Path) -> None:
    x = _data(200, 20)
    space = EmbeddingSpace([f"w{i}" for i in range(200)], x)
    for precision in ("int8", "uint8", "binary", "ubinary"):
        q = quantize(space, precision, quantile=0.01 if precision == "uint8" else None)
        q.save(tmp_path / precision)
        back = QuantizedSpace.load(tmp_path / precision)
        assert back.keys == q.keys and back.precision == precision and back.metric == q.metric
        assert back.codes.dtype == q.codes.dtype and (back.codes == q.codes).all()
        assert back.calibration == q.calibration
        if q.calibration.low is not None:  # float32 ranges survive JSON bit for bit
            assert back.calibration.low is not None and back.calibration.high is not None
            assert (back.calibration.low == q.calibration.low).all()
            assert (back.calibration.high == q.calibration.high).all()
        new = _data(5, 20, seed=11)
        assert (back.encode(new) == q.encode(new)).all()
    cal = quantize(x, "int8").calibration
    assert Calibration.load(cal.save(tmp_path / "cal.json")) == cal


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(InvalidInputError, match="precision"):
        quantize(np.zeros((3, 4)), "int4")
    with pytest.raises(InvalidInputError, match="NaN"):
        quantize(np.array([[np.nan, 1.0]]), "int8")
    q = quantize(_data(50, 8), "int8")
    with pytest.raises(InvalidInputError, match="rescore"):
        q.search(_data(1, 8)[0], rescore=4)


def test_reexported_from_analysis() -> None:
    assert analysis.quantize is quantize and analysis.QuantizedSpace is QuantizedSpace
    assert analysis.Calibration is Calibration
