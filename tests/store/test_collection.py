"""Collections: CRUD, search against the exact oracle, filters, persistence, the derived index, locking."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import embspace
from embspace.errors import DimensionMismatchError, InvalidInputError, UnknownKeyError
from embspace.store.collection import Collection

pytest.importorskip("faiss")


def _data(n: int = 500, dim: int = 16, seed: int = 0) -> tuple[list[str], np.ndarray, list[dict[str, object]]]:
    rng = np.random.default_rng(seed)
    vecs = rng.standard_normal((n, dim)).astype(np.float32)
    keys = [f"k{i}" for i in range(n)]
    meta = [{"lang": "en" if i % 2 else "fr", "year": 2000 + i % 20, "i": i} for i in range(n)]
    return keys, vecs, meta


def _exact(vecs: np.ndarray, q: np.ndarray, k: int) -> list[int]:
    x = vecs / np.linalg.norm(vecs, axis=1, keepdims=True)
    s = x @ (q / np.linalg.norm(q))
    return list(np.argsort(-s, kind="stable")[:k])


@pytest.mark.parametrize("index", ["exact", "Flat", "HNSW32"])
def test_search_matches_the_exact_oracle(tmp_path: Path, index: str) -> None:
    keys, vecs, meta = _data()
    with Collection.create(tmp_path / "c", dim=16, index=index) as col:
        assert col.add(keys, vecs, meta) == 500
        assert col.count() == 500 and len(col) == 500 and "k3" in col
        for qi in (0, 7, 123):
            res = col.search(vecs[qi] + 0.01, k=5)
            want = [keys[i] for i in _exact(vecs, vecs[qi] + 0.01, 5)]
            assert res.keys == want if index != "HNSW32" else len(set(res.keys) & set(want)) >= 4
        batch = col.search(vecs[:3], k=2)
        assert batch.batched and [row[0] for row in batch.keys] == ["k0", "k1", "k2"]
        by_key = col.search(key="k5", k=3)
        assert col.search("k5", k=3).keys == by_key.keys  # no encoder: a string is a key
        assert "k5" not in by_key.keys and len(by_key.keys) == 3


def test_writes_survive_reopen_and_the_index_is_derived(tmp_path: Path) -> None:
    keys, vecs, meta = _data()
    col = Collection.create(tmp_path / "c", dim=16, index="Flat")
    col.add(keys[:300], vecs[:300], meta[:300])
    col.search(vecs[0], k=1)  # builds and later saves the index
    col.close()
    col = Collection.open(tmp_path / "c")
    col.add(keys[300:], vecs[300:], meta[300:])  # replayed into the saved index on the next search
    assert col.search(vecs[450], k=1).keys == ["k450"]
    col.close()
    (tmp_path / "c" / "index" / "covers.json").write_text("not json")  # corrupt derived data
    with Collection.open(tmp_path / "c") as col, pytest.warns(RuntimeWarning, match="rebuilding"):
        assert col.search(vecs[10], k=1).keys == ["k10"]
    import shutil

    shutil.rmtree(tmp_path / "c" / "index")
    with Collection.open(tmp_path / "c") as col:
        assert col.search(vecs[20], k=1).keys == ["k20"] and col.count() == 500


def test_upsert_and_delete_are_visible_at_once(tmp_path: Path) -> None:
    keys, vecs, meta = _data()
    with Collection.create(tmp_path / "c", dim=16, index="HNSW32") as col:
        col.add(keys, vecs, meta)
        assert col.search(vecs[42], k=1).keys == ["k42"]
        assert col.delete(["k42"]) == 1
        assert "k42" not in col.search(vecs[42], k=10).keys
        col.upsert(["k43"], vecs[100:101], [{"lang": "de"}])
        assert col.get(["k43"])[0]["metadata"] == {"lang": "de"}
        assert col.get(["k43", "k44"], vectors=False) == [{"key": "k43", "metadata": {"lang": "de"}, "text": None},
                                                          {"key": "k44", "metadata": meta[44], "text": None}]
        top = col.search(vecs[100], k=2).keys
        assert set(top) == {"k43", "k100"}
        with pytest.raises(InvalidInputError, match="already exists"):
            col.add(["k1"], vecs[:1])
        assert col.delete(where={"lang": "fr"}) == 249  # k42 (fr) is gone already
        assert col.count() == 250 and col.count({"lang": "fr"}) == 0 and col.count({"lang": "de"}) == 1
        assert all(k not in col.search(vecs[2], k=50).keys for k in ("k0", "k2", "k4"))
        with pytest.raises(UnknownKeyError):
            col.get(["k0"], strict=True)
        got = col.get(["k0", "k1"], vectors=False)  # not strict: what exists, and what does not
        assert [g["key"] for g in got] == ["k1"] and got.missing == ["k0"]


def test_compaction_happens_without_a_manual_step(tmp_path: Path) -> None:
    keys, vecs, meta = _data()
    with Collection.create(tmp_path / "c", dim=16, index="HNSW32") as col:
        col.add(keys, vecs, meta)
        col.search(vecs[0], k=1)
        col.delete(keys[:200])
        col.search(vecs[300], k=1)
        info = col.info()
        assert info["count"] == 300 and info["index_entries"] == 300 and info["index_removed"] == 0


@pytest.mark.parametrize("where", [{"lang": "en"}, "year >= 2015 and lang = 'fr'", "i < 5", "i = 499"])
def test_filtered_search_is_exact_at_any_selectivity(tmp_path: Path, where: object) -> None:
    from embspace.store._filter import matches

    keys, vecs, meta = _data()
    with Collection.create(tmp_path / "c", dim=16, index="HNSW32") as col:
        col.add(keys, vecs, meta)
        rows = [i for i, m in enumerate(meta) if matches(where, m)]  # type: ignore[arg-type]
        q = vecs[3] + 0.05
        res = col.search(q, k=10, where=where)
        sub = vecs[rows]
        want = [keys[rows[i]] for i in _exact(sub, q, min(10, len(rows)))]
        assert len(set(res.keys) & set(want)) >= 0.9 * len(want)
        assert all(matches(where, meta[int(k[1:])]) for k in res.keys)  # type: ignore[arg-type]
        assert col.search(q, k=3, where={"lang": "xx"}).keys == []
        assert list(col.keys(where, batch=7)) == [keys[i] for i in rows]  # insertion order, several batches


def test_bad_input_and_locking(tmp_path: Path) -> None:
    keys, vecs, meta = _data(10)
    col = Collection.create(tmp_path / "c", dim=16)
    with pytest.raises(DimensionMismatchError):
        col.add(["a"], np.ones((1, 8), np.float32))
    with pytest.raises(InvalidInputError, match="NaN"):
        col.add(["a"], np.full((1, 16), np.nan, np.float32))
    with pytest.raises(InvalidInputError, match="finite"):  # NaN is a missing value (left out); Inf is refused
        col.add(["a"], np.ones((1, 16), np.float32), [{"x": float("inf")}])
    with pytest.raises(InvalidInputError, match="unique"):
        col.add(["a", "a"], np.ones((2, 16), np.float32))
    with pytest.raises(InvalidInputError, match="no encoder"):
        col.add(["a"], ["some text"])
    with pytest.raises(InvalidInputError, match="another process"):
        Collection.open(tmp_path / "c", timeout=0.1)
    reader = Collection.open(tmp_path / "c", readonly=True)
    col.add(keys, vecs, meta)
    assert reader.count() == 10 and reader.search(vecs[4], k=1).keys == ["k4"]  # a reader sees committed writes
    with pytest.raises(InvalidInputError, match="read-only"):
        reader.add(["z"], vecs[:1])
    reader.close()
    col.close()
    with pytest.raises(InvalidInputError, match="already exists"):
        Collection.create(tmp_path / "c", dim=16)
    with pytest.raises(InvalidInputError, match="no collection"):
        Collection.open(tmp_path / "nothing")


def test_import_and_export(tmp_path: Path) -> None:
    keys, vecs, _meta = _data(50)
    space = embspace.EmbeddingSpace(keys, vecs)
    with Collection.create(tmp_path / "c", dim=16) as col:
        assert col.add_space(space) == 50
        back = col.to_space()
        assert back.keys == space.keys
        np.testing.assert_allclose(back.vectors, vecs / np.linalg.norm(vecs, axis=1, keepdims=True), atol=1e-6)
        assert col.export_jsonl(tmp_path / "c.jsonl") == 50
        first = json.loads((tmp_path / "c.jsonl").read_text().splitlines()[0])
        assert first["key"] == "k0" and len(first["vector"]) == 16
        assert col.export_parquet(tmp_path / "c.parquet") == 50
        import pyarrow.parquet as pq

        assert pq.read_table(tmp_path / "c.parquet").num_rows == 50


def test_filtered_search_sees_writes_after_a_cached_filter(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    x = rng.standard_normal((50, 8)).astype(np.float32)
    with Collection.create(tmp_path / "c", dim=8, index="Flat") as col:
        col.add([f"k{i}" for i in range(50)], x, [{"g": i % 2} for i in range(50)])
        first = col.search(x[0], k=50, where={"g": 1})
        assert len(first.keys) == 25
        col.upsert(["k0"], x[:1], [{"g": 1}])  # now matches
        col.delete(["k1"])  # no longer there
        again = col.search(x[0], k=50, where={"g": 1})
        assert "k0" in again.keys and "k1" not in again.keys and len(again.keys) == 25
        reader = Collection.open(tmp_path / "c", readonly=True)
        assert reader.search(x[0], k=50, where={"g": 1}).keys == again.keys
        col.delete(["k3"])
        assert "k3" not in reader.search(x[0], k=50, where={"g": 1}).keys  # another process's write
        reader.close()


class _CountingEncoder:
    """A stand-in encoder (no model): a text's vector is made from its length, so a test can add texts."""

    name = "counting"
    space_id = "counting-space"
    dim = 4

    def __init__(self) -> None:
        self.provenance = embspace.Provenance(model="counting", config={})

    def encode(self, texts: list[str], progress: bool = False) -> np.ndarray:
        return np.asarray([[1.0, len(t), 0.5, 0.25] for t in texts], np.float32)


