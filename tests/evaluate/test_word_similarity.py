"""evaluate.word_similarity: the same Spearman, Pearson and OOV ratio as gensim's evaluate_word_pairs."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from evaluate_testing import OOV_WORDS, planted_space, to_gensim, word_pairs, write_pairs

from embspace import EmbeddingSpace, evaluate
from embspace.errors import CorruptDataError, InvalidInputError
from embspace.evaluate import read_word_pairs

Pairs = list[tuple[str, str, float]]


@pytest.fixture(scope="module")
def space() -> EmbeddingSpace:
    return planted_space()


@pytest.fixture(scope="module")
def gensim_kv(space: EmbeddingSpace) -> Any:
    return to_gensim(space)


@pytest.fixture(scope="module")
def pairs(space: EmbeddingSpace) -> Pairs:
    return word_pairs(space)


@pytest.fixture(scope="module")
def tsv(tmp_path_factory: pytest.TempPathFactory, pairs: Pairs) -> Path:
    return write_pairs(tmp_path_factory.mktemp("sim") / "pairs.tsv", pairs)


def assert_same_as_gensim(result: evaluate.SimilarityResult, gensim_out: tuple[Any, Any, float]) -> None:
    pearson, spearman, oov_ratio = gensim_out
    assert result.pearson == pytest.approx(float(pearson[0]), abs=1e-5)
    assert result.spearman == pytest.approx(float(spearman[0]), abs=1e-5)
    assert 100 * (1 - result.coverage) == pytest.approx(oov_ratio, abs=1e-9)
    total = result.pairs + len(result.oov_pairs)
    assert 100 * len(result.oov_pairs) / total == pytest.approx(oov_ratio, abs=1e-9)


@pytest.mark.parametrize("case_insensitive", [True, False])
@pytest.mark.parametrize("restrict", [None, 140, 80])
def test_tab_separated_matches_gensim(space: EmbeddingSpace, gensim_kv: Any, tsv: Path, restrict: int | None,
                                      case_insensitive: bool) -> None:
    result = evaluate.word_similarity(space, tsv, restrict_vocab=restrict, case_insensitive=case_insensitive)
    ref = gensim_kv.evaluate_word_pairs(str(tsv), restrict_vocab=restrict or len(space),
                                        case_insensitive=case_insensitive)
    assert_same_as_gensim(result, ref)


def test_space_separated_matches_gensim(space: EmbeddingSpace, gensim_kv: Any, pairs: Pairs, tmp_path: Path) -> None:
    path = write_pairs(tmp_path / "pairs.txt", pairs, sep=" ")
    result = evaluate.word_similarity(space, path)
    assert_same_as_gensim(result, gensim_kv.evaluate_word_pairs(str(path), delimiter=" "))
    tab = evaluate.word_similarity(space, write_pairs(tmp_path / "pairs.tsv", pairs))
    assert result.to_dict() == tab.to_dict()


def test_planted_pairs_are_a_meaningful_fixture(space: EmbeddingSpace, tsv: Path, pairs: Pairs) -> None:
    result = evaluate.word_similarity(space, tsv)
    assert 0.5 < result.spearman < 0.99 and 0.5 < result.pearson < 0.99
    assert 0.9 < result.coverage < 1.0
    assert (OOV_WORDS[0], "Greece") in result.oov_pairs and ("Rome", OOV_WORDS[3]) in result.oov_pairs
    assert result.pairs + len(result.oov_pairs) == len(pairs)
    assert result.to_dict() == {"spearman": result.spearman, "pearson": result.pearson,
                                "coverage": result.coverage, "pairs": result.pairs, "oov": len(result.oov_pairs)}


def test_case_insensitive_uses_the_most_frequent_variant(tmp_path: Path) -> None:
    """'Berlin'/'BERLIN' are looked up as 'berlin' when it is the more frequent variant."""
    space = planted_space()
    assert space.keys.index("berlin") < space.keys.index("Berlin")
    path = write_pairs(tmp_path / "p.tsv", [("BERLIN", "Germany", 9.0), ("Berlin", "Oslo", 4.0),
                                            ("berlin", "Rome", 3.0), ("man", "woman", 5.0)])
    rows = evaluate.word_similarity(space, path)
    manual = [space.similarity("berlin", "Germany"), space.similarity("berlin", "Oslo"),
              space.similarity("berlin", "Rome"), space.similarity("man", "woman")]
    from scipy import stats

    assert rows.pearson == pytest.approx(float(stats.pearsonr([9.0, 4.0, 3.0, 5.0], manual)[0]), abs=1e-9)
    exact = evaluate.word_similarity(space, path, case_insensitive=False)
    assert exact.oov_pairs == [("BERLIN", "Germany")]  # 'Berlin' exists as its own (rarer) key


def test_counts_decide_the_frequency_order(space: EmbeddingSpace, tsv: Path) -> None:
    rng = np.random.default_rng(3)
    perm = rng.permutation(len(space))
    assert space.counts is not None
    shuffled = EmbeddingSpace([space.keys[i] for i in perm], np.asarray(space.vectors)[perm],
                              counts=space.counts[perm])
    for restrict in (None, 100):
        ours = evaluate.word_similarity(shuffled, tsv, restrict_vocab=restrict)
        ref = evaluate.word_similarity(space, tsv, restrict_vocab=restrict)
        assert ours.to_dict() == pytest.approx(ref.to_dict(), abs=1e-12)
        assert ours.oov_pairs == ref.oov_pairs


def test_header_and_comments(space: EmbeddingSpace, pairs: Pairs, tsv: Path, tmp_path: Path) -> None:
    bare = write_pairs(tmp_path / "bare.tsv", pairs, header=False)
    assert read_word_pairs(bare) == read_word_pairs(tsv) == pairs
    slashes = tmp_path / "slashes.tsv"
    slashes.write_text("// a comment\n\n" + "\n".join(f"{a}\t{b}\t{s}" for a, b, s in pairs) + "\n\n",
                       encoding="utf-8")
    assert read_word_pairs(slashes) == pairs
    extra = tmp_path / "extra.tsv"  # further columns (e.g. per-annotator scores) are ignored
    extra.write_text("".join(f"{a}\t{b}\t{s}\t1\t2\n" for a, b, s in pairs), encoding="utf-8")
    assert read_word_pairs(extra) == pairs


def test_bom_and_crlf(pairs: Pairs, tsv: Path, tmp_path: Path) -> None:
    path = tmp_path / "crlf.tsv"
    path.write_bytes(b"\xef\xbb\xbf" + tsv.read_text("utf-8").replace("\n", "\r\n").encode("utf-8"))
    assert read_word_pairs(path) == pairs


def test_too_few_covered_pairs_give_nan(space: EmbeddingSpace, tmp_path: Path) -> None:
    path = write_pairs(tmp_path / "oov.tsv", [(OOV_WORDS[0], "Rome", 3.0), ("Rome", "Paris", 5.0)])
    result = evaluate.word_similarity(space, path)
    assert math.isnan(result.spearman) and math.isnan(result.pearson)
    assert result.pairs == 1 and result.coverage == 0.5


@pytest.mark.parametrize("bad", [0, -1])
def test_restrict_vocab_must_be_positive(space: EmbeddingSpace, tsv: Path, bad: int) -> None:
    with pytest.raises(InvalidInputError, match="restrict_vocab"):
        evaluate.word_similarity(space, tsv, restrict_vocab=bad)


@pytest.mark.parametrize(("text", "line", "match"), [
    ("# c\nman\twoman\t3.0\nking queen\n", 3, "found 2 fields"),
    ("man\twoman\t3.0\nking\tqueen\tabc\n", 2, "is not a number"),
    ("Word1\tWord2\tScore\nsecond\theader\tline\nman\twoman\t3.0\n", 2, "is not a number"),
    ("a b c d e f\ng h i j k l\n", 2, "is not a number"),
    ("man\twoman\t3.0\n\nking\tqueen\tnan\n", 3, "finite"),
    ("man\twoman\t3.0\nking\tqueen\t\xff\n", 2, "UTF-8"),
])
def test_malformed_files_name_the_line(space: EmbeddingSpace, tmp_path: Path, text: str, line: int,
                                       match: str) -> None:
    path = tmp_path / "bad.tsv"
    path.write_bytes(text.encode("latin-1"))
    with pytest.raises(CorruptDataError, match=match) as info:
        evaluate.word_similarity(space, path)
    assert info.value.line == line and info.value.path == str(path)
    assert f"{path}, line {line}:" in str(info.value)


@pytest.mark.parametrize("text", ["", "# only comments\n\n", "Word1\tWord2\tScore\n"])
def test_files_without_pairs(space: EmbeddingSpace, tmp_path: Path, text: str) -> None:
    path = tmp_path / "empty.tsv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(CorruptDataError, match="no word pairs"):
        evaluate.word_similarity(space, path)


# --------------------------------------------------------------------------- the real files
WORD_EVAL = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "word_eval"
REAL_SETS = {"wordsim353.tsv": 353, "EN-WS-353-SIM.txt": 203, "EN-WS-353-REL.txt": 252, "EN-RG-65.txt": 65,
             "EN-MC-30.txt": 30, "EN-MTurk-771.txt": 771}


@pytest.mark.parametrize(("name", "n"), list(REAL_SETS.items()))
def test_real_similarity_files(name: str, n: int) -> None:
    path = WORD_EVAL / name
    if not path.exists():
        pytest.skip(f"{name} is not at {path} (see ../shared/data/README.md)")
    pairs = read_word_pairs(path)
    assert len(pairs) == n
    words = sorted({w for a, b, _ in pairs for w in (a, b)})
    rng = np.random.default_rng(0)
    vocab = [w for w in words if rng.random() < 0.9] + [f"w{i}" for i in range(100)]
    space = EmbeddingSpace(vocab, rng.standard_normal((len(vocab), 16)).astype(np.float32))
    result = evaluate.word_similarity(space, path)
    assert 0.5 < result.coverage < 1.0 and abs(result.spearman) < 0.3  # random vectors
    if name == "wordsim353.tsv":
        assert_same_as_gensim(result, to_gensim(space).evaluate_word_pairs(str(path)))
