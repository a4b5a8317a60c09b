"""The EmbeddingSpace contract: the toy example, the array contract, validation, zero vectors,
cosine on unnormalised rows, normalisation, subsets and counts."""

from __future__ import annotations

import numpy as np
import pytest
from space_testing import TOY

import embspace
from embspace import EmbeddingSpace, EmbeddingVector, Provenance
from embspace.errors import (
    DimensionMismatchError,
    EmbspaceError,
    InvalidInputError,
    UnknownKeyError,
    ZeroVectorError,
)

# ----------------------------------------------------------------------------- the toy example


def test_toy_similarity_is_exact(toy: EmbeddingSpace) -> None:
    assert toy.similarity("king", "queen") == 0.5
    assert toy.similarity("king", "apple") == 0.0
    assert isinstance(toy.similarity("king", "queen"), float)


@pytest.mark.parametrize("method", ["3cosadd", "3cosmul"])
def test_toy_analogy_man_king_woman_is_queen(toy: EmbeddingSpace, method: str) -> None:
    result = toy.analogy("man", "king", "woman", method=method)  # type: ignore[arg-type]
    assert result.top == "queen"
    assert result.keys[0] == "queen"


def test_toy_vector_arithmetic_finds_queen(toy: EmbeddingSpace) -> None:
    v = toy["king"] - toy["man"] + toy["woman"]
    result = toy.neighbors(v, k=1)
    assert result.top == "queen"
    assert result.keys == ["queen"]
    assert result.scores[0] == pytest.approx(1.0, abs=1e-6)


def test_toy_docstring_example_via_package_root() -> None:
    space = embspace.EmbeddingSpace.from_dict(TOY)
    assert round(space.similarity("king", "queen"), 3) == 0.5


# ----------------------------------------------------------------------------- array contract


def test_vectors_are_float32_c_contiguous_read_only() -> None:
    data = np.arange(12, dtype=np.float64).reshape(4, 3)[:, ::-1]  # float64, not contiguous
    space = EmbeddingSpace(list("abcd"), data)
    v = space.vectors
    assert v.dtype == np.float32
    assert v.flags.c_contiguous
    assert not v.flags.writeable
    assert v.shape == (4, 3)
    with pytest.raises(ValueError):
        v[0, 0] = 1.0
    np.testing.assert_array_equal(v, data.astype(np.float32))


def test_constructor_copies_by_default() -> None:
    data = np.ones((2, 3), np.float32)
    space = EmbeddingSpace(["a", "b"], data)
    data[0, 0] = 5.0
    assert space.vectors[0, 0] == 1.0
    assert data.flags.writeable  # the caller's array is untouched


def test_copy_false_uses_the_array_read_only() -> None:
    data = np.ones((2, 3), np.float32)
    space = EmbeddingSpace(["a", "b"], data, copy=False)
    assert np.shares_memory(space.vectors, data)
    assert not space.vectors.flags.writeable


def test_getitem_key_is_1d_float32_tagged(toy: EmbeddingSpace) -> None:
    v = toy["king"]
    assert isinstance(v, np.ndarray) and isinstance(v, EmbeddingVector)
    assert v.shape == (4,) and v.dtype == np.float32
    np.testing.assert_array_equal(v, [1, 1, 0, 0])
    v[0] = 9  # a copy: the space is not changed through it
    assert toy.vectors[0, 0] == 1


def test_getitem_list_is_2d(toy: EmbeddingSpace) -> None:
    m = toy[["king", "apple"]]
    assert m.shape == (2, 4) and m.dtype == np.float32
    np.testing.assert_array_equal(m, [[1, 1, 0, 0], [0, 0, 0, 1]])
    assert toy[[]].shape == (0, 4)
    assert toy[("man",)].shape == (1, 4)


def test_mapping_protocol(toy: EmbeddingSpace) -> None:
    assert len(toy) == 5
    assert toy.dim == 4
    assert toy.keys == ("king", "queen", "man", "woman", "apple")
    assert list(toy) == list(toy.keys)
    assert "king" in toy and "kong" not in toy and 3 not in toy and None not in toy
    assert toy.index_of("woman") == 3
    assert toy.get("nope") is None
    np.testing.assert_array_equal(toy.get("queen"), [1, 0, 1, 0])
    assert toy.metric == "cosine"
    assert toy.counts is None


def test_from_dict_keeps_order_and_options() -> None:
    space = EmbeddingSpace.from_dict({"b": [1, 0], "a": [0, 1]}, metric="dot")
    assert space.keys == ("b", "a") and space.metric == "dot"


