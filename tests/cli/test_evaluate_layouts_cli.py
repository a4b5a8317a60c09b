"""``embspace evaluate`` reads the evaluation layouts of issue 22 (CSV pairs with a header and POS tags, analogy
tables with a category column) and refuses a file with nothing in the vocabulary in one line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from cli_testing import run

import embspace
from embspace import evaluate


@pytest.fixture
def space_dir(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    words = ["man", "woman", "king", "queen", "boy", "girl", "father", "mother", "paris", "france", "rome", "italy"]
    return embspace.EmbeddingSpace(words, rng.standard_normal((len(words), 8))).save(tmp_path / "space")


def test_csv_layouts_from_the_command_line(space_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                           ) -> None:
    pairs = tmp_path / "men.csv"
    pairs.write_text("word1,word2,similarity\nking-n,queen-n,8\nman-n,woman-n,7\nparis-n,italy-n,2\n"
                     "boy-n,girl-n,6\n", encoding="utf-8")
    table = tmp_path / "analogies.csv"
    table.write_text("a,b,c,d,type\nman,king,woman,queen,family\nboy,girl,father,mother,family\n"
                     "paris,france,rome,italy,capital\n", encoding="utf-8")
    code, out, err = run(["evaluate", str(space_dir), "--analogy", str(table), "--similarity", str(pairs), "--json"],
                         capsys)
    assert code == 0, err
    data = json.loads(out)
    space = embspace.load(space_dir)
    assert list(data["analogy"]["sections"]) == ["family", "capital"]
    assert data["analogy"]["evaluated"] == evaluate.analogy(space, table).evaluated == 3
    sim = evaluate.word_similarity(space, pairs)
    assert data["similarity"][0]["pairs"] == sim.pairs == 4
    assert data["similarity"][0]["spearman"] == pytest.approx(sim.spearman)


def test_nothing_in_vocabulary_is_one_clean_line(space_dir: Path, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    pairs = tmp_path / "oov.tsv"
    pairs.write_text("cat\tdog\t7\nsun\tmoon\t6\n", encoding="utf-8")
    code, out, err = run(["evaluate", str(space_dir), "--similarity", str(pairs)], capsys)
    assert code == 2, (out, err)
    assert "none of the 2 word pairs has both words in the space" in err and "'cat'" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err


def test_the_advice_names_flags(space_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pairs = tmp_path / "shouting.tsv"
    pairs.write_text("KING\tQUEEN\t8\nMAN\tWOMAN\t7\n", encoding="utf-8")
    code, _, err = run(["evaluate", str(space_dir), "--similarity", str(pairs), "--case-sensitive",
                        "--restrict-vocab", "4"], capsys)
    assert code == 2
    assert "(--restrict-vocab 4)" in err and "raise --restrict-vocab" in err and "drop --case-sensitive" in err
    assert "restrict_vocab" not in err and "case_insensitive" not in err  # CLI advice, not Python keywords
