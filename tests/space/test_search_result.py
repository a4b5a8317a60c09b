"""SearchResult: single and batched views of the same hits."""

from __future__ import annotations

import json

import numpy as np

from embspace import EmbeddingSpace, SearchResult


def test_single_result_views() -> None:
    r = SearchResult(["a", "b"], np.array([0.9, 0.5], np.float32), np.array([3, 1], np.int64))
    assert not r.batched and r.top == "a" and len(r) == 2
    assert r[0] == ("a", np.float32(0.9).item()) and list(r) == r.to_list()
    assert r[1:].keys == ["b"]
    assert json.loads(json.dumps(r.to_dict())) == {"keys": ["a", "b"], "scores": [r.scores[0].item(), 0.5],
                                                   "ids": [3, 1]}
    assert "'a'" in repr(r) and "<table>" in r._repr_html_()


def test_batched_result_views(toy: EmbeddingSpace) -> None:
    r = toy.neighbors(["king", "apple", "woman"], k=2)
    assert r.batched and len(r) == 3
    assert r.top == [row[0] for row in r.keys]
    first = r[0]
    assert isinstance(first, SearchResult) and not first.batched
    assert first.keys == toy.neighbors("king", k=2).keys
    assert r[1:].batched and len(r[1:]) == 2
    assert [x.keys for x in r] == r.keys
    assert r.to_list()[2] == r[2].to_list()
    assert "queries=3" in repr(r) and "<table>" in r._repr_html_()


def test_empty_results() -> None:
    single = SearchResult.empty(False)
    assert single.top == "" and single.keys == [] and single.scores.dtype == np.float32
    batch = SearchResult.empty(True, 2)
    assert batch.top == ["", ""] and batch.scores.shape == (2, 0) and batch.ids.dtype == np.int64
