"""On-disk IVF collections (issue 29): lists in a memory-mapped file, a sharded build, search(nprobe=)."""

from __future__ import annotations

import os
import tracemalloc
import warnings

import numpy as np
import pytest

from embspace.errors import InvalidInputError
from embspace.index import ExactIndex, FaissIndex, OnDiskIVFIndex, load_index, training_sample
from embspace.store import Collection
from embspace.store import collection as collection_module

N, DIM, NLIST = 20_000, 32, 64


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((50, DIM)).astype(np.float32) * 3
    label = rng.integers(0, 50, N)
    x = (centres[label] + rng.standard_normal((N, DIM))).astype(np.float32)
    return x, label


def _fill(path, x, label, *, index="IVF64,Flat", metric="l2", **kw) -> Collection:
    col = Collection.create(path, dim=DIM, metric=metric, index=index, on_disk=True, **kw)
    for s in range(0, N, 5_000):
        col.add([f"k{i}" for i in range(s, s + 5_000)], x[s:s + 5_000],
                [{"g": int(label[i] % 10), "i": i} for i in range(s, s + 5_000)])
    return col


@pytest.fixture(autouse=True)
def _quiet_kmeans():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def test_recall_against_exact(tmp_path, data):
    x, label = data
    col = _fill(tmp_path / "c", x, label)
    exact = ExactIndex(DIM, metric="l2")
    exact.add(x, np.arange(N))
    q = x[:200] + 0.05
    truth = exact.search(q, 10).ids
    got = col.search(q, 10, nprobe=16)
    found = [[int(k[1:]) for k in row] for row in got.keys]
    recall = np.mean([len(set(f) & set(t.tolist())) / 10 for f, t in zip(found, truth, strict=True)])
    assert recall >= 0.95, recall  # IVF64,Flat with 16 of 64 lists visited on 50 clusters
    assert col.info()["on_disk"] and col.info()["index_file_bytes"] > 0
    col.close()


def test_same_results_as_the_in_memory_ivf(tmp_path, data):
    """The same training sample gives the same quantiser, so the same lists and the same hits."""
    x, label = data
    col = _fill(tmp_path / "c", x, label, index="IVF64,PQ8")
    ids = np.arange(1, N + 1)  # SQLite's row ids, in insertion order
    sample = training_sample(ids, NLIST)
    ref = FaissIndex(DIM, "IVF64,PQ8", metric="l2")
    ref.train(x[sample - 1])
    ref.add(x, ids)
    q = x[:100] + 0.05
    want = ref.search(q, 10, params={"nprobe": 8})
    got = col.search(q, 10, nprobe=8, rescore=0)
    assert [[int(k[1:]) + 1 for k in row] for row in got.keys] == want.ids.tolist()
    # the same codes and the same distance tables: equal up to float32 summation order
    np.testing.assert_allclose(got.scores, want.scores, rtol=1e-5, atol=1e-5)
    col.close()


def test_reopen_add_delete_filter(tmp_path, data):
    x, label = data
    path = tmp_path / "c"
    col = _fill(path, x, label)
    before = col.search(x[3], 5, nprobe=8).keys
    col.close()
    col = Collection.open(path)
    assert col.on_disk
    assert col.search(x[3], 5, nprobe=8).keys == before
    col.add(["new"], x[3:4] + 1e-3, [{"g": 3}])
    assert col.search(x[3], 2, nprobe=8).keys == ["k3", "new"]
    col.delete(["k3"])
    assert col.search(x[3], 2, nprobe=8).keys[0] == "new"
    hits = col.search(x[3], 10, where={"g": 4}, nprobe=8, include="metadata")
    assert hits.keys and all(m["g"] == 4 for m in hits.metadata)
    many = col.search(x[3], 10, where="i >= 100", nprobe=8)  # thousands of matches: the index with a selector
    assert len(many.keys) == 10 and "k3" not in many.keys
    col.close()
    col = Collection.open(path, readonly=True)  # the add and the delete are in the saved index
    assert col.search(x[3], 2, nprobe=8).keys[0] == "new"
    assert col.info()["index_entries"] == N
    col.close()


def test_lists_file_is_linked_not_rewritten(tmp_path, data):
    x, label = data
    path = tmp_path / "c"
    col = _fill(path, x, label)
    col.search(x[0], 1)
    col.close()
    inode = os.stat(path / "index" / "lists.ivfdata").st_ino
    col = Collection.open(path)
    col.add(["a"], x[:1])
    col.search(x[0], 1)
    col.close()  # saves the index again: the small delta beside the same lists file
    assert os.stat(path / "index" / "lists.ivfdata").st_ino == inode
    assert load_index(path / "index").n_in_memory == 1
    assert not list(path.glob(".index-*"))  # the build's work directory is gone


def test_build_holds_one_shard_at_a_time(tmp_path, data, monkeypatch):
    x, label = data
    import functools

    import embspace.index

    monkeypatch.setattr(collection_module, "BUILD_SHARD", 1_500)
    # a sample of 4,096 (64 per list) rather than the default floor of 10,000 (half of this small table)
    monkeypatch.setattr(embspace.index, "training_sample", functools.partial(training_sample, minimum=0))
    col = _fill(tmp_path / "c", x, label)
    tracemalloc.start()
    try:
        col.rebuild_index()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    sizes = col._index.shard_sizes  # the vectors handed to the lists writer, call by call
    assert sum(sizes) == N and max(sizes) <= 1_500 and len(sizes) == -(-N // 1_500)
    col.close()
    # mechanism, not timing: the same table rebuilt in memory holds every row at once; the on-disk build a shard,
    # the training sample (a fifth of this small table) and the ids
    mem = Collection.create(tmp_path / "m", dim=DIM, metric="l2", index="IVF64,Flat")
    mem.add([f"k{i}" for i in range(N)], x)
    tracemalloc.start()
    try:
        mem.rebuild_index()
        _, peak_in_memory = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    mem.close()
    assert peak < 0.6 * peak_in_memory, (peak, peak_in_memory)


def test_on_disk_needs_an_ivf_factory(tmp_path):
    with pytest.raises(InvalidInputError, match="IVF"):
        Collection.create(tmp_path / "a", dim=8, index="HNSW32", on_disk=True)
    with pytest.raises(InvalidInputError, match="IVF"):
        Collection.create(tmp_path / "b", dim=8, on_disk=True)
    assert not (tmp_path / "a").exists()
    col = Collection.create(tmp_path / "c", dim=8, index="Flat")
    with pytest.raises(InvalidInputError, match="nprobe"):
        col.search(np.ones(8, np.float32), 1, nprobe=0)
    col.close()


def test_index_level_shards_and_save(tmp_path, data):
    x, _ = data
    index = OnDiskIVFIndex(DIM, "IVF64,Flat", metric="l2", workdir=tmp_path / "w")
    index.train(x[:5_000])
    assert index.add_shards((x[s:s + 4_000], np.arange(s, s + 4_000)) for s in range(0, N, 4_000)) == N
    index.add(x[:2] + 1e-3, [N, N + 1])
    assert (index.n_on_disk, index.n_in_memory) == (N, 2)
    loaded = load_index(index.save(tmp_path / "i"))
    assert isinstance(loaded, OnDiskIVFIndex) and loaded.ntotal == N + 2
    np.testing.assert_array_equal(loaded.search(x[:5], 3).ids, index.search(x[:5], 3).ids)
    with pytest.raises(InvalidInputError, match="IVF"):
        OnDiskIVFIndex(DIM, "HNSW32")
