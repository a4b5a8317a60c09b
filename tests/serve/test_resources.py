"""What a server finds in a directory: resources by their artifact header (or their older layout)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from embspace import Collection, EmbeddingSpace
from embspace._artifact import HEADER
from embspace.analysis import FixedSpace, center, project
from embspace.errors import InvalidInputError
from embspace.index import ExactIndex
from embspace.serve import Resources
from embspace.serve._resources import kind_of


def _space() -> EmbeddingSpace:
    rng = np.random.default_rng(0)
    return EmbeddingSpace([f"w{i}" for i in range(20)], rng.standard_normal((20, 4)).astype(np.float32))


def test_resources_are_found_by_kind_not_by_file_names(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    data, s = tmp_path / "data", _space()
    data.mkdir()
    s.save(data / "words")
    s.save(data / "old-words")
    (data / "old-words" / HEADER).unlink()  # a space saved before the header
    center(s).save(data / "centred")
    Collection.create(data / "notes", dim=4).close()
    Collection.create(data / "old-notes", dim=4).close()
    (data / "old-notes" / HEADER).unlink()
    project(s, "pca").save(data / "a-map")  # maps are served beside their space, not on their own
    index = ExactIndex(4)
    index.add(s.vectors, np.arange(20))
    index.save(data / "an-index")
    (data / "broken").mkdir()
    (data / "broken" / HEADER).write_text("{")
    s.save(data / "vectors.npy")
    assert kind_of(data / "a-map") is None and kind_of(data / "an-index") is None
    assert kind_of(data / "centred") == "space" and kind_of(data / "vectors.npy") == "space"
    with caplog.at_level(logging.WARNING, logger="embspace.serve"):
        res = Resources(data)
    try:
        assert res.names("space") == ["centred", "old-words", "vectors", "words"]
        assert res.names("collection") == ["notes", "old-notes"]
        assert isinstance(res.get("space", "centred").obj, FixedSpace)
        assert "broken" in caplog.text and "invalid JSON" in caplog.text  # skipped with a reason, not fatal
    finally:
        res.close()


def test_an_artifact_the_server_does_not_serve_is_refused_by_kind(tmp_path: Path) -> None:
    index = ExactIndex(4)
    index.add(_space().vectors, np.arange(20))
    index.save(tmp_path / "an-index")
    with pytest.raises(InvalidInputError, match="holds an index, which a server does not serve on its own"):
        Resources(tmp_path / "data", [tmp_path / "an-index"])
