"""``embspace serve`` as a user meets it: the port (taken before anything is announced; a free one when the
default is busy), what it announces (projector, docs, CORS, what it skipped and why), and a running server
that leaves the CLI free to write its collections (and, when the two meet, CLI advice)."""

from __future__ import annotations

import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

import embspace
from embspace.cli import _serve
from embspace.cli.app import app as cli
from embspace.cli.app import main
from embspace.store import Collection

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "serve"))

pytest.importorskip("fastapi")
runner = CliRunner()
EYE = np.eye(4, dtype=np.float32)


@pytest.fixture()
def busy_port() -> Iterator[int]:
    """A loopback port something listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        yield int(s.getsockname()[1])


@pytest.fixture()
def data(tmp_path: Path) -> Path:
    d = tmp_path / "data"
    with Collection.create(d / "vecs", dim=4) as col:
        col.add(["a", "b", "c"], EYE[:3])
    embspace.EmbeddingSpace(["x", "y"], EYE[:2]).save(d / "words")
    (d / "broken.txt").write_text("2 3\nx 1 2 3\ny 1 2\n", encoding="utf-8")
    return d


@pytest.fixture()
def served(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """What ``embspace serve`` would run, recorded instead of served (then closed)."""
    runs: list[dict[str, Any]] = []

    def fake_run(app: Any, *, host: str, port: int, log_level: str = "info", sock: Any = None) -> None:
        runs.append({"app": app, "host": host, "port": port, "sock_port": sock.getsockname()[1] if sock else None,
                     "url": app.state.resources.url})
        app.state.resources.close()

    monkeypatch.setattr(_serve, "run_app", fake_run)
    return runs


def test_a_busy_port_given_with_port_fails_before_anything_is_announced(busy_port: int, data: Path,
                                                                         served: list[dict[str, Any]]) -> None:
    r = runner.invoke(cli, ["serve", "--port", str(busy_port), "--data-dir", str(data)])
    assert r.exit_code == 2 and served == []
    assert r.stdout == ""  # nothing announced
    assert f"port {busy_port} on 127.0.0.1 is in use" in r.output and "--port" in r.output


def test_a_busy_default_port_gives_way_to_a_free_one_and_the_announcement_says_all(
        busy_port: int, data: Path, served: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_serve, "DEFAULT_PORT", busy_port)
    r = runner.invoke(cli, ["serve", "--data-dir", str(data), "--cors-origin", "http://localhost:3000",
                            "--cors-origin", "http://127.0.0.1:5173/"])
    assert r.exit_code == 0, r.output
    port = served[0]["port"]
    assert port != busy_port and served[0]["sock_port"] == port  # served on the socket it announced
    url = f"http://127.0.0.1:{port}"
    assert served[0]["url"] == url  # what a CLI kept waiting is told
    lines = r.stdout.splitlines()
    assert lines[0] == f"(port {busy_port} is taken: using {port})"
    assert lines[1].startswith(f"embspace API on {url}") and "1 collections, 1 spaces" in lines[1]
    assert f"Web projector: {url}/projector/" in lines
    assert f"API docs:      {url}/docs  (ReDoc: {url}/redoc)" in lines
    assert "CORS: web pages of http://localhost:3000, http://127.0.0.1:5173 may call it from a browser" in lines
    assert [x for x in lines if x.startswith("skipped")] == [
        f"skipped {data / 'broken.txt'}: line 3: expected a key and 3 values, found 2 values"]
    assert "not serving" not in r.output  # said once, in the announcement (not again as a log warning)


def test_port_zero_takes_any_free_port(data: Path, served: list[dict[str, Any]]) -> None:
    r = runner.invoke(cli, ["serve", "--port", "0", "--data-dir", str(data)])
    assert r.exit_code == 0, r.output
    assert served[0]["port"] > 0 and "is taken" not in r.stdout


def test_cors_origins_are_refused_in_terms_of_the_flag(data: Path, served: list[dict[str, Any]]) -> None:
    r = runner.invoke(cli, ["serve", "--data-dir", str(data), "--cors-origin", "localhost:3000"])
    assert r.exit_code == 2 and "--cors-origin: 'localhost:3000' is not an origin" in r.output
    r = runner.invoke(cli, ["serve", "--data-dir", str(data), "--cors-origin", "*"])
    assert r.exit_code == 2 and "give --api-key" in r.output and served == []


def test_allowed_hosts_are_names_the_server_answers_to(data: Path, served: list[dict[str, Any]]) -> None:
    from fastapi.testclient import TestClient

    r = runner.invoke(cli, ["serve", "--port", "0", "--data-dir", str(data), "--allowed-host", "box.lan",
                            "--allowed-host", "10.1.2.3"])
    assert r.exit_code == 0, r.output
    client = TestClient(served[0]["app"], client=("127.0.0.1", 4000))
    for host, status in [("box.lan:8000", 200), ("10.1.2.3", 200), ("localhost", 200),
                         ("rebind.attacker.example", 421)]:
        assert client.get("/health", headers={"Host": host}).status_code == status, host
    r = runner.invoke(cli, ["serve", "--data-dir", str(data), "--allowed-host", "http://box.lan/"])
    assert r.exit_code == 2 and "--allowed-host: 'http://box.lan/' is not a host name" in r.output


def test_the_serve_limits_are_flags_feeding_the_config(data: Path, served: list[dict[str, Any]]) -> None:
    from fastapi.testclient import TestClient

    from embspace.serve import ServeConfig

    defaults = ServeConfig(data_dir=str(data))  # the flags' defaults are the config's
    flags = (_serve.DEFAULT_MAX_PENDING, _serve.DEFAULT_MAX_ENCODE_CHARS, _serve.DEFAULT_MAX_ENCODES)
    assert flags == (defaults.max_pending, defaults.max_encode_chars, defaults.max_encodes)
    r = runner.invoke(cli, ["serve", "--port", "0", "--data-dir", str(data), "--max-pending", "7",
                            "--max-encode-chars", "1234", "--max-encodes", "2"])
    assert r.exit_code == 0, r.output
    app = served[0]["app"]
    gate = app.state.resources.encode_gate
    assert (gate.max_chars, gate.max_concurrent) == (1234, 2)
    admission = next(m for m in app.user_middleware if m.cls.__name__ == "Admission")
    assert admission.kwargs["max_pending"] == 7
    TestClient(app, base_url="http://127.0.0.1:8000").get("/health")  # the app builds with them
    r = runner.invoke(cli, ["serve", "--data-dir", str(data), "--max-encodes", "0"])
    assert r.exit_code == 2 and "--max-encodes" in r.output and served[1:] == []


# ---------------------------------------------------------------------------------- a running server
@pytest.fixture()
def server(data: Path) -> Iterator[Any]:
    """The app `embspace serve --port 8123 DATA` builds (its collections opened as it opens them)."""
    from embspace.serve import ServeConfig

    app = _serve.build_app(ServeConfig(data_dir=str(data), port=8123))
    yield app
    app.state.resources.close()


def test_a_running_server_does_not_keep_the_cli_from_writing(server: Any, data: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    from fastapi.testclient import TestClient

    client = TestClient(server, client=("127.0.0.1", 4000), base_url="http://127.0.0.1:8000")
    assert client.get("/collections/vecs/count").json() == {"count": 3}
    start = time.perf_counter()
    main(["collection", "delete", str(data / "vecs"), "a"])
    assert time.perf_counter() - start < 5  # no 10 s wait for a lock the idle server does not hold
    assert "deleted 1 items" in capsys.readouterr().out
    assert client.get("/collections/vecs/count").json() == {"count": 2}  # the server sees the CLI's write
    r = client.post("/collections/vecs/add", json={"items": [{"key": "d", "vector": [0, 0, 0, 1]}]})
    assert r.status_code == 200  # and writes after it


def test_a_cli_write_that_meets_the_server_writing_gets_cli_advice(server: Any, data: Path,
                                                                  capsys: pytest.CaptureFixture[str],
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from fastapi.testclient import TestClient

    monkeypatch.setitem(Collection.open.__func__.__kwdefaults__, "timeout", 0.2)  # type: ignore[attr-defined]
    col = server.state.resources.get("collection", "vecs").obj
    real = col._write
    exits: list[object] = []

    def write_while_the_cli_tries(*args: object, **kwargs: object) -> int:
        with pytest.raises(SystemExit) as info:
            main(["collection", "delete", str(data / "vecs"), "b"])
        exits.append(info.value.code)
        return real(*args, **kwargs)  # type: ignore[no-any-return]

    monkeypatch.setattr(col, "_write", write_while_the_cli_tries)
    client = TestClient(server, client=("127.0.0.1", 4000), base_url="http://127.0.0.1:8000")
    assert client.post("/collections/vecs/upsert", json={"items": [{"key": "a", "vector": [0, 1, 0, 0]}]}
                       ).status_code == 200
    assert exits == [2]
    err = " ".join(capsys.readouterr().err.split())
    assert "readonly=True" not in err  # no Python advice on the command line
    assert f"embspace serve (pid {__import__('os').getpid()}) is writing to {data / 'vecs'}" in err
    assert "POST http://127.0.0.1:8123/collections/vecs/add" in err and "http://127.0.0.1:8123/docs" in err


def test_a_cli_write_that_meets_another_writer_is_told_who_and_what_to_do(data: Path,
                                                                         capsys: pytest.CaptureFixture[str],
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(Collection.open.__func__.__kwdefaults__, "timeout", 0.2)  # type: ignore[attr-defined]
    with Collection.open(data / "vecs"), pytest.raises(SystemExit) as info:  # a script holding it for writing
        main(["collection", "delete", str(data / "vecs"), "b"])
    assert info.value.code == 2
    err = " ".join(capsys.readouterr().err.split())
    assert f"{data / 'vecs'} is being written by another process (pid {__import__('os').getpid()}, `" in err
    assert "retry when it is done, or stop it" in err and "readonly=True" not in err
