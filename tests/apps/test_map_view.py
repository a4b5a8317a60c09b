"""MapView on concept axes (issue 27): the points of a map placed by their projections on two directions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from embspace import EmbeddingSpace
from embspace.analysis import direction
from embspace.apps.map_view import MapView, axes_header
from embspace.apps.schemas import ConceptAxis, MapAxes
from embspace.errors import InvalidInputError


def words() -> EmbeddingSpace:
    """Gender on dimension 0, wealth on dimension 1, and 60 random words."""
    rng = np.random.default_rng(0)
    vecs: dict[str, np.ndarray] = {}
    for ws, axis, sign in ((["man", "he", "king"], 0, -1), (["woman", "she", "queen"], 0, 1),
                           (["poor", "beggar"], 1, -1), (["rich", "wealthy"], 1, 1)):
        for w in ws:
            v = 0.3 * rng.normal(size=8)
            v[axis] = 2.0 * sign
            vecs[w] = v.astype(np.float32)
    for i in range(60):
        vecs[f"w{i}"] = rng.normal(size=8).astype(np.float32)
    return EmbeddingSpace.from_dict(vecs)


X = {"positive": ["woman", "she", "queen"], "negative": ["man", "he", "king"]}
Y = {"positive": ["rich", "wealthy"], "negative": ["poor", "beggar"]}


def test_axes_are_the_projections_on_the_directions() -> None:
    space = words()
    view = MapView.open(space)
    coords, axes = view.axes(X, Y)
    assert coords.shape == (len(space), 2) and coords.dtype == np.float32 and coords.flags.c_contiguous
    keys = view.projection.keys
    rows = [space.keys.index(k) for k in keys]
    dx, dy = direction(space, X["positive"], X["negative"]), direction(space, Y["positive"], Y["negative"])
    # the same float32 rows and direction through the same product; a tolerance all the same (float32 scores)
    assert np.allclose(coords[:, 0], space.project(dx)[rows], atol=1e-6)
    assert np.allclose(coords[:, 1], space.project(dy)[rows], atol=1e-6)
    assert np.allclose(view.project(dx), space.project(dx)[rows], atol=1e-6)
    assert isinstance(axes, MapAxes) and axes.size == len(space)
    assert axes.x.low == "man, he, ..." and axes.x.high == "woman, she, ..."
    assert axes.x.name == "man, he, ... -> woman, she, ..."
    assert axes.x.reliability == 1.0 and axes.x.auc == 1.0 and axes.x.n_positive == 3 and axes.x.n_negative == 3
    assert axes.x.min == pytest.approx(float(coords[:, 0].min()))
    assert axes.y.max == pytest.approx(float(coords[:, 1].max()))
    assert abs(axes.cosine - float(dx.vector @ dy.vector)) < 1e-6
    # ConceptAxis models, a name, pca pairs, a positive pole only
    _, a2 = view.axes(ConceptAxis(**X, name="gender"), ConceptAxis(positive=["rich"]))
    assert a2.x.name == "gender" and a2.y.low == "" and a2.y.high == "rich" and a2.y.reliability is None
    dp = direction(space, X["positive"], X["negative"], method="pca")
    c3, a3 = view.axes(X, Y, method="pca")
    assert a3.x.method == "pca" and np.allclose(c3[:, 0], space.project(dp)[rows], atol=1e-6)
    assert '"x":' in axes_header(axes) and axes_header(axes).isascii()


def test_missing_words_are_left_out_and_listed() -> None:
    view = MapView.open(words())
    _, axes = view.axes({"positive": ["woman", "she", "nobody"], "negative": ["man"]}, Y)
    assert axes.x.missing == ["nobody"] and axes.x.n_missing == 1 and axes.x.n_positive == 2


def test_a_map_of_a_sample_projects_its_own_points(tmp_path: Path) -> None:
    from embspace.analysis.maps import SpaceMap

    space = words()
    keys = list(space.keys[::-3])  # a map of a third of the space, in another order
    sample = MapView(space, SpaceMap("pca", 2, space.dim, keys, np.zeros((len(keys), 2), np.float32), {}))
    coords, _ = sample.axes(X, Y)
    dx = direction(space, X["positive"], X["negative"])
    assert np.allclose(coords[:, 0], space.project(dx)[[space.keys.index(k) for k in keys]], atol=1e-6)


def test_a_collection_of_vectors(tmp_path: Path) -> None:
    from embspace.store import Collection

    space = words()
    with Collection.create(tmp_path / "c", dim=space.dim, metric="cosine") as col:
        col.add(list(space.keys), np.asarray(space.vectors))
        view = MapView.open(col)
        coords, axes = view.axes(X, Y)
        mine = col.to_space()
        dx = direction(mine, X["positive"], X["negative"])
        rows = [mine.keys.index(k) for k in view.projection.keys]
        # vectors read back from the collection (stored normalised): the same direction and scores within float32
        assert np.allclose(coords[:, 0], mine.project(dx.vector)[rows], atol=1e-5)
        assert not axes.x.encoded and axes.x.reliability == 1.0
        with pytest.raises(InvalidInputError, match="no text encoder"):
            view.axes({"positive": ["cats"]}, Y)


class FakeEncoder:
    """Texts to vectors of the space: a text that is a key gets that key's vector, another the mean of its
    words' vectors (the words that are keys)."""

    name = "fake"

    def __init__(self, space: EmbeddingSpace) -> None:
        self.space = space
        self.provenance = space.provenance
        self.space_id = space.space_id
        self.seen: list[str] = []

    def encode(self, items: list[str], **_: Any) -> np.ndarray:
        self.seen.extend(items)
        return np.stack([np.mean([self.space[w] for w in t.split() if w in self.space], axis=0) for t in items])


def test_texts_go_through_the_encoder_when_they_are_not_keys() -> None:
    space = words()
    enc = FakeEncoder(space)
    view = MapView.open(space, encoder=enc)
    x = {"positive": ["woman she", "queen"], "negative": ["man he", "king"]}
    assert view.axis_texts(x, Y) == ["woman she", "queen", "man he", "king"]  # what the server's gate counts
    coords, axes = view.axes(x, Y)
    assert axes.x.encoded and not axes.y.encoded and axes.x.n_missing == 0
    d = direction(space, x["positive"], x["negative"], encoder=enc)
    rows = [space.keys.index(k) for k in view.projection.keys]
    assert np.allclose(coords[:, 0], space.project(d)[rows], atol=1e-6)
    assert view.axis_texts(X, Y) is None  # keys only: nothing to encode


@pytest.mark.parametrize(("x", "method", "match"), [
    ({"positive": []}, "mean", "at least one positive"),
    ({"positive": "woman"}, "mean", "not valid"),
    ({"positive": ["wommen", "qeen"]}, "mean", "did you mean"),
    ({"positive": ["woman"], "negative": ["nobody"]}, "mean", "none of the negative"),
    ({"positive": ["woman", "she"], "negative": ["man"]}, "pca", "pairs"),
    ({"positive": ["woman"], "negative": ["woman"]}, "mean", "no direction"),
    ({"positive": ["woman"]}, "nope", "method"),
])
def test_errors_say_what_to_fix(x: dict[str, Any], method: str, match: str) -> None:
    view = MapView.open(words())
    with pytest.raises(InvalidInputError, match=match):
        view.axes(x, Y, method=method)
