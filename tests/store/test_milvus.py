"""The Milvus backend behind the Collection API, against Milvus Lite (skipped when it cannot start)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from embspace import Collection
from embspace.errors import InvalidInputError, UnknownKeyError
from embspace.index import ExactIndex
from embspace.store import MilvusCollection, matches, milvus_filter
from embspace.store.milvus import parse_uri


def _lite_or_skip(tmp_path: Path) -> str:
    pytest.importorskip("pymilvus", reason="pymilvus is not installed (pip install 'embspace[milvus]')")
    pytest.importorskip("milvus_lite", reason="milvus-lite is not installed (pip install 'embspace[milvus]')")
    uri = f"milvus-lite:{tmp_path / 'm.db'}#probe"
    try:
        col = Collection.create(uri, dim=2)
        col.close()
    except Exception as e:
        pytest.skip(f"Milvus Lite cannot start here: {e}")
    return f"milvus-lite:{tmp_path / 'm.db'}"


@pytest.fixture
def lite(tmp_path: Path) -> str:
    return _lite_or_skip(tmp_path)


def _data(n: int = 300, dim: int = 16, seed: int = 0) -> tuple[list[str], np.ndarray, list[dict[str, Any]]]:
    rng = np.random.default_rng(seed)
    keys = [f"doc-{i}" for i in range(n)]
    x = rng.standard_normal((n, dim)).astype(np.float32)
    metas: list[dict[str, Any]] = [{"lang": ["en", "de", "fr"][i % 3], "year": 1990 + i % 40, "score": i / 7,
                                    "tags": {"group": i % 5}} for i in range(n)]
    for i in range(0, n, 4):
        del metas[i]["score"]  # some rows without the key: `exists` and negation matter
    return keys, x, metas


def test_uri_parsing() -> None:
    assert parse_uri("milvus://db.example:19530/docs") == ("http://db.example:19530", "docs")
    assert parse_uri("milvus+https://db.example:443/docs") == ("https://db.example:443", "docs")
    assert parse_uri("milvus://db.example:19530") == ("http://db.example:19530", "embspace")
    file, name = parse_uri("milvus-lite:/tmp/x.db#v")
    assert (file, name) == ("/tmp/x.db", "v")
    with pytest.raises(InvalidInputError, match=r"\.db"):
        parse_uri("milvus-lite:/tmp/x.sqlite")
    with pytest.raises(InvalidInputError, match="HOST:PORT"):
        parse_uri("milvus:///docs")


def test_filters_translate_to_escaped_milvus_expressions() -> None:
    assert milvus_filter(None) == ""
    assert milvus_filter({}) == ""
    assert milvus_filter({"lang": "en"}) == '(exists metadata["lang"] and metadata["lang"] == "en")'
    text = milvus_filter('a.b >= 3 and not lang in ["x", "y"]')
    assert text == ('((exists metadata["a"]["b"] and metadata["a"]["b"] >= 3) and (not (exists metadata["lang"] '
                    'and (metadata["lang"] == "x" or metadata["lang"] == "y"))))')
    # quotes and backslashes stay inside their literal
    assert milvus_filter({'k"ey': 'v"a\\l'}) == r'(exists metadata["k\"ey"] and metadata["k\"ey"] == "v\"a\\l")'
    with pytest.raises(InvalidInputError, match="control character"):
        milvus_filter({"lang": "a\nb"})
    with pytest.raises(InvalidInputError, match="null"):
        milvus_filter("x = null")


def test_crud_search_and_reopen(lite: str) -> None:
    keys, x, metas = _data()
    uri = lite + "#crud"
    with Collection.create(uri, dim=16, index="Flat") as col:
        assert isinstance(col, MilvusCollection)
        assert col.add(keys, x, metas) == len(keys)
        with pytest.raises(InvalidInputError, match="already exists"):
            col.add(keys[:2], x[:2])
        assert col.count() == len(keys) and "doc-3" in col and "nope" not in col
        got = col.get(["doc-5", "doc-1"])
        assert [g["key"] for g in got] == ["doc-5", "doc-1"] and got[0]["metadata"] == metas[5]
        np.testing.assert_allclose(got[0]["vector"], x[5] / np.linalg.norm(x[5]), rtol=1e-5)
        with pytest.raises(UnknownKeyError):
            col.get(["nope"], strict=True)
        got = col.get(["nope", "doc-5"], vectors=False)
        assert [g["key"] for g in got] == ["doc-5"] and got.missing == ["nope"]
    col = Collection.open(uri)
    assert isinstance(col, MilvusCollection) and col.dim == 16 and col.metric == "cosine"
    oracle = ExactIndex(16)
    oracle.add(x, np.arange(len(keys)))
    q = np.random.default_rng(1).standard_normal((5, 16)).astype(np.float32)
    res = col.search(q, k=10)
    want = oracle.search(q, 10)
    for r in range(5):
        assert res.keys[r] == [keys[int(i)] for i in want.ids[r]]
        np.testing.assert_allclose(res.scores[r], want.scores[r], atol=1e-5)
    single = col.search(q[0], k=3)
    assert single.keys == res.keys[0][:3]
    by_key = col.search(key="doc-7", k=4)
    assert "doc-7" not in by_key.keys and len(by_key.keys) == 4
    # upsert replaces; delete by key and by filter
    col.upsert(["doc-0"], x[1:2], [{"lang": "xx"}])
    assert col.get(["doc-0"])[0]["metadata"] == {"lang": "xx"}
    assert col.delete(["doc-0", "missing"]) == 1
    n_de = col.count({"lang": "de"})
    assert col.delete(where={"lang": "de"}) == n_de == 100
    assert col.count() == len(keys) - 1 - 100
    assert col.info()["backend"] == "milvus" and col.info()["count"] == col.count()
    col.close()
    ro = Collection.open(uri, readonly=True)
    with pytest.raises(InvalidInputError, match="read-only"):
        ro.delete(["doc-1"])
    ro.close()


@pytest.mark.parametrize("where", [
    {"lang": "en"},
    'year >= 2010 and lang != "fr"',
    "exists score",
    "not exists score",
    "score < 10",
    "not score < 10",
    'lang in ["de", "fr"] or tags.group = 3',
    'not (lang = "en" or year < 2000)',
])
def test_filtered_search_and_count_agree_with_the_python_semantics(lite: str, where: Any) -> None:
    keys, x, metas = _data()
    with Collection.create(lite + "#f", dim=16, index="Flat") as col:
        col.add(keys, x, metas)
        want = {k for k, m in zip(keys, metas, strict=True) if matches(where, m)}
        assert col.count(where) == len(want)
        assert {k for k, _, _ in col.items(where)} == want
        assert set(col.keys(where)) == want
        res = col.search(x[0], k=len(keys), where=where)
        assert set(res.keys) == want


def test_injection_attempts_change_nothing(lite: str) -> None:
    keys, x, _ = _data(50)
    evil = ['"; drop collection x; --', "' or 1=1 --", 'a" or key != "', "DELETE", "\\", 'x"]) or (["']
    metas = [{evil[i % len(evil)]: evil[(i + 1) % len(evil)], "lang": "en"} for i in range(50)]
    with Collection.create(lite + "#inj", dim=16, index="Flat") as col:
        col.add(keys, x, metas)
        for k in evil:
            for v in evil:
                want = {kk for kk, m in zip(keys, metas, strict=True) if m.get(k) == v}
                assert col.count({k: v}) == len(want)
                assert col.delete(where={k: v + "-not-there"}) == 0
        assert col.count() == 50


def test_bad_index_and_tune_are_clear(lite: str) -> None:
    with pytest.raises(InvalidInputError, match="no index"):
        Collection.create(lite + "#bad", dim=4, index="LSH")
    with Collection.create(lite + "#t", dim=4) as col:
        with pytest.raises(InvalidInputError, match="server"):
            col.tune()
        with pytest.raises(InvalidInputError, match="already exists"):
            Collection.create(lite + "#t", dim=4)


def test_export_and_space_roundtrip(lite: str, tmp_path: Path) -> None:
    keys, x, metas = _data(40)
    with Collection.create(lite + "#e", dim=16, metric="dot", index="Flat") as col:
        col.add(keys, x, metas)
        space = col.to_space()
        assert sorted(space.keys) == sorted(keys)
        n = col.export_jsonl(tmp_path / "out.jsonl")
        lines = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
        assert n == 40 and {d["key"] for d in lines} == set(keys)
        res = col.search(x[3], k=1)
        assert res.keys == ["doc-3"] or float(x[3] @ x[3]) <= float(res.scores[0]) + 1e-4


def test_search_includes_metadata_text_and_vectors(lite: str, tmp_path: Path) -> None:
    """The same extras as the embedded backend, returned by the search request itself."""
    keys, x, metas = _data(60)
    for i, m in enumerate(metas):
        if i % 2:
            m["text"] = f"passage {i}"
    q = np.random.default_rng(2).standard_normal((2, 16)).astype(np.float32)
    with Collection.create(lite + "#inc", dim=16, index="Flat") as col, \
            Collection.create(tmp_path / "embedded", dim=16, index="exact") as ref:
        col.add(keys, x, metas)
        ref.add(keys, x, metas)
        want = ref.search(q, k=5, include=("metadata", "text", "vector"))
        got = col.search(q, k=5, include=("metadata", "text", "vector"))
        assert got.keys == want.keys and got.metadata == want.metadata and got.texts == want.texts
        assert got.vectors is not None and want.vectors is not None
        np.testing.assert_allclose(got.vectors, want.vectors, atol=1e-6)  # Milvus returns the stored float32s
        one = col.search(key="doc-1", k=3, include="text", where={"lang": "de"})
        assert "doc-1" not in one.keys and one.metadata is None and one.vectors is None
        assert one.texts == [metas[keys.index(k)].get("text") for k in one.keys]
        assert col.search(q[0], k=3).metadata is None


def test_texts_integer_keys_and_get_of_missing_keys(lite: str) -> None:
    """Issue 22: the Milvus backend keeps each item's text like the embedded one."""
    keys, x, metas = _data(20)
    with Collection.create(lite + "#texts", dim=16, index="Flat") as col:
        texts = [f"text of {k}" if i % 2 else None for i, k in enumerate(keys)]
        assert col.add(keys, x, metas, texts=texts) == 20
        got = col.get(["doc-1", "nope", "doc-2"], vectors=False)
        assert got.missing == ["nope"]
        assert [(g["key"], g["text"]) for g in got] == [("doc-1", "text of doc-1"), ("doc-2", None)]
        res = col.search(x[1], k=1, include="text")
        assert res.keys == ["doc-1"] and res.texts == ["text of doc-1"] and res.metadata is None
        res = col.search(x[3], k=1, include=("text", "metadata"))
        assert res.texts == ["text of doc-3"] and res.metadata == [metas[3]]
        col.upsert(["doc-1"], x[1:2], texts=["replaced"])
        assert col.get(["doc-1"])[0]["text"] == "replaced"
        assert col.add([7, 8], x[:2]) == 2 and "7" in col and [g["key"] for g in col.get([8])] == ["8"]
        with pytest.raises(InvalidInputError, match="65,535"):
            col.add(["long"], x[:1], texts=["é" * 40_000])


