"""Safety of the HTTP API: keys, loopback-only, request size, malformed input, paths, server errors."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient
from projector_testing import free_port
from serve_testing import LOCAL, LOOPBACK
from typer.testing import CliRunner

from embspace.cli.app import app as cli
from embspace.serve import Resources, create_app
from embspace.store import Collection

KEY = "k" * 8 + "-secret-key-0123456789"


@pytest.fixture()
def resources(tmp_path: Path) -> Iterator[Resources]:
    with Collection.create(tmp_path / "data" / "vecs", dim=4) as col:
        col.add(["a", "b"], np.eye(4, dtype=np.float32)[:2])
    r = Resources(tmp_path / "data")
    yield r
    r.close()


def test_api_key_is_required_and_compared_in_constant_time(resources: Resources, monkeypatch: pytest.MonkeyPatch
                                                            ) -> None:
    import embspace.serve._guard as guard

    compared: list[tuple[bytes, bytes]] = []
    real = guard.hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(guard.hmac, "compare_digest", spy)
    client = TestClient(create_app(resources, api_key=KEY))  # a non-loopback client address ('testclient')
    r = client.get("/collections/vecs")
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
    assert r.headers["www-authenticate"] == "Bearer"
    assert client.get("/health", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get("/openapi.json", headers={"X-API-Key": KEY[:-1]}).status_code == 401
    assert client.get("/health", headers={"Authorization": f"Bearer {KEY}"}).status_code == 200
    assert client.post("/collections/vecs/search", headers={"X-API-Key": KEY},
                       json={"vector": [1, 0, 0, 0], "k": 1}).json()["hits"][0]["key"] == "a"
    assert compared and all(b == KEY.encode() for _, b in compared)
    # refused before the body is read: a huge unauthenticated upload gets 401, not 413
    assert client.post("/collections/vecs/add", content=b"x" * 10, headers={"content-length": "999999999"}
                       ).status_code == 401


def test_without_a_key_only_loopback_clients_are_served(resources: Resources) -> None:
    app = create_app(resources)
    remote = TestClient(app, client=("192.0.2.7", 4242)).get("/health")
    assert remote.status_code == 403 and remote.json()["error"]["code"] == "forbidden"
    for host in ("127.0.0.1", "127.8.9.10", "::1"):
        assert TestClient(app, client=(host, 4242), base_url=LOCAL).get("/health").status_code == 200


def test_request_size_limit(resources: Resources) -> None:
    client = TestClient(create_app(resources, max_body=2000), client=LOOPBACK, base_url=LOCAL)
    small = {"items": [{"key": "c", "vector": [0, 0, 1, 0]}]}
    assert client.post("/collections/vecs/add", json=small).status_code == 200
    big = {"items": [{"key": f"x{i}", "vector": [1, 2, 3, 4]} for i in range(200)]}
    r = client.post("/collections/vecs/add", json=big)
    assert r.status_code == 413 and r.json()["error"]["code"] == "payload_too_large"

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted while streaming
        yield b'{"items": ['
        for i in range(500):
            yield b'{"key": "y%d", "vector": [1, 2, 3, 4]},' % i
        yield b'{"key": "z", "vector": [1, 2, 3, 4]}]}'

    r = client.post("/collections/vecs/add", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413 and r.json()["error"]["code"] == "payload_too_large"
    assert client.get("/collections/vecs/count").json() == {"count": 3}  # nothing of the refused bodies stored
    r = client.post("/collections/vecs/add", content=b"{}",
                    headers={"content-length": "abc", "content-type": "application/json"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "bad_request"


def openai_error(r: httpx.Response, status: int, code: str) -> str:
    """An answer in OpenAI's error shape (the /v1 routes), its message."""
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert set(r.json()) == {"error"} and set(err) == {"message", "type", "param", "code"}, err
    assert err["code"] == code and err["type"] == ("server_error" if status >= 500 else "invalid_request_error")
    return str(err["message"])


