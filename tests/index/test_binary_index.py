"""BinaryIndex and the binary factory strings (issue 24, deliver 4)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from embspace.errors import InvalidInputError
from embspace.index import BinaryIndex, FactorySpec, estimate_memory, load_index, quantize
from embspace.index.calibration import hamming

pytest.importorskip("faiss")

DIM = 64
FACTORIES = ["BinaryFlat", "BinaryHNSW32", "BinaryIVF32"]


def _lowrank(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    basis = np.random.default_rng(99).standard_normal((16, DIM))
    return (rng.standard_normal((n, 16)) @ basis + 0.3 * rng.standard_normal((n, DIM))).astype(np.float32)


def test_binary_factories_parse_and_print_back() -> None:
    for text, kind, params in [("BinaryFlat", "BinaryFlat", ()), ("binaryhnsw16", "BinaryHNSW", ("efSearch",)),
                               ("BinaryIVF1024", "BinaryIVF", ("nprobe",))]:
        spec = FactorySpec.parse(text)
        assert spec.index == kind and spec.is_binary and spec.search_params == params
        assert FactorySpec.parse(str(spec)) == spec
    assert str(FactorySpec.parse("HNSW32,SQ8")) == "HNSW32_SQ8"  # FAISS reads both spellings
    for bad in ("OPQ16,BinaryFlat", "BinaryFlat,RFlat", "BinaryIVF0", "BinaryHNSW1"):
        with pytest.raises(InvalidInputError):
            FactorySpec.parse(bad)
    assert FactorySpec.parse("BinaryHNSW512").limit_violations()
    with pytest.raises(InvalidInputError, match="Refine"):
        FactorySpec.parse("BinaryFlat").with_refine()


@pytest.mark.parametrize("factory", FACTORIES)
def test_hamming_search_agrees_with_exact_hamming(factory: str) -> None:
    x = _lowrank(3000)
    index = BinaryIndex(DIM, factory, params={"nprobe": 32} if "IVF" in factory else None)
    index.add(x, ids=np.arange(3000) + 7)
    queries = _lowrank(20, seed=4)
    res = index.search(queries, k=10)
    q = quantize(x, "ubinary")  # the same bits
    d = hamming(q.encode(queries), q.codes)
    want = np.sort(d, axis=1)[:, :10]
    got = ((DIM - res.scores) / 2).astype(np.int32)  # score = dim - 2 * hamming
    if factory == "BinaryHNSW32":  # a graph: nearly all of the exact Hamming top 10
        assert np.mean(got == want) >= 0.9
    else:  # exhaustive (IVF with nprobe = nlist): the same distances
        assert (got == want).all()
    assert (np.take_along_axis(d, res.ids - 7, 1) == got).all()  # each score is its hit's Hamming distance


@pytest.mark.parametrize("factory", FACTORIES)
def test_removal_filters_and_round_trip(factory: str, tmp_path: Path) -> None:
    x = _lowrank(2000)
    index = BinaryIndex(DIM, factory)
    index.add(x, ids=np.arange(2000))
    assert index.remove([0, 1, 2]) == 3
    res = index.search(x[:3], k=5)
    assert not set(res.ids.ravel().tolist()) & {0, 1, 2}
    allowed = np.arange(1500, 2000)
    res = index.search(x[1600], k=5, allowed_ids=allowed)
    assert int(res.ids[0]) == 1600 and set(res.ids.tolist()) <= set(allowed.tolist())
    index.save(tmp_path / "i")
    back = load_index(tmp_path / "i")
    assert isinstance(back, BinaryIndex) and back.factory == index.factory and back.params == index.params
    assert back.ntotal == 1997
    np.testing.assert_array_equal(back.search(x[10:20], k=5).ids, index.search(x[10:20], k=5).ids)
    index.rebuild()
    assert index.n_removed == 0 and index.ntotal == 1997 and int(index.search(x[5], k=1).ids[0]) == 5


def test_memory_is_the_codes_plus_structure() -> None:
    x = _lowrank(4000)
    for factory in FACTORIES:
        index = BinaryIndex(DIM, factory)
        index.add(x)
        est = estimate_memory(factory, 4000, DIM)
        assert 0.8 * est <= index.memory_bytes() <= 1.2 * est, factory
    flat = BinaryIndex(DIM, "BinaryFlat")
    flat.add(x)
    assert flat.memory_bytes() < 4000 * (DIM // 8 + 24) + 1000  # 8 bytes of codes + the id map a vector


def test_codes_are_padded_for_faiss_without_changing_a_distance(tmp_path: Path) -> None:
    # FAISS's Hamming distance is twice as fast on 64-byte codes as on MiniLM's 48 (a generic loop): codes are
    # zero-padded to 8, 16, 32 or 64 bytes, and a Flat search of many candidates counts instead of using a heap
    from embspace.index.binary_index import COUNTING_K, faiss_code_bytes

    assert [faiss_code_bytes(b) for b in (1, 4, 8, 12, 20, 24, 48, 64, 96)] == [8, 4, 8, 16, 20, 32, 64, 64, 96]
    dim, n = 384, 3000
    rng = np.random.default_rng(5)
    x = (rng.standard_normal((n, 8)) @ rng.standard_normal((8, dim)) + rng.standard_normal((n, dim))).astype(
        np.float32)
    queries = x[:7] + 0.5 * rng.standard_normal((7, dim)).astype(np.float32)
    q = quantize(x, "ubinary")
    exact = np.sort(hamming(q.encode(queries), q.codes), axis=1)
    for factory in ("BinaryFlat", "BinaryIVF8"):
        index = BinaryIndex(dim, factory, params={"nprobe": 8} if "IVF" in factory else None)
        index.add(x)
        assert index.faiss_index.d == 512
        for k in (10, COUNTING_K + 72):  # a heap, then counting (Flat)
            res = index.search(queries, k=k)
            np.testing.assert_array_equal(((dim - res.scores) / 2).astype(np.int64), exact[:, :k])
        np.testing.assert_array_equal(index._all_codes(), q.codes)  # the codes themselves, unpadded
    # an index saved before codes were padded (FAISS holding 48-byte codes) still loads and searches the same
    import faiss

    index = BinaryIndex(dim, "BinaryFlat")
    index.add(x)
    index.save(tmp_path / "i")
    old = faiss.IndexBinaryFlat(dim)
    old.add(q.codes)
    faiss.write_index_binary(old, str(tmp_path / "i" / "index.faiss"))
    back = load_index(tmp_path / "i")
    assert back.faiss_index.d == dim
    np.testing.assert_array_equal(back.search(queries, k=10).ids, index.search(queries, k=10).ids)
    back.add(x[:5], ids=np.arange(n, n + 5))  # and grows in the same layout
    assert int(back.search(x[2], k=2).ids[1]) in (2, n + 2)


def test_ivf_needs_enough_training_vectors() -> None:
    with pytest.raises(InvalidInputError, match="BinaryIVF"):
        BinaryIndex(DIM, "BinaryIVF256").add(_lowrank(500))
    with pytest.raises(InvalidInputError, match="FaissIndex"):
        BinaryIndex(DIM, "HNSW32")
