"""embspace.open and the artifact header: every writer writes ``embspace.json``, every kind opens as its
object, and directories written before the header (the same layout without ``embspace.json``) still open."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np
import pytest

import embspace
from embspace import EmbeddingSpace
from embspace._artifact import HEADER, artifact_kind, check_format_version, read_header, write_header
from embspace.errors import CorruptDataError, InvalidInputError, UnknownFormatError


def _space(n: int = 40, dim: int = 6, seed: int = 0) -> EmbeddingSpace:
    rng = np.random.default_rng(seed)
    return EmbeddingSpace([f"w{i}" for i in range(n)], rng.standard_normal((n, dim)).astype(np.float32))


def _header(path: Path) -> dict[str, object]:
    body: dict[str, object] = json.loads((path / HEADER).read_text("utf-8"))
    return body


def _legacy(path: Path) -> Path:
    """The same directory as written before the header existed."""
    (path / HEADER).unlink()
    assert read_header(path) is None
    return path


# ------------------------------------------------------------------------------------------------ spaces
def test_space_directory_has_a_header_and_opens(tmp_path: Path) -> None:
    s = _space()
    s.save(tmp_path / "s")
    assert _header(tmp_path / "s") | {"embspace_version": "x"} == {
        "kind": "space", "format_version": 1, "embspace_version": "x", "n": 40, "dim": 6, "metric": "cosine"}
    back = embspace.open(tmp_path / "s")
    assert type(back) is EmbeddingSpace and back.keys == s.keys
    np.testing.assert_array_equal(back.vectors, s.vectors)  # stored and read as the same float32 bytes
    legacy = embspace.open(_legacy(tmp_path / "s"))
    assert type(legacy) is EmbeddingSpace and legacy.keys == s.keys
    assert embspace.load(tmp_path / "s").keys == s.keys


@pytest.mark.parametrize("name", ["s.txt", "s.bin", "s.npy", "s.parquet", "s.vec.gz"])
def test_a_space_file_opens_through_load(tmp_path: Path, name: str) -> None:
    s = _space()
    path = s.save(tmp_path / name)
    back = embspace.open(path)
    assert isinstance(back, EmbeddingSpace) and back.keys == s.keys
    # text formats round the decimals; 1e-5 is far above that rounding and far below any real difference
    np.testing.assert_allclose(back.vectors, s.vectors, atol=1e-5)


def test_space_options_reach_the_loader(tmp_path: Path) -> None:
    _space().save(tmp_path / "s")
    assert embspace.open(tmp_path / "s", mmap=False).keys == _space().keys  # the loader's own option
    with pytest.raises(TypeError):
        embspace.open(tmp_path / "s", no_such_option=1)


def test_a_newer_layout_is_refused_by_name(tmp_path: Path) -> None:
    _space().save(tmp_path / "s")
    write_header(tmp_path / "s", "space", 99)
    with pytest.raises(CorruptDataError, match=r"version 99 is newer .* upgrade embspace"):
        embspace.open(tmp_path / "s")
    with pytest.raises(CorruptDataError, match="version 99 is newer"):
        embspace.load(tmp_path / "s")


def test_a_loader_given_another_kind_says_what_it_holds(tmp_path: Path) -> None:
    from embspace.analysis import SpaceMap
    from embspace.index import load_index

    _space().save(tmp_path / "s")
    with pytest.raises(CorruptDataError, match=r"holds a space, not a map; open it with embspace.open\(\)"):
        SpaceMap.load(tmp_path / "s")
    with pytest.raises(CorruptDataError, match="holds a space, not an index"):
        load_index(tmp_path / "s")


def test_load_of_another_artifact_points_to_open(tmp_path: Path) -> None:
    from embspace import Collection

    Collection.create(tmp_path / "c", dim=3).close()
    with pytest.raises(UnknownFormatError, match=r"holds a collection: open it with embspace.open\(\)"):
        embspace.load(tmp_path / "c")


def test_a_space_written_with_an_unknown_kind_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="not 'collection'"):
        _space().save(tmp_path / "s", kind="collection")
    assert not (tmp_path / "s").exists()


# ------------------------------------------------------------------------------------------- fixed spaces
def test_fixed_space_keeps_its_transform_and_report(tmp_path: Path) -> None:
    from embspace.analysis import FixedSpace, whiten

    s = _space()
    fixed = whiten(s, 4)
    fixed.save(tmp_path / "f")
    assert _header(tmp_path / "f")["kind"] == "fixed-space" and _header(tmp_path / "f")["fix"] == "whiten-pca"
    back = embspace.open(tmp_path / "f")
    assert isinstance(back, FixedSpace) and back.keys == s.keys and back.dim == 4
    np.testing.assert_array_equal(back.vectors, fixed.vectors)  # stored bytes, read back as stored
    # the same float64 arithmetic on the same stored parameters: only the last float32 rounding may differ
    np.testing.assert_allclose(back.transform(s.vectors[:5]), fixed.transform(s.vectors[:5]), atol=1e-6)
    assert back.report == fixed.report
    plain = embspace.load(tmp_path / "f")  # the vectors alone, as a plain space
    assert type(plain) is EmbeddingSpace and plain.dim == 4
    assert FixedSpace.load(tmp_path / "f").transform.kind == "whiten-pca"


def test_fixed_space_in_a_file_format_keeps_the_vectors(tmp_path: Path) -> None:
    from embspace.analysis import center

    fixed = center(_space())
    fixed.save(tmp_path / "f.npy")
    back = embspace.open(tmp_path / "f.npy")
    assert type(back) is EmbeddingSpace and back.keys == fixed.keys


def test_fixed_space_of_embspace_fix_before_the_header_opens(tmp_path: Path) -> None:
    """`embspace fix` wrote the space directory with OUTPUT.transform.npz beside it."""
    from embspace.analysis import FixedSpace, center

    s = _space()
    fixed = center(s)
    EmbeddingSpace.save(fixed, tmp_path / "out")  # the plain-space layout of the time
    _legacy(tmp_path / "out")
    fixed.transform.save(tmp_path / "out.transform.npz")
    back = embspace.open(tmp_path / "out")
    assert isinstance(back, FixedSpace) and back.transform.kind == "center"
    np.testing.assert_allclose(back.transform(s.vectors[:3]), fixed.transform(s.vectors[:3]), atol=1e-6)
    assert "without its report" in back.report.explanation
    (tmp_path / "out.transform.npz").unlink()
    assert type(embspace.open(tmp_path / "out")) is EmbeddingSpace
    with pytest.raises(CorruptDataError, match="not a fixed space"):
        FixedSpace.load(tmp_path / "out")


def test_rescored_space_opens_rescored(tmp_path: Path) -> None:
    from embspace.analysis.rescoring import RescoredSpace, csls

    r = csls(_space(), 5)
    r.save(tmp_path / "r")
    back = embspace.open(tmp_path / "r")
    assert isinstance(back, RescoredSpace) and back.rescoring == "csls"
    a, b = back.neighbors("w1", 5), r.neighbors("w1", 5)
    assert list(a.keys) == list(b.keys)
    np.testing.assert_allclose(a.scores, b.scores, atol=1e-6)  # statistics learnt again: same data, same order


# --------------------------------------------------------------------------------------------- collections
def test_collection_has_a_header_and_opens(tmp_path: Path) -> None:
    from embspace import Collection

    s = _space()
    col = Collection.create(tmp_path / "c", dim=6)
    col.add(list(s.keys), s.vectors, [{"i": i} for i in range(len(s))])
    col.close()
    assert _header(tmp_path / "c")["kind"] == "collection" and artifact_kind(tmp_path / "c") == "collection"
    back = embspace.open(tmp_path / "c", readonly=True)
    try:
        assert isinstance(back, Collection) and len(back) == 40 and not back.writable
        assert back.search(s.vectors[3], k=1).keys[0] == "w3"
    finally:
        back.close()
    with embspace.open(_legacy(tmp_path / "c"), readonly=True) as legacy:
        assert isinstance(legacy, Collection) and len(legacy) == 40
    assert read_header(tmp_path / "c") is None  # a reader changes nothing
    with embspace.open(tmp_path / "c") as legacy:
        assert isinstance(legacy, Collection) and len(legacy) == 40 and legacy.writable
    assert _header(tmp_path / "c")["kind"] == "collection"  # the writer added the header


def test_collection_of_a_newer_embspace_is_refused(tmp_path: Path) -> None:
    from embspace import Collection

    Collection.create(tmp_path / "c", dim=3).close()
    write_header(tmp_path / "c", "collection", 7)
    with pytest.raises(CorruptDataError, match="collection format version 7 is newer"):
        embspace.open(tmp_path / "c")


def test_a_collection_is_not_created_over_another_artifact(tmp_path: Path) -> None:
    from embspace import Collection

    _space().save(tmp_path / "s")
    with pytest.raises(InvalidInputError, match="holds a space, not a collection"):
        Collection.create(tmp_path / "s", dim=6)
    assert not (tmp_path / "s" / "collection.sqlite").exists()


def test_the_index_inside_a_collection_carries_its_own_header(tmp_path: Path) -> None:
    from embspace import Collection

    s = _space()
    with Collection.create(tmp_path / "c", dim=6, index="exact") as col:
        col.add(list(s.keys), s.vectors)
        col.search(s.vectors[0], k=1)  # builds and saves the index
    assert artifact_kind(tmp_path / "c" / "index") == "index"
    assert artifact_kind(tmp_path / "c") == "collection"
    with sqlite3.connect(tmp_path / "c" / "collection.sqlite") as db:  # the table is untouched by the header
        assert db.execute("SELECT COUNT(*) FROM items").fetchone() == (40,)


# ------------------------------------------------------------------------------------------------- indexes
@pytest.mark.parametrize("factory", ["exact", "Flat"])
def test_index_has_a_header_and_opens(tmp_path: Path, factory: str) -> None:
    from embspace.index import ExactIndex, FaissIndex

    s = _space()
    index = ExactIndex(6) if factory == "exact" else FaissIndex(6, factory)
    index.add(s.vectors, np.arange(40))
    index.save(tmp_path / "i")
    assert _header(tmp_path / "i")["kind"] == "index"
    for path in (tmp_path / "i", _legacy(tmp_path / "i")):
        back = embspace.open(path)
        assert type(back) is type(index) and back.ntotal == 40
        assert back.search(s.vectors[7], 1).ids[0] == 7


# ---------------------------------------------------------------------------------------------------- maps
def test_map_has_a_header_and_opens(tmp_path: Path) -> None:
    from embspace.analysis import SpaceMap, project

    m = project(_space(), "pca")
    m.save(tmp_path / "m")
    assert _header(tmp_path / "m")["kind"] == "map" and _header(tmp_path / "m")["method"] == "pca"
    for path in (tmp_path / "m", _legacy(tmp_path / "m")):
        back = embspace.open(path)
        assert isinstance(back, SpaceMap) and back.keys == m.keys
        np.testing.assert_array_equal(back.coords, m.coords)  # saved .npy, read back as is


def test_map_view_finds_maps_by_header_and_by_the_old_layout(tmp_path: Path) -> None:
    from embspace.analysis import project
    from embspace.analysis.maps import map_path
    from embspace.apps.map_view import find_map

    s = _space()
    s.save(tmp_path / "s")
    project(s, "pca").save(map_path(tmp_path / "s", "default"))
    assert find_map(tmp_path / "s") == map_path(tmp_path / "s", "default")
    _legacy(map_path(tmp_path / "s", "default"))
    assert find_map(tmp_path / "s") == map_path(tmp_path / "s", "default")
    assert embspace.open(tmp_path / "s").keys == s.keys  # the maps/ folder does not change what the space is


# -------------------------------------------------------------------------------------------- recommenders
def test_recommender_opens(tmp_path: Path) -> None:
    from embspace.data import Interactions
    from embspace.train import MatrixFactorization, Recommender

    rng = np.random.default_rng(0)
    users, items = rng.integers(0, 20, 300), rng.integers(0, 15, 300)
    data = Interactions({"user": [f"u{u}" for u in users], "item": [f"i{i}" for i in items],
                         "rating": rng.uniform(1, 5, 300)})
    rec = MatrixFactorization(dim=4, epochs=3, progress=False).fit(data).recommender_
    rec.save(tmp_path / "r")
    assert _header(tmp_path / "r")["kind"] == "recommender"
    expected = rec.recommend("u1", k=3)
    for path in (tmp_path / "r", _legacy(tmp_path / "r")):  # the legacy layout: model.json without the header
        back = embspace.open(path)
        assert isinstance(back, Recommender)
        got = back.recommend("u1", k=3)
        assert list(got.keys) == list(expected.keys)
        np.testing.assert_allclose(got.scores, expected.scores, atol=1e-5)  # same stored factors, same sums


# -------------------------------------------------------------------------------------------------- models
def test_two_tower_model_opens(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    from embspace.encoders import register_encoder
    from embspace.train import SmallConvNet, TwoTowerClip

    class Words:
        """A frozen 'text encoder': counts of four words."""

        def encode(self, texts: list[str], progress: bool = False) -> np.ndarray:
            return np.array([[t.split().count(w) for w in ("one", "two", "three", "four")] for t in texts],
                            np.float32)

    register_encoder("open-test-words", lambda **_: Words())  # type: ignore[arg-type, return-value]
    rng = np.random.default_rng(0)
    x = (rng.random((40, 16, 16)) * 255).astype(np.uint8)
    captions = [f"a {('one', 'two', 'three', 'four')[i % 4]}" for i in range(40)]
    m = TwoTowerClip(dim=8, image_encoder=SmallConvNet(width=4, dim=8, seed=0), text_encoder="open-test-words",
                     epochs=1, batch_size=20, device="cpu", progress=False).fit(x, captions)
    m.save(tmp_path / "clip")
    assert artifact_kind(tmp_path / "clip") == "model"
    back = embspace.open(tmp_path / "clip")
    assert isinstance(back, TwoTowerClip)
    # the same weights on the same CPU; 1e-6 absorbs any change of kernel between the two module instances
    np.testing.assert_allclose(np.asarray(back.encode(x[:3])), np.asarray(m.encode(x[:3])), atol=1e-6)


# --------------------------------------------------------------------------------------------- checkpoints
def test_checkpoint_has_a_header_and_is_not_opened_as_a_product(tmp_path: Path) -> None:
    from embspace.train import _checkpoint

    _checkpoint.save(tmp_path / "ck", "fp", 2, 5, [1.0, 0.5], {"w": np.ones((2, 2), np.float32)})
    assert _header(tmp_path / "ck")["kind"] == "checkpoint"
    with pytest.raises(InvalidInputError, match="training checkpoint"):
        embspace.open(tmp_path / "ck")
    for path in (tmp_path / "ck", _legacy(tmp_path / "ck")):
        state = _checkpoint.load(path, "fp")
        assert state is not None and state.epoch == 2 and state.job == 5
    write_header(tmp_path / "ck", "space", 1)
    with pytest.raises(CorruptDataError, match="holds a space, not a checkpoint"):
        _checkpoint.load(tmp_path / "ck", "fp")


# ----------------------------------------------------------------------------------------- what is not ours
def test_an_unknown_directory_names_what_it_found_and_what_is_expected(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "notes.txt").write_text("hello")
    (tmp_path / "d" / "sub").mkdir()
    with pytest.raises(UnknownFormatError, match=r"notes.txt, sub/.*expected an artifact directory with an "
                                                 r"embspace.json header.*meta.json"):
        embspace.open(tmp_path / "d")
    (tmp_path / "e").mkdir()
    with pytest.raises(UnknownFormatError, match="it is empty"):
        embspace.open(tmp_path / "e")
    with pytest.raises(FileNotFoundError, match="nothing to open"):
        embspace.open(tmp_path / "missing")


def test_a_broken_header_is_corrupt_data(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / HEADER).write_text("{not json")
    with pytest.raises(CorruptDataError, match="invalid JSON"):
        embspace.open(tmp_path / "d")
    (tmp_path / "d" / HEADER).write_text(json.dumps({"kind": "sofa", "format_version": 1}))
    with pytest.raises(CorruptDataError, match="unknown artifact kind 'sofa'"):
        embspace.open(tmp_path / "d")


def test_check_format_version_accepts_several_kinds(tmp_path: Path) -> None:
    write_header(tmp_path, "fixed-space", 1)
    header = check_format_version(tmp_path, ("space", "fixed-space"), 1)
    assert header is not None and header.kind == "fixed-space"
    with pytest.raises(CorruptDataError, match="holds a fixed space, not a map or a model"):
        check_format_version(tmp_path, ("map", "model"), 1)


def test_open_is_exported_and_leaves_the_builtin_alone() -> None:
    import builtins

    assert "open" in embspace.__all__ and embspace.open is not builtins.open
    assert embspace.open.__module__ == "embspace._open"
