"""evaluate.analogy: the same numbers as gensim's evaluate_word_analogies, question for question."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from evaluate_testing import OOV_WORDS, SECTIONS, planted_space, to_gensim, write_questions

from embspace import EmbeddingSpace, evaluate
from embspace.errors import CorruptDataError, InvalidInputError
from embspace.evaluate import read_analogies

Question = tuple[str, str, str, str]


@pytest.fixture(scope="module")
def space() -> EmbeddingSpace:
    return planted_space()


@pytest.fixture(scope="module")
def gensim_kv(space: EmbeddingSpace) -> Any:
    return to_gensim(space)


@pytest.fixture(scope="module")
def questions(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_questions(tmp_path_factory.mktemp("analogy") / "questions-words.txt")


def n_questions(path: Path) -> int:
    return sum(len(qs) for _, qs in read_analogies(path))


def upper(qs: list[Question]) -> list[Question]:
    return [(a.upper(), b.upper(), c.upper(), d.upper()) for a, b, c, d in qs]


def assert_same_as_gensim(result: evaluate.AnalogyResult, score: float, sections: list[dict[str, Any]],
                          total: int, case_insensitive: bool) -> None:
    """Same overall score, same sections in the same order, the same questions right and wrong."""
    assert sections[-1]["section"] == "Total accuracy"
    sections = sections[:-1]
    assert result.accuracy == pytest.approx(score, abs=1e-12)
    assert [s.name for s in result.sections] == [s["section"] for s in sections]
    conv = upper if case_insensitive else list
    for ours, theirs in zip(result.sections, sections, strict=True):
        assert conv(ours.correct) == theirs["correct"], ours.name
        assert conv(ours.incorrect) == theirs["incorrect"], ours.name
        n = len(theirs["correct"]) + len(theirs["incorrect"])
        assert ours.accuracy == pytest.approx(len(theirs["correct"]) / n if n else 0.0, abs=1e-12)
    evaluated = sum(len(s["correct"]) + len(s["incorrect"]) for s in sections)
    assert result.evaluated == evaluated
    assert len(result.skipped) == total - evaluated
    assert result.coverage == pytest.approx(evaluated / total, abs=1e-12)


# --------------------------------------------------------------------------- 3CosAdd == gensim
@pytest.mark.parametrize("case_insensitive", [True, False])
@pytest.mark.parametrize("restrict", [None, 140, 100, 40])
def test_3cosadd_matches_gensim(space: EmbeddingSpace, gensim_kv: Any, questions: Path, restrict: int | None,
                                case_insensitive: bool) -> None:
    score, sections = gensim_kv.evaluate_word_analogies(
        str(questions), restrict_vocab=restrict or len(space), case_insensitive=case_insensitive)
    if restrict == 40:
        # No question has its four words among the 40 most frequent keys: gensim reports an accuracy of 0.0
        # over no question; embspace says so instead (issue 22), naming the file and restrict_vocab.
        assert score == 0.0 and sum(len(s["correct"]) + len(s["incorrect"]) for s in sections) == 0
        with pytest.raises(InvalidInputError, match=r"none of the \d+ questions has all four words among the 40 "
                                                    r"most frequent keys.*raise restrict_vocab"):
            evaluate.analogy(space, questions, restrict_vocab=restrict, case_insensitive=case_insensitive)
        return
    result = evaluate.analogy(space, questions, restrict_vocab=restrict, case_insensitive=case_insensitive)
    assert_same_as_gensim(result, score, sections, n_questions(questions), case_insensitive)
    assert result.method == "3cosadd" and result.restrict_vocab == restrict


def test_planted_space_is_a_meaningful_fixture(space: EmbeddingSpace, questions: Path) -> None:
    """The comparison above means something: some questions right, some wrong, some skipped."""
    result = evaluate.analogy(space, questions, restrict_vocab=None)
    assert 0.3 < result.accuracy < 0.95
    assert 0.0 < result.coverage < 1.0
    by_name = {s.name: s for s in result.sections}
    assert set(by_name) == {*SECTIONS, "currency"}
    assert by_name["currency"].accuracy == 0.0 and not by_name["currency"].correct
    for name in SECTIONS:
        assert by_name[name].correct and by_name[name].incorrect, name
    assert any(OOV_WORDS[0] in q for q in result.skipped)
    # the semantic sections are planted with less noise than the syntactic ones
    assert result.semantic_accuracy > result.syntactic_accuracy > 0


def test_semantic_syntactic_and_to_dict(space: EmbeddingSpace, gensim_kv: Any, questions: Path) -> None:
    result = evaluate.analogy(space, questions, restrict_vocab=140)
    _, sections = gensim_kv.evaluate_word_analogies(str(questions), restrict_vocab=140)

    def acc(secs: list[dict[str, Any]]) -> float:
        c = sum(len(s["correct"]) for s in secs)
        return c / sum(len(s["correct"]) + len(s["incorrect"]) for s in secs)

    sem = [s for s in sections[:-1] if not s["section"].startswith("gram")]
    syn = [s for s in sections[:-1] if s["section"].startswith("gram")]
    assert result.semantic_accuracy == pytest.approx(acc(sem), abs=1e-12)
    assert result.syntactic_accuracy == pytest.approx(acc(syn), abs=1e-12)
    d = result.to_dict()
    assert d["accuracy"] == result.accuracy and d["evaluated"] == result.evaluated
    assert d["correct"] == len(sections[-1]["correct"])
    assert d["skipped"] == n_questions(questions) - result.evaluated
    assert d["method"] == "3cosadd" and d["restrict_vocab"] == 140
    assert list(d["sections"]) == [s["section"] for s in sections[:-1]]  # type: ignore[call-overload]
    for s in sections[:-1]:
        got = d["sections"][s["section"]]  # type: ignore[index]
        assert got["correct"] == len(s["correct"])
        assert got["evaluated"] == len(s["correct"]) + len(s["incorrect"])


def test_counts_decide_the_frequency_order(space: EmbeddingSpace, questions: Path) -> None:
    """With counts, 'most frequent' follows the counts, not the row order: shuffled rows give
    gensim's numbers on the rows sorted by count."""
    rng = np.random.default_rng(5)
    perm = rng.permutation(len(space))
    assert space.counts is not None
    shuffled = EmbeddingSpace([space.keys[i] for i in perm], np.asarray(space.vectors)[perm],
                              counts=space.counts[perm])
    for restrict in (None, 120):
        ours = evaluate.analogy(shuffled, questions, restrict_vocab=restrict)
        ref = evaluate.analogy(space, questions, restrict_vocab=restrict)
        assert ours.to_dict() == ref.to_dict()
    # without counts the row order is the frequency order, as in gensim
    plain = EmbeddingSpace([space.keys[i] for i in perm], np.asarray(space.vectors)[perm])
    score, sections = to_gensim(plain).evaluate_word_analogies(str(questions), restrict_vocab=120)
    assert_same_as_gensim(evaluate.analogy(plain, questions, restrict_vocab=120), score, sections,
                          n_questions(questions), True)