def test_a_filter_on_a_field_no_item_has_warns(lite: str) -> None:
    import warnings

    from embspace.errors import UnknownFieldWarning

    keys, x, metas = _data(20)
    with Collection.create(lite + "#fields", dim=16, index="Flat") as col:
        col.add(keys, x, metas)
        want = "no item has the field 'lnag'; fields are: lang, score, tags, year"
        with pytest.warns(UnknownFieldWarning, match=want):
            assert col.count({"lnag": "en"}) == 0
        with pytest.warns(UnknownFieldWarning, match="'lnag'"):
            col.search(x[0], k=2, where={"lnag": "en"})
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert col.count({"lang": "en"}) == 7


def test_a_collection_created_before_the_text_field(lite: str, tmp_path: Path) -> None:
    """A Milvus collection embspace created before texts were kept (no text field): read-only, texts come
    from metadata["text"]; opened for writing, the field is added where the server can, else texts are
    refused with what to do (never silently dropped)."""
    import pymilvus as pm

    from embspace.store.milvus import INFO_PROPERTY

    client = pm.MilvusClient(uri=str(tmp_path / "m.db"))
    schema = client.create_schema(auto_id=False, enable_dynamic_field=False)
    schema.add_field("key", pm.DataType.VARCHAR, is_primary=True, max_length=65_535)
    schema.add_field("vector", pm.DataType.FLOAT_VECTOR, dim=2)
    schema.add_field("metadata", pm.DataType.JSON)
    params = client.prepare_index_params()
    params.add_index(field_name="vector", index_type="FLAT", metric_type="COSINE")
    client.create_collection("old", schema=schema, index_params=params, consistency_level="Strong")
    info = {"format": 1, "dim": 2, "metric": "cosine", "index": "Flat", "encoder": None}
    client.alter_collection_properties("old", properties={INFO_PROPERTY: json.dumps(info)})
    client.insert("old", [{"key": "a", "vector": [1.0, 0.0], "metadata": {"text": "kept in metadata"}}])
    client.close()
    with Collection.open(lite + "#old", readonly=True) as col:
        assert col.get(["a"], vectors=False)[0]["text"] == "kept in metadata"
        assert col.search(np.array([1.0, 0.0], np.float32), k=1, include="text").texts == ["kept in metadata"]
    with Collection.open(lite + "#old") as col:
        assert isinstance(col, MilvusCollection)
        if col._has_text:
            col.add(["b"], np.array([[0.0, 1.0]], np.float32), texts=["stored"])
            assert col.get(["b", "a"], vectors=False)[0]["text"] == "stored"
        else:
            with pytest.raises(InvalidInputError, match="created before"):
                col.add(["b"], np.array([[0.0, 1.0]], np.float32), texts=["stored"])
            col.add(["b"], np.array([[0.0, 1.0]], np.float32))  # without texts: as before
        assert col.get(["a"], vectors=False)[0]["text"] == "kept in metadata"
