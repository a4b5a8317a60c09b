"""The server's web side: GET / (links), the offline API docs (/docs, /redoc and their files), CORS (opt-in,
preflights answered before the API key), and collections served without holding their writer lock."""

from __future__ import annotations

import gzip
import os
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from serve_testing import LOCAL, LOOPBACK

from embspace.errors import CollectionLockedError
from embspace.serve import Resources, ServeConfig, create_app
from embspace.serve.config import problems
from embspace.serve.routers.home import ASSETS, assets_dir
from embspace.store import Collection
from embspace.store.collection import lock_holder

KEY = "k" * 8 + "-secret-key-0123456789"
ORIGIN = "http://127.0.0.1:5173"
EYE = np.eye(4, dtype=np.float32)


@pytest.fixture()
def resources(tmp_path: Path) -> Iterator[Resources]:
    with Collection.create(tmp_path / "data" / "vecs", dim=4) as col:
        col.add(["a", "b"], EYE[:2])
    r = Resources(tmp_path / "data", url="http://127.0.0.1:8123")
    yield r
    r.close()


# --------------------------------------------------------------------------------------------------- /
def test_the_front_page_links_everything_as_html_or_json(resources: Resources) -> None:
    client = TestClient(create_app(resources), client=LOOPBACK, base_url=LOCAL)
    body = client.get("/", headers={"Accept": "application/json"}).json()
    assert body["name"] == "embspace" and body["links"] == {
        "docs": "/docs", "redoc": "/redoc", "openapi": "/openapi.json", "projector": "/projector/",
        "health": "/health", "openai_models": "/v1/models"}
    assert client.get("/").json() == body  # curl's */*: JSON
    page = client.get("/", headers={"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"})  # a browser
    assert page.headers["content-type"].startswith("text/html")
    hrefs = re.findall(r'href="([^"]+)"', page.text)
    assert hrefs == ["/docs", "/redoc", "/openapi.json", "/projector/", "/health", "/v1/models"]
    for href in hrefs:  # every link answers
        assert client.get(href).status_code == 200, href


# ----------------------------------------------------------------------------------------------- docs
@pytest.mark.parametrize(("page", "script"), [("/docs", "swagger-ui-bundle.js"), ("/redoc", "redoc.standalone.js")])
def test_the_docs_pages_use_only_files_this_server_serves(resources: Resources, page: str, script: str) -> None:
    assert assets_dir() is not None, "fastapi-offline (the serve extra) ships the docs' files"
    client = TestClient(create_app(resources), client=LOOPBACK, base_url=LOCAL)
    r = client.get(page)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    urls = re.findall(r'(?:src|href)="([^"]+)"', r.text)
    assert f"/docs/assets/{script}" in urls
    assert all(u.startswith("/docs/assets/") for u in urls), urls  # nothing from a CDN
    assert "http://" not in r.text and "https://" not in r.text
    assert "connect-src 'self'" in r.headers["content-security-policy"]  # and the page may reach nothing else
    for u in urls:
        got = client.get(u)
        assert got.status_code == 200 and len(got.content) > 1000, u
    assert client.get("/docs/assets/nope.js").status_code == 404
    assert client.get("/docs/assets/..%2Fcore.py").status_code == 404
    assert set(ASSETS) == {"swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js", "favicon.png"}
    # the schema they show: OpenAPI 3.1, which Swagger UI 5 (not 4) renders
    assert client.get("/openapi.json").json()["openapi"].startswith("3.1")
    assert client.get("/docs/assets/swagger-ui-bundle.js").content.count(b"5.") > 0


def test_pages_without_data_need_no_key_but_the_schema_and_data_do(resources: Resources) -> None:
    client = TestClient(create_app(resources, api_key=KEY))  # not a loopback client
    for path in ("/", "/docs", "/redoc", "/docs/assets/swagger-ui.css", "/projector/"):
        assert client.get(path).status_code == 200, path
    assert client.get("/openapi.json").status_code == 401
    assert client.get("/health").status_code == 401
    assert client.post("/docs", json={}).status_code == 401  # only GETs of the pages are public
    assert client.get("/openapi.json", headers={"X-API-Key": KEY}).status_code == 200
    # without a key, the loopback rule covers the pages too
    assert TestClient(create_app(resources), client=("192.0.2.7", 1)).get("/docs").status_code == 403


