"""The HTTP API through FastAPI's TestClient: every endpoint, its errors, and its safety rules."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from serve_testing import DOCS, LOCAL, LOOPBACK, RouteRecorder, build_world, tiny_encoder

from embspace.serve import Resources, create_app
from embspace.serve.routers import ROUTERS

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Resources, RouteRecorder, TestClient]]:
    root = tmp_path_factory.mktemp("serve")
    resources = build_world(root, tiny_encoder(root / "enc"))
    recorder = RouteRecorder(create_app(resources))
    with TestClient(recorder, client=LOOPBACK, base_url=LOCAL) as client:
        yield resources, recorder, client
    resources.close()


@pytest.fixture(scope="module")
def client(world: tuple[Resources, RouteRecorder, TestClient]) -> TestClient:
    return world[2]


def ok(r: Any, status: int = 200) -> Any:
    assert r.status_code == status, r.text
    return r.json() if r.content else None


def err(r: Any, status: int, code: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error"} and body["error"]["code"] == code, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    return body["error"]  # type: ignore[no-any-return]


# ------------------------------------------------------------------------------------------------ server


def test_health_lists_what_is_served(client: TestClient) -> None:
    h = ok(client.get("/health"))
    assert h["status"] == "ok" and h["collections"] == ["docs", "library", "notes", "vecs"]
    assert h["spaces"] == ["words"] and h["recommenders"] == ["movies"] and len(h["encoders"]) >= 1


def test_encode_and_classify(client: TestClient) -> None:
    enc = ok(client.post("/encode", json={"texts": ["the cat", "money in the bank"]}))
    v = np.asarray(enc["vectors"])
    assert v.shape == (2, enc["dim"]) and np.allclose(np.linalg.norm(v, axis=1), 1, atol=1e-5)
    err(client.post("/encode", json={"texts": ["x"], "encoder": "/etc/passwd"}), 422, "invalid_input")
    res = ok(client.post("/classify", json={"texts": ["the cat sat on the mat", "money in the bank account"],
                                            "labels": ["cat mat", "bank money"], "template": "{}"}))["results"]
    assert [r["label"] for r in res] == ["cat mat", "bank money"]
    assert all(abs(sum(r["scores"].values()) - 1) < 1e-5 for r in res)
    err(client.post("/classify", json={"texts": ["x"], "labels": ["a", "a"]}), 422, "invalid_input")
    err(client.post("/classify", json={"texts": ["x"], "labels": ["a"], "template": "no slot"}), 422,
        "invalid_input")


def openai_err(r: Any, status: int, code: str, param: str | None = None) -> dict[str, Any]:
    """An error of the OpenAI-compatible routes: OpenAI's shape, {"error": {"message", "type", "param", "code"}}."""
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "param", "code"}, body
    assert body["error"]["code"] == code and body["error"]["param"] == param, body
    assert body["error"]["type"] == ("server_error" if status >= 500 else "invalid_request_error")
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    return body["error"]  # type: ignore[no-any-return]


def test_openai_embeddings_and_models(client: TestClient) -> None:
    """/v1/embeddings gives /encode's vectors (the same encoder instance) in OpenAI's shapes; the real OpenAI
    clients against the default model are in test_openai.py."""
    import base64

    models = ok(client.get("/v1/models"))
    assert models["object"] == "list" and [m["object"] for m in models["data"]] == ["model"]
    name = models["data"][0]["id"]  # the tiny encoder's directory name
    assert ok(client.get(f"/v1/models/{name}"))["id"] == name
    texts = ["the cat", "money in the bank"]
    want = np.asarray(ok(client.post("/encode", json={"texts": texts}))["vectors"], np.float32)
    got = ok(client.post("/v1/embeddings", json={"model": name, "input": texts}))
    assert got["object"] == "list" and got["model"] == name and [d["index"] for d in got["data"]] == [0, 1]
    assert got["usage"]["prompt_tokens"] == got["usage"]["total_tokens"] > 0
    vecs = np.asarray([d["embedding"] for d in got["data"]], np.float32)
    # the same model on the same texts through two routes: equal up to float rounding (batching may differ)
    assert np.allclose(vecs, want, atol=1e-5)
    one = ok(client.post("/v1/embeddings", json={"model": name, "input": texts[0], "encoding_format": "base64"}))
    decoded = np.frombuffer(base64.b64decode(one["data"][0]["embedding"]), "<f4")
    assert np.allclose(decoded, want[0], atol=1e-5)
    r = client.post("/v1/embeddings", json={"model": name, "input": texts, "dimensions": 4})
    short = np.asarray([d["embedding"] for d in ok(r)["data"]])
    assert short.shape == (2, 4) and np.allclose(np.linalg.norm(short, axis=1), 1, atol=1e-5)
    assert "not trained for truncation" in r.headers["x-embspace-warning"]
    assert "x-embspace-warning" not in client.post("/v1/embeddings", json={"model": name, "input": "x"}).headers
    # what other clients send: a null encoding_format, the user field, fields of newer API versions (ignored)
    lenient = ok(client.post("/v1/embeddings", json={"model": name, "input": texts[:1], "encoding_format": None,
                                                     "user": "u1", "some_new_field": 1}))
    assert np.allclose(lenient["data"][0]["embedding"], want[0], atol=1e-5)
    msg = openai_err(client.post("/v1/embeddings", json={"model": name + "x", "input": "a"}), 404, "model_not_found",
                     "model")["message"]
    assert f"did you mean {name!r}?" in msg and "\n" not in msg
    openai_err(client.get("/v1/models/nothing-like-it"), 404, "model_not_found", "model")
    openai_err(client.get("/v1/models/someone/nothing-like-it"), 404, "model_not_found", "model")
    for tokens in ([1, 2, 3], [[1, 2], [3]]):
        msg = openai_err(client.post("/v1/embeddings", json={"model": name, "input": tokens}), 400,
                         "tokens_not_supported", "input")["message"]
        assert "send the texts" in msg and "check_embedding_ctx_length=False" in msg
    openai_err(client.post("/v1/embeddings", json={"model": name, "input": "a", "dimensions": 10_000}), 400,
               "invalid_dimensions", "dimensions")
    openai_err(client.post("/v1/embeddings", json={"model": name}), 422, "validation_error", "input")
    openai_err(client.post("/v1/embeddings", json={"model": name, "input": "a", "encoding_format": "int8"}), 422,
               "validation_error", "encoding_format")
    openai_err(client.get("/v1/no-such-route"), 404, "not_found")
    err(client.get("/no-such-route"), 404, "not_found")  # the rest of the API keeps its own shape


