"""A server that stays up (issue 23): slow work off the event loop with a bounded queue, a start that survives
bad entries in the data directory, atomic collection create, bounded text encoding."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from numpy.lib import format as npy_format
from serve_testing import LOCAL, LOOPBACK, tiny_encoder

from embspace import Collection
from embspace.apps.schemas import MAX_TEXT
from embspace.serve import Resources, create_app
from embspace.serve import _json as serve_json
from embspace.serve._work import CHARS_PER_TOKEN
from embspace.store import collection as collection_module

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

#: A liveness bound, not a speed measurement: /health does no work, so while another request sleeps for
#: SLOW_S seconds it must answer long before that request ends. The bound is generous (a loaded CI machine)
#: yet far below SLOW_S, which is what /health waited when the slow work ran on the event loop.
HEALTH_BOUND_S = 0.5
SLOW_S = 2.0


@pytest.fixture(scope="module")
def encoder_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_encoder(tmp_path_factory.mktemp("enc") / "enc")


def _vector_collection(path: Path) -> None:
    rng = np.random.default_rng(0)
    with Collection.create(path, dim=8) as col:
        col.add([f"v{i}" for i in range(30)], rng.normal(size=(30, 8)).astype(np.float32))


@pytest.fixture
def slow_search(monkeypatch: pytest.MonkeyPatch) -> threading.Event:
    """Every collection search sleeps SLOW_S seconds first (what a first search after many adds does while it
    brings the index up to date); the event is set once a search has started."""
    started = threading.Event()
    original = Collection.search

    def search(self: Collection, *args: Any, **kwargs: Any) -> Any:
        started.set()
        time.sleep(SLOW_S)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Collection, "search", search)
    return started


def _in_background(fn: Any) -> tuple[threading.Thread, dict[str, Any]]:
    box: dict[str, Any] = {}
    t = threading.Thread(target=lambda: box.update(result=fn()))
    t.start()
    return t, box


# -- 5 (serve): slow work off the event loop -----------------------------------------------------------------
def test_health_answers_while_a_slow_search_runs(tmp_path: Path, slow_search: threading.Event) -> None:
    _vector_collection(tmp_path / "data" / "vecs")
    resources = Resources(tmp_path / "data")
    with TestClient(create_app(resources), client=LOOPBACK, base_url=LOCAL) as client:
        t, box = _in_background(lambda: client.post("/collections/vecs/search", json={"vector": [1.0] * 8, "k": 3}))
        assert slow_search.wait(10)
        start = time.perf_counter()
        health = client.get("/health")
        waited = time.perf_counter() - start
        t.join()
    resources.close()
    assert health.status_code == 200
    assert waited < HEALTH_BOUND_S, f"/health waited {waited:.2f} s for a search ({SLOW_S} s) to finish"
    assert box["result"].status_code == 200 and len(box["result"].json()["hits"]) == 3


def test_a_full_queue_is_refused_at_once_with_retry_after(tmp_path: Path, slow_search: threading.Event) -> None:
    _vector_collection(tmp_path / "data" / "vecs")
    resources = Resources(tmp_path / "data")
    with TestClient(create_app(resources, max_pending=1), client=LOOPBACK, base_url=LOCAL) as client:
        t, box = _in_background(lambda: client.post("/collections/vecs/search", json={"vector": [1.0] * 8}))
        assert slow_search.wait(10)
        busy = client.get("/collections/vecs")
        health = client.get("/health")  # never counted, never refused
        t.join()
        after = client.get("/collections/vecs")
    resources.close()
    assert busy.status_code == 503, busy.text
    assert busy.headers["retry-after"] == "1"
    assert busy.json()["error"]["code"] == "busy" and "retry" in busy.json()["error"]["message"]
    assert health.status_code == 200
    assert box["result"].status_code == 200 and after.status_code == 200


# -- 6: a server that starts despite bad entries -------------------------------------------------------------
def _lying_npy(path: Path) -> None:
    with path.open("wb") as fh:  # a header claiming 40 TB of floats over 64 bytes of data
        npy_format.write_array_header_1_0(fh, {"descr": "<f4", "fortran_order": False, "shape": (10**9, 10**4)})
        fh.write(b"\0" * 64)


def test_bad_entries_are_skipped_with_a_reason(tmp_path: Path) -> None:
    data = tmp_path / "data"
    _vector_collection(data / "good")
    for name in ("empty", "truncated", "garbage"):
        _vector_collection(data / name)
    db = collection_module.DB_NAME
    (data / "empty" / db).write_bytes(b"")
    whole = (data / "truncated" / db).read_bytes()
    (data / "truncated" / db).write_bytes(whole[: len(whole) // 3])
    (data / "garbage" / db).write_bytes(b"this is no database\n" * 200)
    os.mkfifo(data / "pipe.txt")  # would hang a reader forever
    _lying_npy(data / "liar.npy")  # MemoryError when read

    resources = Resources(data)  # starts: none of them stops it
    skipped = {p.name: why for p, why in resources.skipped}
    assert resources.names("collection") == ["good"]
    assert {"empty", "truncated", "garbage", "pipe.txt", "liar.npy"} <= set(skipped), skipped
    assert "FIFO" in skipped["pipe.txt"] and "never opened" in skipped["pipe.txt"]
    assert "memory" in skipped["liar.npy"]
    assert all(why and "\n" not in why for why in skipped.values())
    with TestClient(create_app(resources), client=LOOPBACK, base_url=LOCAL) as client:
        health = client.get("/health").json()
    resources.close()
    listed = {s["name"]: s["reason"] for s in health["skipped"]}
    assert listed == skipped


def test_an_entry_still_opening_after_the_timeout_is_skipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                                             ) -> None:
    _vector_collection(tmp_path / "data" / "stuck")
    release = threading.Event()
    original = Collection.open

    def hanging_open(cls: type[Collection], path: Any, **kwargs: Any) -> Any:
        release.wait(30)  # a file system that does not answer
        return original(path, **kwargs)

    monkeypatch.setattr(Collection, "open", classmethod(hanging_open))
    start = time.perf_counter()
    resources = Resources(tmp_path / "data", open_timeout=0.5)
    took = time.perf_counter() - start
    release.set()
    assert resources.names("collection") == []
    assert took < 20  # far below the 30 s the open would hang (a liveness bound, not a speed measurement)
    (path, why), = resources.skipped
    assert path.name == "stuck" and "still opening after 0.5 s" in why
    resources.close()


def test_a_failed_create_leaves_nothing_and_the_name_free(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    resources = Resources(tmp_path / "data")
    original = collection_module.write_header

    def disk_full(*args: Any, **kwargs: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(collection_module, "write_header", disk_full)
    with TestClient(create_app(resources), client=LOOPBACK, base_url=LOCAL, raise_server_exceptions=False) as client:
        failed = client.post("/collections", json={"name": "notes", "dim": 4})
        assert failed.status_code >= 500
        assert os.listdir(tmp_path / "data") == []  # no half-made collection, no temporary directory
        monkeypatch.setattr(collection_module, "write_header", original)
        created = client.post("/collections", json={"name": "notes", "dim": 4})
        assert created.status_code == 201, created.text
    resources.close()
    again = Resources(tmp_path / "data")  # and the server starts again
    assert again.names("collection") == ["notes"] and again.skipped == []
    again.close()


# -- 11: bounded encoding --------------------------------------------------------------------------------------
@pytest.fixture
def encoding(tmp_path: Path, encoder_dir: Path) -> Iterator[tuple[Resources, TestClient]]:
    resources = Resources(tmp_path / "data", encoder=str(encoder_dir), max_encode_chars=1_000, max_encodes=1)
    with TestClient(create_app(resources), client=LOOPBACK, base_url=LOCAL) as client:
        yield resources, client
    resources.close()


def test_too_much_text_is_413_naming_the_limit(encoding: tuple[Resources, TestClient]) -> None:
    resources, client = encoding
    r = client.post("/encode", json={"texts": ["a" * 600, "b" * 600]})
    assert r.status_code == 413, r.text
    assert r.json()["error"]["code"] == "too_much_text" and "1,000" in r.json()["error"]["message"]
    model = next(iter(resources.models()))
    r = client.post("/v1/embeddings", json={"model": model, "input": ["a" * 600, "b" * 600]})
    assert r.status_code == 413, r.text
    err = r.json()["error"]  # OpenAI's shape
    assert err["code"] == "too_much_text" and err["param"] == "input" and "1,000" in err["message"]
    assert err["type"] == "invalid_request_error"
    assert client.post("/encode", json={"texts": ["a" * 500, "b" * 500]}).status_code == 200


def test_long_texts_are_cut_before_they_are_tokenised(tmp_path: Path, encoder_dir: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    resources = Resources(tmp_path / "data", encoder=str(encoder_dir), max_encode_chars=1_000_000)
    enc = resources.encoder()
    seen: list[int] = []
    original = enc.encode

    def spy(texts: Any, *args: Any, **kwargs: Any) -> Any:
        seen.extend(len(t) for t in texts)
        return original(texts, *args, **kwargs)

    monkeypatch.setattr(enc, "encode", spy)
    long = "word " * 100_000
    with TestClient(create_app(resources), client=LOOPBACK, base_url=LOCAL) as client:
        full = client.post("/encode", json={"texts": [long[:MAX_TEXT]]})
        cut = client.post("/encode", json={"texts": [long[: enc.max_length * CHARS_PER_TOKEN]]})
        openai = client.post("/v1/embeddings", json={"model": str(enc.name), "input": long[:MAX_TEXT]})
    resources.close()
    assert full.status_code == cut.status_code == openai.status_code == 200
    assert max(seen) == enc.max_length * CHARS_PER_TOKEN < MAX_TEXT
    # the cut keeps everything the model reads: the same vector as the text cut by hand (tolerance: batched
    # and single encodes may differ in the last float bits)
    np.testing.assert_allclose(full.json()["vectors"], cut.json()["vectors"], atol=1e-5)
    assert "truncated" in openai.headers["x-embspace-warning"]


def test_one_encode_too_many_is_503_with_retry_after(encoding: tuple[Resources, TestClient]) -> None:
    resources, client = encoding
    model = next(iter(resources.models()))
    with resources.encode_gate.slot():  # the one encode this server runs at once
        r = client.post("/encode", json={"texts": ["hello"]})
        o = client.post("/v1/embeddings", json={"model": model, "input": "hello"})
    assert r.status_code == 503 and r.headers["retry-after"] == "1" and r.json()["error"]["code"] == "busy"
    assert o.status_code == 503 and o.headers["retry-after"] == "1"
    assert o.json()["error"]["code"] == "busy" and o.json()["error"]["type"] == "server_error"
    assert client.post("/encode", json={"texts": ["hello"]}).status_code == 200


def test_a_bad_path_given_by_hand_is_refused_clearly(tmp_path: Path) -> None:
    from embspace.errors import InvalidInputError

    _lying_npy(tmp_path / "liar.npy")
    os.mkfifo(tmp_path / "pipe.txt")
    with pytest.raises(InvalidInputError, match=r"cannot serve .*liar\.npy: needs more memory"):
        Resources(tmp_path / "data", [tmp_path / "liar.npy"])
    with pytest.raises(InvalidInputError, match=r"cannot serve .*pipe\.txt: a FIFO"):
        Resources(tmp_path / "data", [tmp_path / "pipe.txt"])


def test_every_route_that_encodes_text_has_the_limits(encoding: tuple[Resources, TestClient],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Not /encode only: texts to add, a search by text, classify and retrieve are held to max_encode_chars
    (413, the same shape) and to the encode slots (the test holds the only one: 503 busy)."""
    from embspace.serve import _work

    resources, client = encoding
    r = client.post("/collections", json={"name": "docs", "encoder": client.get("/health").json()["encoders"][0]})
    assert r.status_code == 201, r.text
    big = [{"key": "a", "text": "a" * 600}, {"key": "b", "text": "b" * 600}]
    small = [{"key": "a", "text": "a" * 400}, {"key": "b", "text": "b" * 400}]
    over: dict[str, tuple[str, Any]] = {
        "add": ("/collections/docs/add", {"items": big}),
        "upsert": ("/collections/docs/upsert", {"items": big}),
        "search": ("/collections/docs/search", {"text": "q" * 1_001}),
        "classify": ("/classify", {"texts": ["t" * 990], "labels": ["cats", "dogs"]}),
        "retrieve": ("/collections/docs/retrieve", {"query": "q" * 1_001, "mode": "vector"}),
    }
    for what, (path, body) in over.items():
        r = client.post(path, json=body)
        assert r.status_code == 413, (what, r.text)
        assert r.json()["error"]["code"] == "too_much_text" and "1,000" in r.json()["error"]["message"], what
    assert client.get("/collections/docs/count").json()["count"] == 0  # nothing was written
    assert client.post("/collections/docs/add", json={"items": small}).status_code == 200
    monkeypatch.setattr(_work, "ENCODE_WAIT_S", 0.05)
    monkeypatch.setattr("embspace.serve.routers._common.ENCODE_WAIT_S", 0.05)
    within: dict[str, tuple[str, Any]] = {
        "upsert": ("/collections/docs/upsert", {"items": small}),
        "search": ("/collections/docs/search", {"text": "aaa"}),
        "classify": ("/classify", {"texts": ["a cat"], "labels": ["cats", "dogs"]}),
    }
    with resources.encode_gate.slot():  # the one encode this server runs at once
        for what, (path, body) in within.items():
            r = client.post(path, json=body)
            assert r.status_code == 503 and r.json()["error"]["code"] == "busy", (what, r.text)
            assert r.headers["retry-after"] == "1"
    for what, (path, body) in within.items():  # the slot free again: each is served
        assert client.post(path, json=body).status_code == 200, what
    vector_search = client.post("/collections/docs/search", json={"key": "a"})  # encodes nothing: no slot needed
    assert vector_search.status_code == 200


