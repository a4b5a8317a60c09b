"""Debiasing fixes on a space with a planted gender axis: hard debiasing neutralises and equalises exactly,
INLP removes what a linear classifier sees, and the reports measure the bias and a task before and after."""

from __future__ import annotations

import numpy as np
import pytest

from embspace import EmbeddingSpace
from embspace.analysis import FixedSpace, bias_recovery, direction, hard_debias, inlp
from embspace.errors import InvalidInputError
from embspace.evaluate import weat

DIM = 24
PAIRS = [("she", "he"), ("woman", "man"), ("girl", "boy"), ("mother", "father"), ("her", "his"), ("queen", "king")]
CAREER = [f"career{i}" for i in range(8)]
FAMILY = [f"family{i}" for i in range(8)]
FEMALE_LEANING = [f"f{i}" for i in range(60)]
MALE_LEANING = [f"m{i}" for i in range(60)]


def _gendered(seed: int = 0) -> tuple[EmbeddingSpace, np.ndarray]:
    """Pairs that differ along a unit axis g (female = +g), career words leaning male, family words female, and
    words leaning female or male along g and also along a second axis h (their neighbourhoods)."""
    rng = np.random.default_rng(seed)
    g = rng.standard_normal(DIM)
    g /= np.linalg.norm(g)
    rows: dict[str, np.ndarray] = {}
    for a, b in PAIRS:
        base = rng.standard_normal(DIM)
        rows[a], rows[b] = base + 1.2 * g, base - 1.2 * g
    h = rng.standard_normal(DIM)  # a second cue of the leaning words that the pairs do not show
    h -= (h @ g) * g
    h /= np.linalg.norm(h)
    for words, lean, cue in ((CAREER, -1.5, 0.0), (FAMILY, 1.5, 0.0), (FEMALE_LEANING, 2.0, 2.0),
                             (MALE_LEANING, -2.0, -2.0)):
        for w in words:
            rows[w] = rng.standard_normal(DIM) + lean * g + cue * h
    for i in range(100):
        rows[f"other{i}"] = rng.standard_normal(DIM)
    return EmbeddingSpace(list(rows), np.stack(list(rows.values())).astype(np.float32) * 3.0), g


FEMALE, MALE = [a for a, _ in PAIRS[:5]], [b for _, b in PAIRS[:5]]


def _association(space: EmbeddingSpace) -> float:
    """The WEAT statistic of career vs family against male vs female terms (positive: career is male)."""
    return weat(space, CAREER, FAMILY, MALE, FEMALE, permutations=10).statistic


def test_hard_debias_neutralises_equalises_and_reports() -> None:
    space, g = _gendered()
    fixed = hard_debias(space, PAIRS[:5], specific=[*FEMALE, *MALE, "queen", "king"],
                        evaluate=lambda s: s.similarity("career0", "career1"), bias=_association)
    assert isinstance(fixed, FixedSpace) and fixed.transform.kind == "hard-debias"
    basis = _axis(space)
    neutral = [k for k in space.keys if k not in {w for p in PAIRS for w in p}]
    x = np.asarray(fixed[neutral], np.float64)
    assert np.abs(x @ basis).max() < 1e-5  # neutralised: nothing left along the bias axis
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1.0, atol=1e-5)  # and re-normalised
    assert abs(float(basis @ g)) > 0.95  # the subspace is the planted axis
    for a, b in PAIRS[:5]:  # equalised: every neutral word is as close to she as to he
        np.testing.assert_allclose(x @ np.asarray(fixed[a], np.float64), x @ np.asarray(fixed[b], np.float64),
                                   atol=1e-5)
    king = np.asarray(space["king"], np.float64)  # a specific word outside the pairs is left as it was (unit)
    np.testing.assert_allclose(np.asarray(fixed["king"]), king / np.linalg.norm(king), atol=1e-6)
    r = fixed.report
    assert r.bias_before is not None and r.bias_after is not None and r.bias_before > 0.5
    assert abs(r.bias_after) < 1e-4 and r.evaluation_before is not None and r.evaluation_after is not None
    assert "bias" in r.explanation and "evaluation" in r.explanation
    # new queries are neutralised by the transform
    q = np.random.default_rng(3).standard_normal((20, DIM)).astype(np.float32) * 10
    assert np.abs(fixed.transform(q).astype(np.float64) @ basis).max() < 1e-5
    # the effect size falls too (to 0: every target is equally associated with both sides)
    assert weat(space, CAREER, FAMILY, MALE, FEMALE).effect_size > 1.0
    assert abs(weat(fixed, CAREER, FAMILY, MALE, FEMALE).effect_size) < 1e-6