def test_add_file_reports_a_truncated_space_file_instead_of_reading_it_as_texts(tmp_path: Path) -> None:
    """Issue 21: a truncated word2vec binary raised "this collection has no encoder" (the CorruptDataError
    was swallowed and the file re-read as texts); it must say which file is corrupt, and where."""
    from embspace.errors import CorruptDataError

    rng = np.random.default_rng(0)
    space = embspace.EmbeddingSpace([f"w{i}" for i in range(20)], rng.standard_normal((20, 8)).astype(np.float32))
    space.save(tmp_path / "v.bin")
    data = (tmp_path / "v.bin").read_bytes()
    (tmp_path / "cut.bin").write_bytes(data[: len(data) // 2])
    space.save(tmp_path / "v.txt")
    text = (tmp_path / "v.txt").read_text()
    (tmp_path / "cut.txt").write_text(text[: len(text) // 2])
    (tmp_path / "cut.glove").write_text("\n".join(text.splitlines()[1:11]) + "\nw10\n")  # headerless, cut short
    with Collection.create(tmp_path / "c", dim=8) as col:
        with pytest.raises(CorruptDataError, match=r"cut\.bin.*truncated") as info:
            col.add_file(tmp_path / "cut.bin")
        assert info.value.path == str(tmp_path / "cut.bin")
        with pytest.raises(CorruptDataError, match=r"cut\.txt, line \d+.*truncated"):
            col.add_file(tmp_path / "cut.txt")
        with pytest.raises(CorruptDataError, match=r"cut\.glove, line 11.*no encoder"):  # no encoder: not texts
            col.add_file(tmp_path / "cut.glove")
        assert col.count() == 0  # nothing half-added
        assert col.add_file(tmp_path / "v.bin") == 20 and col.add_file(tmp_path / "v.txt", upsert=True) == 20


def test_add_file_still_reads_texts_with_an_encoder(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    (tmp_path / "lines.txt").write_text("hello world\nthe year 2000\n")
    (tmp_path / "r.jsonl").write_text('{"id": "x", "text": "a b", "lang": "en"}\n')
    pq.write_table(pa.table({"id": ["p"], "text": ["from parquet"]}), tmp_path / "r.parquet")
    with Collection.create(tmp_path / "c", encoder=_CountingEncoder()) as col:
        assert col.add_file(tmp_path / "lines.txt") == 2
        assert col.add_file(tmp_path / "r.jsonl", key_field="id") == 1
        assert col.add_file(tmp_path / "r.parquet", key_field="id") == 1
        assert sorted(col.keys()) == ["1", "2", "p", "x"]
        assert col.get(["x"], vectors=False)[0]["metadata"] == {"lang": "en"}


@pytest.mark.parametrize("index", ["exact", "Flat"])
def test_search_includes_metadata_text_and_vectors_in_one_read(tmp_path: Path, index: str) -> None:
    from embspace.store import CollectionResult

    keys, vecs, meta = _data(300)
    for i, m in enumerate(meta):
        m["text"] = f"passage {i}" if i % 3 else i  # a non-string text is no text
    meta[7]["text"] = {"nested": "object"}
    unit = vecs / np.linalg.norm(vecs, axis=1, keepdims=True)
    with Collection.create(tmp_path / "c", dim=16, index=index) as col:
        col.add(keys, vecs, meta)
        plain = col.search(vecs[4], k=5)
        assert isinstance(plain, CollectionResult) and plain.metadata is plain.texts is plain.vectors is None
        statements: list[str] = []
        col._db.set_trace_callback(statements.append)
        res = col.search(vecs[4], k=5, include=("metadata", "text", "vector"))
        col._db.set_trace_callback(None)
        reads = [s for s in statements if "metadata" in s and "IN (" in s]
        assert len(reads) == 1, statements  # one batched read for all hits, not one per hit
        assert res.keys == plain.keys
        # include only adds a read after the search: the same search path (the one-vector hot path), so the
        # very same scores (the HTTP API compares its answers with the library's exactly)
        np.testing.assert_array_equal(res.scores, plain.scores)
        rows = [keys.index(k) for k in res.keys]
        assert res.metadata == [meta[i] for i in rows]
        assert res.texts == [meta[i]["text"] if isinstance(meta[i]["text"], str) else None for i in rows]
        assert res.vectors is not None and res.vectors.shape == (5, 16)
        # the stored (normalised) vectors: float32 storage vs float64 normalisation here, hence the tolerance
        np.testing.assert_allclose(res.vectors, unit[rows], atol=1e-6)
        assert res.to_records()[0] == {"key": res.keys[0], "score": pytest.approx(float(res.scores[0])),
                                       "metadata": res.metadata[0], "text": res.texts[0],
                                       "vector": pytest.approx(res.vectors[0].tolist())}
        only_text = col.search(vecs[4], k=5, include="text")  # read by SQLite's json_extract: same answer
        assert only_text.texts == res.texts and only_text.metadata is None and only_text.vectors is None
        assert col.search(vecs[7], k=1, include="text").texts == [None]  # {"nested": ...} is not a text
        # by key (itself excluded), under a filter, and a batch with fewer matches than k
        by_key = col.search(key="k4", k=3, include="metadata", where={"lang": "fr"})
        assert "k4" not in by_key.keys and by_key.metadata == [meta[keys.index(k)] for k in by_key.keys]
        assert all(m["lang"] == "fr" for m in by_key.metadata)
        batch = col.search(vecs[:2], k=4, where={"i": {"$in": [1, 2, 3]}}, include=("metadata", "vector"))
        assert batch.batched and all(len(row) == 3 for row in batch.keys)
        for q in range(2):
            assert batch.metadata[q] == [meta[keys.index(k)] for k in batch.keys[q]]
            assert batch[q].metadata == batch.metadata[q] and batch[q].vectors is not None
            np.testing.assert_allclose(batch.vectors[q, :3], unit[[keys.index(k) for k in batch.keys[q]]], atol=1e-6)
        none = col.search(vecs[0], k=3, where={"lang": "none"}, include=["metadata", "text", "vector"])
        assert none.keys == [] and none.metadata == [] and none.texts == [] and none.vectors.shape == (0, 16)
        assert "metadata" in res.to_dict() and "vectors" in res.to_dict()
        with pytest.raises(InvalidInputError, match="include"):
            col.search(vecs[0], k=3, include=("metadata", "payload"))  # type: ignore[arg-type]


# ---------------------------------------------------------------- issue 23: lone surrogates
@pytest.mark.parametrize("kwargs", [
    {"keys": ["a\udc80"]},
    {"keys": ["a"], "metadata": [{"k": "v\udc80"}]},
    {"keys": ["a"], "metadata": [{"k\udc80": "v"}]},
    {"keys": ["a"], "metadata": [{"k": ["x", {"y": "\ud800"}]}]},
    {"keys": ["a"], "metadata": [{"k": {"n\udfff": 1}}]},
    {"keys": ["a"], "texts": ["t\udc80"]},
])
def test_lone_surrogates_are_invalid_input_not_unicode_errors(tmp_path, kwargs):
    """A lone surrogate (what Python makes of undecodable bytes) in a key, a metadata key or value, or a
    text raised UnicodeEncodeError from SQLite (a 500 over HTTP); it is InvalidInputError, nothing written."""
    col = Collection.create(tmp_path / "c", dim=4)
    x = np.ones((1, 4), "float32")
    for write in (col.add, col.upsert):
        with pytest.raises(InvalidInputError, match="lone surrogate"):
            write(data=x, **kwargs)
    assert col.count() == 0
    with pytest.raises(InvalidInputError, match="lone surrogate"):
        col.get(["a\udc80"])
    col.add(["a"], x, [{"ok": "é😀"}], texts=["fine"])  # real non-ASCII characters are stored as they are
    assert col.get(["a"])[0]["metadata"] == {"ok": "é😀"}
    col.close()
