"""Collection.create is atomic (issue 23): built beside its place and renamed into it, so a failure (a full
disk, a kill) leaves no half-made collection that would then block the name and the server's start."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from embspace import Collection
from embspace.store import collection as collection_module


def _disk_full(*args: Any, **kwargs: Any) -> None:
    raise OSError(28, "No space left on device")


@pytest.mark.parametrize("step", ["header", "table"])
def test_a_failed_create_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, step: str) -> None:
    if step == "header":
        monkeypatch.setattr(collection_module, "write_header", _disk_full)
    else:
        monkeypatch.setattr(collection_module, "SCHEMA", "CREATE TABLE broken (")  # fails inside the transaction
    with pytest.raises(Exception):  # noqa: B017 - whatever the failure, nothing may be left
        Collection.create(tmp_path / "notes", dim=4)
    assert os.listdir(tmp_path) == []
    monkeypatch.undo()
    with Collection.create(tmp_path / "notes", dim=4) as col:  # the name is free
        col.add(["a"], np.ones((1, 4), np.float32))
    assert Collection.open(tmp_path / "notes", readonly=True).count() == 1


def test_create_into_an_existing_directory(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    Collection.create(tmp_path / "empty", dim=4).close()
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "README.md").write_text("mine")
    Collection.create(tmp_path / "notes", dim=4).close()
    assert (tmp_path / "notes" / "README.md").read_text() == "mine"
    for name in ("empty", "notes"):
        assert Collection.open(tmp_path / name, readonly=True).count() == 0
    assert sorted(os.listdir(tmp_path)) == ["empty", "notes"]  # no temporary directory left


def test_a_created_collection_has_the_usual_permissions(tmp_path: Path) -> None:
    Collection.create(tmp_path / "notes", dim=4).close()
    (tmp_path / "plain").mkdir()
    assert (tmp_path / "notes").stat().st_mode == (tmp_path / "plain").stat().st_mode
