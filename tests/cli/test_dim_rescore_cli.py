"""Issue 24 on the command line: ``--dim`` (Matryoshka truncation) where a model encodes texts, ``--rescore``
on ``collection create`` (kept) and ``search`` (per query); warnings and errors in one CLI line."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from cli_testing import run

import embspace

pytest.importorskip("faiss")

TEXTS = ["the cat sat on the mat", "a river bank", "money in the bank account", "the dog sat on the log"]


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> str:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "encoders"))
    from text_testing import build_st  # the tiny BERT sentence model of the encoder tests (16 dimensions)

    return str(build_st(tmp_path_factory.mktemp("model")))


def _one_warning(err: str, *words: str) -> None:
    """``err`` holds one warning line naming ``words`` (CLI terms: no traceback, no Python warning class)."""
    lines = [line for line in err.splitlines() if line.startswith("warning:")]
    assert len(lines) == 1 and all(w in lines[0] for w in words), err
    assert "Traceback" not in err and "DimensionTruncationWarning" not in err and ".py:" not in err, err


def test_encode_dim_truncates_warns_once_and_records_it(model: str, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "t.txt").write_text("\n".join(TEXTS) + "\n", encoding="utf-8")
    code, out, err = run(["encode", str(tmp_path / "t.txt"), "-o", str(tmp_path / "s8"), "--model", model,
                          "--dim", "8", "--no-cache", "--json"], capsys)
    assert code == 0, err
    assert json.loads(out)["vectors"] == 4
    _one_warning(err, "not trained for truncation", "first 8 of 16")
    space = embspace.load(tmp_path / "s8")
    assert space.dim == 8 and space.provenance.config["truncate_dim"] == 8 and space.provenance.config["full_dim"] == 16
    # truncate, then re-normalise (float32 sums: a tolerance)
    assert np.allclose(np.linalg.norm(space.vectors, axis=1), 1.0, atol=1e-5)
    code, _out, err = run(["encode", str(tmp_path / "t.txt"), "-o", str(tmp_path / "s99"), "--model", model,
                           "--dim", "99", "--no-cache", "-q"], capsys)
    assert code == 2 and "between 1 and 16" in err and len(err.strip().splitlines()) == 1, err


def test_collection_create_dim_truncates_its_encoder(model: str, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    col = str(tmp_path / "col")
    code, out, err = run(["collection", "create", col, "--model", model, "--dim", "8", "--index", "BinaryFlat",
                          "--rescore", "2", "--json"], capsys)
    assert code == 0, err
    info = json.loads(out)
    assert info["dim"] == 8 and info["rescore"] == 2 and info["index"] == "BinaryFlat"
    _one_warning(err, "not trained for truncation", "first 8 of 16")
    (tmp_path / "t.txt").write_text("\n".join(TEXTS) + "\n", encoding="utf-8")
    code, _out, err = run(["collection", "add", col, str(tmp_path / "t.txt"), "-q"], capsys)
    assert code == 0, err
    code, out, err = run(["search", col, "a river bank", "-k", "1", "--json"], capsys)  # reopened truncated
    assert code == 0, err
    assert json.loads(out)["hits"][0]["key"] == "2"  # a .txt: keys are line numbers
    with embspace.Collection.open(col, readonly=True) as c:
        space = c.to_space()
    assert space.dim == 8 and space.provenance.config["truncate_dim"] == 8


def test_rescore_is_kept_by_create_and_overridden_by_search(tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    rng = np.random.default_rng(0)
    vecs = rng.standard_normal((200, 32)).astype(np.float32)
    embspace.EmbeddingSpace([f"w{i}" for i in range(200)], vecs).save(tmp_path / "space")
    col = str(tmp_path / "col")
    code, out, err = run(["collection", "create", col, "--dim", "32", "--index", "BinaryFlat", "--rescore", "4",
                          "--json"], capsys)
    assert code == 0 and json.loads(out)["rescore"] == 4, err
    assert run(["collection", "add", col, str(tmp_path / "space"), "-q"], capsys)[0] == 0
    unit = vecs / np.linalg.norm(vecs, axis=1, keepdims=True)
    exact = unit @ unit[3]

    def hits(*extra: str) -> list[dict[str, object]]:
        code, out, err = run(["search", col, "w3", "--key", "-k", "5", "--json", *extra], capsys)
        assert code == 0, err
        return json.loads(out)["hits"]  # type: ignore[no-any-return]

    for got in (hits(), hits("--rescore", "10")):  # rescored: the exact cosines (float32 sums: a tolerance)
        assert [h["key"] for h in got] == [f"w{j}" for j in np.argsort(-exact)[1:6]]
        assert all(abs(float(h["score"]) - float(exact[int(str(h["key"])[1:])])) < 1e-4  # type: ignore[arg-type]
                   for h in got)
    plain = hits("--rescore", "0")  # off for this query: the binary index's own (Hamming) scores
    assert any(abs(float(h["score"]) - float(exact[int(str(h["key"])[1:])])) > 1e-3  # type: ignore[arg-type]
               for h in plain)


@pytest.mark.parametrize("argv, words", [
    (["collection", "create", "{tmp}/bad", "--dim", "8", "--rescore", "-1"], ("rescore must be a positive",
                                                                             "got -1")),
    (["collection", "create", "milvus-lite:{tmp}/m.db#c", "--dim", "8", "--rescore", "4"],
     ("--rescore is for local collections",)),
    (["search", "milvus-lite:{tmp}/m.db#c", "a query", "--rescore", "4"], ("--rescore is for local collections",)),
    (["search", "{tmp}/bad", "a query", "--rescore", "-2"], ("rescore must be a positive", "got -2")),
])
def test_rescore_errors_in_one_line(argv: list[str], words: tuple[str, ...], tmp_path: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    if argv[0] == "search":  # a collection to search, local or Milvus (whose search refuses rescore itself)
        target = str(tmp_path / "bad") if "milvus" not in argv[1] else argv[1].replace("{tmp}", str(tmp_path))
        assert run(["collection", "create", target, "--dim", "8"], capsys)[0] == 0
    code, _out, err = run([a.replace("{tmp}", str(tmp_path)) for a in argv], capsys)
    assert code == 2 and err.startswith("error:") and len(err.strip().splitlines()) == 1, err
    assert all(w in err for w in words) and "Traceback" not in err, err
    if argv[0] == "collection":  # refused before anything is written
        assert not (tmp_path / "bad").exists() and not list(tmp_path.glob("*m.db*"))
