"""embspace ingest / retrieve: a folder of documents in, cited passages out (JSON and tables), clear errors."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from embspace.cli.app import app, main

pytest.importorskip("sentence_transformers")
pytest.importorskip("bm25s")
runner = CliRunner()
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "apps"))
from rag_testing import RARE, tiny_model, write_docs  # noqa: E402


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(tiny_model(tmp_path_factory.mktemp("tiny")))


def test_ingest_then_retrieve_end_to_end(model: str, tmp_path: Path) -> None:
    docs = write_docs(tmp_path / "docs")
    (docs / "skip.bin").write_bytes(b"\x00")
    coll = tmp_path / "coll"
    r = runner.invoke(app, ["ingest", str(docs), "-c", str(coll), "--encoder", model, "--json"])
    assert r.exit_code == 0, r.output + repr(r.exception)
    report = json.loads(r.stdout)
    assert report["documents"] == 5 and report["chunks"] >= 5 and report["collection"] == str(coll)
    assert report["skipped"] == ["skip.bin: unsupported file type '.bin' (readable: .htm, .html, .markdown, .md, "
                                 ".pdf, .text, .txt)"]

    r = runner.invoke(app, ["ingest", str(docs), "-c", str(coll), "--quiet"])  # again: nothing changed
    assert r.exit_code == 0, r.output
    assert "ingested 0 documents (0 chunks)" in r.stdout and "5 unchanged" in r.stdout and "1 skipped" in r.stdout

    r = runner.invoke(app, ["retrieve", str(coll), RARE, "-k", "2", "--mode", "bm25", "--json"])
    assert r.exit_code == 0, r.output + repr(r.exception)
    data = json.loads(r.stdout)
    assert data["mode"] == "bm25" and [p["source"] for p in data["passages"]] == ["rare.txt"]
    p = data["passages"][0]
    text = (docs / "rare.txt").read_text()
    assert text[p["start"]:p["end"]] == p["text"] and p["key"] == "rare.txt#0" and p["title"] == "rare"

    r = runner.invoke(app, ["retrieve", str(coll), "the dog in the river", "-k", "3", "--where",
                            "source = 'animals/dog.txt'", "--json"])
    assert r.exit_code == 0, r.output
    assert {p["source"] for p in json.loads(r.stdout)["passages"]} == {"animals/dog.txt"}

    r = runner.invoke(app, ["retrieve", str(coll), "the cat sat [on] the mat", "-k", "2"])  # a table for people
    assert r.exit_code == 0, r.output
    assert "animals/cat.md:" in r.stdout and "The cat" in r.stdout and "hybrid passages for" in r.stdout


def test_retrieve_errors_are_one_clear_line(model: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    docs = write_docs(tmp_path / "docs", {"a.md": "# A\n\nthe cat"})
    coll = tmp_path / "coll"
    assert runner.invoke(app, ["ingest", str(docs), "-c", str(coll), "-m", model, "-q"]).exit_code == 0
    for args, message in [
        (["retrieve", str(coll), "cat", "--mode", "sparse"], "unknown mode 'sparse'"),
        (["retrieve", str(coll), "  "], "the query is empty"),
        (["retrieve", str(coll), "cat", "-k", "0"], "k must be an integer"),
        (["retrieve", str(tmp_path / "missing"), "cat"], "no collection"),
        (["ingest", str(tmp_path / "nothere"), "-c", str(coll)], "not a directory"),
        (["ingest", str(docs), "-c", str(coll), "--chunk-tokens", "999"], "exceeds the model's maximum"),
    ]:
        with pytest.raises(SystemExit) as exit_info:
            main(args)
        assert exit_info.value.code == 2, args
        err = capsys.readouterr().err
        assert message in " ".join(err.split()) and "Traceback" not in err, (args, err)
