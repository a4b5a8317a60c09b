"""Collection.version: the last committed change, for data derived from the items."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from embspace.store.collection import Collection


def test_version_grows_with_every_change_and_is_seen_by_readers(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    vecs = rng.standard_normal((4, 8)).astype(np.float32)
    with Collection.create(tmp_path / "c", dim=8, index="exact") as col:
        assert col.version == 0
        col.add(["a", "b", "c"], vecs[:3])
        after_add = col.version
        assert after_add > 0
        reader = Collection.open(tmp_path / "c", readonly=True)
        try:
            assert reader.version == after_add
            col.upsert(["a"], vecs[3:])
            after_upsert = col.version
            assert after_upsert > after_add
            assert reader.version == after_upsert  # another connection's commit counts at once
            assert col.delete(["zzz"]) == 0 and col.version == after_upsert  # nothing changed
            col.delete(["b"])
            assert col.version > after_upsert
            col.compact()  # rebuilding the index changes no item
            assert reader.version == col.version
        finally:
            reader.close()
