"""`embspace budget` on a tiny collection: the table, the JSON and the plot."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from embspace import Collection
from embspace.cli.app import app

runner = CliRunner()


def test_budget_cli_smoke(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((400, 16)).astype(np.float32)
    col = Collection.create(tmp_path / "col", dim=16, index="Flat")
    col.add([f"d{i}" for i in range(len(x))], x)
    col.close()
    np.save(tmp_path / "q.npy", x[:20] + 0.1 * rng.standard_normal((20, 16)).astype(np.float32))
    out_json, out_png = tmp_path / "b.json", tmp_path / "b.png"
    r = runner.invoke(app, ["budget", str(tmp_path / "col"), "--queries", str(tmp_path / "q.npy"),
                            "--precisions", "float32", "--indexes", "Flat", "--indexes", "exact", "--dims", "16,8",
                            "--repeats", "1", "--quiet", "--json", str(out_json), "--plot", str(out_png)])
    assert r.exit_code == 0, r.output
    assert "recall@10" in r.output and "keeps" in r.output
    data = json.loads(out_json.read_text())
    assert {(c["dim"], c["index"]) for c in data["candidates"]} == {(16, "Flat"), (8, "Flat"), (16, "exact"),
                                                                    (8, "exact")}
    assert data["recommended"] is not None
    assert out_png.read_bytes()[:4] == b"\x89PNG"


def test_budget_cli_bad_list(tmp_path: Path) -> None:
    r = runner.invoke(app, ["budget", str(tmp_path), "--queries", str(tmp_path / "q.npy"), "--dims", "a,b"])
    assert r.exit_code == 2