# -- 7, over HTTP: paged reads are one snapshot across requests ------------------------------------------------
def test_paged_reads_are_one_snapshot_while_another_process_writes(tmp_path: Path) -> None:
    """POST /collections/X/items pages through the items as they were at the first page: a writer adding items
    between pages adds none to them (no key twice, no new one); one that replaces or deletes an item read makes
    the next page a 409 snapshot_changed, never a page of mixed versions."""
    import warnings

    rng = np.random.default_rng(0)
    path = tmp_path / "data" / "vecs"
    with Collection.create(path, dim=8) as col:
        col.add([f"k{i}" for i in range(50)], rng.normal(size=(50, 8)).astype(np.float32),
                [{"n": i, "v": 1} for i in range(50)], texts=[f"text {i}" for i in range(50)])
    resources = Resources(tmp_path / "data")
    writer = Collection.open(path, hold_lock=False)  # another writer of the same collection (as another process)
    try:
        with TestClient(create_app(resources), client=LOOPBACK, base_url=LOCAL) as client:
            def read_all(*, add_between: bool = False, **body: Any) -> list[dict[str, Any]]:
                got, cursor, n = [], None, 0
                while True:
                    r = client.post("/collections/vecs/items", json={**body, "limit": 20, "cursor": cursor})
                    assert r.status_code == 200, r.text
                    got += r.json()["items"]
                    cursor, n = r.json()["next"], n + 1
                    if n == 1 and add_between:  # between the first and the second page: 10 more items
                        writer.add([f"new{i}" for i in range(10)], rng.normal(size=(10, 8)).astype(np.float32),
                                   [{"n": -1, "v": 2}] * 10)
                    if cursor is None:
                        return got

            items = read_all(add_between=True)
            assert [it["key"] for it in items] == [f"k{i}" for i in range(50)]  # as at the first page, once each
            assert items[3] == {"key": "k3", "metadata": {"n": 3, "v": 1}, "text": "text 3", "vector": None}
            assert client.get("/collections/vecs/count").json()["count"] == 60  # the new items are there
            first = client.post("/collections/vecs/items", json={"limit": 20, "vectors": True}).json()
            assert len(first["items"]) == 20 and len(first["items"][0]["vector"]) == 8
            writer.upsert(["k30"], rng.normal(size=(1, 8)).astype(np.float32), [{"n": 30, "v": 2}])  # a new version
            r = client.post("/collections/vecs/items", json={"limit": 20, "cursor": first["next"], "vectors": True})
            assert r.status_code == 409, r.text
            assert r.json()["error"]["code"] == "snapshot_changed" and "first page" in r.json()["error"]["message"]
            fresh = read_all(where={"v": 1})  # a new read (a filter, the same on every page) sees the new version
            assert [it["key"] for it in fresh] == [f"k{i}" for i in range(50) if i != 30]
            page = client.post("/collections/vecs/items", json={"limit": 5, "where": {"v": 1}}).json()
            other = client.post("/collections/vecs/items", json={"limit": 5, "cursor": page["next"]})
            assert other.status_code == 422 and "another filter" in other.json()["error"]["message"]
            bad = client.post("/collections/vecs/items", json={"cursor": "not-a-cursor"})
            assert bad.status_code == 422 and "not a cursor" in bad.json()["error"]["message"]
    finally:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            writer.close()
            resources.close()