# ----------------------------------------------------------------------------------------------- CORS
def preflight(client: TestClient, origin: str = ORIGIN) -> object:
    return client.options("/collections/vecs/search", headers={
        "Origin": origin, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type,x-api-key,x-stainless-os"})


def test_cors_is_off_by_default(resources: Resources) -> None:
    client = TestClient(create_app(resources, api_key=KEY))
    r = preflight(client)
    assert r.status_code == 401 and "access-control-allow-origin" not in r.headers  # type: ignore[attr-defined]
    r = client.get("/health", headers={"Origin": ORIGIN, "X-API-Key": KEY})
    assert r.status_code == 200 and "access-control-allow-origin" not in r.headers


def test_cors_preflights_are_answered_before_the_key_for_the_origins_given(resources: Resources) -> None:
    client = TestClient(create_app(resources, api_key=KEY, cors_origins=[ORIGIN]))
    r = preflight(client)
    assert r.status_code == 200, r.text  # type: ignore[attr-defined]
    assert r.headers["access-control-allow-origin"] == ORIGIN  # type: ignore[attr-defined]
    allowed = r.headers["access-control-allow-headers"].lower()  # type: ignore[attr-defined]
    assert {"authorization", "x-api-key", "content-type", "x-stainless-os"} <= set(allowed.split(","))  # OpenAI's JS
    assert "access-control-allow-credentials" not in r.headers  # type: ignore[attr-defined]  # keys go in headers
    r = client.post("/collections/vecs/search", json={"vector": [1, 0, 0, 0], "k": 1},
                    headers={"Origin": ORIGIN, "Authorization": f"Bearer {KEY}"})
    assert r.status_code == 200 and r.json()["hits"][0]["key"] == "a"
    assert r.headers["access-control-allow-origin"] == ORIGIN
    refused = client.get("/health", headers={"Origin": ORIGIN})  # the page can read why it was refused
    assert refused.status_code == 401 and refused.headers["access-control-allow-origin"] == ORIGIN
    other = preflight(client, "http://evil.example")
    assert other.status_code == 400 and "access-control-allow-origin" not in other.headers  # type: ignore[attr-defined]
    anyone = TestClient(create_app(resources, api_key=KEY, cors_origins=["*"]))
    assert preflight(anyone, "http://anywhere.example").status_code == 200  # type: ignore[attr-defined]


def test_cors_origins_are_checked_and_any_origin_needs_a_key() -> None:
    cfg = ServeConfig(data_dir="d", cors_origins=["http://localhost:3000/", "https://app.example.org",
                                                  "http://[::1]:8080", "http://localhost:3000"])
    assert cfg.cors_origins == ["http://localhost:3000", "https://app.example.org", "http://[::1]:8080"]
    assert ServeConfig(data_dir="d").cors_origins == []
    for bad in ("localhost:3000", "http://x.org/app", "ftp://x.org"):
        with pytest.raises(ValidationError) as info:
            ServeConfig(data_dir="d", cors_origins=[bad])
        assert problems(info.value, {"cors_origins": "--cors-origin"})[0].startswith(f"--cors-origin: {bad!r} is not")
    with pytest.raises(ValidationError) as info:
        ServeConfig(data_dir="d", cors_origins=["*"])
    assert "every web page you visit" in problems(info.value)[0] and "api_key" in problems(info.value)[0]
    assert ServeConfig(data_dir="d", cors_origins=["*"], api_key=KEY).cors_origins == ["*"]


# ----------------------------------------------------------------------------------------- writer lock
def test_an_idle_server_holds_no_writer_lock_and_writes_between_other_writers(
        resources: Resources, monkeypatch: pytest.MonkeyPatch) -> None:
    client = TestClient(create_app(resources), client=LOOPBACK, base_url=LOCAL)
    path = resources.get("collection", "vecs").path
    assert client.get("/collections/vecs").json()["writable"] is True
    with Collection.open(path, timeout=0.5) as cli:  # at once, although the server serves it writable
        cli.add(["c"], EYE[2:3])
        col = resources.get("collection", "vecs").obj
        monkeypatch.setattr(col, "_timeout", 0.2)  # the server waits WRITE_WAIT (5 s) for the lock: shorter here
        r = client.post("/collections/vecs/add", json={"items": [{"key": "d", "vector": [0, 0, 0, 1]}]})
        assert r.status_code == 409 and r.json()["error"]["code"] == "locked", r.text
        message = r.json()["error"]["message"]
        assert f"'vecs' is being written by another process (pid {os.getpid()});" in message and "Retry" in message
        assert "readonly=True" not in message  # no Python advice over HTTP
        assert "`" not in message  # nor the other process's command line: its pid is enough for a remote client
    # the other writer is done: the server sees its item, and writes
    hits = client.post("/collections/vecs/search", json={"vector": [0, 0, 1, 0], "k": 1}).json()["hits"]
    assert hits[0]["key"] == "c"
    assert client.post("/collections/vecs/add", json={"items": [{"key": "d", "vector": [0, 0, 0, 1]}]}).json() == {
        "count": 1}
    assert lock_holder(path) is None


def test_a_writer_kept_waiting_by_the_server_learns_where_to_send_its_items(resources: Resources) -> None:
    col = resources.get("collection", "vecs").obj
    seen: list[CollectionLockedError] = []
    real = col._write

    def slow_write(*args: object, **kwargs: object) -> int:  # another writer tries while the server writes
        with pytest.raises(CollectionLockedError) as info:
            Collection.open(col.path, timeout=0.1)
        seen.append(info.value)
        return real(*args, **kwargs)  # type: ignore[no-any-return]

    col._write = slow_write
    client = TestClient(create_app(resources), client=LOOPBACK, base_url=LOCAL)
    assert client.post("/collections/vecs/upsert", json={"items": [{"key": "a", "vector": [0, 1, 0, 0]}]}
                       ).status_code == 200
    holder = seen[0].holder
    assert holder is not None and holder["by"] == "embspace serve" and holder["collection"] == "vecs"
    assert holder["url"] == "http://127.0.0.1:8123"


def test_what_is_not_served_is_listed_with_the_reason(tmp_path: Path) -> None:
    import embspace

    data = tmp_path / "data"
    data.mkdir()
    embspace.EmbeddingSpace(["a", "b"], EYE[:2]).save(data / "good")
    (data / "vectors.txt").write_text("2 3\nx 1 2 3\ny 1 2\n", encoding="utf-8")  # a broken word2vec file
    (data / "report.html").write_text("<html></html>", encoding="utf-8")
    (data / "notes").mkdir()
    (data / ".hidden").write_text("x", encoding="utf-8")
    # what the demo and a user leave beside the vectors: told by name, never parsed (text reads as GloVe)
    others = {"page.json": '{"a": 1}', "README.md": "# my vectors\n", "plot.png": "\x89PNG", "LICENSE": "MIT\n",
              "emb.keys.txt": "a\nb\n"}
    for name, text in others.items():
        (data / name).write_text(text, encoding="utf-8")
    embspace.EmbeddingSpace(["a", "b"], EYE[:2]).save(data / "emb.npy")  # its keys file: served with it
    (data / "glove.txt.gz").write_bytes(gzip.compress(b"a 1 2\nb 3\n"))  # a vector suffix: read, and broken
    res = Resources(data)
    try:
        assert res.names("space") == ["emb", "good"]
        skipped = {p.name: why for p, why in res.skipped}
        assert set(skipped) == {"vectors.txt", "report.html", "notes", "glove.txt.gz", *others}
        for name in ("report.html", "page.json", "README.md", "plot.png"):
            assert skipped[name] == "not a vector file embspace reads", name
        assert skipped["LICENSE"].startswith("not a vector file embspace reads (its name has no suffix")
        assert skipped["emb.keys.txt"] == "the keys of emb.npy (served with it)"
        assert "line" not in "".join(skipped[n] for n in others)  # no parse error for a file that is no vector file
        assert skipped["vectors.txt"] == "line 3: expected a key and 3 values, found 2 values"
        assert skipped["glove.txt.gz"].startswith("line 2:")  # a vector file's own error, without the path
        assert "no collection, space or recommender" in skipped["notes"]
        assert res.read_only == {}
    finally:
        res.close()


def test_a_collection_this_user_cannot_write_is_served_read_only(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    import embspace.serve._resources as resources_module

    path = tmp_path / "data" / "vecs"
    with Collection.create(path, dim=4) as col:
        col.add(["a"], EYE[:1])
    real = os.access

    def access(p: object, mode: int) -> bool:  # as for another user (root may write read-only files)
        return False if str(p) == str(path / "collection.sqlite") and mode == os.W_OK else real(p, mode)  # type: ignore[arg-type]

    monkeypatch.setattr(resources_module.os, "access", access)
    res = Resources(tmp_path / "data")
    try:
        assert res.read_only == {"vecs": f"{path / 'collection.sqlite'} is not writable by this user"}
        assert res.get("collection", "vecs").obj.writable is False
        client = TestClient(create_app(res), client=LOOPBACK, base_url=LOCAL)
        assert client.get("/collections/vecs").json()["writable"] is False
    finally:
        res.close()
