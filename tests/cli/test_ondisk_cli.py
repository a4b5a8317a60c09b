"""embspace collection create --on-disk and embspace search --nprobe (issue 29)."""

from __future__ import annotations

import json
import warnings
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


def test_on_disk_collection_from_the_command_line(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    vecs = rng.standard_normal((1_000, 8)).astype(np.float32)
    embspace.EmbeddingSpace([f"w{i}" for i in range(1_000)], vecs).save(tmp_path / "space")
    col = str(tmp_path / "col")
    info = _run("collection", "create", col, "--dim", "8", "--index", "IVF16,Flat", "--on-disk", "--json")
    assert info["on_disk"] is True and info["count"] == 0  # type: ignore[index]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # FAISS's k-means: few points per centroid for the codec
        _run("collection", "add", col, str(tmp_path / "space"))
        hits = _run("search", col, "w3", "--key", "-k", "3", "--nprobe", "16", "--json")["hits"]  # type: ignore[index]
    assert len(hits) == 3 and all(h["key"] != "w3" for h in hits)
    res = CliRunner().invoke(app, ["collection", "create", str(tmp_path / "bad"), "--dim", "8", "--on-disk"])
    assert res.exit_code != 0 and "IVF" in res.output + str(res.exception)