def test_repr_and_html(toy: EmbeddingSpace) -> None:
    assert "n=5" in repr(toy) and "dim=4" in repr(toy)
    assert "<table>" in toy._repr_html_()


# ----------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("keys", "vectors", "match"),
    [
        (["a", "a"], [[1, 0], [0, 1]], "duplicate key 'a'"),
        (["a", "b"], [[1, np.nan], [0, 1]], "NaN or Inf"),
        (["a", "b"], [[1, 0], [np.inf, 1]], "NaN or Inf"),
        (["a", "b"], [1, 0], "2-D"),
        (["a"], [[[1, 0]]], "2-D"),
        (["a", "b", "c"], [[1, 0], [0, 1]], "3 keys but 2 vectors"),
        (["a"], np.zeros((1, 0)), "dimension 0"),
        (["a", "b"], [[1, 0], [1]], "2-D|shape|inhomogeneous"),
        (["a", "b"], [["x", "y"], ["z", "w"]], "number|float|convert"),
    ],
)
def test_bad_input_is_rejected_with_embspace_error(keys: list[str], vectors: object, match: str) -> None:
    with pytest.raises(InvalidInputError, match=match) as info:
        EmbeddingSpace(keys, vectors)  # type: ignore[arg-type]
    assert isinstance(info.value, EmbspaceError) and isinstance(info.value, ValueError)


def test_nan_error_names_the_key() -> None:
    with pytest.raises(InvalidInputError, match="'b'"):
        EmbeddingSpace(["a", "b"], [[1, 0], [np.nan, 0]])


def test_unknown_metric_rejected() -> None:
    with pytest.raises(InvalidInputError, match="unknown metric 'cosinus'"):
        EmbeddingSpace(["a"], [[1.0]], metric="cosinus")  # type: ignore[arg-type]
    space = EmbeddingSpace(["a"], [[1.0]])
    with pytest.raises(InvalidInputError, match="unknown metric"):
        space.with_metric("manhattan")  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [1.5, None, True, b"a", float("nan")])
def test_keys_other_than_strings_and_integers_rejected(bad: object) -> None:
    """Integer keys are accepted since issue 22 (stored as strings; see tests/space/test_frames.py)."""
    with pytest.raises(TypeError, match="strings"):
        EmbeddingSpace(["a", bad], [[1.0], [2.0]])  # type: ignore[list-item]


def test_normalized_true_is_verified() -> None:
    with pytest.raises(InvalidInputError, match="unit"):
        EmbeddingSpace(["a"], [[3.0, 4.0]], is_normalized=True)
    ok = EmbeddingSpace(["a", "z"], [[0.6, 0.8], [0, 0]], is_normalized=True)  # zero rows allowed
    assert ok.is_normalized


def test_from_dict_rejects_empty_and_ragged() -> None:
    with pytest.raises(InvalidInputError):
        EmbeddingSpace.from_dict({})
    with pytest.raises(InvalidInputError):
        EmbeddingSpace.from_dict({"a": [1, 2], "b": [1, 2, 3]})


# ----------------------------------------------------------------------------- unknown keys


def test_unknown_key_is_key_error_with_suggestion(toy: EmbeddingSpace) -> None:
    with pytest.raises(KeyError) as info:
        toy["kign"]
    err = info.value
    assert isinstance(err, UnknownKeyError) and isinstance(err, EmbspaceError)
    assert err.key == "kign"
    assert "king" in err.suggestions
    assert "did you mean 'king'" in str(err)
    assert not str(err).startswith('"')  # not KeyError's repr of the message


@pytest.mark.parametrize("call", [
    lambda s: s.neighbors("Quen"),
    lambda s: s.similarity("king", "quen"),
    lambda s: s.analogy("man", "king", "wman"),
    lambda s: s.subset(["king", "kng"]),
    lambda s: s.neighbors("king", exclude=["quen"]),
    lambda s: s.index_of("appel"),
])
def test_every_key_lookup_raises_unknown_key(toy: EmbeddingSpace, call: object) -> None:
    with pytest.raises(UnknownKeyError) as info:
        call(toy)  # type: ignore[operator]
    assert info.value.suggestions  # every typo above has a near match


def test_case_variant_suggested_first() -> None:
    space = EmbeddingSpace(["Paris", "parse", "pairs"], np.eye(3))
    with pytest.raises(UnknownKeyError) as info:
        space["paris"]
    assert info.value.suggestions[0] == "Paris"


