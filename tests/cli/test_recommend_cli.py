"""embspace train mf / recommend / evaluate-recs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from embspace.cli.app import app

runner = CliRunner()


def _ratings(path: Path, seed: int = 0) -> Path:
    """Two kinds of users who rate their own kind of item 5 and the other kind 1."""
    rng = np.random.default_rng(seed)
    lines = ["userId,movieId,stars"]
    for u in range(80):
        g = u % 2
        for i in rng.choice(np.arange(g * 20, g * 20 + 20), 8, replace=False):
            lines.append(f"u{u},m{i},5")
        for i in rng.choice(np.arange((1 - g) * 20, (1 - g) * 20 + 20), 3, replace=False):
            lines.append(f"u{u},m{i},1")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_train_recommend_and_evaluate(tmp_path: Path) -> None:
    data = _ratings(tmp_path / "r.csv")
    cols = ["--column", "user=userId", "--column", "item=movieId", "--column", "rating=stars"]
    model = tmp_path / "m"
    r = runner.invoke(app, ["train", "mf", str(data), "-o", str(model), "--objective", "bpr", "--min-rating", "4",
                            "--dim", "8", "--json", *cols])
    assert r.exit_code == 0, r.output
    info = json.loads(r.output)
    assert info["users"] == 80 and info["interactions"] == 640 and (model / "model.json").is_file()

    r = runner.invoke(app, ["recommend", str(model), "u0", "-k", "5", "--json"])
    assert r.exit_code == 0, r.output
    hits = json.loads(r.output)
    assert len(hits) == 5 and sum(int(h["item"][1:]) < 20 for h in hits) >= 4  # u0 likes the first kind

    r = runner.invoke(app, ["recommend", str(model), "--items", "m20,m21,m22", "-k", "5", "--json"])
    assert r.exit_code == 0 and sum(int(h["item"][1:]) >= 20 for h in json.loads(r.output)) >= 4
    r = runner.invoke(app, ["recommend", str(model), "--items", "", "-k", "3", "--json"])
    assert r.exit_code == 0 and len(json.loads(r.output)) == 3  # no history: popular items
    r = runner.invoke(app, ["recommend", str(model), "nobody"])
    assert r.exit_code != 0 and "nobody" in (r.output + str(r.exception))
    r = runner.invoke(app, ["recommend", str(model)])
    assert r.exit_code != 0

    test = _ratings(tmp_path / "t.csv", seed=1)
    r = runner.invoke(app, ["evaluate-recs", str(model), "--test", str(test), "--json", *cols])
    assert r.exit_code == 0, r.output
    scores = json.loads(r.output)
    assert 0 < scores["ndcg@10"] <= 1 and "rmse" not in scores  # BPR: ranking only

    model2 = tmp_path / "m2"
    r = runner.invoke(app, ["train", "mf", str(data), "-o", str(model2), "-q", "--dim", "8", *cols])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["evaluate-recs", str(model2), "--test", str(test), "--json", *cols])
    assert r.exit_code == 0 and json.loads(r.output)["rmse"] < 2.0
    r = runner.invoke(app, ["train", "mf", str(data), "-o", str(model2), "--column", "who=userId"])
    assert r.exit_code != 0
