"""Evaluation files in the layouts people have (issue 22): word pairs as CSV with a header, POS-tagged words
(``cat-n``), analogy tables with one question per row and a category column; a file with nothing in the
vocabulary is an error that says so."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from evaluate_testing import OOV_WORDS, planted_space, word_pairs, write_pairs, write_questions

from embspace import EmbeddingSpace, evaluate
from embspace.errors import CorruptDataError, InvalidInputError
from embspace.evaluate import read_analogies, read_word_pairs

Pairs = list[tuple[str, str, float]]
WORD_EVAL = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "word_eval"


@pytest.fixture(scope="module")
def space() -> EmbeddingSpace:
    return planted_space()


@pytest.fixture(scope="module")
def pairs(space: EmbeddingSpace) -> Pairs:
    return word_pairs(space)


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def csv_of(pairs: Pairs, header: str = "word1,word2,similarity") -> str:
    return header + "\n" + "".join(f"{a},{b},{s}\n" for a, b, s in pairs)


# --------------------------------------------------------------------------- word similarity: CSV
@pytest.mark.parametrize("header", ["word1,word2,similarity", "Word 1,Word 2,Human (mean)", "w1,w2,score", ""])
def test_csv_with_or_without_header_reads_as_the_tsv(space: EmbeddingSpace, pairs: Pairs, tmp_path: Path,
                                                     header: str) -> None:
    text = csv_of(pairs, header) if header else "".join(f"{a},{b},{s}\n" for a, b, s in pairs)
    path = write(tmp_path / "pairs.csv", text)
    assert read_word_pairs(path) == pairs
    tsv = write_pairs(tmp_path / "pairs.tsv", pairs)
    assert evaluate.word_similarity(space, path).to_dict() == evaluate.word_similarity(space, tsv).to_dict()


def test_csv_is_recognised_by_its_first_line_and_reads_quotes(tmp_path: Path) -> None:
    text = 'word1,word2,score\n"new york",city,7.5\nking,queen,8.0\n'
    expected = [("new york", "city", 7.5), ("king", "queen", 8.0)]
    assert read_word_pairs(write(tmp_path / "pairs.txt", text)) == expected  # no .csv suffix
    assert read_word_pairs(write(tmp_path / "pairs.csv", text)) == expected


@pytest.mark.parametrize(("text", "expected"), [
    # SimLex-999: a POS column before the score, further columns after it
    ("word1\tword2\tPOS\tSimLex999\tconc(w1)\tconc(w2)\nold\tnew\tA\t1.58\t2.72\t2.81\n"
     "smart\tintelligent\tA\t9.2\t1.75\t2.46\n", [("old", "new", 1.58), ("smart", "intelligent", 9.2)]),
    # no header, a POS column: the first numeric column after the words
    ("old new A 1.58 2.72\nsmart intelligent A 9.2 1.75\n", [("old", "new", 1.58), ("smart", "intelligent", 9.2)]),
    # a header with a 'relation' column of labels before the score
    ("word1,word2,relation,score\nhappy,glad,SYNONYMS,9.1\nhappy,sad,ANTONYMS,1.2\n",
     [("happy", "glad", 9.1), ("happy", "sad", 1.2)]),
    # the score column named first
    ("score,word1,word2\n9.1,happy,glad\n", [("happy", "glad", 9.1)]),
])
def test_the_score_column_is_found(tmp_path: Path, text: str, expected: Pairs) -> None:
    assert read_word_pairs(write(tmp_path / "pairs.csv" if "," in text else tmp_path / "p.txt", text)) == expected


def test_csv_errors_name_the_line(tmp_path: Path) -> None:
    with pytest.raises(CorruptDataError, match="found 2 fields") as info:
        read_word_pairs(write(tmp_path / "a.csv", "word1,word2,score\nking,queen,8\nman,woman\n"))
    assert info.value.line == 3
    with pytest.raises(CorruptDataError, match="'high' is not a number") as info:
        read_word_pairs(write(tmp_path / "b.csv", "word1,word2,score\nking,queen,8\nman,woman,high\n"))
    assert info.value.line == 3
    with pytest.raises(CorruptDataError, match="no word pairs"):
        read_word_pairs(write(tmp_path / "c.csv", "word1,word2,score\n"))


# --------------------------------------------------------------------------- word similarity: POS tags
def test_pos_tags_are_stripped_when_every_word_has_one(space: EmbeddingSpace, pairs: Pairs, tmp_path: Path) -> None:
    tags = "nvjar"
    tagged = [(f"{a}-{tags[i % 5]}", f"{b}-{tags[(i + 1) % 5]}", s) for i, (a, b, s) in enumerate(pairs)]
    path = write_pairs(tmp_path / "men.txt", tagged, sep=" ")
    assert read_word_pairs(path) == pairs
    assert read_word_pairs(path, strip_pos=False) == tagged
    plain = write_pairs(tmp_path / "plain.tsv", pairs)
    assert evaluate.word_similarity(space, path).to_dict() == evaluate.word_similarity(space, plain).to_dict()


def test_pos_tags_stay_when_some_word_has_none(tmp_path: Path) -> None:
    path = write(tmp_path / "p.tsv", "x-ray\tbone-n\t7\ncat-n\tdog-n\t6\n")
    assert read_word_pairs(path) == [("x-ray", "bone-n", 7.0), ("cat-n", "dog-n", 6.0)]  # x-ray is no tag
    assert read_word_pairs(path, strip_pos=True) == [("x-ray", "bone", 7.0), ("cat", "dog", 6.0)]
    words = write(tmp_path / "q.tsv", "half-time\tbreak\t7\n")  # only n v a j r are tags; -time is a word
    assert read_word_pairs(words, strip_pos=True) == [("half-time", "break", 7.0)]


# --------------------------------------------------------------------------- word similarity: nothing covered
def test_a_file_with_no_pair_in_vocabulary_is_an_error(space: EmbeddingSpace, tmp_path: Path) -> None:
    path = write_pairs(tmp_path / "oov.tsv", [(OOV_WORDS[0], OOV_WORDS[1], 3.0), ("Rome", OOV_WORDS[2], 5.0)])
    with pytest.raises(InvalidInputError) as info:
        evaluate.word_similarity(space, path)
    msg = str(info.value)
    assert str(path) in msg and "none of the 2 word pairs has both words in the space" in msg
    assert repr(OOV_WORDS[0]) in msg and "'Rome'" not in msg  # the examples are the missing words
    restricted = write_pairs(tmp_path / "r.tsv", [("Rome", "Paris", 5.0), ("man", "woman", 4.0)])
    with pytest.raises(InvalidInputError, match=r"among the 1 most frequent keys.*raise restrict_vocab"):
        evaluate.word_similarity(space, restricted, restrict_vocab=1)
    shouting = write_pairs(tmp_path / "s.tsv", [("ROME", "PARIS", 5.0), ("MAN", "WOMAN", 4.0)])
    with pytest.raises(InvalidInputError, match="case_insensitive=True"):
        evaluate.word_similarity(space, shouting, case_insensitive=False)
    assert evaluate.word_similarity(space, shouting).pairs == 2


# --------------------------------------------------------------------------- analogies: one question per row
@pytest.fixture(scope="module")
def questions(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_questions(tmp_path_factory.mktemp("analogy") / "questions-words.txt")


def table_of(sections: list[tuple[str, list[tuple[str, str, str, str]]]], *, sep: str = ",", header: str | None = None,
             category: str = "first") -> str:
    lines = [header] if header is not None else []
    for name, qs in sections:
        for q in qs:
            lines.append(sep.join([name, *q] if category == "first" else [*q, name]))
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(("header", "category", "sep", "suffix"), [
    ("category,a,b,c,d", "first", ",", ".csv"),
    ("type,word1,word2,word3,word4", "first", ",", ".txt"),
    ("word1,word2,word3,word4,relation", "last", ",", ".csv"),
    (None, "first", ",", ".csv"),
    (None, "last", ",", ".csv"),
    (None, "first", "\t", ".tsv"),
    ("section\ta\tb\tc\td", "first", "\t", ".txt"),
])
def test_a_table_reads_as_the_questions_words_file(space: EmbeddingSpace, questions: Path, tmp_path: Path,
                                                   header: str | None, category: str, sep: str, suffix: str) -> None:
    sections = read_analogies(questions)
    path = write(tmp_path / f"q{suffix}", table_of(sections, sep=sep, header=header, category=category))
    assert read_analogies(path) == sections
    ours, reference = evaluate.analogy(space, path), evaluate.analogy(space, questions)
    assert ours.to_dict() == reference.to_dict()


def test_a_category_seen_again_later_joins_its_section(tmp_path: Path) -> None:
    path = write(tmp_path / "q.csv", "family,man,king,woman,queen\ncapital,athens,greece,rome,italy\n"
                                     "family,boy,girl,father,mother\n")
    family = [("man", "king", "woman", "queen"), ("boy", "girl", "father", "mother")]
    assert read_analogies(path) == [("family", family), ("capital", [("athens", "greece", "rome", "italy")])]


def test_a_table_without_a_category_is_one_section(tmp_path: Path) -> None:
    path = write(tmp_path / "bats-family.csv", "a,b,c,d\nman,king,woman,queen\nboy,girl,father,mother\n")
    assert read_analogies(path) == [("bats-family", [("man", "king", "woman", "queen"),
                                                     ("boy", "girl", "father", "mother")])]
    bare = write(tmp_path / "bare.csv", "man,king,woman,queen\n")
    assert read_analogies(bare) == [("bare", [("man", "king", "woman", "queen")])]


@pytest.mark.parametrize(("text", "line", "match"), [
    ("category,a,b,c,d\nfamily,man,king,woman,queen\nfamily,boy,girl,father\n", 3, "expected 5 fields"),
    ("family,man,king,woman,queen\nfamily,boy,,father,mother\n", 2, "empty field"),
    ("category,a,b,c\nfamily,man,king,woman\n", 1, "expected 4 words and a category per row, found 4"),
    ("man,king,woman\n", 1, "expected 4 words per row, found 3"),
])
def test_table_errors_name_the_line(tmp_path: Path, text: str, line: int, match: str) -> None:
    with pytest.raises(CorruptDataError, match=match) as info:
        read_analogies(write(tmp_path / "q.csv", text))
    assert info.value.line == line


def test_only_a_header_has_no_questions(tmp_path: Path) -> None:
    with pytest.raises(CorruptDataError, match="no analogy questions"):
        read_analogies(write(tmp_path / "q.csv", "category,a,b,c,d\n"))


def test_no_answerable_question_is_an_error(space: EmbeddingSpace, tmp_path: Path) -> None:
    path = write(tmp_path / "q.csv", f"myth,{','.join(OOV_WORDS)}\nmyth,Rome,Italy,{OOV_WORDS[0]},Greece\n")
    with pytest.raises(InvalidInputError) as info:
        evaluate.analogy(space, path)
    msg = str(info.value)
    assert str(path) in msg and "none of the 2 questions has all four words in the space" in msg
    assert repr(OOV_WORDS[0]) in msg and "'Rome'" not in msg


# --------------------------------------------------------------------------- the real files, re-laid out
def real(name: str) -> Path:
    path = WORD_EVAL / name
    if not path.exists():
        pytest.skip(f"{name} is not at {path} (see ../shared/data/README.md)")
    return path


def random_space(words: set[str]) -> EmbeddingSpace:
    rng = np.random.default_rng(0)
    vocab = sorted(w for w in words if rng.random() < 0.9) + [f"w{i}" for i in range(100)]
    return EmbeddingSpace(vocab, rng.standard_normal((len(vocab), 16)).astype(np.float32))


@pytest.mark.parametrize("name", ["wordsim353.tsv", "EN-MTurk-771.txt", "EN-RG-65.txt"])
def test_real_similarity_sets_as_csv_and_pos_tagged(name: str, tmp_path: Path) -> None:
    path = real(name)
    pairs = read_word_pairs(path)
    space = random_space({w for a, b, _ in pairs for w in (a, b)})
    reference = evaluate.word_similarity(space, path).to_dict()
    as_csv = write(tmp_path / "pairs.csv", csv_of(pairs, "Word 1,Word 2,Human (mean)"))
    tagged = write_pairs(tmp_path / "men.txt", [(f"{a}-n", f"{b}-n", s) for a, b, s in pairs], sep=" ")
    for variant in (as_csv, tagged):
        assert read_word_pairs(variant) == pairs
        assert evaluate.word_similarity(space, variant).to_dict() == reference


def test_real_questions_words_as_a_table(tmp_path: Path) -> None:
    path = real("questions-words.txt")
    sections = read_analogies(path)
    words = {w for _, qs in sections for q in qs for w in q}
    space = random_space(words)
    table = write(tmp_path / "google.csv", table_of(sections, header="a,b,c,d,type", category="last"))
    assert read_analogies(table) == sections
    assert evaluate.analogy(space, table).to_dict() == evaluate.analogy(space, path).to_dict()
