"""Maps: PCA, t-SNE and UMAP, new points placed on an existing map, save and load."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from embspace import EmbeddingSpace
from embspace.analysis import SpaceMap, project
from embspace.errors import DimensionMismatchError, InvalidInputError


def _clusters(n: int = 300, seed: int = 0) -> tuple[EmbeddingSpace, np.ndarray]:
    rng = np.random.default_rng(seed)
    truth = np.arange(n) % 3
    centres = rng.standard_normal((3, 24)) * 6
    x = (centres[truth] + rng.standard_normal((n, 24))).astype(np.float32)
    return EmbeddingSpace([f"p{i}" for i in range(n)], x, metric="l2"), truth


@pytest.mark.parametrize("method", ["pca", "tsne", "umap"])
def test_maps_keep_clusters_apart_and_place_new_points(method: str, tmp_path: Path) -> None:
    if method == "umap":
        pytest.importorskip("umap", reason="umap-learn is not installed")
    space, truth = _clusters()
    m = project(space, method, 2, seed=0)
    assert m.coords.shape == (300, 2) and m.keys == list(space.keys)
    centres = np.stack([m.coords[truth == c].mean(axis=0) for c in range(3)])
    spread = max(float(np.linalg.norm(m.coords[truth == c] - centres[c], axis=1).mean()) for c in range(3))
    gaps = min(float(np.linalg.norm(centres[i] - centres[j])) for i in range(3) for j in range(i + 1, 3))
    assert gaps > 2 * spread  # the three clusters stay apart on the map
    new = space.vectors[truth == 1][:5] + 0.01
    placed = m.transform(new)
    nearest = np.linalg.norm(placed[:, None, :] - centres[None], axis=2).argmin(axis=1)
    assert (nearest == 1).all()  # new points land on their cluster
    back = SpaceMap.load(m.save(tmp_path / "map"))
    np.testing.assert_allclose(back.transform(new), placed, atol=1e-4)
    assert back.method == method and back.keys == m.keys


def test_three_dimensions_sample_and_errors() -> None:
    space, _ = _clusters()
    m = project(space, "pca", 3, sample=100)
    assert m.coords.shape == (100, 3) and len(m.keys) == 100
    with pytest.raises(InvalidInputError):
        project(space, "mds")
    with pytest.raises(InvalidInputError):
        project(space, "pca", 4)
    with pytest.raises(DimensionMismatchError):
        m.transform(np.zeros((2, 5), np.float32))


def test_map_fields_round_trip_and_are_validated(tmp_path: Path) -> None:
    from embspace.analysis import project
    from embspace.analysis.maps import SpaceMap, field_kind

    rng = np.random.default_rng(0)
    space = EmbeddingSpace([f"k{i}" for i in range(30)], rng.normal(size=(30, 6)).astype(np.float32))
    m = project(space, "pca")
    m.add_field("label", [f"c{i % 3}" for i in range(30)]).add_field("score", rng.random(30))
    m.add_field("group", np.arange(30) % 4).add_field("flag", np.arange(30) % 2 == 0)
    assert field_kind(m.fields["score"]) == "numeric" and field_kind(m.fields["group"]) == "categorical"
    m.save(tmp_path / "map")
    back = SpaceMap.load(tmp_path / "map")
    assert list(back.fields) == ["label", "score", "group", "flag"]
    assert list(back.fields["label"]) == [f"c{i % 3}" for i in range(30)]
    assert np.allclose(back.fields["score"], m.fields["score"]) and back.fields["score"].dtype == np.float32
    assert list(back.fields["group"]) == list(np.arange(30) % 4) and back.fields["flag"].dtype == bool
    with pytest.raises(InvalidInputError, match="one value per map point"):
        m.add_field("short", [1, 2])
    with pytest.raises(InvalidInputError, match="field name"):
        m.add_field("../evil", np.zeros(30))


def test_a_pca_map_takes_any_number_of_points() -> None:
    one = EmbeddingSpace(["a"], np.ones((1, 5), np.float32))
    m = project(one, "pca")
    assert m.coords.shape == (1, 2) and not m.coords.any()
    three = EmbeddingSpace(["a", "b", "c"], np.eye(3, 5, dtype=np.float32), metric="l2")
    m = project(three, "pca", 3)
    assert m.coords.shape == (3, 3) and np.allclose(m.coords[:, 2], 0, atol=1e-6)  # rank 2: the third axis is 0
    assert np.allclose(m.transform(three.vectors), m.coords, atol=1e-6)
    with pytest.raises(InvalidInputError, match="tsne map needs more than 3"):
        project(three, "tsne")
    with pytest.raises(InvalidInputError, match="needs more than 0"):
        project(EmbeddingSpace([], np.zeros((0, 5), np.float32)), "pca")
