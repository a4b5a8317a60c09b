"""The commands that read a space file take --encoding, --unicode-errors and --limit (issue 22), and the
library's decoding advice reads in flags on the command line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from cli_testing import run as run_cli

import embspace


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code, out, err = run_cli(argv, capsys)
    return code, out, " ".join(err.split())  # as read, whatever the terminal's width wrapped


@pytest.fixture
def latin1(tmp_path: Path) -> Path:
    """A word2vec text file in Latin-1 (gensim's own test files include such), 40 vectors."""
    rng = np.random.default_rng(0)
    words = ["café", "naïve", "über", "a", "b", "c", *(f"w{i}" for i in range(34))]
    lines = ["40 4"] + [w + " " + " ".join(f"{x:.4f}" for x in rng.standard_normal(4)) for w in words]
    path = tmp_path / "latin1.txt"
    path.write_bytes(("\n".join(lines) + "\n").encode("latin-1"))
    return path


def test_encoding_and_limit_reach_the_reader(latin1: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _out, err = run(["info", str(latin1), "--json"], capsys)
    assert code == 2 and "not valid UTF-8" in err
    # the library's advice (encoding=, unicode_errors='replace') in flags
    assert "--encoding latin-1" in err and "--unicode-errors replace" in err, err
    assert "encoding=" not in err and "unicode_errors" not in err
    code, out, err = run(["info", str(latin1), "--encoding", "latin-1", "--json"], capsys)
    assert code == 0, err
    data = json.loads(out)
    assert data["n"] == 40 and data["first_keys"][:3] == ["café", "naïve", "über"] and data["format"] == "word2vec"
    code, out, err = run(["info", str(latin1), "--encoding", "latin-1", "--limit", "2", "--json"], capsys)
    assert code == 0 and json.loads(out)["n"] == 2, err
    code, out, err = run(["info", str(latin1), "--unicode-errors", "replace", "--json"], capsys)
    assert code == 0 and json.loads(out)["first_keys"][0] == "caf\ufffd", err
    code, out, err = run(["neighbors", str(latin1), "café", "-k", "2", "--encoding", "latin-1", "--limit", "3",
                          "--json"], capsys)
    assert code == 0, err
    assert {k for k, _ in json.loads(out)["café"]} == {"naïve", "über"}  # only the first 3 vectors were read
    code, out, err = run(["similarity", str(latin1), "a", "b", "--encoding", "latin-1", "--json"], capsys)
    assert code == 0, err
    code, out, err = run(["analogy", str(latin1), "a", "b", "c", "-k", "1", "--encoding", "latin-1", "--json"],
                         capsys)
    assert code == 0, err
    target = latin1.with_name("first4")
    code, out, err = run(["convert", str(latin1), str(target), "--encoding", "latin-1", "--limit", "4"], capsys)
    assert code == 0 and "wrote 4 x 4" in out, err
    assert list(embspace.load(target).keys) == ["café", "naïve", "über", "a"]


def test_analysis_commands_take_them_too(latin1: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["analyze", str(latin1), "--encoding", "latin-1", "--limit", "30", "--k", "2"], capsys)
    assert code == 0 and "30 keys x 4" in out, err
    fixed = tmp_path / "fixed"
    code, _out, err = run(["fix", str(latin1), "-o", str(fixed), "--center", "--encoding", "latin-1", "--limit", "5"],
                         capsys)
    assert code == 0, err
    assert len(embspace.load(fixed)) == 5
    code, _out, err = run(["cluster", str(latin1), "--k", "2", "--unicode-errors", "ignore", "--json"], capsys)
    assert code == 0, err


def test_options_a_format_does_not_take_are_refused_in_flags(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    space = tmp_path / "space"
    embspace.EmbeddingSpace(["a", "b"], np.eye(2, dtype=np.float32)).save(space)
    code, _out, err = run(["info", str(space), "--encoding", "latin-1", "--limit", "1"], capsys)
    assert code == 2 and err.startswith("error: --encoding latin-1, --limit 1: these options are for the legacy "
                                        "vector files"), err
    assert "space.subset" not in err and "encoding=" not in err
    code, _out, err = run(["info", str(space), "--limit", "0"], capsys)
    assert code == 2 and "--limit" in err  # refused by the option itself
    code, _out, err = run(["info", str(space), "--unicode-errors", "bogus"], capsys)
    assert code == 2 and "unknown --unicode-errors 'bogus'" in err, err
