"""embspace collection create|info|add|delete|compact|export and embspace search."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import embspace
from embspace.cli.app import app

pytest.importorskip("faiss")


def _run(*args: str) -> object:
    res = CliRunner().invoke(app, list(args))
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout) if "--json" in args else res.stdout


def test_collection_commands_round_trip(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    vecs = rng.standard_normal((40, 8)).astype(np.float32)
    embspace.EmbeddingSpace([f"w{i}" for i in range(40)], vecs).save(tmp_path / "space")
    col = str(tmp_path / "col")
    info = _run("collection", "create", col, "--dim", "8", "--index", "HNSW32", "--json")
    assert info["count"] == 0 and info["dim"] == 8  # type: ignore[index]
    assert _run("collection", "add", col, str(tmp_path / "space"), "--json") == {"added": 40, "count": 40}
    hits = _run("search", col, "w3", "--key", "-k", "3", "--json")["hits"]  # type: ignore[index]
    assert len(hits) == 3 and all(h["key"] != "w3" for h in hits)
    assert _run("collection", "delete", col, "w1", "w2", "--json") == {"deleted": 2, "count": 38}
    assert "compacted: 38" in str(_run("collection", "compact", col))
    _run("collection", "export", col, "-o", str(tmp_path / "out.jsonl"))
    assert len((tmp_path / "out.jsonl").read_text().splitlines()) == 38
    _run("collection", "export", col, "-o", str(tmp_path / "out-space"))
    assert len(embspace.load(tmp_path / "out-space")) == 38
    assert "count" in str(_run("collection", "info", col))
    tuned = _run("index", "tune", col, "--recall", "0.9", "-k", "5", "--queries", "20", "--json")
    assert tuned["reached"] and tuned["recall"] >= 0.9 and "efSearch" in tuned["params"]  # type: ignore[index]
    with embspace.Collection.open(col, readonly=True) as c:  # the tuned parameters were saved with the index
        c.search(vecs[0], k=1)
        assert c._index.params["efSearch"] == tuned["params"]["efSearch"]  # type: ignore[index]


def test_texts_with_metadata_and_filters(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "encoders"))
    from text_testing import build_st  # the tiny BERT sentence model of the encoder tests

    model = build_st(tmp_path / "m")
    src = tmp_path / "docs.jsonl"
    rows = [{"id": f"d{i}", "text": t, "lang": "en" if i % 2 else "fr"}
            for i, t in enumerate(["the cat sat", "a river bank", "money in the bank", "the dog sat"])]
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    col = str(tmp_path / "col")
    _run("collection", "create", col, "--model", str(model), "--index", "Flat")
    _run("collection", "add", col, str(src), "--key-field", "id")
    hits = _run("search", col, "the cat sat", "-k", "4", "--where", "lang = 'fr'", "--json")["hits"]  # type: ignore[index]
    assert hits[0]["key"] == "d0" and {h["metadata"]["lang"] for h in hits} == {"fr"}
    from embspace.cli.app import main

    with pytest.raises(SystemExit) as e:
        main(["search", col, "cat", "--where", "lang = "])
    assert e.value.code == 2 and "invalid filter at column 8" in capsys.readouterr().err
