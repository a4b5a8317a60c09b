"""`embspace distill`: a tiny teacher distilled, saved, loaded, evaluated; errors exit with status 2."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from cli_testing import run

from embspace.encoders import DistilledEncoder, get_encoder

pytest.importorskip("sentence_transformers")

DOCS = ["the cat sat on the mat", "a dog in the river", "money in the bank account", "she opened a long text",
        "the cats sat on the mats", "a long word"]


@pytest.fixture(scope="module")
def teacher(tmp_path_factory: pytest.TempPathFactory) -> Path:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "encoders"))
    from text_testing import build_st

    return build_st(tmp_path_factory.mktemp("teacher"))


@pytest.fixture(autouse=True)
def _cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EMBSPACE_CACHE", str(tmp_path / "cache"))


def test_distill_with_corpus_and_evaluate(teacher: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    corpus = tmp_path / "docs.txt"
    corpus.write_text("\n".join(DOCS) + "\n")
    queries = tmp_path / "queries.txt"
    queries.write_text("cat mat\nriver dog\nbank money\n")
    out = tmp_path / "student"
    code, stdout, err = run(["distill", str(teacher), "-o", str(out), "--corpus", str(corpus), "--dims", "4",
                             "--evaluate", str(queries), "--json", "--quiet"], capsys)
    assert code == 0, err
    report = json.loads(stdout)
    assert report["frequencies"] == "corpus" and report["dim"] == 4 and report["corpus_texts"] == len(DOCS)
    assert report["tune_texts"] == len(DOCS) and report["tune_epochs"] >= 1  # tuned by default with a corpus
    assert 0.0 <= report["evaluation"]["top_k_agreement"] <= 1.0 and report["evaluation"]["n_queries"] == 3
    enc = get_encoder(out)
    assert isinstance(enc, DistilledEncoder) and enc.dim == 4
    assert np.asarray(enc.encode(DOCS)).shape == (len(DOCS), 4)


def test_distill_text_output_and_errors(teacher: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, stdout, err = run(["distill", str(teacher), "-o", str(tmp_path / "s"), "--dims", "3", "--quiet"], capsys)
    assert code == 0, err
    assert "distilled" in stdout and "frequencies zipf" in stdout
    code, _, err = run(["distill", str(teacher), "-o", str(tmp_path / "t"), "--frequencies", "corpus", "--quiet"],
                       capsys)
    assert code == 2 and "needs a corpus" in err
    code, _, err = run(["distill", str(teacher), "-o", str(tmp_path / "u"), "--evaluate", str(tmp_path / "no.txt")],
                       capsys)
    assert code == 2 and "no such file" in err
    corpus = tmp_path / "docs.txt"
    corpus.write_text("\n".join(DOCS) + "\n")
    code, stdout, err = run(["distill", str(teacher), "-o", str(tmp_path / "v"), "--corpus", str(corpus), "--dims",
                             "3", "--weighting", "idf", "--tune-epochs", "2", "--quiet"], capsys)
    assert code == 0, err
    assert "idf weights" in stdout and "tuned on" in stdout and "held-out cosine to the teacher" in stdout
    code, stdout, err = run(["distill", str(teacher), "-o", str(tmp_path / "w"), "--corpus", str(corpus),
                             "--tune-epochs", "0", "--json", "--quiet"], capsys)
    assert code == 0, err
    assert "tune_texts" not in json.loads(stdout)
