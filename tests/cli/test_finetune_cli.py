"""embspace finetune: pairs from a JSONL/TSV file or a BEIR folder, a tiny model, a loadable result."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from embspace.cli.app import app
from embspace.data import load_pairs
from embspace.errors import CorruptDataError

pytest.importorskip("sentence_transformers")
runner = CliRunner()


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "encoders"))
    from text_testing import build_st

    return build_st(tmp_path_factory.mktemp("tiny"))


def test_finetune_from_jsonl_and_beir(tiny: Path, tmp_path: Path) -> None:
    f = tmp_path / "pairs.jsonl"
    f.write_text("\n".join(json.dumps({"anchor": a, "positive": b}) for a, b in
                           [("cat mat", "the cat sat on the mat"), ("dog river", "a dog in the river"),
                            ("money bank", "money in the bank account")]) + "\n")
    r = runner.invoke(app, ["finetune", str(f), "-o", str(tmp_path / "m1"), "--model", str(tiny), "--epochs", "2",
                            "--batch-size", "2", "--device", "cpu", "--json"])
    assert r.exit_code == 0, r.output + repr(r.exception)
    summary = json.loads(r.stdout)
    assert summary["pairs"] == 3 and (tmp_path / "m1" / "embspace_finetune.json").is_file()
    beir = tmp_path / "beir"
    (beir / "qrels").mkdir(parents=True)
    (beir / "corpus.jsonl").write_text("\n".join(json.dumps({"_id": f"d{i}", "title": "", "text": t}) for i, t in
                                                 enumerate(["the cat sat", "a river bank", "money of we"])) + "\n")
    (beir / "queries.jsonl").write_text("\n".join(json.dumps({"_id": f"q{i}", "text": t}) for i, t in
                                                  enumerate(["cat", "river", "money"])) + "\n")
    (beir / "qrels" / "train.tsv").write_text("query-id\tcorpus-id\tscore\nq0\td0\t1\nq1\td1\t1\nq2\td2\t0\n")
    r = runner.invoke(app, ["finetune", str(beir), "-o", str(tmp_path / "m2"), "--model", str(tiny), "--device",
                            "cpu", "--batch-size", "2", "-q"])
    assert r.exit_code == 0, r.output + repr(r.exception)
    assert "2 pairs" in r.output  # the judged-irrelevant pair is left out
    from embspace.encoders import get_encoder

    assert get_encoder(str(tmp_path / "m2"), device="cpu").encode(["the cat sat"], progress=False).shape == (1, 16)


def test_load_pairs_formats_and_errors(tmp_path: Path) -> None:
    t = tmp_path / "p.tsv"
    t.write_text("a b\tc d\n\nx\ty\n")
    assert load_pairs(t) == [("a b", "c d"), ("x", "y")]
    bad = tmp_path / "bad.tsv"
    bad.write_text("only one column\n")
    with pytest.raises(CorruptDataError, match="2 tab-separated"):
        load_pairs(bad)
    j = tmp_path / "p.jsonl"
    j.write_text('{"query": "q", "document": "d"}\n{"nope": 1}\n')
    with pytest.raises(CorruptDataError, match=r"line 2|:2"):
        load_pairs(j)


def test_finetune_matryoshka_option(tiny: Path, tmp_path: Path) -> None:
    f = tmp_path / "pairs.tsv"
    f.write_text("cat mat\tthe cat sat on the mat\ndog river\ta dog in the river\nmoney bank\tmoney in the bank\n")
    r = runner.invoke(app, ["finetune", str(f), "-o", str(tmp_path / "m"), "--model", str(tiny), "--batch-size", "2",
                            "--device", "cpu", "--matryoshka", "16,8,4", "--json"])
    assert r.exit_code == 0, r.output + repr(r.exception)
    assert json.loads(r.stdout)["matryoshka_dims"] == [16, 8, 4]
    from embspace.encoders import matryoshka_dims

    assert matryoshka_dims(tmp_path / "m") == (16, 8, 4)
    r = runner.invoke(app, ["finetune", str(f), "-o", str(tmp_path / "m2"), "--model", str(tiny), "--device", "cpu",
                            "--matryoshka", "8,16"])
    assert r.exit_code != 0 and "descending" in r.output + str(r.exception)
    r = runner.invoke(app, ["finetune", str(f), "-o", str(tmp_path / "m3"), "--model", str(tiny), "--device", "cpu",
                            "--matryoshka", "16,eight"])
    assert r.exit_code != 0 and "--matryoshka takes sizes" in r.output + str(r.exception)