def test_the_guards_refusals_and_failures_on_v1_come_in_openais_shape(resources: Resources,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    keyed = TestClient(create_app(resources, api_key=KEY))
    assert "Bearer" in openai_error(keyed.get("/v1/models"), 401, "invalid_api_key")
    openai_error(keyed.get("/v1/models", headers={"Authorization": "Bearer wrong-key-0123456789"}), 401,
                 "invalid_api_key")
    assert keyed.get("/v1/models", headers={"Authorization": f"Bearer {KEY}"}).status_code == 200
    assert keyed.get("/v1/models", headers={"authorization": f"bearer {KEY}"}).status_code == 200  # any case
    openai_error(TestClient(create_app(resources), client=("192.0.2.7", 4242)).get("/v1/models"), 403, "forbidden")
    local = TestClient(create_app(resources, max_body=2000), client=LOOPBACK, base_url=LOCAL,
                       raise_server_exceptions=False)
    openai_error(local.post("/v1/embeddings", json={"model": "minilm", "input": ["x" * 50] * 100}), 413,
                 "payload_too_large")
    openai_error(local.post("/v1/embeddings", content=b"{}",
                            headers={"content-length": "abc", "content-type": "application/json"}), 400, "bad_request")
    # a model is named, never a path: nothing is loaded from one
    for model in ("/etc/passwd", "../../models/other", "~/models/x"):
        openai_error(local.post("/v1/embeddings", json={"model": model, "input": "x"}), 404, "model_not_found")
    openai_error(local.get("/v1/models/..%2F..%2Fetc%2Fpasswd"), 404, "not_found")  # no route takes 4 parts
    assert resources.models() == {"sentence-transformers/all-MiniLM-L6-v2": ["minilm"]}  # and nothing loaded

    def boom() -> dict[str, list[str]]:
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(resources, "models", boom)
    r = local.get("/v1/models")
    openai_error(r, 500, "internal_error")
    assert "secret" not in r.text


@pytest.mark.parametrize("body", [b"{", b"[1, 2]", b'{"items": "x"}', b"\xff\xfe", b"null", b'{"items": [{}]}'])
def test_malformed_bodies_get_a_4xx(resources: Resources, body: bytes) -> None:
    client = TestClient(create_app(resources), client=LOOPBACK, base_url=LOCAL)
    r = client.post("/collections/vecs/add", content=body, headers={"content-type": "application/json"})
    assert r.status_code == 422 and r.json()["error"]["code"] == "validation_error"
    r = client.post("/collections/vecs/search", content=b"vector=1", headers={"content-type": "text/plain"})
    assert 400 <= r.status_code < 500


def test_path_traversal_is_refused(resources: Resources, tmp_path: Path) -> None:
    client = TestClient(create_app(resources), client=LOOPBACK, base_url=LOCAL)
    before = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*"))
    for name in ["../evil", "..", "a/b", "/etc/passwd", "..%2F..%2Fetc", ".hidden", "x" * 65, "a\x00b"]:
        r = client.post("/collections", json={"name": name, "dim": 2})
        assert r.status_code == 422 and r.json()["error"]["code"] == "validation_error", name
    for path in ["/collections/..%2F..%2Fetc%2Fpasswd", "/collections/%2e%2e", "/spaces/..%2Fdata%2Fvecs",
                 "/collections/vecs%2F..%2F..%2Fsecret/count", "/recommenders/..%2F..%2Fm/recommend"]:
        r = client.get(path) if path.endswith(("count", "passwd", "%2e%2e", "vecs")) else client.post(path, json={})
        assert r.status_code in (404, 405, 422) and "error" in r.json(), path
    r = client.post("/collections", json={"name": "ok", "encoder": "/etc/passwd"})
    assert r.status_code == 422 and "offers" in r.json()["error"]["message"]
    r = client.post("/encode", json={"texts": ["x"], "encoder": "../../models/other"})
    assert r.status_code == 422
    after = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*"))
    assert after == before  # nothing created anywhere


def test_an_unexpected_failure_is_a_json_500_without_internals(resources: Resources,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    client = TestClient(create_app(resources), client=LOOPBACK, base_url=LOCAL, raise_server_exceptions=False)

    def boom(kind: str) -> list[str]:
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(resources, "names", boom)
    r = client.get("/health")
    assert r.status_code == 500 and r.json()["error"]["code"] == "internal_error"
    assert "secret" not in r.text


def test_a_refused_search_runs_once_and_answers_as_every_route(resources: Resources,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """The search shortcut hands its error to the search route, which raises it: no second search."""
    from embspace.serve.routers import collections as routes

    calls: list[str] = []
    real = routes.search_hits

    async def counted(res: Resources, name: str, req: object) -> object:
        calls.append(name)
        return await real(res, name, req)  # type: ignore[arg-type]

    monkeypatch.setattr(routes, "search_hits", counted)
    client = TestClient(create_app(resources), client=LOOPBACK, base_url=LOCAL, raise_server_exceptions=False)
    for body, status, code in ((({"vector": [1, 0], "k": 1}), 422, "dimension_mismatch"),
                               ({"key": "nope", "k": 1}, 404, "unknown_key"),
                               ({"vector": [1, 0, 0, 0], "k": 1, "where": "(("}, 422, None)):
        calls.clear()
        r = client.post("/collections/vecs/search", json=body)
        assert r.status_code == status and (code is None or r.json()["error"]["code"] == code), r.text
        assert calls == ["vecs"]
    calls.clear()
    r = client.post("/collections/vecs/search", json={"vector": [1, 0, 0, 0], "k": 1})
    assert r.status_code == 200 and r.json()["hits"][0]["key"] == "a" and calls == ["vecs"]
    assert client.post("/collections/nope/search", json={"key": "a"}).json()["error"]["code"] == "not_found"


# ------------------------------------------------------------------------------------------------- CLI

runner = CliRunner()


def test_serve_refuses_a_public_host_without_a_key(tmp_path: Path) -> None:
    r = runner.invoke(cli, ["serve", "--host", "0.0.0.0", "--data-dir", str(tmp_path)])
    assert r.exit_code == 2 and "API key" in r.output and "--api-key" in r.output  # in terms of flags
    r = runner.invoke(cli, ["serve", "--host", "0.0.0.0", "--api-key", "short", "--data-dir", str(tmp_path)])
    assert r.exit_code == 2 and "too short" in r.output
    r = runner.invoke(cli, ["serve", "--workers", "2", "--data-dir", str(tmp_path)])
    assert r.exit_code == 2 and "--readonly" in r.output


def test_a_real_server_on_all_interfaces_refuses_unauthenticated_requests(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "EMBSPACE_API_KEY": KEY}
    proc = subprocess.Popen([sys.executable, "-m", "embspace.cli.app", "serve", "--host", "0.0.0.0", "--port",
                             str(port), "--data-dir", str(tmp_path / "data"), "--log-level", "warning"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                r = httpx.get(url + "/health", timeout=2)
                break
            except httpx.TransportError:
                assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
                assert time.monotonic() < deadline, "the server did not start in 60 s"
                time.sleep(0.2)
        assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
        ok = httpx.get(url + "/health", headers={"Authorization": f"Bearer {KEY}"}, timeout=5)
        assert ok.status_code == 200 and ok.json()["collections"] == []
        made = httpx.post(url + "/collections", json={"name": "c", "dim": 2}, headers={"X-API-Key": KEY}, timeout=5)
        assert made.status_code == 201 and (tmp_path / "data" / "c" / "collection.sqlite").is_file()
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_a_broken_file_in_the_data_directory_is_skipped_not_fatal(tmp_path: Path,
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    import numpy as np

    import embspace
    from embspace.serve import Resources

    data = tmp_path / "data"
    data.mkdir()
    embspace.EmbeddingSpace(["a", "b"], np.eye(2, dtype=np.float32)).save(data / "good")
    (data / "vectors.txt").write_text("2 3\nx 1 2 3\ny 1 2\n", encoding="utf-8")  # a broken word2vec file
    with caplog.at_level("WARNING", logger="embspace.serve"):
        res = Resources(data)
    assert res.names("space") == ["good"]
    assert "not serving" in caplog.text and "vectors.txt" in caplog.text


# ------------------------------------------------------------------------------------------- middlewares


def test_a_worker_over_its_share_closes_the_connection_after_its_answer(resources: Resources) -> None:
    class Busy:
        def __init__(self) -> None:
            self.seen: list[tuple[object, ...]] = []

        def shed(self, client: tuple[object, ...]) -> bool:
            self.seen.append(client)
            return len(self.seen) % 2 == 0  # every other request: over its share

    busy = Busy()
    client = TestClient(create_app(resources, balancer=busy), client=LOOPBACK, base_url=LOCAL)  # type: ignore[arg-type]
    search = {"vector": [1, 0, 0, 0], "k": 1}
    answers = [client.post("/collections/vecs/search", json=search), client.post("/collections/vecs/search",
                                                                                 json=search),
               client.get("/health"), client.get("/health")]
    assert [r.status_code for r in answers] == [200] * 4
    assert [r.headers.get("connection") for r in answers] == [None, "close", None, "close"]
    assert busy.seen == [LOOPBACK] * 4


def test_the_former_guard_is_a_deprecated_alias(resources: Resources) -> None:
    import embspace.serve

    with pytest.warns(DeprecationWarning, match="Guard is deprecated"):
        guard_cls = embspace.serve.Guard
    with pytest.warns(DeprecationWarning, match=r"embspace\.serve\.app\.Guard is deprecated"):
        assert embspace.serve.app.Guard is guard_cls  # its home before, the same deprecated alias
    with pytest.raises(AttributeError, match="no attribute 'Gaurd'"):
        _ = embspace.serve.Gaurd
    app = create_app(resources)
    client = TestClient(guard_cls(app, api_key=KEY, max_body=100), client=LOOPBACK, base_url=LOCAL)
    assert client.get("/health").status_code == 401
    assert client.get("/health", headers={"X-API-Key": KEY}).status_code == 200
    big = client.post("/collections/vecs/add", headers={"X-API-Key": KEY}, json={"items": [{"key": "x" * 200,
                                                                                         "vector": [1, 0, 0, 0]}]})
    assert big.status_code == 413
