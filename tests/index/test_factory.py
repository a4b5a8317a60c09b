"""FactorySpec: one parser of FAISS factory strings for FaissIndex, estimate_memory and Milvus."""

from __future__ import annotations

import numpy as np
import pytest

from embspace.errors import InvalidInputError
from embspace.index import FactorySpec, estimate_memory

CANONICAL = ["Flat", "HNSW32", "HNSW", "HNSW16_SQ8", "NSG32", "IVF1024,Flat", "IVF1024,PQ32", "IVF64,PQ8x4",
             "IVF4096,SQ8", "IVF1024_HNSW32,Flat", "SQ8", "SQfp16", "PQ16", "PQ32x4fs", "LSH", "OPQ16,IVF1024,PQ16",
             "PCA64,IVF64,Flat", "OPQ16_64,IVF1024,PQ16", "IVF1024,PQ16,Refine(Flat)", "IVF4096,PQ64,Refine(SQ8)",
             "IVF64,PQ8,RFlat", "HNSW32,Refine(Flat)"]


@pytest.mark.parametrize("text", CANONICAL)
def test_round_trip(text: str) -> None:
    spec = FactorySpec.parse(text)
    assert str(spec) == text
    assert FactorySpec.parse(str(spec)) == spec
    assert FactorySpec.parse(spec) is spec
    assert repr(spec) == f"FactorySpec({text!r})"


@pytest.mark.parametrize(("given", "canonical"), [
    ("flat", "Flat"), ("hnsw32", "HNSW32"), (" IVF1024 , pq32 ", "IVF1024,PQ32"), ("ivf64,sqfp16", "IVF64,SQfp16"),
    ("opq8,ivf64,pq8,refine(flat)", "OPQ8,IVF64,PQ8,Refine(Flat)"),
])
def test_spelling_is_canonicalised(given: str, canonical: str) -> None:
    assert str(FactorySpec.parse(given)) == canonical


def test_fields() -> None:
    ivf = FactorySpec.parse("OPQ16,IVF1024,PQ32x4,Refine(SQ8)")
    assert (ivf.transforms, ivf.index, ivf.nlist) == (("OPQ16",), "IVF", 1024)
    assert (ivf.encoding, ivf.refine) == ("PQ32x4", "SQ8")
    assert (ivf.pq_m, ivf.pq_nbits, ivf.sq_bits, ivf.is_ivf, ivf.is_graph) == (32, 4, None, True, False)
    assert ivf.search_params == ("nprobe", "k_factor") and not ivf.stores_exact_vectors
    hnsw = FactorySpec.parse("HNSW")
    assert hnsw.is_graph and hnsw.graph_m is None and hnsw.m == 32 and hnsw.search_params == ("efSearch",)
    assert hnsw.stores_exact_vectors and not FactorySpec.parse("HNSW32_SQ8").stores_exact_vectors
    assert FactorySpec.parse("SQ8").sq_bits == 8 and FactorySpec.parse("IVF64,SQfp16").sq_bits == 16
    assert str(hnsw.with_refine()) == "HNSW,Refine(Flat)" and hnsw.with_refine().stores_exact_vectors
    refined = FactorySpec.parse("IVF64,PQ8,RFlat")
    assert refined.with_refine() is refined and refined.refine == "Flat"


@pytest.mark.parametrize(("bad", "hint"), [
    ("", "such as"), ("   ", "such as"), ("HNSWx", "did you mean 'HNSW32'"), ("HSNW16", "did you mean 'HNSW16'"),
    ("Flta", "did you mean 'Flat'"), ("IVF64", "must be followed by its encoding"),
    ("IVF64,PQ", "did you mean 'PQ16'"), ("IVF64,Flat,,", "unexpected part ''"), ("OPQ16", "no index after"),
    ("Flat,HNSW32", "unexpected part 'HNSW32'"), ("IVF64,Flat,Refine(Flat),RFlat", "after the refinement"),
    ("IDMap2,Flat", "IDMap"), ("HNSW1", "at least 2"), ("Foo", "Examples"),
])
def test_errors_name_the_part_and_a_fix(bad: str, hint: str) -> None:
    with pytest.raises(InvalidInputError, match="factory") as info:
        FactorySpec.parse(bad)
    assert hint in str(info.value)


def test_non_string_refused() -> None:
    with pytest.raises(InvalidInputError, match="factory must be"):
        FactorySpec.parse(32)


