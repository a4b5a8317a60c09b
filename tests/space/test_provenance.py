"""Provenance: the space id depends on what defines the coordinates, nothing else."""

from __future__ import annotations

import json

import pytest

from embspace import Provenance


def test_space_id_from_model_and_config_only() -> None:
    a = Provenance("m", {"seed": 1, "dim": 8}, data_hash="h1", created="2020-01-01T00:00:00+00:00")
    b = Provenance("m", {"dim": 8, "seed": 1}, data_hash="h2")
    assert a.space_id == b.space_id and len(a.space_id) == 16
    assert Provenance("m", {"seed": 2}).space_id != Provenance("m", {"seed": 1}).space_id
    assert Provenance("n", {"seed": 1}).space_id != Provenance("m", {"seed": 1}).space_id
    assert a.describe() == f"m [{a.space_id}]"


def test_round_trip_through_json() -> None:
    p = Provenance("sbert/x", {"pooling": "mean", "layers": [1, 2], "nested": {"a": 1.5}}, data_hash="abc")
    d = json.loads(json.dumps(p.to_dict()))
    q = Provenance.from_dict(d)
    assert q == p and q.space_id == p.space_id == d["space_id"]


def test_config_is_frozen_copy() -> None:
    cfg = {"seed": 1}
    p = Provenance("m", cfg)
    cfg["seed"] = 2
    assert p.config["seed"] == 1
    with pytest.raises(TypeError):
        p.config["seed"] = 3  # type: ignore[index]


def test_hashable() -> None:
    p = Provenance("m", {"seed": 1}, created="t")
    assert hash(p) == hash(Provenance("m", {"seed": 1}, created="t"))
    assert len({p, Provenance("m", {"seed": 1}, created="t")}) == 1


def test_rejects_empty_model() -> None:
    with pytest.raises(ValueError):
        Provenance("")


def test_from_content() -> None:
    p = Provenance.from_content("unknown", "deadbeef")
    assert p.data_hash == "deadbeef" and p.config["content_sha256"] == "deadbeef"
