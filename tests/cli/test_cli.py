"""The command line: tables, JSON, and one-line user errors with exit status 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from cli_testing import run

import embspace


@pytest.fixture
def toy_file(tmp_path: Path) -> Path:
    space = embspace.EmbeddingSpace.from_dict({
        "king": [1, 1, 0, 0], "queen": [1, 0, 1, 0], "man": [0, 1, 0, 0],
        "woman": [0, 0, 1, 0], "apple": [0, 0, 0, 1],
    })
    return space.save(tmp_path / "toy.txt")


def test_info_json(toy_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["info", str(toy_file), "--json"], capsys)
    assert code == 0
    data = json.loads(out)
    assert data["n"] == 5 and data["dim"] == 4 and data["format"] == "word2vec"
    assert data["metric"] == "cosine"


def test_info_table(toy_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["info", str(toy_file)], capsys)
    assert code == 0 and "5 x 4" in out and "cosine" in out


def test_neighbors_json_and_table(toy_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["neighbors", str(toy_file), "king", "queen", "-k", "2", "--json"], capsys)
    assert code == 0
    data = json.loads(out)
    assert [k for k, _ in data["king"]] == ["man", "queen"]
    assert "king" not in [k for k, _ in data["king"]]
    code, out, _ = run(["neighbors", str(toy_file), "king", "-k", "2"], capsys)
    assert code == 0 and "queen" in out


def test_analogy(toy_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["analogy", str(toy_file), "man", "king", "woman", "-k", "1", "--json"], capsys)
    assert code == 0
    assert json.loads(out)["answers"][0][0] == "queen"
    code, out, _ = run(["analogy", str(toy_file), "man", "king", "woman", "--method", "3cosmul"], capsys)
    assert code == 0 and "queen" in out


def test_similarity(toy_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["similarity", str(toy_file), "king", "queen", "--json"], capsys)
    assert code == 0 and json.loads(out)["similarity"] == pytest.approx(0.5)
    code, out, _ = run(["similarity", str(toy_file), "king", "apple"], capsys)
    assert code == 0 and "0.000000" in out


@pytest.mark.parametrize("suffix", ["", ".bin", ".vec", ".parquet", ".arrow", ".npy", ".txt.gz"])
def test_convert_round_trip(toy_file: Path, tmp_path: Path, suffix: str,
                            capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / f"out{suffix}"
    code, out, _ = run(["convert", str(toy_file), str(target)], capsys)
    assert code == 0 and "wrote 5 x 4" in out
    a, b = embspace.load(toy_file), embspace.load(target)
    assert a.keys == b.keys
    np.testing.assert_array_equal(a.vectors, b.vectors)


def test_convert_explicit_format_and_metric(toy_file: Path, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "glove.txt"
    code, _, _ = run(["convert", str(toy_file), str(target), "--format", "glove", "--metric", "dot"], capsys)
    assert code == 0
    assert embspace.detect_format(target) == "glove"
    space_dir = tmp_path / "sp"
    code, _, _ = run(["convert", str(toy_file), str(space_dir), "--metric", "l2"], capsys)
    assert code == 0 and embspace.load(space_dir).metric == "l2"


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["neighbors", "{f}", "kign"], "did you mean 'king'"),
        (["neighbors", "{f}/missing.txt", "king"], "missing.txt"),
        (["analogy", "{f}", "man", "king", "woman", "--method", "bogus"], "unknown method"),
        (["convert", "{f}", "{d}/x.out", "--format", "nope"], "unknown format"),
        (["convert", "{f}", "{d}/x.txt", "--metric", "manhattan"], "unknown metric"),
    ],
)
def test_user_errors_exit_2_with_one_line(toy_file: Path, tmp_path: Path, argv: list[str], fragment: str,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    argv = [a.format(f=toy_file, d=tmp_path) for a in argv]
    code, _, err = run(argv, capsys)
    assert code == 2
    assert fragment in err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1


def test_corrupt_file_is_a_user_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.txt"
    bad.write_text("2 3\na 1 2 3\nb 1 2\n")
    code, _, err = run(["info", str(bad)], capsys)
    assert code == 2 and "bad.txt" in err and "line 3" in err


def test_console_script_and_version() -> None:
    proc = subprocess.run([sys.executable, "-m", "embspace.cli.app", "--version"], capture_output=True,
                          text=True, check=False)
    assert proc.returncode == 0 and proc.stdout.startswith("embspace ")
    proc = subprocess.run([sys.executable, "-m", "embspace.cli.app", "neighbors", "/nonexistent/space", "x"],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr


def test_hit_tables_show_brackets_in_titles_and_keys_literally() -> None:
    """A filter like ``lang in ["de", "fr"]`` or a key like ``[x]`` is text, not rich markup."""
    from rich.console import Console

    from embspace.cli import _output as out

    con = Console(record=True, width=120, highlight=False)
    out.print_hits('nearest to "q" where lang in ["de", "fr"]', [("[bold]k1", 0.5), ("k2", 0.25)], to=con)
    out.print_hits("custom cells", [("k3", 1.0)], cells={"k3": "[dim]rendered[/]"}, to=con)
    text = " ".join(con.export_text().split())  # the title wraps at the table's width
    assert 'where lang in ["de", "fr"]' in text and "[bold]k1" in text and "0.2500" in text
    assert "rendered" in text and "[dim]" not in text
