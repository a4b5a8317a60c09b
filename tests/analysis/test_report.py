"""The analysis report: it reads the planted problems out, recommends the fixes, and renders."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from embspace import EmbeddingSpace
from embspace.analysis import Report, report
from embspace.errors import InvalidInputError


def _problem_space(n: int = 1500, dim: int = 32, seed: int = 0) -> EmbeddingSpace:
    """Clusters, a common direction and one rogue coordinate."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((6, dim)) * 3
    x = centres[rng.integers(0, 6, n)] + rng.standard_normal((n, dim))
    x[:, 7] += 12.0
    return EmbeddingSpace([f"k{i}" for i in range(n)], x.astype(np.float32))


@pytest.fixture(scope="module")
def made() -> Report:
    space = _problem_space()

    def evaluate(s: EmbeddingSpace) -> float:  # a toy task: how often the nearest key shares the cluster
        res = s.neighbors(list(s.keys[:300]), 1)
        x = space.vectors[[space.index_of(k[0]) for k in res.keys]]
        return float(np.mean(np.abs(x[:, :7] - space.vectors[:300, :7]).sum(axis=1) < 30))

    return report(space, evaluate=evaluate, evaluation_name="toy task", map_method="pca", clusters=6,
                  labels=[str(i % 3) for i in range(1500)], progress=False)


def test_the_report_finds_and_names_the_problems(made: Report) -> None:
    assert made.anisotropy.mean_cosine > 0.3 and made.anisotropy.rogue_dimensions[0][0] == 7
    text = " ".join(made.recommendations)
    assert "anisotropic" in text and "Rogue dimensions (7" in text
    assert made.sample == 1500 and made.clustering is not None and made.clustering.n_clusters == 6
    fixes = {f.fix for f in made.fixes}
    assert {"center", "all-but-the-top", "whiten-pca", "whiten-zca", "standardize", "csls",
            "mutual-proximity"} <= fixes
    assert all(f.evaluation_before is not None and f.evaluation_after is not None for f in made.fixes)
    centre = next(f for f in made.fixes if f.fix == "center")
    assert centre.isotropy_after > centre.isotropy_before
    assert set(made.figures) == {"norms", "cosine_shares", "spectrum", "occurrence", "map"}
    assert sum(made.steps.values()) <= made.seconds + 1
    d = made.to_dict()
    assert d["intrinsic_dimension"]["nominal"] == 32 and "lengths" not in d["norms"]


def test_the_report_renders_one_self_contained_page(made: Report, tmp_path: Path) -> None:
    out = made.save(tmp_path / "r.html")
    page = out.read_text(encoding="utf-8")
    assert page.startswith("<!doctype html>") and page.count("data:image/png;base64,") == 5
    assert "toy task" in page and "Neighbourhood stability" in page and "<script" not in page
    assert sorted(p.name for p in (tmp_path / "r_figures").iterdir()) == [
        "cosine_shares.png", "map.png", "norms.png", "occurrence.png", "spectrum.png"]


def test_sampling_bounds_the_neighbour_work() -> None:
    space = _problem_space(3000)
    r = report(space, sample=800, map_method=None, progress=False)
    assert r.sample == 800 and r.n == 3000 and len(r.hubness.k_occurrence) == 800
    assert "map" not in r.figures and r.clustering is not None and len(r.clustering.labels) == 800


def test_a_map_made_already_is_drawn_instead_of_a_new_one() -> None:
    from embspace.analysis import project

    space = _problem_space(400)
    proj = project(space, "pca", seed=0)
    r = report(space, projection=proj, map_method="umap", progress=False)  # map_method is ignored
    assert "map" in r.figures and "map (pca, given)" in r.steps and "map (umap)" not in r.steps
    part = report(space, sample=200, projection=proj, progress=False)  # drawn where its points were analysed
    assert "map" in part.figures
    with pytest.raises(InvalidInputError, match="4-d"):
        report(space, projection=project(EmbeddingSpace([f"k{i}" for i in range(10)],
                                                        np.eye(10, 4, dtype=np.float32)), "pca"))


def test_report_rejects_bad_input() -> None:
    with pytest.raises(InvalidInputError):
        report(np.zeros((50, 4)))  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError):
        report(_problem_space(10))
    with pytest.raises(InvalidInputError):
        report(_problem_space(100), labels=["a"])
    with pytest.raises(InvalidInputError):
        report(_problem_space(100), map_method="mds")


@pytest.mark.parametrize(("metric", "vectors"), [("cosine", "unit"), ("l2", "raw"), ("dot", "raw")])
def test_the_report_and_the_summary_agree_and_say_which_vectors(metric: str, vectors: str) -> None:
    """For the same sample and k, the report's diagnostics are the summary's (`embspace analyze`), on the
    vectors the metric compares. Tolerance 1e-6 relative: the same code on the same seeded rows; only the
    report's shared k-NN pass (max(20, k) neighbours, one pass for two measures) may round differently."""
    from embspace.analysis import summary

    rng = np.random.default_rng(7)
    x = (rng.standard_normal((240, 12)) * rng.uniform(0.5, 3.0, (240, 1)) + 1.0).astype(np.float32)
    x[1] = x[0]  # a duplicate: at distance 0 on both sides
    space = EmbeddingSpace([f"k{i}" for i in range(240)], x, metric=metric)  # type: ignore[arg-type]
    s = summary(space, sample=200, k=6)
    d = report(space, sample=200, k=6, map_method=None, progress=False).to_dict()
    for name in ("norms", "anisotropy", "intrinsic_dimension", "hubness"):
        assert s[name]["vectors"] == d[name]["vectors"], name
        for key, value in s[name].items():
            if isinstance(value, float):
                assert d[name][key] == pytest.approx(value, rel=1e-6, abs=1e-9), (name, key)
            else:
                assert d[name][key] == value, (name, key)
    assert (s["norms"]["vectors"], s["anisotropy"]["vectors"]) == ("raw", "unit")
    assert s["intrinsic_dimension"]["vectors"] == s["hubness"]["vectors"] == vectors