def test_estimate_memory_reads_the_spec() -> None:
    n, dim = 10_000, 64
    assert estimate_memory("flat", n, dim) == estimate_memory("Flat", n, dim)
    assert estimate_memory("IVF256,PQ16,Refine(Flat)", n, dim) > estimate_memory("IVF256,PQ16,Refine(SQ8)", n, dim) \
        > estimate_memory("IVF256,PQ16", n, dim)
    assert estimate_memory("IVF256,SQ8", n, dim) < estimate_memory("IVF256,Flat", n, dim)
    with pytest.raises(InvalidInputError, match="did you mean"):
        estimate_memory("HSNW32", n, dim)
    with pytest.raises(InvalidInputError, match="does not know"):
        estimate_memory("LSH", n, dim)


def test_milvus_index_params_read_the_spec() -> None:
    from embspace.store.milvus import _index_params

    assert _index_params("auto") == ("AUTOINDEX", {})
    assert _index_params("exact") == _index_params("flat") == ("FLAT", {})
    assert _index_params("HNSW16") == ("HNSW", {"M": 16, "efConstruction": 200})
    assert _index_params("ivf1024, flat") == ("IVF_FLAT", {"nlist": 1024})
    assert _index_params("IVF1024,PQ32") == ("IVF_PQ", {"nlist": 1024, "m": 32, "nbits": 8})
    with pytest.raises(InvalidInputError, match="Milvus backend has no index"):
        _index_params("IVF1024,PQ32,Refine(Flat)")
    with pytest.raises(InvalidInputError, match="did you mean 'HNSW32'"):
        _index_params("HSNW32")


def test_faiss_index_reads_the_spec() -> None:
    from embspace.index import FaissIndex

    assert FaissIndex(8, "hnsw16").factory == "HNSW16"
    assert FaissIndex(8, FactorySpec.parse("IVF4,Flat")).factory == "IVF4,Flat"
    assert FaissIndex(8, "IVF4,PQ2", refine=3).factory == "IVF4,PQ2,Refine(Flat)"
    with pytest.raises(InvalidInputError, match="did you mean 'HNSW32'"):
        FaissIndex(8, "HSNW32")


# ---------------------------------------------------------------- issue 23: bounded factory numbers
@pytest.mark.parametrize("factory", ["IVF100000000,Flat", "HNSW999999999", "NSG300", "IVF1024_HNSW999,Flat",
                                     "PQ8x40", "RR100000,Flat"])
def test_factory_beyond_limits_is_refused_before_allocating(factory):
    from embspace.index import FaissIndex

    with pytest.raises(InvalidInputError, match="beyond embspace's limits"):
        FaissIndex(64, factory)


def test_ivf_lists_bounded_by_available_memory():
    from embspace.index import LIMITS

    spec = FactorySpec.parse("IVF65536,Flat")
    assert spec.nlist <= LIMITS["nlist"]
    need = spec.fixed_memory(768)
    assert need >= 65536 * 768 * 4
    spec.check_limits(768, available=8 * need)  # a quarter of the available memory: fits
    with pytest.raises(InvalidInputError, match="quarter of the"):
        spec.check_limits(768, available=2 * need)


def test_clamped_is_within_limits():
    spec = FactorySpec.parse("OPQ16_99999,IVF100000000_HNSW999,PQ16x40")
    assert len(spec.limit_violations()) == 4
    spec = FactorySpec.parse("IVF100000000_HNSW999,PQ16x40")
    c = spec.clamped(64, available=1 << 30)
    assert c.limit_violations(64, available=1 << 30) == []
    assert c.nlist is not None and c.nlist <= 1 << 20


def test_existing_collection_beyond_limits_still_opens(tmp_path):
    """A collection whose stored factory predates the limits opens; its index is built on the nearest
    factory within them, with a warning (a new collection with that factory is refused)."""
    import json
    import sqlite3

    from embspace.store import Collection

    with pytest.raises(InvalidInputError, match="beyond embspace's limits"):
        Collection.create(tmp_path / "new", dim=8, index="HNSW999999999")
    assert not (tmp_path / "new" / "collection.sqlite").exists()
    col = Collection.create(tmp_path / "c", dim=8, index="HNSW32")
    x = np.random.default_rng(0).standard_normal((20, 8)).astype("float32")
    col.add([f"k{i}" for i in range(20)], x)
    col.close()
    db = sqlite3.connect(tmp_path / "c" / "collection.sqlite")
    with db:  # as an embspace before the limits wrote it
        db.execute("UPDATE info SET value = ? WHERE name = 'index'", (json.dumps("HNSW999999999"),))
    db.close()
    import shutil

    shutil.rmtree(tmp_path / "c" / "index", ignore_errors=True)
    with pytest.warns(UserWarning, match="beyond embspace's limits"):
        col = Collection.open(tmp_path / "c")
        res = col.search(x[3], k=1)
    assert res.keys[0] == "k3"
    col.close()
