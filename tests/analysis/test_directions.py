"""Concept directions: they recover a planted axis, say how reliable they are, and remove it exactly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from embspace import EmbeddingSpace
from embspace.analysis import Direction, FixedSpace, direction, remove
from embspace.errors import IncompatibleSpaceError, InvalidInputError
from embspace.space.provenance import Provenance
from embspace.space.vector import EmbeddingVector

DIM = 32


def _planted(n: int = 300, seed: int = 0, scale: float = 40.0) -> tuple[EmbeddingSpace, np.ndarray, list[str],
                                                                        list[str]]:
    """A space whose keys ``p*`` lean along a known unit axis and ``n*`` against it; rows of norm ~ ``scale``."""
    rng = np.random.default_rng(seed)
    axis = rng.standard_normal(DIM)
    axis /= np.linalg.norm(axis)
    x = rng.standard_normal((n, DIM))
    side = np.r_[np.ones(n // 3), -np.ones(n // 3), np.zeros(n - 2 * (n // 3))]
    x += 2.0 * side[:, None] * axis
    keys = [("p" if s > 0 else "n" if s < 0 else "o") + str(i) for i, s in enumerate(side)]
    space = EmbeddingSpace(keys, (x * scale / np.sqrt(DIM)).astype(np.float32))
    return space, axis, [k for k in keys if k[0] == "p"][:30], [k for k in keys if k[0] == "n"][:30]


@pytest.mark.parametrize("method", ["mean", "pca", "probe"])
def test_a_direction_recovers_the_planted_axis_and_is_reliable(method: str) -> None:
    space, axis, pos, neg = _planted()
    d = direction(space, pos, neg, method=method, name="planted")
    assert isinstance(d, Direction) and d.vector.dtype == np.float32 and d.vector.shape == (DIM,)
    assert abs(float(np.linalg.norm(d.vector)) - 1.0) < 1e-5
    assert float(d.vector @ axis) > 0.8  # points from negative to positive
    assert d.reliability > 0.9 and d.auc > 0.95 and d.folds == 5
    assert d.space_id == space.space_id and d.method == method and d.positive == tuple(pos)
    # the held-out keys score on the right side of the axis
    scores = dict(zip(space.keys, space.project(d), strict=True))
    others_p = [k for k in space.keys if k[0] == "p"][30:]
    others_n = [k for k in space.keys if k[0] == "n"][30:]
    assert np.mean([scores[k] > 0 for k in others_p]) > 0.9 and np.mean([scores[k] < 0 for k in others_n]) > 0.9


def test_reliability_is_near_chance_for_examples_without_a_common_axis() -> None:
    space, _, _, _ = _planted()
    neutral = [k for k in space.keys if k[0] == "o"]
    d = direction(space, neutral[:40], neutral[40:80])
    assert 0.2 < d.reliability < 0.75 and 0.2 < d.auc < 0.8


def test_project_is_the_dot_product_with_the_unit_direction() -> None:
    space, _, pos, neg = _planted()
    d = direction(space, pos, neg)
    expected = space.vectors.astype(np.float64) @ d.vector.astype(np.float64)
    np.testing.assert_allclose(space.project(d), expected, rtol=1e-5, atol=1e-4)  # float32 scores of a float64 sum
    np.testing.assert_allclose(space.project(d.vector * 7.0), space.project(d), rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(d.project(space), space.project(d))
    with pytest.raises(InvalidInputError):
        space.project(np.zeros(DIM))


def test_remove_leaves_no_projection_on_vectors_and_new_queries() -> None:
    space, _, pos, neg = _planted(scale=60.0)
    d = direction(space, pos, neg)
    fixed = space.remove(d)
    assert isinstance(fixed, FixedSpace) and fixed.transform.kind == "remove-direction"
    # the acceptance bound: |projection| < 1e-5 for every float32 vector (measured in float64) ...
    assert np.abs(fixed.vectors.astype(np.float64) @ d.vector.astype(np.float64)).max() < 1e-5
    assert np.abs(fixed.project(d)).max() < 1e-5
    # ... and for new queries through the transform
    queries = np.random.default_rng(5).standard_normal((100, DIM)).astype(np.float32) * 50
    assert np.abs(fixed.transform(queries).astype(np.float64) @ d.vector.astype(np.float64)).max() < 1e-5
    assert abs(float(fixed.transform(queries[0]) @ d.vector)) < 1e-5
    # what is orthogonal to the direction is kept
    rest = space.vectors.astype(np.float64) - np.outer(space.project(d), d.vector)
    np.testing.assert_allclose(fixed.vectors, rest, atol=1e-3)
    assert abs(np.abs(space.project(d)).max()) > 1.0  # there was something to remove
    # the same through analysis.remove, with a plain vector too
    np.testing.assert_allclose(remove(space, d).vectors, fixed.vectors)
    np.testing.assert_allclose(remove(space, d.vector).vectors, fixed.vectors, atol=1e-6)


def test_remove_several_directions_and_the_report_measures() -> None:
    space, _, pos, neg = _planted()
    d1 = direction(space, pos, neg)
    d2 = Direction.from_vector(np.eye(DIM)[0], space)
    fixed = remove(space, [d1, d2], evaluate=lambda s: float(np.abs(s.project(d1)).mean()),
                   bias=lambda s: float(s.project(d2).std()))
    assert np.abs(fixed.project(d1)).max() < 1e-5 and np.abs(fixed.project(d2)).max() < 1e-5
    r = fixed.report
    assert r.evaluation_before is not None and r.evaluation_before > 1.0 and r.evaluation_after is not None
    assert r.evaluation_after < 1e-5 and r.bias_before is not None and r.bias_after is not None
    assert r.bias_after < 1e-5 < r.bias_before and "bias" in r.explanation
    assert fixed.transform.params["source"] == space.space_id


def test_a_removed_space_saves_and_loads_with_its_transform(tmp_path: Path) -> None:
    space, _, pos, neg = _planted()
    d = direction(space, pos, neg)
    fixed = space.remove(d)
    fixed.save(tmp_path / "fixed")
    back = FixedSpace.load(tmp_path / "fixed")
    q = np.ones(DIM, np.float32)
    np.testing.assert_allclose(back.transform(q), fixed.transform(q))
    assert back.report.bias_before is None and back.space_id == fixed.space_id
    assert np.abs(back.project(d)).max() < 1e-5  # the source's directions still project on it


def test_directions_of_another_space_are_refused() -> None:
    space, _, pos, neg = _planted()
    other, _, _, _ = _planted(seed=1)
    other = EmbeddingSpace(other.keys, other.vectors, provenance=Provenance(model="another-model"))
    d = direction(space, pos, neg)
    with pytest.raises(IncompatibleSpaceError):
        other.project(d)
    with pytest.raises(IncompatibleSpaceError):
        other.remove(d)
    with pytest.raises(InvalidInputError, match=r"analysis\.remove"):
        space.remove(d.vector)


def test_invalid_examples_are_errors_and_missing_keys_are_listed() -> None:
    space, _, pos, neg = _planted()
    with pytest.raises(InvalidInputError, match="pairs"):
        direction(space, pos, neg[:5], method="pca")
    with pytest.raises(InvalidInputError, match="method"):
        direction(space, pos, neg, method="lda")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="none of the positive"):
        direction(space, ["nope", "nada"], neg)
    with pytest.raises(InvalidInputError, match="string"):
        direction(space, "p0", neg)
    d = direction(space, [*pos, "unknown"], neg)
    assert d.missing == ("unknown",) and "unknown" not in d.positive
    paired = direction(space, [*pos[:10], "absent"], [*neg[:10], neg[10]], method="pca")
    assert paired.missing == ("absent",) and len(paired.positive) == len(paired.negative) == 10


class _Encoder:
    """Texts to vectors: 'up ...' along the first axis, 'down ...' against it (a sentence space's encoder)."""

    name = "toy"
    dim = DIM

    def __init__(self, space_id: str) -> None:
        self.space_id = space_id

    def encode(self, items: list[str], *, progress: bool = True) -> EmbeddingVector:
        x = np.stack([np.random.default_rng(sum(map(ord, t))).standard_normal(DIM) * 0.1 for t in items])
        x[:, 0] += [1.0 if t.startswith("up") else -1.0 for t in items]
        return EmbeddingVector(x.astype(np.float32), self.space_id)


def test_text_concepts_go_through_the_spaces_encoder() -> None:
    space, _, _, _ = _planted()
    enc = _Encoder(space.space_id)
    d = direction(space, ["up a", "up b", "up c"], ["down a", "down b", "down c"], encoder=enc, folds=3)
    assert d.encoded and float(d.vector[0]) > 0.8 and d.reliability == 1.0
    with pytest.raises(IncompatibleSpaceError):
        direction(space, ["up a", "up b"], ["down a", "down b"], encoder=_Encoder("elsewhere"))


def test_the_opposite_direction_and_its_record() -> None:
    space, _, pos, neg = _planted()
    d = direction(space, pos, neg, name="up")
    flipped = -d
    np.testing.assert_allclose(space.project(flipped), -space.project(d), atol=1e-5)
    assert flipped.positive == d.negative and flipped.name == "-up"
    record = d.to_dict()
    assert record["method"] == "mean" and record["space_id"] == space.space_id and len(record["vector"]) == DIM
    np.testing.assert_allclose(np.asarray(d), d.vector)
    top, bottom = d.extremes(space, 5)
    assert all(k[0] == "p" for k in top) and all(k[0] == "n" for k in bottom)
    with pytest.raises(InvalidInputError):
        Direction.from_vector(np.zeros(DIM), space)
    with pytest.raises(InvalidInputError):
        Direction.from_vector(np.ones(DIM + 1), space)
