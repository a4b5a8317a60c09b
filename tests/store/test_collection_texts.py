"""Collections keep documents: the text column, add/upsert(texts=), get -> GetResult, include="text", integer
keys, and collections written before the text column (issue 22)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np
import pytest

import embspace
from embspace.errors import InvalidInputError, UnknownKeyError
from embspace.store import Collection, GetResult


class _LengthEncoder:
    """A stand-in encoder (no model): a text's vector is made from its length."""

    name = "length"
    space_id = "length-space"
    dim = 4

    def __init__(self) -> None:
        self.provenance = embspace.Provenance(model="length", config={})
        self.calls: list[list[str]] = []

    def encode(self, texts: list[str], progress: bool = False) -> np.ndarray:
        self.calls.append(list(texts))
        return np.asarray([[1.0, len(t), 0.5, (len(t) % 3) + 0.25] for t in texts], np.float32)


def _vecs(n: int, dim: int = 4, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)


def test_texts_are_stored_with_vectors_and_come_back_from_get_and_search(tmp_path: Path) -> None:
    x = _vecs(3)
    with Collection.create(tmp_path / "c", dim=4) as col:
        assert col.add(["a", "b", "c"], x, [{"g": 1}, None, {"g": 2}], texts=["alpha", None, "gamma"]) == 3
        got = col.get(["c", "a", "b"], vectors=False)
        assert isinstance(got, GetResult) and isinstance(got, list) and got.missing == []
        assert got == [{"key": "c", "metadata": {"g": 2}, "text": "gamma"},
                       {"key": "a", "metadata": {"g": 1}, "text": "alpha"},
                       {"key": "b", "metadata": {}, "text": None}]
        res = col.search(x[0], k=3, include="text")
        assert res.metadata is None and res.vectors is None
        assert dict(zip(res.keys, res.texts or [], strict=True)) == {"a": "alpha", "b": None, "c": "gamma"}
        rec = col.search(x[2], k=1, include=("metadata", "text"), where={"g": 2}).to_records()
        assert rec == [{"key": "c", "score": pytest.approx(1.0, abs=1e-5), "metadata": {"g": 2}, "text": "gamma"}]
        batch = col.search(x[:2], k=1, include="text")
        assert batch.texts == [["alpha"], [None]]


def test_texts_alone_are_encoded_and_kept(tmp_path: Path) -> None:
    enc = _LengthEncoder()
    with Collection.create(tmp_path / "c", encoder=enc) as col:
        assert col.add(["k1", "k2"], texts=["one", "three"]) == 2
        assert enc.calls == [["one", "three"]]
        assert [g["text"] for g in col.get(["k1", "k2"])] == ["one", "three"]
        col.add(["k3"], ["a text given as data"])  # texts as data: encoded, and kept as the text
        assert col.get(["k3"])[0]["text"] == "a text given as data"
        col.add(["k4"], np.ones((1, 4), np.float32), texts=["not encoded"])  # vectors + texts: texts only kept
        assert enc.calls[-1] == ["a text given as data"]
        np.testing.assert_allclose(col.get(["k4"])[0]["vector"], np.full(4, 0.5), rtol=1e-6)
        with pytest.raises(InvalidInputError, match="once"):
            col.add(["k5"], ["x"], texts=["x"])
        with pytest.raises(InvalidInputError, match="no text to encode"):
            col.add(["k5", "k6"], texts=["x", None])
        with pytest.raises(InvalidInputError, match=r"vectors.*or their texts"):
            col.add(["k5"])
        with pytest.raises(InvalidInputError, match="2 texts for 1 keys"):
            col.add(["k5"], np.ones((1, 4), np.float32), texts=["x", "y"])
        with pytest.raises(InvalidInputError, match="one text per key"):
            col.add(["k5"], np.ones((1, 4), np.float32), texts="x")
        with pytest.raises(InvalidInputError, match="strings"):
            col.add(["k5"], np.ones((1, 4), np.float32), texts=[3])
        assert col.count() == 4


def test_upsert_replaces_the_text_and_add_of_an_existing_key_points_to_upsert(tmp_path: Path) -> None:
    x = _vecs(2)
    with Collection.create(tmp_path / "c", dim=4) as col:
        col.add(["a"], x[:1], texts=["first"])
        with pytest.raises(InvalidInputError, match="use upsert"):
            col.add(["a"], x[1:], texts=["second"])
        assert col.upsert(["a", "b"], x, texts=["second", "bee"]) == 2
        assert [g["text"] for g in col.get(["a", "b"])] == ["second", "bee"]
        col.upsert(["a"], x[:1])  # replaced without a text: the item has none
        assert col.get(["a"])[0]["text"] is None