# --------------------------------------------------------------------------- restrict_vocab
def test_restrict_vocab_asks_only_questions_inside_the_top_n(space: EmbeddingSpace, questions: Path) -> None:
    first: dict[str, int] = {}
    for i, k in enumerate(space.keys):
        first.setdefault(k.upper(), i)
    all_q = [q for _, qs in read_analogies(questions) for q in qs]
    for n in (150, 100, 60):
        result = evaluate.analogy(space, questions, restrict_vocab=n)
        inside = [q for q in all_q if all(first.get(w.upper(), n) < n for w in q)]
        assert result.evaluated == len(inside)
        assert sorted(result.skipped) == sorted(q for q in all_q if q not in inside)
    everything = evaluate.analogy(space, questions, restrict_vocab=None).to_dict()
    assert evaluate.analogy(space, questions, restrict_vocab=len(space)).to_dict() == {
        **everything, "restrict_vocab": len(space)}
    assert evaluate.analogy(space, questions, restrict_vocab=10 * len(space)).accuracy == everything["accuracy"]


def test_restrict_vocab_restricts_the_candidates(tmp_path: Path) -> None:
    """A word outside the top n is never an answer, even when it is the best match."""
    space = EmbeddingSpace(["man", "woman", "king", "queen", "w1", "best"], np.array(
        [[1, 0, 0, 0], [0, 1, 0, 0], [1, 0, 1, 0], [0, 1, 0.8, 0.3], [0, 0, 0, 1], [0, 1, 1, 0]], np.float32))
    path = tmp_path / "q.txt"
    path.write_text(": family\nman woman king queen\n", encoding="utf-8")
    assert evaluate.analogy(space, path, restrict_vocab=None).accuracy == 0.0  # 'best' wins
    assert evaluate.analogy(space, path, restrict_vocab=5).accuracy == 1.0  # 'best' is out of reach