# ------------------------------------------------------------------------------------------- collections


def test_collection_lifecycle(world: tuple[Resources, RouteRecorder, TestClient]) -> None:
    resources, _, client = world
    info = ok(client.post("/collections", json={"name": "fresh", "dim": 3, "metric": "l2", "index": "exact"}), 201)
    assert info == {"name": "fresh", "count": 0, "dim": 3, "metric": "l2", "index": "exact", "encoder": None,
                    "writable": True, "rescore": None}
    assert (resources.data_dir / "fresh" / "collection.sqlite").is_file()
    err(client.post("/collections", json={"name": "fresh", "dim": 3}), 409, "conflict")
    assert "fresh" in [c["name"] for c in ok(client.get("/collections"))]

    items = [{"key": "a", "vector": [0, 0, 0], "metadata": {"t": "x"}}, {"key": "b", "vector": [1, 0, 0]},
             {"key": "c", "vector": [0, 2, 0], "metadata": {"t": "y"}}]
    assert ok(client.post("/collections/fresh/add", json={"items": items})) == {"count": 3}
    err(client.post("/collections/fresh/add", json={"items": items[:1]}), 422, "invalid_input")  # key exists
    assert ok(client.post("/collections/fresh/upsert",
                          json={"items": [{"key": "a", "vector": [0, 0, 5], "metadata": {"t": "z"}}]})) == {"count": 1}
    got = ok(client.post("/collections/fresh/get", json={"keys": ["a", "c"], "vectors": True}))
    assert got[0] == {"key": "a", "metadata": {"t": "z"}, "text": None, "vector": [0.0, 0.0, 5.0]} and \
        got[1]["key"] == "c"
    assert ok(client.post("/collections/fresh/get", json={"keys": ["b"]}))[0]["vector"] is None
    err(client.post("/collections/fresh/get", json={"keys": ["nope"]}), 404, "unknown_key")
    assert ok(client.get("/collections/fresh/count")) == {"count": 3}
    assert ok(client.get("/collections/fresh/count", params={"where": 't = "y"'})) == {"count": 1}
    err(client.get("/collections/fresh/count", params={"where": "t = = 1"}), 422, "invalid_input")
    hits = ok(client.post("/collections/fresh/search", json={"vector": [1, 0, 0], "k": 2}))["hits"]
    assert hits[0] == {"key": "b", "score": 0.0, "metadata": {}, "text": None}  # l2: negated distance
    # a vector with its text: the vector is stored, the text kept, and returned by get and (asked) by search
    assert ok(client.post("/collections/fresh/upsert", json={"items": [
        {"key": "d", "vector": [0, 0, 9], "text": "the document of d"}]})) == {"count": 1}
    assert ok(client.post("/collections/fresh/get", json={"keys": ["d"]}))[0]["text"] == "the document of d"
    hits = ok(client.post("/collections/fresh/search", json={"vector": [0, 0, 9], "k": 1, "include_text": True,
                                                             "metadata": False}))["hits"]
    assert hits == [{"key": "d", "score": 0.0, "metadata": None, "text": "the document of d"}]
    assert ok(client.post("/collections/fresh/search", json={"vector": [0, 0, 9], "k": 1}))["hits"][0]["text"] is None
    page = ok(client.post("/collections/fresh/items", json={"limit": 3}))  # paged reads (test_robust: snapshots)
    assert [it["key"] for it in page["items"]] == ["b", "c", "a"] and page["next"]  # insertion order (a replaced)
    last = ok(client.post("/collections/fresh/items", json={"limit": 3, "cursor": page["next"], "vectors": True}))
    assert last == {"items": [{"key": "d", "metadata": {}, "text": "the document of d", "vector": [0.0, 0.0, 9.0]}],
                    "next": None}
    assert ok(client.post("/collections/fresh/delete", json={"keys": ["d"]})) == {"count": 1}
    assert ok(client.post("/collections/fresh/delete", json={"keys": ["b"]})) == {"count": 1}
    assert ok(client.post("/collections/fresh/delete", json={"where": {"t": "y"}})) == {"count": 1}
    err(client.post("/collections/fresh/delete", json={}), 422, "invalid_input")
    assert ok(client.get("/collections/fresh"))["count"] == 1
    assert ok(client.delete("/collections/fresh"), 204) is None
    assert not (resources.data_dir / "fresh").exists()
    err(client.get("/collections/fresh"), 404, "not_found")


