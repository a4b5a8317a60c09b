"""embspace analyze / fix / cluster / project / compare / dedup."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import embspace
from embspace import EmbeddingSpace, load
from embspace.analysis import FixedSpace, Transform
from embspace.cli.app import app

runner = CliRunner()


def _space(tmp_path: Path, name: str = "s", seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((400, 16)).astype(np.float32) + 2.0
    x[1] = x[0]
    p = tmp_path / name
    EmbeddingSpace([f"w{i}" for i in range(400)], x).save(p)
    return p


def test_analyze_fix_cluster_project_compare_dedup(tmp_path: Path) -> None:
    s = _space(tmp_path)
    r = runner.invoke(app, ["analyze", str(s), "--json"])
    assert r.exit_code == 0, r.output
    report = json.loads(r.output)
    assert set(report) == {"norms", "anisotropy", "intrinsic_dimension", "hubness"}
    assert report["anisotropy"]["mean_cosine"] > 0.3
    r = runner.invoke(app, ["analyze", str(s)])
    assert r.exit_code == 0 and "mean cosine" in r.output

    r = runner.invoke(app, ["fix", str(s), "--whiten", "--dim", "8", "-o", str(tmp_path / "w")])
    assert r.exit_code == 0, r.output
    assert load(tmp_path / "w").dim == 8 and Transform.load(tmp_path / "w" / "transform.npz").out_dim == 8
    assert not (tmp_path / "w.transform.npz").exists()  # a directory keeps its transform: no second copy beside it
    assert isinstance(embspace.open(tmp_path / "w"), FixedSpace)
    r = runner.invoke(app, ["fix", str(s), "--center", "-o", str(tmp_path / "c.npy"), "--json"])
    assert r.exit_code == 0, r.output  # a file format keeps the vectors only: the transform goes beside it
    assert json.loads(r.output)["transform"] == str(tmp_path / "c.npy.transform.npz")
    assert load(tmp_path / "c.npy").dim == 16 and Transform.load(tmp_path / "c.npy.transform.npz").out_dim == 16
    r = runner.invoke(app, ["fix", str(s), "--center", "--whiten", "-o", str(tmp_path / "x")])
    assert r.exit_code == 2

    r = runner.invoke(app, ["cluster", str(s), "--k", "3", "-o", str(tmp_path / "c.tsv")])
    assert r.exit_code == 0 and "k-means: 3 clusters" in r.output
    assert len((tmp_path / "c.tsv").read_text().splitlines()) == 400

    r = runner.invoke(app, ["project", str(s), "--method", "pca", "-o", str(tmp_path / "map")])
    assert r.exit_code == 0 and (tmp_path / "map" / "coords.npy").is_file()
    labels = tmp_path / "labels.tsv"
    labels.write_text("".join(f"w{i}\t{'ab'[i % 2]}\n" for i in range(400)), encoding="utf-8")
    r = runner.invoke(app, ["project", str(s), "--method", "pca", "--labels", str(labels)])  # beside the space
    assert r.exit_code == 0, r.output
    from embspace.analysis.maps import SpaceMap, map_path

    m = SpaceMap.load(map_path(s, "default"))  # what `embspace serve` shows in the projector
    assert list(m.fields["label"][:2]) == ["a", "b"] and 0.3 < float(m.fields["knn_error"].mean()) < 0.7

    r = runner.invoke(app, ["compare", str(s), str(s), "--json", "--top", "300"])
    assert r.exit_code == 0, r.output
    c = json.loads(r.output)
    assert c["procrustes_accuracy"] >= 0.99 and c["neighbor_overlap"] == 1.0

    r = runner.invoke(app, ["dedup", str(s), "-t", "0.999", "--json"])
    assert r.exit_code == 0 and json.loads(r.output) == [["w0", "w1"]]


def test_analyze_report_writes_html_figures_and_scores_labels(tmp_path: Path) -> None:
    s = _space(tmp_path)
    labels = tmp_path / "labels.tsv"
    labels.write_text("".join(f"w{i}\t{i % 2}\n" for i in range(400)), encoding="utf-8")
    out = tmp_path / "rep" / "report.html"
    r = runner.invoke(app, ["analyze", str(s), "--report", str(out), "--map", "pca", "--clusters", "4",
                            "--labels", str(labels), "--json"])
    assert r.exit_code == 0, r.output
    data = json.loads(r.output)
    assert data["clustering"]["n_clusters"] == 4 and data["clustering"]["nmi"] is not None
    assert data["recommendations"] and data["sample"] == 400
    page = out.read_text(encoding="utf-8")
    assert "data:image/png;base64," in page and "Fixes tried" in page
    assert (tmp_path / "rep" / "report_figures" / "map.png").read_bytes()[:4] == b"\x89PNG"
    r = runner.invoke(app, ["analyze", str(s), "--report", str(out), "--map", "bogus"])
    assert r.exit_code == 2
    labels.write_text("w0\t1\n", encoding="utf-8")
    r = runner.invoke(app, ["analyze", str(s), "--report", str(out), "--labels", str(labels)])
    assert r.exit_code == 2 and "no label" in r.output


def _close(a: object, b: object, where: str = "") -> None:
    """Equal figures: numbers within 1e-6 relative (see the test), everything else exactly."""
    if isinstance(a, dict) and isinstance(b, dict):
        assert set(a) == set(b), where
        for key in a:
            _close(a[key], b[key], f"{where}.{key}")
    elif isinstance(a, list | tuple) and isinstance(b, list | tuple):
        assert len(a) == len(b), where
        for i, (u, v) in enumerate(zip(a, b, strict=True)):
            _close(u, v, f"{where}[{i}]")
    elif isinstance(a, float) or isinstance(b, float):
        assert a == pytest.approx(b, rel=1e-6, abs=1e-9), where
    else:
        assert a == b, where


def test_analyze_and_its_report_say_what_they_measured_and_agree(tmp_path: Path) -> None:
    """`analyze` and `analyze --report`, asked the same thing (same --sample and --k), give the same figures
    and say they measured the same vectors. A cosine space whose vectors are far from unit length (norms
    around 9) with a duplicate row: where one side normalised and the other did not, or one took distances
    from float32 search scores (a duplicate then sits at a tiny non-zero distance), they disagreed.
    Tolerance 1e-6 relative: both run the same code on the same seeded rows; the report shares one k-NN pass
    between intrinsic dimension and hubness (max(20, k) neighbours) where the summary runs one per measure,
    so only float rounding may differ."""
    s = _space(tmp_path)
    args = ["--sample", "300", "--k", "7"]
    r = runner.invoke(app, ["analyze", str(s), "--json", *args])
    assert r.exit_code == 0, r.output
    summary = json.loads(r.output)
    out = tmp_path / "rep" / "report.html"
    r = runner.invoke(app, ["analyze", str(s), "--report", str(out), "--map", "none", "--json", *args])
    assert r.exit_code == 0, r.output
    report = json.loads(r.output)
    assert report["sample"] == 300
    want = {"norms": "raw", "anisotropy": "unit", "intrinsic_dimension": "unit", "hubness": "unit"}
    for name, vectors in want.items():
        assert summary[name]["vectors"] == report[name]["vectors"] == vectors, name
        _close(summary[name], report[name], name)
    assert summary["hubness"]["k"] == 7 and summary["intrinsic_dimension"]["n"] == 300

    said = ("measured on 300 rows: norms on the raw vectors, anisotropy on the unit vectors, intrinsic dimension "
            "and hubness on the unit vectors (cosine compares those)")
    text = runner.invoke(app, ["analyze", str(s), *args])
    assert text.exit_code == 0 and said in text.output
    assert "intrinsic dimension (unit vectors):" in text.output and "norms (raw vectors):" in text.output
    text = runner.invoke(app, ["analyze", str(s), "--report", str(out), "--map", "none", *args])
    assert text.exit_code == 0 and said in text.output
    page = out.read_text(encoding="utf-8")
    assert "Intrinsic dimension <small class=meta>(on the unit vectors)</small>" in page
    assert "norms on the raw vectors, anisotropy on the unit vectors" in page
