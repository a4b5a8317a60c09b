"""``embspace collection add`` (issue 22): texts kept, progress, the cache, README skipped, --chunk, the
record fields applied or refused; CLI errors and warnings in CLI terms, in one line."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest
from cli_testing import run

pytest.importorskip("faiss")


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> str:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "encoders"))
    from text_testing import build_st  # the tiny BERT sentence model of the encoder tests

    return str(build_st(tmp_path_factory.mktemp("model"), max_seq_length=16))


def _reviews(root: Path) -> Path:
    d = root / "reviews"
    for label, texts in (("pos", ["the cat sat on the mat", "she opened a bank account"]),
                         ("neg", ["the dog sat on the log", " ".join(["a long text of words"] * 8)])):
        (d / label).mkdir(parents=True)
        for i, t in enumerate(texts):
            (d / label / f"r{i}.txt").write_text(t + "\n", encoding="utf-8")
    (d / "README").write_text("the reviews, 2 of each label\n", encoding="utf-8")
    return d


def test_collection_add_a_folder_keeps_texts_skips_the_readme_and_uses_the_cache(
        model: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = _reviews(tmp_path)
    col = str(tmp_path / "col")
    assert run(["collection", "create", col, "--model", model, "--index", "Flat"], capsys)[0] == 0
    code, out, err = run(["collection", "add", col, str(d)], capsys)
    assert code == 0, err
    assert re.search(r"added 4 items in [\d.]+ s \([\d,.]+ items/s; encoded 4, from cache 0\); the collection holds 4",
                     out), out
    assert "docs/s" in err  # the progress display: rate and ETA
    assert "skipped 1 file: 1 describes the folder, not a document (README); --all adds them" in err
    assert "longer than the model's maximum" in err and "--chunk TOKENS" in err  # one clean line, CLI terms
    assert "warnings.warn" not in err and ".py:" not in err and "chunk=" not in err
    code, out, err = run(["search", col, "the cat sat on the mat", "-k", "1", "--json"], capsys)
    assert code == 0, err
    hit = json.loads(out)["hits"][0]
    assert hit["text"] == "the cat sat on the mat" and hit["key"] == "pos/r0.txt"
    code, out, err = run(["search", col, "the cat sat on the mat", "-k", "2"], capsys)
    assert "the cat sat on the mat" in out  # the table shows the texts
    # the second time every vector comes from the cache
    col2 = str(tmp_path / "col2")
    run(["collection", "create", col2, "--model", model], capsys)
    code, out, err = run(["collection", "add", col2, str(d), "--json"], capsys)
    assert code == 0, err
    data = json.loads(out)
    assert data["added"] == 4 and data["encoded"] == 0 and data["cached"] == 4
    assert data["skipped"] == [{"path": "README", "reason": "describes the folder, not a document"}]
    # --all takes the README in; --chunk cuts the long review into windows
    col3 = str(tmp_path / "col3")
    run(["collection", "create", col3, "--model", model], capsys)
    code, out, err = run(["collection", "add", col3, str(d), "--all", "--chunk", "12", "--quiet", "--json"], capsys)
    assert code == 0, err
    data = json.loads(out)
    assert data["chunked"] == 1 and data["added"] > 5 and "skipped" not in data and err == ""


def test_collection_add_records_by_field(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Issue 22: --id-field id on a Parquet file keyed by another column and dropped the metadata."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(0)
    pq.write_table(pa.table({"title": [f"t{i}" for i in range(4)], "id": [f"id{i}" for i in range(4)],
                             "genre": list("abab"), "vector": list(rng.standard_normal((4, 4)).astype(np.float32))}),
                   tmp_path / "x.parquet")
    col = str(tmp_path / "col")
    run(["collection", "create", col, "--dim", "4"], capsys)
    code, out, err = run(["collection", "add", col, str(tmp_path / "x.parquet"), "--id-field", "id",
                          "--text-field", "title", "--json"], capsys)
    assert code == 0, err
    assert json.loads(out) == {"added": 4, "count": 4}
    assert "--id-field is deprecated" in err and "--key-field" in err
    code, out, err = run(["search", col, "id1", "--key", "-k", "3", "--json"], capsys)
    hits = json.loads(out)["hits"]
    assert {h["key"] for h in hits} <= {"id0", "id2", "id3"} and all(h["metadata"]["genre"] for h in hits)
    assert {h["text"] for h in hits} <= {"t0", "t2", "t3"}
    code, out, err = run(["collection", "add", col, str(tmp_path / "x.parquet"), "--key-field", "id",
                          "--metadata-fields", "genre,year", "--upsert"], capsys)
    assert code == 2 and "no field 'year' for the metadata; its fields are: title, id, genre, vector" in err
    code, out, err = run(["collection", "add", col, str(tmp_path / "x.parquet"), "--key-field", "id"], capsys)
    assert code == 2 and "already exists" in err and "--upsert" in err and "use upsert" not in err, err
    assert len(err.strip().splitlines()) == 1


def test_cli_errors_give_cli_advice(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import embspace
    from embspace.store import Collection

    col = tmp_path / "col"
    with Collection.create(col, dim=4):
        pass
    (tmp_path / "t.txt").write_text("hello\n")
    code, _out, err = run(["collection", "add", str(col), str(tmp_path / "t.txt")], capsys)
    assert code == 2 and "no encoder" in err and "encoder=" not in err
    code, _out, err = run(["collection", "create", str(tmp_path / "c2")], capsys)
    assert code == 2 and "--dim" in err and "dim (a positive int)" not in err
    code, _out, err = run(["collection", "create", str(col), "--dim", "4"], capsys)  # one there already
    assert code == 2 and "embspace collection add" in err and "Collection.open" not in err, err
    writer = embspace.Collection.open(col)  # another process writing (embspace serve, say)
    try:
        code, _out, err = run(["collection", "delete", str(col), "x", "--wait", "0"], capsys)
    finally:
        writer.close()
    assert code == 2 and "readonly=True" not in err and "embspace search" in err, err
    assert "is open for writing by another process; waiting" not in err  # --wait 0: no wait, no note
    code, _out, err = run(["collection", "create", str(tmp_path / "c3"), "--model", "minlm"], capsys)
    assert code == 2 and "did you mean 'minilm'?" in err and len(err.strip().splitlines()) == 1, err


def test_every_phrase_the_advice_table_rewrites_is_still_in_the_library() -> None:
    """The CLI rewrites library phrases; a phrase reworded in the library would silently stop being rewritten."""
    from embspace.cli._advice import ADVICE

    src = Path(__file__).resolve().parents[2] / "src" / "embspace"
    text = "".join(p.read_text(encoding="utf-8") for p in src.rglob("*.py") if "cli" not in p.parts)
    flat = re.sub(r"\"\s*\n\s*f?\"", "", text)  # join implicitly concatenated string literals
    for phrase, _cli in ADVICE:
        assert phrase in flat, phrase
    import inspect

    from embspace.cli._advice import KEYWORDS
    from embspace.space.io import load

    for keyword, _flag in KEYWORDS:  # the keywords rewritten as flags are still load's
        assert keyword in inspect.signature(load).parameters, keyword


def test_a_library_warning_is_one_cli_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Warnings print as `warning: ...` in one line, never Python's `file.py:123: Category: ...` and source line."""
    from embspace.store import Collection

    col = tmp_path / "col"
    with Collection.create(col, dim=4) as c:
        c.add(["a", "b"], np.eye(4, dtype=np.float32)[:2], [{"label": "x"}, {"label": "y"}])
    code, _out, err = run(["search", str(col), "a", "--key", "-k", "1", "--where", "lable = 'x'"], capsys)
    assert code == 0, err
    lines = [ln for ln in err.splitlines() if "lable" in ln]
    assert lines == ["warning: no item has the field 'lable'; fields are: label"], err
    assert ".py:" not in err and "Warning:" not in err