@pytest.mark.parametrize("index", ["BinaryFlat", "HNSW32,SQ8"])
def test_quantised_collection_with_rescoring(world: tuple[Resources, RouteRecorder, TestClient], index: str) -> None:
    """Issue 24: POST /collections takes a quantised index and ``rescore`` (kept with the collection, reported by
    its info); a search's ``rescore`` overrides it, and rescored hits carry the exact float scores."""
    resources, _, client = world
    name = "q" + "".join(c for c in index.lower() if c.isalnum())
    info = ok(client.post("/collections", json={"name": name, "dim": 32, "index": index, "rescore": 4}), 201)
    assert info["index"] == index and info["rescore"] == 4
    rng = np.random.default_rng(7)
    vecs = rng.standard_normal((300, 32)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    items = [{"key": f"v{i}", "vector": v.tolist()} for i, v in enumerate(vecs)]
    assert ok(client.post(f"/collections/{name}/add", json={"items": items})) == {"count": 300}
    assert ok(client.get(f"/collections/{name}"))["rescore"] == 4
    q = vecs[:20] + 0.05 * rng.standard_normal((20, 32)).astype(np.float32)
    recall, inexact = {}, {}
    for depth in (None, 0, 10):
        found, off = 0, 0
        for v in q:
            body: dict[str, Any] = {"vector": v.tolist(), "k": 10, "metadata": False}
            if depth is not None:
                body["rescore"] = depth
            hits = ok(client.post(f"/collections/{name}/search", json=body))["hits"]
            exact = vecs @ (v / np.linalg.norm(v))
            want = {f"v{j}" for j in np.argsort(-exact)[:10]}
            found += len(want & {h["key"] for h in hits})
            # rescored hits carry the exact cosine (float32 sums in another order: a tolerance)
            off += sum(abs(h["score"] - float(exact[int(h["key"][1:])])) > 1e-4 for h in hits)
        recall[depth], inexact[depth] = found / 200, off
    assert inexact[None] == inexact[10] == 0, inexact  # the collection's rescore=4, then the search's 10
    assert recall[10] >= recall[None] >= recall[0], recall  # deeper rescoring never finds fewer
    if index.startswith("Binary"):  # rescore=0 turns it off: Hamming scores, and fewer true neighbours
        assert inexact[0] > 0 and recall[0] < recall[10], (recall, inexact)
    for bad in (-1, 101, True, 2.0, "4"):  # strict whole numbers in 0..100
        err(client.post(f"/collections/{name}/search", json={"vector": q[0].tolist(), "rescore": bad}), 422,
            "validation_error")
        err(client.post("/collections", json={"name": name + "x", "dim": 32, "index": index, "rescore": bad}),
            422, "validation_error")
    too_many = err(client.post(f"/collections/{name}/search", json={"vector": q[0].tolist(), "k": 1000,
                                                                      "rescore": 100}), 422, "invalid_input")
    assert "100,000 candidates" in too_many["message"]
    assert ok(client.delete(f"/collections/{name}"), 204) is None
    assert not (resources.data_dir / (name + "x")).exists()


def test_collection_with_encoder_searches_by_text(client: TestClient) -> None:
    info = ok(client.get("/collections/docs"))
    assert info["count"] == len(DOCS) and info["encoder"]
    hits = ok(client.post("/collections/docs/search", json={"text": "the cat sat on the mat", "k": 2}))["hits"]
    assert hits[0]["key"] == "d1" and hits[0]["metadata"] == {"lang": "en", "year": 2020}
    with_text = ok(client.post("/collections/docs/search", json={"text": "the cat sat on the mat", "k": 2,
                                                                 "include_text": True}))["hits"]
    assert with_text[0]["text"] == "the cat sat on the mat"  # texts added to encode are kept
    filtered = ok(client.post("/collections/docs/search",
                              json={"text": "the cat sat on the mat", "k": 4, "where": 'lang = "fr"'}))["hits"]
    assert [h["key"] for h in filtered] == ["d3"]
    by_key = ok(client.post("/collections/docs/search", json={"key": "d1", "k": 3, "metadata": False}))["hits"]
    assert "d1" not in [h["key"] for h in by_key] and all(h["metadata"] is None for h in by_key)
    assert ok(client.post("/collections/docs/add", json={"items": [{"key": "d5", "text": "a cat on a mat"}]})) == {
        "count": 1}
    assert ok(client.post("/collections/docs/search", json={"key": "d5", "k": 1}))["hits"][0]["key"] in {"d1", "d2"}
    assert ok(client.post("/collections/docs/delete", json={"keys": ["d5"]})) == {"count": 1}


def test_collection_errors(client: TestClient) -> None:
    err(client.post("/collections/vecs/search", json={"text": "cat"}), 422, "invalid_input")  # no encoder
    err(client.post("/collections/vecs/search", json={"vector": [1, 2]}), 422, "dimension_mismatch")
    err(client.post("/collections/vecs/search", json={"vector": [1] * 8, "key": "v1"}), 422, "invalid_input")
    err(client.post("/collections/vecs/search", json={}), 422, "invalid_input")
    err(client.post("/collections/vecs/search", json={"key": "nope"}), 404, "unknown_key")
    err(client.post("/collections/vecs/search", json={"vector": [1] * 8, "k": 0}), 422, "validation_error")
    err(client.post("/collections/vecs/search", json={"vector": [1] * 8, "k": 1001}), 422, "validation_error")
    err(client.post("/collections/vecs/search", json={"vector": [1e39] * 8}), 422, "invalid_input")
    err(client.post("/collections/vecs/search", json={"vector": [1] * 8, "extra": 1}), 422, "validation_error")
    mixed = [{"key": "x", "vector": [1] * 8}, {"key": "y", "text": "t"}]  # a vector for one, a text for another
    err(client.post("/collections/vecs/add", json={"items": mixed}), 422, "invalid_input")
    err(client.post("/collections/vecs/add", json={"items": [{"key": "x", "metadata": {"a": 1}}]}), 422,
        "invalid_input")  # neither a text nor a vector
    err(client.post("/collections/vecs/add", json={"items": [{"key": "x", "vector": [0] * 8}]}), 422,
        "invalid_input")  # a zero vector in a cosine collection
    err(client.post("/collections/vecs/add", json={"items": [{"key": "x", "vector": [1] * 8},
                                                            {"key": "y", "vector": [1] * 7}]}), 422, "invalid_input")
    err(client.post("/collections/vecs/add", json={"items": []}), 422, "validation_error")
    err(client.delete("/collections/notes"), 403, "read_only")  # named on the command line: not the API's to drop
    err(client.post("/collections", json={"name": "x", "dim": 2, "index": "HNSW32; rm -rf"}), 422, "validation_error")
    err(client.post("/collections", json={"name": "x", "dim": 2, "index": "NoSuchIndex"}), 422, "invalid_input")
    err(client.post("/collections", json={"name": "x", "encoder": "minilm-that-is-not-here"}), 422, "invalid_input")
    err(client.post("/collections", json={"name": "x"}), 422, "invalid_input")  # neither dim nor encoder
    assert "x" not in ok(client.get("/health"))["collections"]


def test_collection_search_vector_dedup_summary(client: TestClient) -> None:
    rng = np.random.default_rng(1)
    first = rng.normal(size=(60, 8))[0]
    hits = ok(client.post("/collections/vecs/search", json={"vector": first.tolist(), "k": 3,
                                                            "where": {"group": 0}}))["hits"]
    assert hits[0]["key"] == "v0" and all(h["metadata"]["group"] == 0 for h in hits)
    assert ok(client.post("/collections/vecs/dedup", json={"threshold": 0.999}))["groups"] == []
    groups = ok(client.post("/collections/vecs/dedup", json={"threshold": -1.0, "where": {"group": 1}}))["groups"]
    assert len(groups) == 1 and len(groups[0]) == 20
    s = ok(client.get("/collections/vecs/summary"))
    assert s["size"] == 60 and s["dim"] == 8 and "explanation" in s["hubness"]
    err(client.get("/collections/docs/summary"), 422, "invalid_input")  # too few vectors


# ------------------------------------------------------------------------------------------------- spaces


def test_spaces(client: TestClient) -> None:
    assert ok(client.get("/spaces"))[0]["name"] == "words"
    info = ok(client.get("/spaces/words"))
    assert info["size"] == 46 and info["dim"] == 8 and info["metric"] == "cosine"
    hits = ok(client.post("/spaces/words/neighbors", json={"key": "w0", "k": 1}))["hits"]
    assert hits[0]["key"] == "w0_copy" and hits[0]["score"] == pytest.approx(1.0, abs=1e-5)
    hits = ok(client.post("/spaces/words/neighbors", json={"vector": [1, 1, 0, 0, 0, 0, 0, 0], "k": 1}))["hits"]
    assert hits[0]["key"] == "king"
    assert ok(client.post("/spaces/words/analogy", json={"a": "man", "b": "king", "c": "woman"}))["hits"][0][
        "key"] == "queen"
    sims = ok(client.post("/spaces/words/similarity", json={"pairs": [["king", "queen"], ["king", "apple"]]}))
    assert sims["scores"] == pytest.approx([0.5, 0.0], abs=1e-6)
    assert ok(client.post("/spaces/words/dedup", json={"threshold": 0.999}))["groups"] == [["w0", "w0_copy"]]
    s = ok(client.get("/spaces/words/summary"))
    assert s["size"] == 46 and s["intrinsic_dimension"]["explanation"]
    e = err(client.post("/spaces/words/neighbors", json={"key": "kinq"}), 404, "unknown_key")
    assert "king" in e["message"]  # near matches suggested
    err(client.post("/spaces/words/neighbors", json={"vector": [1, 2, 3]}), 422, "dimension_mismatch")
    err(client.post("/spaces/words/neighbors", json={"vector": [0] * 8}), 422, "zero_vector")
    err(client.post("/spaces/words/analogy", json={"a": "man", "b": "king", "c": "nope"}), 404, "unknown_key")
    err(client.post("/spaces/words/dedup", json={"where": {"a": 1}}), 422, "invalid_input")
    err(client.get("/spaces/nope"), 404, "not_found")


def test_space_info_reports_whether_the_space_is_normalized(tmp_path: Path) -> None:
    """``normalized`` is the space's ``is_normalized`` (it once read the ``normalized`` method: always true)."""
    import embspace

    data = tmp_path / "data"
    raw = embspace.EmbeddingSpace.from_dict({"a": [3.0, 0.0], "b": [1.0, 1.0]})
    assert not raw.is_normalized
    raw.save(data / "raw")
    raw.normalize().save(data / "unit")
    resources = Resources(data)
    try:
        client = TestClient(create_app(resources), client=LOOPBACK, base_url=LOCAL)
        assert ok(client.get("/spaces/raw"))["normalized"] is False
        assert ok(client.get("/spaces/unit"))["normalized"] is True
        assert {s["name"]: s["normalized"] for s in ok(client.get("/spaces"))} == {"raw": False, "unit": True}
    finally:
        resources.close()


# ------------------------------------------------------------------------------------------ recommenders


def test_recommenders(client: TestClient) -> None:
    info = ok(client.get("/recommenders"))
    assert info == [{"name": "movies", "users": 40, "items": 20, "dim": 8, "objective": "bpr"}]
    hits = ok(client.post("/recommenders/movies/recommend", json={"user": "u0", "k": 5}))["hits"]
    assert len(hits) == 5 and sum(int(h["key"][1:]) < 10 for h in hits) >= 4  # u0 likes the first kind
    hits = ok(client.post("/recommenders/movies/recommend", json={"items": ["m10", "m11", "m12"], "k": 5}))["hits"]
    assert sum(int(h["key"][1:]) >= 10 for h in hits) >= 4
    err(client.post("/recommenders/movies/recommend", json={"user": "nobody"}), 404, "unknown_key")
    err(client.post("/recommenders/movies/recommend", json={"user": "u0", "items": ["m1"]}), 422, "invalid_input")
    err(client.post("/recommenders/films/recommend", json={"user": "u0"}), 404, "not_found")


# ---------------------------------------------------------------------------------------------- retrieve


def test_retrieve_passages_with_citations(client: TestClient) -> None:
    for mode in ("hybrid", "vector", "bm25"):
        got = ok(client.post("/collections/library/retrieve", json={"query": "money in the bank account", "k": 2,
                                                                     "mode": mode}))
        assert got["mode"] == mode and got["query"] == "money in the bank account"
        top = got["passages"][0]
        assert top["source"] == "finance.txt" and "money" in top["text"], (mode, got)
        assert 0 <= top["start"] < top["end"] and top["chunk"] == 0
    got = ok(client.post("/collections/library/retrieve", json={"query": "river bank", "k": 5,
                                                                 "where": {"source": "page.html"}}))
    assert {p["source"] for p in got["passages"]} == {"page.html"} and got["passages"][0]["title"] == "River"
    assert "money()" not in got["passages"][0]["text"]  # scripts are not text
    err(client.post("/collections/library/retrieve", json={"query": ""}), 422, "validation_error")
    err(client.post("/collections/library/retrieve", json={"query": "x", "mode": "magic"}), 422, "validation_error")
    err(client.post("/collections/nope/retrieve", json={"query": "x"}), 404, "not_found")


def test_vector_and_key_searches_take_the_lean_path_with_the_same_answers_and_errors(
        world: tuple[Resources, RouteRecorder, TestClient]) -> None:
    from embspace.apps.schemas import Hits

    resources, _, client = world
    col = resources.get("collection", "vecs").obj
    q = np.random.default_rng(5).normal(size=8).astype(np.float32)
    got = ok(client.post("/collections/vecs/search", json={"vector": q.tolist(), "k": 4}))
    res = col.search(q, 4)
    metas = {g["key"]: g["metadata"] for g in col.get(list(res.keys), vectors=False)}
    assert got == Hits.of(res, metas).model_dump()
    by_key = ok(client.post("/collections/vecs/search", json={"key": "v3", "k": 2, "metadata": False}))
    assert by_key == Hits.of(col.search(key="v3", k=2)).model_dump()
    # errors fall through to the framework's route: same codes as ever
    err(client.post("/collections/vecs/search", json={"vector": [1.0, 2.0], "k": 2}), 422, "dimension_mismatch")
    err(client.post("/collections/vecs/search", json={"key": "nope"}), 404, "unknown_key")
    err(client.post("/collections/vecs/search", json={"vector": [1.0] * 8, "key": "v1"}), 422, "invalid_input")
    err(client.post("/collections/nope/search", json={"key": "v1"}), 404, "not_found")
    err(client.post("/collections/vecs/search", content=b"{", headers={"content-type": "application/json"}), 422,
        "validation_error")


def test_the_search_shortcut_runs_the_search_routes_own_handler(
        world: tuple[Resources, RouteRecorder, TestClient]) -> None:
    """The shortcut before routing calls the very handler that POST /collections/{name}/search calls; a
    request it refuses goes through the framework's route (the same handler), which formats the error."""
    from embspace.serve._guard import SearchShortcut
    from embspace.serve.routers import collections

    resources = world[0]
    app = create_app(resources)
    shortcut = [m for m in app.user_middleware if m.cls is SearchShortcut]
    handler = shortcut[0].kwargs["search"] if len(shortcut) == 1 else None
    assert handler.func is collections.search_json and handler.args == (resources,)  # the route's own handler
    recorder = RouteRecorder(app)
    client = TestClient(recorder, client=LOOPBACK, base_url=LOCAL)
    route = ("POST", "/collections/{name}/search")
    for body in ({"vector": [1.0] * 8, "k": 2}, {"key": "v3", "k": 2}, {"text": "the cat", "k": 1}):
        name = "docs" if "text" in body else "vecs"
        assert len(ok(client.post(f"/collections/{name}/search", json=body))["hits"]) >= 1
    assert route not in recorder.seen  # answered before routing
    err(client.post("/collections/vecs/search", json={"key": "nope"}), 404, "unknown_key")
    assert route in recorder.seen  # the error took the framework's route


# ------------------------------------------------------------------------------------------------ maps


def test_maps_of_spaces_and_collections(client: TestClient) -> None:
    listed = {(m["source"], m["name"]): m for m in ok(client.get("/maps"))}
    assert ("space", "words") in listed and ("collection", "docs") in listed
    assert listed[("space", "words")]["size"] == 46 and not listed[("space", "words")]["saved"]
    info = ok(client.get("/maps/space/words"))
    assert info["size"] == info["total"] == 46 and info["method"] == "pca" and not info["saved"]
    assert info["encoder"] is None and len(info["bounds"]) == 2
    assert [f["name"] for f in info["fields"]] == ["cluster"]
    r = client.get("/maps/space/words/coords")
    assert r.status_code == 200 and r.headers["content-type"] == "application/octet-stream"
    coords = np.frombuffer(r.content, "<f4").reshape(-1, int(r.headers["X-Components"]))
    assert coords.shape == (46, 2) and np.isfinite(coords).all()
    r = client.get("/maps/space/words/fields/cluster")
    assert r.headers["X-Field-Type"] == "categorical" and len(np.frombuffer(r.content, "<i4")) == 46
    cats = next(f for f in ok(client.get("/maps/space/words"))["fields"] if f["name"] == "cluster")["categories"]
    assert cats and all(c.startswith("cluster ") for c in cats)
    keys = ok(client.post("/maps/space/words/keys", json={"rows": [0, 1]}))
    assert len(keys) == 2
    pts = ok(client.post("/maps/space/words/points", json={"rows": [1]}))
    assert pts == [{"row": 1, "key": keys[1], "text": None, "metadata": None}]
    near = ok(client.post("/maps/space/words/query", json={"key": "king", "k": 3}))
    assert near["query"] == "neighbors" and len(near["hits"]) == 3 and all(h["row"] >= 0 for h in near["hits"])
    by_row = ok(client.post("/maps/space/words/query", json={"row": near["row"], "k": 3}))
    assert by_row["hits"] == near["hits"]
    ana = ok(client.post("/maps/space/words/query", json={"a": "man", "b": "king", "c": "woman", "k": 1}))
    assert ana["hits"][0]["key"] == "queen"
    found = ok(client.post("/maps/space/words/query", json={"text": "queen", "k": 3}))
    assert found["query"] == "key" and found["hits"][0]["key"] == "queen"
    err(client.post("/maps/space/words/query", json={"text": "qeen"}), 404, "unknown_key")  # no encoder
    err(client.post("/maps/space/words/query", json={}), 422, "invalid_input")
    err(client.post("/maps/space/words/query", json={"key": "king", "text": "x"}), 422, "invalid_input")
    err(client.post("/maps/space/words/keys", json={"rows": [46]}), 422, "invalid_input")
    err(client.get("/maps/space/words/fields/nope"), 404, "unknown_key")
    err(client.get("/maps/space/nope"), 404, "not_found")
    err(client.get("/maps/spaces/words"), 422, "validation_error")


def test_map_of_a_collection_has_metadata_fields_text_search_and_texts(client: TestClient) -> None:
    info = ok(client.get("/maps/collection/docs"))
    assert info["size"] == 4 and info["encoder"] is not None
    assert {f["name"] for f in info["fields"]} == {"cluster", "lang", "year"}
    r = client.get("/maps/collection/docs/fields/lang")
    codes = np.frombuffer(r.content, "<i4")
    cats = next(f for f in ok(client.get("/maps/collection/docs"))["fields"] if f["name"] == "lang")["categories"]
    keys = ok(client.post("/maps/collection/docs/keys", json={"rows": [0, 1, 2, 3]}))
    by_key = {d[0]: d[2]["lang"] for d in DOCS}
    assert [cats[c] for c in codes] == [by_key[k] for k in keys]
    year = np.frombuffer(client.get("/maps/collection/docs/fields/year").content, "<i4")
    assert len(year) == 4  # integers are categories
    hits = ok(client.post("/maps/collection/docs/query", json={"text": "a cat on a mat", "k": 2}))
    assert hits["query"] == "text" and len(hits["hits"]) == 2
    pts = ok(client.post("/maps/collection/library/points", json={"rows": [0]}))
    assert pts[0]["text"] and "source" in pts[0]["metadata"]  # ingested passages: text and citation fields
    assert "text" not in pts[0]["metadata"]  # the text comes from the text column, once
    doc_pts = ok(client.post("/maps/collection/docs/points", json={"rows": [0, 1, 2, 3]}))
    texts = {d[0]: d[1] for d in DOCS}
    assert [p["text"] for p in doc_pts] == [texts[p["key"]] for p in doc_pts]  # texts added to encode are kept
    ana = ok(client.post("/maps/collection/vecs/query", json={"a": "v0", "b": "v1", "c": "v2", "k": 3}))
    assert len(ana["hits"]) == 3 and not {"v0", "v1", "v2"} & {h["key"] for h in ana["hits"]}
    before = ok(client.get("/maps/collection/vecs"))["size"]  # a write: the map is opened again
    ok(client.post("/collections/vecs/upsert", json={"items": [{"key": "v_new", "vector": [0.5] * 8}]}))
    assert ok(client.get("/maps/collection/vecs"))["size"] == before + 1
    ok(client.post("/collections/vecs/delete", json={"keys": ["v_new"]}))
    assert ok(client.get("/maps/collection/vecs"))["size"] == before


def axes_of(r: Any) -> tuple[np.ndarray, dict[str, Any]]:
    """The coordinates and the X-Axes description of a POST .../axes answer."""
    import json

    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/octet-stream" and r.headers["X-Components"] == "2"
    coords = np.frombuffer(r.content, "<f4").reshape(-1, 2)
    assert coords.shape[0] == int(r.headers["X-Rows"])
    return coords, json.loads(r.headers["X-Axes"])


def test_concept_axes_of_a_space_and_of_collections(world: tuple[Resources, RouteRecorder, TestClient]) -> None:
    """POST /maps/{source}/{name}/axes: the points placed by their projections on two concept directions, in the
    layout of /coords; /axes/info is its JSON twin."""
    from embspace.analysis import direction

    resources, _, client = world
    body = {"x": {"positive": ["woman", "queen"], "negative": ["man", "king", "nobody"]},
            "y": {"positive": ["king", "queen"], "negative": ["man", "woman"], "name": "royalty"}}
    coords, axes = axes_of(client.post("/maps/space/words/axes", json=body))
    space = resources.get("space", "words").obj
    keys = ok(client.post("/maps/space/words/keys", json={"rows": list(range(len(coords)))}))
    dx = direction(space, ["woman", "queen"], ["man", "king", "nobody"])
    dy = direction(space, ["king", "queen"], ["man", "woman"])
    rows = [space.keys.index(k) for k in keys]
    # the same float32 vectors and direction; the server's sum may be chunked differently: float32 rounding
    assert np.allclose(coords[:, 0], space.project(dx)[rows], atol=1e-5)
    assert np.allclose(coords[:, 1], space.project(dy)[rows], atol=1e-5)
    assert axes["x"]["missing"] == ["nobody"] and axes["x"]["n_missing"] == 1
    assert axes["x"]["low"] == "man, king" and axes["x"]["high"] == "woman, queen"
    assert axes["y"]["name"] == "royalty" and axes["y"]["method"] == "mean" and not axes["y"]["encoded"]
    assert axes["x"]["reliability"] is not None and abs(axes["cosine"]) < 1e-6  # gender and royalty: orthogonal
    assert axes["x"]["min"] == pytest.approx(float(coords[:, 0].min()))
    assert ok(client.post("/maps/space/words/axes/info", json=body)) == axes  # the JSON twin
    pca = {**body, "method": "pca"}
    pca["x"] = {"positive": ["woman", "queen"], "negative": ["man", "king"]}
    assert ok(client.post("/maps/space/words/axes/info", json=pca))["x"]["method"] == "pca"
    # a collection of vectors: its keys
    c_coords, c_axes = axes_of(client.post("/maps/collection/vecs/axes", json={
        "x": {"positive": ["v0", "v1"], "negative": ["v2"]}, "y": {"positive": ["v3"]}}))
    assert c_coords.shape == (ok(client.get("/maps/collection/vecs"))["size"], 2) and not c_axes["x"]["encoded"]
    # a collection with an encoder: texts that are not keys go through it
    t_coords, t_axes = axes_of(client.post("/maps/collection/docs/axes", json={
        "x": {"positive": ["money and banks"], "negative": ["cats and dogs"]}, "y": {"positive": ["d3"]}}))
    assert t_axes["x"]["encoded"] and not t_axes["y"]["encoded"] and t_coords.shape == (4, 2)
    t_keys = ok(client.post("/maps/collection/docs/keys", json={"rows": [0, 1, 2, 3]}))
    x_of = dict(zip(t_keys, t_coords[:, 0].tolist(), strict=True))
    assert x_of["d4"] > x_of["d1"]  # money in the bank account is further towards money than the cat
    # errors: unknown words, empty lists, unpaired pca, a pole that coincides with the other, limits
    e = err(client.post("/maps/space/words/axes", json={"x": {"positive": ["qeen"]}, "y": {"positive": ["king"]}}),
            422, "invalid_input")
    assert "qeen" in e["message"] and "'queen'" in e["message"] and "x axis" in e["message"]
    err(client.post("/maps/space/words/axes", json={"x": {"positive": []}, "y": {"positive": ["king"]}}), 422,
        "validation_error")
    err(client.post("/maps/space/words/axes", json={"x": {"positive": ["king"]}}), 422, "validation_error")
    err(client.post("/maps/space/words/axes", json={"x": {"positive": ["king"]}, "y": {"positive": ["man"]},
                                                    "method": "nope"}), 422, "validation_error")
    err(client.post("/maps/space/words/axes", json={"x": {"positive": ["king", "queen"], "negative": ["man"]},
                                                    "y": {"positive": ["man"]}, "method": "pca"}), 422,
        "invalid_input")
    err(client.post("/maps/space/words/axes", json={"x": {"positive": ["king"], "negative": ["king"]},
                                                    "y": {"positive": ["man"]}}), 422, "invalid_input")
    err(client.post("/maps/space/words/axes", json={"x": {"positive": ["w1"] * 101}, "y": {"positive": ["man"]}}),
        422, "validation_error")
    err(client.post("/maps/collection/vecs/axes", json={"x": {"positive": ["cats"]}, "y": {"positive": ["v1"]}}),
        422, "invalid_input")  # no encoder: examples must be keys
    err(client.post("/maps/space/nope/axes", json=body), 404, "not_found")


def test_projector_page_and_assets(client: TestClient) -> None:
    r = client.get("/projector", follow_redirects=False)
    assert r.status_code in (307, 308) and r.headers["location"] == "/projector/"
    page = client.get("/projector/")
    assert page.status_code == 200 and "projector.js" in page.text
    assert client.get("/projector/projector.js").status_code == 200
    assert client.get("/projector/projector.css").status_code == 200
    err(client.get("/projector/..%2Fapp.py"), 404, "not_found")
    err(client.get("/projector/app.py"), 404, "not_found")


# -------------------------------------------------------------------------------------------- coverage


def test_every_endpoint_is_in_the_schema_and_was_exercised(world: tuple[Resources, RouteRecorder, TestClient]
                                                           ) -> None:
    """Runs last in this module: every route of the app appears in its OpenAPI schema, and every one of
    them was called by the tests above."""
    _, recorder, client = world
    schema = ok(client.get("/openapi.json"))
    in_schema = {(method.upper(), path) for path, ops in schema["paths"].items() for method in ops}
    app = recorder.app
    # the app's own routes and those of its routers (which FastAPI may keep as included routers, not copies)
    declared = [*(r for router in ROUTERS for r in router.routes), *(r for r in app.routes if hasattr(r, "path"))]
    routes = {(m, r.path) for r in declared if getattr(r, "include_in_schema", False) for m in r.methods}
    assert routes == in_schema
    assert len(in_schema) >= 25
    missing = in_schema - recorder.seen
    assert not missing, f"endpoints without a test: {sorted(missing)}"
    for path, ops in schema["paths"].items():
        for method, op in ops.items():
            assert op.get("summary") and op.get("description"), (method, path)  # documented
            assert "422" in op["responses"] and "ErrorResponse" in str(op["responses"]["422"]), (method, path)