def test_a_text_body_too_big_for_the_limit_is_refused_before_it_is_parsed(
        encoding: tuple[Resources, TestClient], monkeypatch: pytest.MonkeyPatch) -> None:
    # 1,000 characters at most: no JSON document of more than 6 bytes a character (+ 64 KiB of the rest) can fit,
    # so such a body is refused by its size — never read whole, never parsed (parsing 50 MB held the loop 2.3 s)
    resources, client = encoding
    parsed: list[int] = []
    real = serve_json.parse_json
    monkeypatch.setattr(serve_json, "parse_json", lambda body: parsed.append(len(body)) or real(body))
    big = json.dumps({"texts": ["x" * 80_000]}).encode()
    model = next(iter(resources.models()))
    for path, body in (("/encode", big), ("/v1/embeddings", json.dumps({"model": model, "input": "x" * 80_000}))):
        r = client.post(path, content=body, headers={"Content-Type": "application/json"})
        assert r.status_code == 413, r.text
        assert r.json()["error"]["code"] == "too_much_text" and "1,000" in r.json()["error"]["message"], path
    assert parsed == []
    # a body that may fit is parsed and judged by its characters, as before
    r = client.post("/encode", json={"texts": ["x" * 2_000]})
    assert r.status_code == 413 and parsed, r.text


