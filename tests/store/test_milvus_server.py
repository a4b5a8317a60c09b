"""The Milvus backend against a real Milvus server (standalone or cluster), when one is given.

Set ``EMBSPACE_MILVUS_URI`` (``milvus://HOST:19530``) and, if the server wants one, ``MILVUS_TOKEN``
(``user:password``); without it the test is skipped (CI starts a standalone server when it can: docs/scale.md).
"""

from __future__ import annotations

import os
import uuid

import numpy as np
import pytest

pytest.importorskip("pymilvus")

URI = os.environ.get("EMBSPACE_MILVUS_URI", "")


@pytest.mark.skipif(not URI, reason="no Milvus server: set EMBSPACE_MILVUS_URI=milvus://HOST:19530")
def test_ivf_collection_on_a_server() -> None:
    from embspace.store import Collection

    name = f"embspace_test_{uuid.uuid4().hex[:8]}"
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2_000, 16)).astype(np.float32)
    col = Collection.create(f"{URI.rstrip('/')}/{name}", dim=16, index="IVF16,Flat")
    try:
        col.add([f"k{i}" for i in range(2_000)], x, [{"even": i % 2 == 0} for i in range(2_000)])
        hits = col.search(x[4], k=3, nprobe=16)
        assert hits.keys[0] == "k4"
        filtered = col.search(x[5], k=3, nprobe=16, where={"even": True}, include="metadata")
        assert all(m["even"] for m in filtered.metadata)
    finally:
        col._client.drop_collection(name)  # type: ignore[union-attr]
        col.close()