# ----------------------------------------------------------------------------- zero vectors


@pytest.fixture
def with_zero() -> EmbeddingSpace:
    return EmbeddingSpace(["a", "b", "zero"], [[1, 0], [0.6, 0.8], [0, 0]])


def test_zero_row_scores_zero_under_cosine(with_zero: EmbeddingSpace) -> None:
    r = with_zero.neighbors([1.0, 0.0], k=3)
    assert dict(r.to_list())["zero"] == 0.0
    r2 = with_zero.neighbors([-1.0, 0.0], k=3)  # every other row scores negative
    assert r2.keys[0] == "zero" and r2.scores[0] == 0.0


def test_zero_cosine_query_raises(with_zero: EmbeddingSpace) -> None:
    with pytest.raises(ZeroVectorError):
        with_zero.neighbors([0.0, 0.0])
    with pytest.raises(ZeroVectorError):
        with_zero.neighbors("zero")
    with pytest.raises(ZeroVectorError):
        with_zero.neighbors(np.zeros((2, 2)))
    assert issubclass(ZeroVectorError, ValueError)


def test_zero_query_allowed_for_dot_and_l2(with_zero: EmbeddingSpace) -> None:
    assert with_zero.with_metric("dot").neighbors([0.0, 0.0], k=3).scores.tolist() == [0, 0, 0]
    r = with_zero.with_metric("l2").neighbors([0.0, 0.0], k=1)
    assert r.keys == ["zero"] and r.scores[0] == 0.0


def test_similarity_with_zero_vector_is_zero(with_zero: EmbeddingSpace) -> None:
    assert with_zero.similarity("a", "zero") == 0.0
    assert with_zero.similarity("zero", "zero") == 0.0
    assert with_zero.similarity([0, 0], "b") == 0.0
    m = with_zero.similarity_matrix(["a", "zero"])
    assert m.dtype == np.float32
    np.testing.assert_array_equal(m, [[1, 0], [0, 0]])


def test_normalized_keeps_zero_rows(with_zero: EmbeddingSpace) -> None:
    n = with_zero.normalize()
    np.testing.assert_array_equal(n.vectors[2], [0, 0])


# ----------------------------------------------------------------------------- cosine vs dot


def test_cosine_on_unnormalised_space_ranks_by_cosine_not_dot() -> None:
    # "long" has the larger dot product with the query, "aligned" the larger cosine.
    space = EmbeddingSpace(["long", "aligned"], [[10.0, 10.0], [1.0, 0.05]])
    assert not space.is_normalized
    q = np.array([1.0, 0.0])
    assert space.with_metric("dot").neighbors(q, k=1).top == "long"
    r = space.neighbors(q, k=2)
    assert r.keys == ["aligned", "long"]
    np.testing.assert_allclose(r.scores, [1 / np.hypot(1, 0.05), np.sqrt(0.5)], rtol=1e-6)
    # A key query too, and a batch.
    space3 = EmbeddingSpace(["q", "long", "aligned"], [[1.0, 0.0], [10.0, 10.0], [1.0, 0.05]])
    assert space3.neighbors("q", k=1).top == "aligned"
    assert space3.neighbors(["q", "q"], k=1).top == ["aligned", "aligned"]


def test_similarity_follows_metric() -> None:
    space = EmbeddingSpace(["a", "b"], [[3.0, 0.0], [0.0, 4.0]])
    assert space.similarity("a", "b") == 0.0
    assert space.with_metric("dot").similarity("a", [1.0, 1.0]) == 3.0
    assert space.with_metric("l2").similarity("a", "b") == -5.0
    np.testing.assert_allclose(space.with_metric("l2").similarity_matrix(["a", "b"]), [[0, -5], [-5, 0]])


# ----------------------------------------------------------------------------- normalisation


def test_normalized_gives_unit_rows(rng: np.random.Generator) -> None:
    space = EmbeddingSpace([f"k{i}" for i in range(30)], rng.standard_normal((30, 5)) * 7)
    assert not space.is_normalized
    n = space.normalize()
    assert n.is_normalized
    np.testing.assert_allclose(np.linalg.norm(n.vectors, axis=1), 1.0, rtol=1e-6)
    assert n.vectors.dtype == np.float32 and n.vectors.flags.c_contiguous and not n.vectors.flags.writeable
    assert n.normalize() is n
    assert n.keys == space.keys and n.metric == space.metric
    # Cosine ranking is unchanged by normalising.
    a = space.neighbors("k3", k=10)
    b = n.neighbors("k3", k=10)
    assert a.keys == b.keys
    np.testing.assert_allclose(a.scores, b.scores, atol=1e-6)