def test_get_returns_what_exists_and_names_what_is_missing(tmp_path: Path) -> None:
    with Collection.create(tmp_path / "c", dim=4) as col:
        col.add(["a", "b"], _vecs(2))
        got = col.get(["x", "b", "y", "a"])
        assert [g["key"] for g in got] == ["b", "a"] and got.missing == ["x", "y"]
        assert set(got[0]) == {"key", "vector", "metadata", "text"}
        none = col.get(["nope"])
        assert none == [] and none.missing == ["nope"] and "nope" in repr(none)
        with pytest.raises(UnknownKeyError, match="nope"):
            col.get(["a", "nope"], strict=True)
        assert col.get([], vectors=False) == [] and col.get([]).missing == []
        with pytest.raises(TypeError, match="wrap a single key"):
            col.get("a")


def test_integer_keys_are_stored_as_their_decimal_text(tmp_path: Path) -> None:
    x = _vecs(3)
    with Collection.create(tmp_path / "c", dim=4) as col:
        assert col.add([1, np.int64(2), "3"], x) == 3
        assert sorted(col.keys()) == ["1", "2", "3"] and 2 in col and "2" in col
        assert [g["key"] for g in col.get([3, 1])] == ["3", "1"]
        assert col.search(key=1, k=1).keys[0] in {"2", "3"}
        with pytest.raises(InvalidInputError, match="use upsert"):
            col.add(["1"], x[:1])
        assert col.delete([np.int32(1)]) == 1 and "1" not in col
        with pytest.raises(InvalidInputError, match="strings or integers"):
            col.add([1.5], x[:1])
        with pytest.raises(InvalidInputError, match="strings or integers"):
            col.add([True], x[:1])
        with pytest.raises(InvalidInputError, match="more than once"):
            col.add([7, "7"], x[:2])


def test_a_series_of_arrays_is_a_matrix(tmp_path: Path) -> None:
    pd = pytest.importorskip("pandas")
    x = _vecs(3)
    df = pd.DataFrame({"id": [10, 11, 12], "embedding": list(x), "title": ["a", "b", "c"]})
    with Collection.create(tmp_path / "c", dim=4, metric="dot") as col:
        assert col.add(df.id, df.embedding, texts=df.title) == 3
        got = col.get(["11"])
        np.testing.assert_array_equal(got[0]["vector"], x[1])  # dot: stored as given, bit for bit
        assert got[0]["text"] == "b"
        with pytest.raises(InvalidInputError, match="same length"):
            col.add(["z1", "z2"], pd.Series([np.ones(4), np.ones(3)]))


def _drop_text_column(path: Path) -> None:
    """Make ``path`` look like a collection written before the text column (what embspace 0.1 wrote)."""
    db = sqlite3.connect(path / "collection.sqlite")
    db.execute("ALTER TABLE items DROP COLUMN text")
    db.commit()
    db.close()


def test_a_collection_written_before_the_text_column_opens_read_only_and_is_migrated_by_a_writer(
        tmp_path: Path) -> None:
    x = _vecs(2)
    with Collection.create(tmp_path / "c", dim=4) as col:
        col.add(["old", "bare"], x, [{"text": "kept in metadata", "n": 1}, {"n": 2}])
    _drop_text_column(tmp_path / "c")
    reader = Collection.open(tmp_path / "c", readonly=True)
    assert reader.get(["old", "bare"], vectors=False) == [
        {"key": "old", "metadata": {"text": "kept in metadata", "n": 1}, "text": "kept in metadata"},
        {"key": "bare", "metadata": {"n": 2}, "text": None}]
    assert reader.search(x[0], k=2, include="text").texts == ["kept in metadata", None]
    cols = [r[1] for r in sqlite3.connect(tmp_path / "c" / "collection.sqlite").execute("PRAGMA table_info(items)")]
    assert "text" not in cols  # a reader changes nothing
    with Collection.open(tmp_path / "c") as writer:  # the writer adds the column, and can store texts
        writer.add(["new"], x[:1] + 1, texts=["a stored text"])
        assert reader.get(["new"], vectors=False)[0]["text"] == "a stored text"  # the reader sees it too
        assert writer.get(["old"], vectors=False)[0]["text"] == "kept in metadata"  # the fallback holds
    reader.close()
    header = json.loads((tmp_path / "c" / "embspace.json").read_text())
    assert header["kind"] == "collection" and header["format_version"] == 1


