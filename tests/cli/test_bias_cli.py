"""embspace bias (WEAT from the command line) and embspace fix --hard-debias / --inlp with before/after measures."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from cli_testing import run

from embspace import EmbeddingSpace
from embspace.analysis import FixedSpace

DIM = 16
PAIRS = [("she", "he"), ("woman", "man"), ("girl", "boy"), ("mother", "father"), ("her", "his")]


def _files(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A space with a planted gender axis (career words lean male, family words female), word lists with a
    named test, and a small word-similarity file."""
    rng = np.random.default_rng(0)
    g = rng.standard_normal(DIM)
    g /= np.linalg.norm(g)
    rows: dict[str, np.ndarray] = {}
    for a, b in PAIRS:
        base = rng.standard_normal(DIM)
        rows[a], rows[b] = base + 1.5 * g, base - 1.5 * g
    for prefix, lean in (("career", -1.5), ("family", 1.5)):
        for i in range(8):
            rows[f"{prefix}{i}"] = rng.standard_normal(DIM) + lean * g
    for i in range(1200):  # enough keys for --inlp-words on each side
        rows[f"w{i}"] = rng.standard_normal(DIM) + (1.5 if i % 2 else -1.5) * g
    space = tmp_path / "space"
    EmbeddingSpace(list(rows), np.stack(list(rows.values())).astype(np.float32)).save(space)
    lists = tmp_path / "lists.json"
    lists.write_text(json.dumps({
        "career": [f"career{i}" for i in range(8)], "family": [f"family{i}" for i in range(8)],
        "male": [b for _, b in PAIRS], "female": [a for a, _ in PAIRS],
        "tests": {"career-gender": ["career", "family", "male", "female"]}}))
    sim = tmp_path / "sim.tsv"
    sim.write_text("".join(f"w{i}\tw{i + 1}\t{i % 7}\n" for i in range(0, 40, 2)))
    return space, lists, sim


def test_bias_prints_d_p_and_coverage(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    space, lists, _ = _files(tmp_path)
    code, out, err = run(["bias", str(space), "--test", "career-gender", "--lists", str(lists)], capsys)
    assert code == 0, err
    assert out.startswith("career-gender: d = ") and "exact, 12,870 permutations" in out
    assert "coverage: career 100%" in out
    d = float(out.split("d = ")[1].split(",")[0])
    assert d > 1.0
    code, out, err = run(["bias", str(space), "-t", "career,family,male,female", "--lists", str(lists), "--json",
                          "--permutations", "500", "--seed", "2"], capsys)
    assert code == 0, err
    (result,) = json.loads(out)
    assert result["p_method"] == "sampled" and result["permutations"] == 500 and result["seed"] == 2
    assert abs(result["effect_size"] - d) < 1e-3 and result["coverage"]["career"] == 1.0
    code, out, _ = run(["bias", "--list", "--lists", str(lists)], capsys)
    assert code == 0 and "career-family" in out and "weat6" in out and "career-gender" in out
    code, _, err = run(["bias", str(space), "--test", "nope", "--lists", str(lists)], capsys)
    assert code != 0 and "unknown bias test" in err
    code, _, err = run(["bias", "--lists", str(lists)], capsys)
    assert code == 2 and "--seat" in err


def test_bias_with_the_original_lists_of_wefe(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("wefe")
    from embspace.data.builtin import DEMO_WORDS

    code, out, err = run(["bias", str(DEMO_WORDS), "--test", "career-family", "--permutations", "2000"], capsys)
    assert code == 0, err
    assert "career-family: d = " in out and "male_names 100%" in out


def test_fix_hard_debias_and_inlp_report_bias_and_task(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    space, lists, sim = _files(tmp_path)
    pairs = tmp_path / "pairs.json"
    pairs.write_text(json.dumps([list(p) for p in PAIRS]))
    common = ["--pairs", str(pairs), "--bias-test", "career-gender", "--lists", str(lists), "--similarity", str(sim)]
    code, out, err = run(["fix", str(space), "-o", str(tmp_path / "hard"), "--hard-debias", *common, "--json"],
                         capsys)
    assert code == 0, err
    report = json.loads(out)
    assert report["fix"] == "hard-debias" and report["bias_before"] > 1.0 and abs(report["bias_after"]) < 1e-6
    assert report["evaluation_before"] is not None and report["evaluation_after"] is not None
    fixed = FixedSpace.load(tmp_path / "hard")
    assert fixed.report.bias_before == report["bias_before"]
    assert fixed.transform.params["k"] == 1  # the paper's one-dimensional subspace by default
    code, out, err = run(["fix", str(space), "-o", str(tmp_path / "hard2"), "--hard-debias", "--subspace", "2",
                          "--pairs", str(pairs), "--json"], capsys)
    assert code == 0, err
    assert FixedSpace.load(tmp_path / "hard2").transform.params["k"] == 2
    code, out, err = run(["fix", str(space), "-o", str(tmp_path / "inlp"), "--inlp", "3", "--inlp-words", "300",
                          *common], capsys)
    assert code == 0, err
    assert "inlp:" in out and "bias " in out and "held-out accuracy" in out
    code, out, err = run(["fix", str(space), "-o", str(tmp_path / "c"), "--center", "--bias-test", "career-gender",
                          "--lists", str(lists), "--json"], capsys)  # every fix measures the bias when asked
    assert code == 0, err
    assert json.loads(out)["bias_before"] == report["bias_before"]
    code, _, err = run(["fix", str(space), "-o", str(tmp_path / "x"), "--hard-debias", "--center"], capsys)
    assert code == 2 and "--hard-debias" in err
    bad = tmp_path / "bad.json"
    bad.write_text('["she"]')
    code, _, err = run(["fix", str(space), "-o", str(tmp_path / "y"), "--hard-debias", "--pairs", str(bad)], capsys)
    assert code == 2 and "pairs" in err