def test_is_normalized_detected() -> None:
    assert EmbeddingSpace(["a", "b"], [[0.6, 0.8], [1, 0]]).is_normalized
    assert not EmbeddingSpace(["a", "b"], [[0.6, 0.8], [2, 0]]).is_normalized
    assert not EmbeddingSpace(["a"], [[0.6, 0.8]], is_normalized=False).is_normalized


# ----------------------------------------------------------------------------- subset, top, counts


def test_subset_in_given_order(small_space: EmbeddingSpace) -> None:
    sub = small_space.subset(["w5", "w1", "w30"])
    assert sub.keys == ("w5", "w1", "w30")
    np.testing.assert_array_equal(sub.vectors, small_space.vectors[[5, 1, 30]])
    assert sub.counts is not None and sub.counts.tolist() == [35, 39, 10]
    assert sub.provenance == small_space.provenance
    assert sub.metric == small_space.metric and sub.is_normalized == small_space.is_normalized
    assert not sub.vectors.flags.writeable
    assert sub.neighbors("w5", k=2).keys[0] in ("w1", "w30")
    with pytest.raises(InvalidInputError, match="duplicates"):
        small_space.subset(["w1", "w1"])


def test_top_needs_counts(toy: EmbeddingSpace) -> None:
    with pytest.raises(InvalidInputError, match="no counts"):
        toy.top(2)


def test_top_most_frequent_first() -> None:
    space = EmbeddingSpace(list("abcde"), np.eye(5), counts=[5, 50, 1, 50, 7])
    t = space.top(3)
    assert t.keys == ("b", "d", "e")  # ties keep row order
    assert t.counts is not None and t.counts.tolist() == [50, 50, 7]
    assert space.top(100).keys == ("b", "d", "e", "a", "c")
    assert len(space.top(0)) == 0


def test_counts_array_or_mapping() -> None:
    by_array = EmbeddingSpace(["a", "b", "c"], np.eye(3), counts=np.array([3, 2, 1]))
    by_map = EmbeddingSpace(["a", "b", "c"], np.eye(3), counts={"a": 3, "b": 2, "c": 1})
    partial = EmbeddingSpace(["a", "b", "c"], np.eye(3), counts={"b": 4})
    assert by_array.counts is not None and by_array.counts.dtype == np.int64
    assert by_array.counts.tolist() == [3, 2, 1]
    assert by_map.counts is not None and by_map.counts.tolist() == [3, 2, 1]
    assert partial.counts is not None and partial.counts.tolist() == [0, 4, 0]
    assert by_array.top(1).keys == by_map.top(1).keys == ("a",)


@pytest.mark.parametrize("counts", [[1, 2], [1, 2, -3], [1.5, 2, 3], {"a": 1, "zz": 2}])
def test_bad_counts_rejected(counts: object) -> None:
    with pytest.raises(InvalidInputError):
        EmbeddingSpace(["a", "b", "c"], np.eye(3), counts=counts)  # type: ignore[arg-type]


def test_counts_are_read_only(small_space: EmbeddingSpace) -> None:
    for space in (small_space, small_space.subset(["w3", "w2"]), small_space.top(4)):
        assert space.counts is not None
        with pytest.raises(ValueError):
            space.counts[0] = 99
    assert small_space.counts is not None and small_space.counts[0] == 40


# ----------------------------------------------------------------------------- queries


def test_query_kinds(toy: EmbeddingSpace) -> None:
    by_key = toy.neighbors("king", k=2)
    by_vec = toy.neighbors(np.array([1.0, 1, 0, 0]), k=3)
    by_list = toy.neighbors([1, 1, 0, 0], k=3)
    assert by_key.keys == ["man", "queen"]
    assert "king" not in by_key.keys and by_vec.keys[0] == "king"
    assert by_list.keys == by_vec.keys
    batch = toy.neighbors(["king", np.array([0.0, 0, 0, 1])], k=1)
    assert batch.batched and batch.top == ["man", "apple"]
    arr_of_keys = toy.neighbors(np.array(["king", "apple"]), k=1)
    assert arr_of_keys.batched and len(arr_of_keys) == 2
    assert toy.neighbors([], k=3).batched and len(toy.neighbors([], k=3)) == 0