def _axis(space: EmbeddingSpace) -> np.ndarray:
    from embspace.analysis.debias import bias_subspace

    return bias_subspace(space, PAIRS[:5], 1)[0]


def test_hard_debias_defaults_and_errors() -> None:
    space, _ = _gendered()
    fixed = hard_debias(space, PAIRS[:5], k=2)  # specific words default to the pairs'
    assert fixed.transform.params["k"] == 2 and fixed.transform.params["equalized"] == 5
    with pytest.raises(InvalidInputError, match="pairs"):
        hard_debias(space, [("absent", "missing")])
    with pytest.raises(InvalidInputError, match="k"):
        hard_debias(space, PAIRS, k=0)
    with pytest.raises(InvalidInputError, match="pairs of two words"):
        hard_debias(space, ["she"])  # type: ignore[list-item]


def test_inlp_removes_what_a_linear_classifier_sees() -> None:
    space, g = _gendered()
    before = bias_recovery(space, FEMALE_LEANING, MALE_LEANING, classifier="logistic")
    fixed = inlp(space, FEMALE_LEANING, MALE_LEANING, iterations=4, classifier="logistic",
                 bias=_association)
    accuracies = fixed.transform.params["accuracies"]
    assert before > 0.9 and accuracies[0] > 0.9 and min(accuracies[1:]) < 0.75
    after = bias_recovery(fixed, FEMALE_LEANING, MALE_LEANING, classifier="logistic")
    assert after < 0.8
    x = np.asarray(fixed[FEMALE_LEANING + MALE_LEANING], np.float64)
    x0 = np.asarray(space[FEMALE_LEANING + MALE_LEANING], np.float64)
    # the planted axis is (nearly) gone from the labelled words
    assert np.abs(x @ g).mean() < 0.3 * np.abs(x0 @ g).mean()
    assert fixed.report.bias_before is not None and fixed.report.bias_after is not None
    assert abs(fixed.report.bias_after) < 0.5 * abs(fixed.report.bias_before)
    assert "held-out accuracy" in fixed.report.explanation
    # the transform is a projection: applying it twice changes nothing
    q = np.random.default_rng(2).standard_normal((5, DIM)).astype(np.float32)
    np.testing.assert_allclose(fixed.transform(fixed.transform(q)), fixed.transform(q), atol=1e-5)


def test_inlp_with_svm_and_errors() -> None:
    space, _ = _gendered()
    fixed = inlp(space, FEMALE_LEANING, MALE_LEANING, iterations=2)
    assert fixed.transform.params["classifier"] == "svm" and fixed.transform.params["iterations"] == 2
    with pytest.raises(InvalidInputError, match="at least"):
        inlp(space, ["f0"], MALE_LEANING)
    with pytest.raises(InvalidInputError, match="classifier"):
        inlp(space, FEMALE_LEANING, MALE_LEANING, classifier="tree")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="iterations"):
        inlp(space, FEMALE_LEANING, MALE_LEANING, iterations=0)


def test_lipstick_on_a_pig_a_classifier_still_recovers_after_hard_debias() -> None:
    space, _ = _gendered()
    axis = direction(space, FEMALE, MALE, method="pca")
    fixed = hard_debias(space, PAIRS[:5])
    words = FEMALE_LEANING + MALE_LEANING
    # the planted leaning is gone from the axis, yet a classifier still tells the words apart (through h) ...
    assert np.abs(fixed.project(axis)[[space.index_of(w) for w in words]]).max() < 1e-5
    assert bias_recovery(space, FEMALE_LEANING, MALE_LEANING) > 0.9
    assert bias_recovery(fixed, FEMALE_LEANING, MALE_LEANING) > 0.85
    # ... while INLP on those words leaves a linear classifier near chance
    flat = inlp(fixed, FEMALE_LEANING, MALE_LEANING, iterations=4, classifier="logistic")
    assert bias_recovery(flat, FEMALE_LEANING, MALE_LEANING, classifier="logistic") < 0.8
