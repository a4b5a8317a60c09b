"""Tagged vectors: mixing two models' coordinates is an IncompatibleSpaceError that names both."""

from __future__ import annotations

import pickle
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from embspace import EmbeddingSpace, EmbeddingVector, Provenance
from embspace.errors import EmbspaceError, IncompatibleSpaceError

KEYS = ["king", "queen", "man", "woman"]


@pytest.fixture
def spaces() -> tuple[EmbeddingSpace, EmbeddingSpace]:
    rng = np.random.default_rng(3)
    a = EmbeddingSpace(KEYS, rng.standard_normal((4, 5)), provenance=Provenance("model-A", {"seed": 1}))
    b = EmbeddingSpace(KEYS, rng.standard_normal((4, 5)), provenance=Provenance("model-B", {"seed": 1}))
    return a, b


def _assert_names_both(err: BaseException, a: EmbeddingSpace, b: EmbeddingSpace) -> None:
    msg = str(err)
    assert a.provenance.describe() in msg, msg
    assert b.provenance.describe() in msg, msg
    assert isinstance(err, EmbspaceError) and isinstance(err, ValueError)


@pytest.mark.parametrize("op", [
    lambda x, y: x - y,
    lambda x, y: x + y,
    lambda x, y: y * x,
    lambda x, y: np.add(x, y),
    lambda x, y: x @ y,
    lambda x, y: np.maximum(x, y),
])
def test_arithmetic_across_spaces_raises(spaces: tuple[EmbeddingSpace, EmbeddingSpace],
                                         op: Callable[[Any, Any], Any]) -> None:
    a, b = spaces
    with pytest.raises(IncompatibleSpaceError) as info:
        op(a["king"], b["man"])
    _assert_names_both(info.value, a, b)


def test_longer_expression_across_spaces_raises(spaces: tuple[EmbeddingSpace, EmbeddingSpace]) -> None:
    a, b = spaces
    with pytest.raises(IncompatibleSpaceError) as info:
        a["king"] - a["man"] + b["woman"]
    _assert_names_both(info.value, a, b)


@pytest.mark.parametrize("query", [
    lambda s: s["king"],
    lambda s: s["king"] - s["man"] + s["woman"],
    lambda s: s[["king", "queen"]],
    lambda s: [s["king"]],
    lambda s: ["queen", s["king"]],
    lambda s: s[["king", "queen"]][0],
])
def test_query_from_other_space_raises(spaces: tuple[EmbeddingSpace, EmbeddingSpace],
                                       query: Callable[[EmbeddingSpace], Any]) -> None:
    a, b = spaces
    with pytest.raises(IncompatibleSpaceError) as info:
        b.neighbors(query(a))
    _assert_names_both(info.value, a, b)


def test_similarity_with_other_space_vector_raises(spaces: tuple[EmbeddingSpace, EmbeddingSpace]) -> None:
    a, b = spaces
    for call in (lambda: b.similarity(a["king"], "queen"),
                 lambda: b.similarity("queen", a["king"]),
                 lambda: b.similarity_matrix(a[["king", "man"]]),
                 lambda: b.similarity_matrix(["king"], [a["man"]])):
        with pytest.raises(IncompatibleSpaceError) as info:
            call()
        _assert_names_both(info.value, a, b)


def test_derived_spaces_stay_compatible(spaces: tuple[EmbeddingSpace, EmbeddingSpace]) -> None:
    a, _ = spaces
    sub = a.subset(["woman", "king", "queen"])
    norm = a.normalize()
    top = EmbeddingSpace(KEYS, a.vectors, counts=[1, 4, 3, 2], provenance=a.provenance).top(4)
    for derived in (sub, norm, top, a.with_metric("dot")):
        assert derived.space_id == a.space_id
        v = derived["king"] - a["man"] + derived["woman"]  # mixing is fine
        assert v.space_id == a.space_id
        a.neighbors(derived["king"])
        derived.neighbors(a["queen"])
        derived.neighbors(v)


def test_plain_arrays_are_accepted(spaces: tuple[EmbeddingSpace, EmbeddingSpace]) -> None:
    a, b = spaces
    plain = np.asarray(a["king"])
    assert type(plain) is np.ndarray
    b.neighbors(plain)
    b.neighbors(a.vectors[:2])  # the raw matrix is untagged
    b.similarity(plain.tolist(), "king")
    mixed = b["king"] + plain  # an untagged operand keeps the tag of the other
    assert isinstance(mixed, EmbeddingVector) and mixed.space_id == b.space_id


def test_tag_survives_arithmetic_and_indexing(spaces: tuple[EmbeddingSpace, EmbeddingSpace]) -> None:
    a, _ = spaces
    v = a["king"] * 2 - 1
    assert isinstance(v, EmbeddingVector) and v.space_id == a.space_id
    assert v.space_name == a.provenance.describe()
    m = a[["king", "queen"]]
    assert m[1].space_id == a.space_id and m.mean(axis=0).space_id == a.space_id
    assert isinstance(float(v.sum()), float)
    assert "EmbeddingVector" in repr(v) and a.provenance.describe() in repr(v)
    w = a["man"].copy()
    w += a["woman"]
    assert isinstance(w, EmbeddingVector) and w.space_id == a.space_id


def test_pickles_as_plain_array(spaces: tuple[EmbeddingSpace, EmbeddingSpace]) -> None:
    a, _ = spaces
    restored = pickle.loads(pickle.dumps(a["king"]))
    assert type(restored) is np.ndarray
    np.testing.assert_array_equal(restored, a["king"])


def test_default_provenance_is_per_content() -> None:
    x = EmbeddingSpace(["a", "b"], [[1, 0], [0, 1]])
    y = EmbeddingSpace(["a", "b"], [[1, 0], [0, 1.5]])
    with pytest.raises(IncompatibleSpaceError):
        x["a"] - y["a"]
    same = EmbeddingSpace(["a", "b"], [[1, 0], [0, 1]])
    x.neighbors(same["a"])  # equal content is the same space
