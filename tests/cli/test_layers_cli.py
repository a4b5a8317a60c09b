"""``embspace layers MODEL DATA``: end to end on a few sentences with a tiny BERT built from a config."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from cli_testing import run

pytest.importorskip("transformers")

ANIMALS = ["the cat sat on the mat", "the dog sat on the mat", "a cat and a dog", "the long cat sat",
           "we sat with the dog", "she and the cat"]
MONEY = ["money in the bank account", "she opened a bank account", "the bank of money", "an account of money",
         "money money bank", "we opened an account"]


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "encoders"))
    from text_testing import build_hf_bert

    return build_hf_bert(tmp_path_factory.mktemp("layers-cli"))


def test_layers_json_labels_retrieval_and_report(model: Path, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "docs.jsonl"
    data.write_text("".join(json.dumps({"key": f"d{i}", "text": t, "topic": "animal" if t in ANIMALS else "money"})
                            + "\n" for i, t in enumerate(ANIMALS + MONEY)), "utf-8")
    queries = tmp_path / "queries.jsonl"
    queries.write_text(json.dumps({"key": "q1", "text": "a cat on the mat"}) + "\n", "utf-8")
    qrels = tmp_path / "qrels.tsv"
    qrels.write_text("q1\td0\t1\nq1\td2\t1\n", "utf-8")
    page = tmp_path / "layers.html"
    code, stdout, stderr = run(["layers", str(model), str(data), "--labels", "topic", "--queries", str(queries),
                                "--qrels", str(qrels), "--report", str(page), "--json", "--device", "cpu"], capsys)
    assert code == 0, stderr
    r = json.loads(stdout)
    assert r["layers"] == [0, 1, 2] and r["n"] == 12 and r["report"] == str(page)
    assert all(m["probe_accuracy"] is not None and m["ndcg_at_10"] is not None for m in r["metrics"])
    assert len(r["cka"]) == 3 and r["cka"][1][1] == pytest.approx(1.0, abs=1e-6)  # rounded to 6 places
    assert {"probe", "retrieval"} <= set(r["best"])
    html = page.read_text("utf-8")
    assert "Linear CKA between layers" in html and "best for the linear probe" in html


def test_layers_text_output_with_progress(model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "sentences.txt"
    data.write_text("\n".join(ANIMALS + MONEY) + "\n", "utf-8")
    code, stdout, stderr = run(["layers", str(model), str(data), "--device", "cpu"], capsys)
    assert code == 0, stderr
    assert "3 layers on 12 items" in stdout and "isotropy" in stdout and "most isotropic" in stdout
    assert "measur" in stderr  # the progress bar ("measuring layers") on stderr


def test_layers_refuses_labels_of_plain_text(model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "sentences.txt"
    data.write_text("\n".join(ANIMALS) + "\n", "utf-8")
    code, _, stderr = run(["layers", str(model), str(data), "--labels", "topic"], capsys)
    assert code == 2 and "no fields" in stderr
    code, _, stderr = run(["layers", str(model), str(data), "--qrels", str(data)], capsys)
    assert code == 2 and "go together" in stderr
