"""A small served world for the HTTP API tests: a space, a recommender, collections, a tiny text encoder."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

import embspace
from embspace.serve import Resources

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "encoders"))
from text_testing import WORDS, build_st

LOOPBACK = ("127.0.0.1", 50000)
#: What a local client addresses (its Host header): a server without a key answers loopback names only.
LOCAL = "http://127.0.0.1:8000"
DOCS = [
    ("d1", "the cat sat on the mat", {"lang": "en", "year": 2020}),
    ("d2", "a dog sat on a mat", {"lang": "en", "year": 2021}),
    ("d3", "the river bank", {"lang": "fr", "year": 1999}),
    ("d4", "money in the bank account", {"lang": "en", "year": 2005}),
]


def words_space() -> embspace.EmbeddingSpace:
    """Gender and royalty directions (so analogies have an answer) plus 40 random words."""
    rng = np.random.default_rng(0)
    base = {"king": [1, 1, 0, 0], "queen": [1, 0, 1, 0], "man": [0, 1, 0, 0], "woman": [0, 0, 1, 0],
            "apple": [0, 0, 0, 1]}
    vecs = {k: np.concatenate([np.asarray(v, np.float32), np.zeros(4, np.float32)]) for k, v in base.items()}
    for i in range(40):
        vecs[f"w{i}"] = rng.normal(size=8).astype(np.float32)
    vecs["w0_copy"] = vecs["w0"] * 1.0001  # a near duplicate
    return embspace.EmbeddingSpace.from_dict(vecs)


def ratings() -> pd.DataFrame:
    """Two kinds of users who like their own kind of item."""
    rng = np.random.default_rng(0)
    rows = []
    for u in range(40):
        g = u % 2
        for i in rng.choice(np.arange(g * 10, g * 10 + 10), 5, replace=False):
            rows.append((f"u{u}", f"m{i}", 1.0))
    return pd.DataFrame(rows, columns=["user", "item", "rating"])


def build_world(root: Path, encoder_dir: Path) -> Resources:
    """A data directory with a space ('words'), a recommender ('movies'), a text collection ('docs') and a
    vector collection ('vecs'), served with the tiny encoder as the default."""
    from embspace.store import Collection
    from embspace.train import MatrixFactorization

    data = root / "data"
    data.mkdir()
    words_space().save(data / "words")
    mf = MatrixFactorization(objective="bpr", dim=8, seed=0, progress=False).fit(ratings())
    mf.recommender_.save(data / "movies")
    with Collection.create(data / "docs", encoder=str(encoder_dir)) as col:
        col.add([d[0] for d in DOCS], [d[1] for d in DOCS], [d[2] for d in DOCS])
    rng = np.random.default_rng(1)
    with Collection.create(data / "vecs", dim=8) as col:
        col.add([f"v{i}" for i in range(60)], rng.normal(size=(60, 8)).astype(np.float32),
                [{"group": i % 3} for i in range(60)])
    docs = root / "docs"
    docs.mkdir()
    (docs / "pets.md").write_text("# Pets\n\nthe cat sat on the mat. a dog sat on a mat.\n", encoding="utf-8")
    (docs / "finance.txt").write_text("money in the bank account. the river bank.\n", encoding="utf-8")
    (docs / "page.html").write_text("<html><head><title>River</title></head><body><p>she sat on the river bank</p>"
                                    "<script>money()</script></body></html>", encoding="utf-8")
    from embspace.apps import ingest

    ingest(docs, data / "library", encoder=str(encoder_dir), progress=False)
    with Collection.create(root / "elsewhere" / "notes", dim=8) as col:  # served by path, outside the data dir
        col.add(["n1"], np.ones((1, 8), np.float32))
    return Resources(data, [root / "elsewhere" / "notes"], encoder=str(encoder_dir))


def tiny_encoder(root: Path) -> Path:
    return build_st(root)


class RouteRecorder:
    """Wraps an ASGI app and records the (method, route path) of every request it served."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.seen: set[tuple[str, str]] = set()

    async def __call__(self, scope: Any, receive: Callable[..., Any], send: Callable[..., Any]) -> None:
        await self.app(scope, receive, send)
        route = scope.get("route")
        if scope["type"] == "http" and route is not None:
            self.seen.add((scope["method"], route.path))


__all__ = ["DOCS", "LOCAL", "LOOPBACK", "WORDS", "RouteRecorder", "build_world", "ratings", "tiny_encoder",
           "words_space"]