def test_every_api_route_parses_json_with_the_fast_parser(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from fastapi.routing import APIRoute

    from embspace.serve.routers import ROUTERS

    routes = [r for router in ROUTERS for r in router.routes if isinstance(r, APIRoute)]
    assert len(routes) > 20
    assert [r.path for r in routes if not isinstance(r, serve_json.JSONRoute)] == []
    # and a request really goes through it (the framework includes routers lazily)
    parsed: list[bytes] = []
    real = serve_json.parse_json
    monkeypatch.setattr(serve_json, "parse_json", lambda body: parsed.append(body) or real(body))
    with TestClient(create_app(Resources(tmp_path / "data")), client=LOOPBACK, base_url=LOCAL) as client:
        r = client.post("/collections", json={"name": "fast", "dim": 4})
        assert r.status_code in (200, 201), r.text
    assert parsed and b'"fast"' in parsed[0]


@pytest.mark.parametrize("body", [
    b'{"a": [1.5, -0.0, 1e-320, 3.141592653589793, 12345678901234567890123, -9999999999999999999],'
    b' "b": "\\u00e9\\ud83d\\ude00"}',
    b'{"a": NaN, "b": Infinity}',  # not JSON: orjson refuses, json.loads reads them as before
    b'{"a": 1, "a": 2}',
    b'[0.0012345678901234567, 1e400, -1e-400, 1234567890123456789.5]',
    b'[1, 2, {"k": null, "t": true}]',
    b'-9223372036854775809', b'18446744073709551616', b'[\n\t18446744073709551616]',  # where an integer starts
    b'{"a":-18446744073709551616,"b":[0,18446744073709551616]}', b'{"a":\r18446744073709551616}',
])
def test_the_fast_parser_reads_what_the_standard_one_reads(body: bytes) -> None:
    got, want = serve_json.parse_json(body), json.loads(body)
    # compared through repr: the same values and types, and NaN == NaN there
    assert repr(got) == repr(want)


@pytest.mark.parametrize("body", [b'{"a": ', b'{"a": "\\ud800"', b"\xff"])
def test_the_fast_parser_fails_as_the_standard_one_fails(body: bytes) -> None:
    with pytest.raises(ValueError) as fast:
        serve_json.parse_json(body)
    with pytest.raises(ValueError) as std:
        json.loads(body)
    assert type(fast.value) is type(std.value) and str(fast.value) == str(std.value)