def test_a_filter_on_a_field_no_item_has_warns_once_per_version(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                                                ) -> None:
    import warnings

    from embspace.errors import UnknownFieldWarning

    x = _vecs(40)
    with Collection.create(tmp_path / "c", dim=4) as col:
        col.add([f"k{i}" for i in range(40)], x, [{"label": i % 2, "path": f"p{i}"} for i in range(40)])
        with pytest.warns(UnknownFieldWarning, match=r"no item has the field 'lable'; fields are: label, path") as w:
            assert col.search(x[0], k=3, where={"lable": 1}).keys == []
        assert w[0].filename == __file__  # it points at the caller's line
        with pytest.warns(UnknownFieldWarning, match="'lable'"):
            assert col.count('lable = 1 or label = 1') == 20
        with pytest.warns(UnknownFieldWarning, match="'nope'"):
            assert col.delete(where={"nope": 1}) == 0
        calls: list[str] = []
        has_field = col._has_field
        monkeypatch.setattr(col, "_has_field", lambda name: calls.append(name) or has_field(name))
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # known fields: no warning
            for _ in range(3):
                col.search(x[0], k=3, where={"label": 1, "path": {"$ne": "p0"}})
                col.count({"label": 0})
            assert calls == ["path"]  # 'label' was seen at this version already; 'path' is looked up once
            calls.clear()
            col.add(["new"], x[:1] + 1, [{"other": True}])  # a change: the fields are looked up again, once
            col.count({"label": 0})
            col.count({"label": 1})
            assert calls == ["label"]
            assert col.count({"other": True}) == 1 and len(list(col.keys({"other": True}))) == 1
        with pytest.warns(UnknownFieldWarning, match="fields are: label, other, path"):
            list(col.items(where={"missing": 1}))
    with Collection.create(tmp_path / "empty", dim=4) as empty, warnings.catch_warnings():
        warnings.simplefilter("error")
        assert empty.count({"anything": 1}) == 0  # an empty collection has no fields to compare with


def test_a_filter_naming_many_fields_looks_them_up_in_one_pass(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                                               ) -> None:
    # issue 23: a 60,000-key dict filter ran one table scan per field (minutes) before its search
    from embspace.errors import UnknownFieldWarning
    from embspace.store._base import FIELD_LOOKUPS, FIELDS_NAMED

    x = _vecs(40)
    with Collection.create(tmp_path / "c", dim=4) as col:
        col.add([f"k{i}" for i in range(40)], x, [{"label": i % 2, **({"rare": 1} if i == 39 else {})}
                                                   for i in range(40)])
        calls: list[str] = []
        has_field = col._has_field
        monkeypatch.setattr(col, "_has_field", lambda name: calls.append(name) or has_field(name))
        where = {f"f{i}": i for i in range(5_000)} | {"label": 1, "rare": 1}
        with pytest.warns(UnknownFieldWarning) as w:
            assert col.count(where) == 0
        assert calls == []  # no query per field: all of them at once
        message = str(w[0].message)
        assert "'f0', 'f1'" in message and f"and {5_000 - FIELDS_NAMED:,} more" in message  # a bounded message
        assert "'label'" not in message and "'rare'" not in message  # fields some item has are known as such
        assert len(message) < 2_000
        few = {f"g{i}": i for i in range(FIELD_LOOKUPS)}
        with pytest.warns(UnknownFieldWarning):
            col.count(few)
        assert sorted(calls) == sorted(few)  # a few fields: a look-up each (stops at the first item)


def test_exports_carry_the_texts(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    x = _vecs(2)
    with Collection.create(tmp_path / "c", dim=4) as col:
        col.add(["a", "b"], x, [{"n": 1}, None], texts=["the text of a", None])
        assert col.export_jsonl(tmp_path / "c.jsonl") == 2
        lines = [json.loads(line) for line in (tmp_path / "c.jsonl").read_text().splitlines()]
        assert [(r["key"], r["text"], r["metadata"]) for r in lines] == [("a", "the text of a", {"n": 1}),
                                                                         ("b", None, {})]
        assert col.export_parquet(tmp_path / "c.parquet") == 2
        assert pq.read_table(tmp_path / "c.parquet").column("text").to_pylist() == ["the text of a", None]
        back = embspace.load(tmp_path / "c.parquet")  # still a space file
        assert list(back.keys) == ["a", "b"]


def test_an_older_collection_opened_by_a_writer_that_locks_per_write(tmp_path: Path) -> None:
    """A writer with hold_lock=False (the server) adds the text column at its first write, under the lock."""
    x = _vecs(2)
    with Collection.create(tmp_path / "c", dim=4) as col:
        col.add(["old"], x[:1], [{"text": "from metadata"}])
    _drop_text_column(tmp_path / "c")
    import fcntl

    with open(tmp_path / "c" / "writer.lock", "a+") as other:  # another process writes while it opens
        fcntl.flock(other, fcntl.LOCK_EX)
        col = Collection.open(tmp_path / "c", hold_lock=False)
        fcntl.flock(other, fcntl.LOCK_UN)
    with col:
        assert col.get(["old"])[0]["text"] == "from metadata" and not col._has_text
        col.add(["new"], x[1:], texts=["stored"])
        assert [g["text"] for g in col.get(["old", "new"])] == ["from metadata", "stored"]