@pytest.mark.parametrize("bad", [0, -1])
def test_restrict_vocab_must_be_positive(space: EmbeddingSpace, questions: Path, bad: int) -> None:
    with pytest.raises(InvalidInputError, match="restrict_vocab"):
        evaluate.analogy(space, questions, restrict_vocab=bad)


# --------------------------------------------------------------------------- letter case
def test_case_variants_of_the_question_words_are_never_the_answer(tmp_path: Path) -> None:
    """'King' (a rarer variant of the question word 'king') is the best match; case-insensitively
    it *is* 'king' and is passed over, case-sensitively it is a wrong answer; gensim agrees."""
    space = EmbeddingSpace(["man", "woman", "king", "queen", "King", "apple"], np.array(
        [[1, 0, 0, 0], [0, 1, 0, 0], [1, 0, 1, 0], [0, 1, 0.8, 0.3], [0, 1, 1, 0], [0, 0, 0, 1]], np.float32))
    path = tmp_path / "q.txt"
    path.write_text(": family\nman woman king queen\nMAN Woman KING Queen\n", encoding="utf-8")
    kv = to_gensim(space)
    for ci, expected in ((True, 1.0), (False, 0.0)):
        result = evaluate.analogy(space, path, restrict_vocab=None, case_insensitive=ci)
        assert result.accuracy == expected
        score, sections = kv.evaluate_word_analogies(str(path), case_insensitive=ci)
        assert_same_as_gensim(result, score, sections, 2, ci)
    assert evaluate.analogy(space, path, restrict_vocab=None, case_insensitive=False).evaluated == 1


def test_the_most_frequent_variant_stands_for_a_word(tmp_path: Path) -> None:
    """'KING' comes first (most frequent) with a useless vector: it, not 'king', answers for KING."""
    vecs = [[0, 0, 0, 1], [1, 0, 0, 0], [0, 1, 0, 0], [1, 0, 1, 0], [0, 1, 1, 0]]
    path = tmp_path / "q.txt"
    path.write_text(": family\nman woman king queen\n", encoding="utf-8")
    good = EmbeddingSpace(["apple", "man", "woman", "king", "queen"], vecs)
    assert evaluate.analogy(good, path, restrict_vocab=None).accuracy == 1.0
    masked = EmbeddingSpace(["KING", "man", "woman", "king", "queen", "apple"], [[0, -1, -1, 0], *vecs[1:], vecs[0]])
    assert evaluate.analogy(masked, path, restrict_vocab=None).accuracy == 0.0
    assert evaluate.analogy(masked, path, restrict_vocab=None, case_insensitive=False).accuracy == 1.0


# --------------------------------------------------------------------------- 3CosMul
def gensim_cosmul(space: EmbeddingSpace, path: Path, n: int, case_insensitive: bool = True
                  ) -> tuple[float, dict[str, tuple[int, int]]]:
    """3CosMul accuracy scored by gensim's most_similar_cosmul on the first n keys (which ignores
    its own restrict_vocab, hence the explicit sub-vocabulary), with evaluate_word_analogies' rules."""
    sub = to_gensim(space, list(space.keys[:n]))

    def norm(w: str) -> str:
        return w.upper() if case_insensitive else w

    lookup = {norm(k): k for k in reversed(space.keys[:n])}
    per_section: dict[str, tuple[int, int]] = {}
    for name, qs in read_analogies(path):
        right = wrong = 0
        for q in qs:
            a, b, c, d = (norm(w) for w in q)
            if not all(w in lookup for w in (a, b, c, d)):
                continue
            sims = sub.most_similar_cosmul(positive=[lookup[b], lookup[c]], negative=[lookup[a]], topn=5)
            predicted = None
            for key, _ in sims:
                predicted = norm(key)
                if predicted not in {a, b, c}:
                    break
            right, wrong = (right + 1, wrong) if predicted == d else (right, wrong + 1)
        per_section[name] = (right, wrong)
    total_right = sum(r for r, _ in per_section.values())
    total = sum(r + w for r, w in per_section.values())
    return total_right / total, per_section


