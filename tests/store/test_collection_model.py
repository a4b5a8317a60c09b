"""1,000 random operation sequences on a collection agree with an in-memory model of it (Hypothesis)."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from embspace.errors import InvalidInputError
from embspace.store import Collection, matches

pytest.importorskip("faiss")

DIM = 4
KEYS = st.sampled_from([f"k{i}" for i in range(12)])
LANGS = st.sampled_from(["en", "fr", "de"])
VEC = st.lists(st.integers(-3, 3), min_size=DIM, max_size=DIM).filter(lambda v: any(v))
# Each of the 1,000 sequences makes a collection and commits a few times; on a RAM-backed folder SQLite's fsyncs
# cost nothing (this test compares results with a model, not durability: test_crash_safety.py does that on disk).
TMP = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None


def _unit(v: list[int]) -> np.ndarray:
    a = np.asarray(v, np.float32)
    return a / np.linalg.norm(a)


class CollectionVsModel(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.dir = Path(tempfile.mkdtemp(prefix="embspace-model-", dir=TMP))
        self.col = Collection.create(self.dir / "c", dim=DIM, index="exact")
        self.model: dict[str, tuple[np.ndarray, dict[str, object]]] = {}

    def teardown(self) -> None:
        self.col.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    @rule(keys=st.lists(KEYS, min_size=1, max_size=3, unique=True), vecs=st.lists(VEC, min_size=3, max_size=3),
          lang=LANGS)
    def add(self, keys: list[str], vecs: list[list[int]], lang: str) -> None:
        arr = np.asarray(vecs[: len(keys)], np.float32)
        meta = [{"lang": lang, "n": i} for i in range(len(keys))]
        if any(k in self.model for k in keys):
            with pytest.raises(InvalidInputError, match="already exists"):
                self.col.add(keys, arr, meta)
            return  # nothing applied
        self.col.add(keys, arr, meta)
        for k, v, m in zip(keys, vecs, meta, strict=False):
            self.model[k] = (_unit(v), m)

    @rule(keys=st.lists(KEYS, min_size=1, max_size=3, unique=True), vecs=st.lists(VEC, min_size=3, max_size=3),
          lang=LANGS)
    def upsert(self, keys: list[str], vecs: list[list[int]], lang: str) -> None:
        meta = [{"lang": lang, "n": 9} for _ in keys]
        self.col.upsert(keys, np.asarray(vecs[: len(keys)], np.float32), meta)
        for k, v, m in zip(keys, vecs, meta, strict=False):
            self.model[k] = (_unit(v), m)

    @rule(keys=st.lists(KEYS, min_size=1, max_size=3, unique=True))
    def delete_keys(self, keys: list[str]) -> None:
        n = self.col.delete(keys)
        assert n == sum(k in self.model for k in keys)
        for k in keys:
            self.model.pop(k, None)

    @rule(lang=LANGS)
    def delete_where(self, lang: str) -> None:
        n = self.col.delete(where={"lang": lang})
        gone = [k for k, (_, m) in self.model.items() if m["lang"] == lang]
        assert n == len(gone)
        for k in gone:
            del self.model[k]

    @precondition(lambda self: bool(self.model))
    @rule(q=VEC, k=st.integers(1, 5), lang=st.none() | LANGS)
    def search(self, q: list[int], k: int, lang: str | None) -> None:
        where = None if lang is None else f"lang = '{lang}'"
        res = self.col.search(np.asarray(q, np.float32), k=k, where=where)
        qu = _unit(q)
        pool = [(key, float(v @ qu)) for key, (v, m) in self.model.items() if where is None or matches(where, m)]
        pool.sort(key=lambda t: -t[1])
        want = pool[:k]
        assert len(res.keys) == len(want)
        np.testing.assert_allclose(res.scores, [s for _, s in want], atol=1e-5)
        for key, score in zip(res.keys, res.scores, strict=True):  # ties may order differently; scores may not
            assert abs(dict(pool)[key] - float(score)) < 1e-5

    @rule()
    def reopen(self) -> None:
        self.col.close()
        self.col = Collection.open(self.dir / "c")

    @invariant()
    def same_contents(self) -> None:
        assert self.col.count() == len(self.model)
        keys = list(self.col.keys(batch=2))  # several batches
        assert keys == [k for k, _, _ in self.col.items()] and set(keys) == set(self.model)
        if self.model:
            got = {g["key"]: g for g in self.col.get(sorted(self.model))}
            for key, (v, m) in self.model.items():
                np.testing.assert_allclose(got[key]["vector"], v, atol=1e-6)
                assert got[key]["metadata"] == m


TestCollectionVsModel = CollectionVsModel.TestCase
TestCollectionVsModel.settings = settings(max_examples=1000, stateful_step_count=12, deadline=None,
                                          suppress_health_check=[HealthCheck.too_slow], database=None)