def test_query_validation(toy: EmbeddingSpace) -> None:
    with pytest.raises(DimensionMismatchError):
        toy.neighbors(np.ones(3))
    with pytest.raises(DimensionMismatchError):
        toy.neighbors(np.ones((2, 5)))
    with pytest.raises(InvalidInputError):
        toy.neighbors(np.array([1.0, np.nan, 0, 0]))
    with pytest.raises(InvalidInputError):
        toy.neighbors(np.ones((1, 1, 4)))
    with pytest.raises(InvalidInputError):
        toy.neighbors("king", k=0)
    with pytest.raises(InvalidInputError):
        toy.neighbors("king", k=True)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        toy.neighbors(3)  # type: ignore[arg-type]


def test_provenance_default_identifies_content() -> None:
    a = EmbeddingSpace(["x", "y"], [[1, 0], [0, 1]])
    b = EmbeddingSpace(["x", "y"], [[1, 0], [0, 1]])
    c = EmbeddingSpace(["x", "y"], [[1, 0], [0, 2]])
    assert a.space_id == b.space_id != c.space_id
    assert a.provenance.model == "unknown"
    named = EmbeddingSpace(["x"], [[1.0]], provenance=Provenance("m", {"seed": 1}))
    assert named.space_id == Provenance("m", {"seed": 1}).space_id


def test_empty_space_searches_return_nothing() -> None:
    space = EmbeddingSpace([], np.zeros((0, 3)))
    assert len(space) == 0 and space.dim == 3 and not space.is_normalized
    r = space.neighbors(np.ones(3), k=5)
    assert r.keys == [] and r.scores.shape == (0,)


def test_tiny_rows_are_not_zero_rows() -> None:
    # In float32 the squared norm of a 1e-30 row underflows to 0: it must still have a direction.
    space = EmbeddingSpace(["a", "b", "c"], [[1e-30, 0], [0, 2e-30], [1, 1]])
    assert not space.is_normalized
    r = space.neighbors([1.0, 0.0], k=3)
    assert r.keys == ["a", "c", "b"]
    np.testing.assert_allclose(r.scores, [1, np.sqrt(0.5), 0], atol=1e-6)
    assert space.neighbors([1e-30, 0.0], k=1).top == "a"  # a tiny query is not the zero vector
    tiny = EmbeddingSpace(["a", "b"], [[1e-30, 0], [0, 1e-30]])
    assert not tiny.is_normalized
    np.testing.assert_allclose(tiny.normalize().vectors, np.eye(2), atol=1e-6)
    np.testing.assert_allclose(space.similarity_matrix(["a", "b"]), np.eye(2), atol=1e-6)


# ----------------------------------------------------------------------------- one concept, one spelling


def test_normalized_spellings_are_deprecated_aliases() -> None:
    """``is_normalized`` is the property and the constructor keyword, ``normalize()`` the verb; the old
    ``normalized=`` keyword and ``normalized()`` method still work for one release, with a warning."""
    with pytest.warns(DeprecationWarning, match="is_normalized"):
        old = EmbeddingSpace(["a", "b"], [[0.6, 0.8], [1.0, 0.0]], normalized=True)
    assert old.is_normalized
    raw = EmbeddingSpace(["a", "b"], [[3.0, 4.0], [2.0, 0.0]])
    with pytest.warns(DeprecationWarning, match=r"normalize\(\)"):
        unit = raw.normalized()
    np.testing.assert_allclose(unit.vectors, raw.normalize().vectors)  # same code path: equal rows
    assert unit.is_normalized
    with pytest.warns(DeprecationWarning), pytest.raises(InvalidInputError, match="is_normalized"):
        EmbeddingSpace(["a"], [[1.0, 0.0]], is_normalized=True, normalized=True)
    with pytest.raises(TypeError, match="unexpected keyword"):
        EmbeddingSpace(["a"], [[1.0, 0.0]], normalised=True)  # type: ignore[call-arg]


def test_src_docs_and_readme_use_the_new_normalization_names() -> None:
    """Only the deprecated alias itself says ``.normalized()``; no code passes ``normalized=`` to a space."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    files = [*(root / "src").rglob("*.py"), *(root / "docs").rglob("*.md"), root / "README.md"]
    # the alias itself, and the glossary's list of the old names
    exempt = {root / "src" / "embspace" / "space" / "embedding_space.py", root / "docs" / "glossary.md"}
    found = [f"{path.relative_to(root)}:{i}" for path in files if path not in exempt
             for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
             if ".normalized()" in line and "normalized()` still work" not in line]
    assert not found, "use .normalize() (see docs/space.md):\n" + "\n".join(found)