@pytest.mark.parametrize("case_insensitive", [True, False])
@pytest.mark.parametrize("restrict", [None, 140])
def test_3cosmul_matches_gensim_most_similar_cosmul(space: EmbeddingSpace, questions: Path, restrict: int | None,
                                                    case_insensitive: bool) -> None:
    result = evaluate.analogy(space, questions, restrict_vocab=restrict, method="3cosmul",
                              case_insensitive=case_insensitive)
    accuracy, per_section = gensim_cosmul(space, questions, restrict or len(space), case_insensitive)
    assert result.method == "3cosmul"
    assert result.accuracy == pytest.approx(accuracy, abs=1e-12)
    assert {s.name: (len(s.correct), len(s.incorrect)) for s in result.sections} == per_section
    assert 0.0 < result.accuracy < 1.0
    cosadd = evaluate.analogy(space, questions, restrict_vocab=restrict, case_insensitive=case_insensitive)
    assert result.evaluated == cosadd.evaluated and result.accuracy != cosadd.accuracy


def test_unknown_method(space: EmbeddingSpace, questions: Path, tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="3cosmul"):
        evaluate.analogy(space, questions, method="3cosfoo")  # type: ignore[arg-type]
    unanswerable = tmp_path / "oov.txt"
    unanswerable.write_text(f": s\n{' '.join(OOV_WORDS)}\n", encoding="utf-8")
    with pytest.raises(InvalidInputError, match="3cosmul"):
        evaluate.analogy(space, unanswerable, method="3cosfoo")  # type: ignore[arg-type]


# --------------------------------------------------------------------------- malformed files
@pytest.mark.parametrize(("text", "line", "match"), [
    (": s\na b c d\na b c\n", 3, "expected 4 words, found 3"),
    (": s\na b c d\n\na b c d e\n", 4, "expected 4 words, found 5"),
    ("a b c d\n: s\n", 1, "before the first"),
    (": s\na b c d\n\xff\xfe x y z\n", 3, "UTF-8"),
])
def test_malformed_files_name_the_line(space: EmbeddingSpace, tmp_path: Path, text: str, line: int,
                                       match: str) -> None:
    path = tmp_path / "bad.txt"
    path.write_bytes(text.encode("latin-1"))
    with pytest.raises(CorruptDataError, match=match) as info:
        evaluate.analogy(space, path)
    assert info.value.line == line
    assert info.value.path == str(path)
    assert f"{path}, line {line}:" in str(info.value)
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("text", ["", "\n\n", ": only-a-section\n: another\n"])
def test_files_without_questions(space: EmbeddingSpace, tmp_path: Path, text: str) -> None:
    path = tmp_path / "empty.txt"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(CorruptDataError, match="no analogy questions"):
        evaluate.analogy(space, path)


def test_missing_file(space: EmbeddingSpace, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        evaluate.analogy(space, tmp_path / "nope.txt")


def test_bom_and_crlf_are_accepted(space: EmbeddingSpace, tmp_path: Path, questions: Path) -> None:
    path = tmp_path / "bom.txt"
    path.write_bytes(b"\xef\xbb\xbf" + questions.read_text("utf-8").replace("\n", "\r\n").encode("utf-8"))
    assert read_analogies(path) == read_analogies(questions)
    assert evaluate.analogy(space, path).to_dict() == evaluate.analogy(space, questions).to_dict()


# --------------------------------------------------------------------------- the real files
REAL = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "word_eval" / "questions-words.txt"


def test_real_questions_words_file() -> None:
    if not REAL.exists():
        pytest.skip(f"the Google analogy set is not at {REAL} (see ../shared/data/README.md)")
    sections = read_analogies(REAL)
    assert len(sections) == 14 and sum(len(q) for _, q in sections) == 19544
    assert sum(1 for name, _ in sections if name.startswith("gram")) == 9
    words = sorted({w for _, qs in sections for q in qs for w in q})
    rng = np.random.default_rng(0)
    keep = [w for w in words if rng.random() < 0.8]
    vocab = keep + [f"w{i}" for i in range(200)]
    space = EmbeddingSpace(vocab, rng.standard_normal((len(vocab), 16)).astype(np.float32))
    result = evaluate.analogy(space, REAL, restrict_vocab=None)
    score, gsections = to_gensim(space).evaluate_word_analogies(str(REAL), restrict_vocab=len(space))
    assert_same_as_gensim(result, score, gsections, 19544, True)
    assert 0.1 < result.coverage < 0.9 and result.accuracy < 0.2  # random vectors
