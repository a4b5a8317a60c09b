from __future__ import annotations

import numpy as np
import pytest

from embspace.data import cooccurrence as cooc_mod
from embspace.data.cooccurrence import Cooccurrence, parse_memory
from embspace.data.encoded_corpus import EncodedCorpus
from embspace.errors import InvalidInputError


def _corpus(seed: int = 0, n: int = 1500, vocab: int = 300) -> EncodedCorpus:
    rng = np.random.default_rng(seed)
    sents = [[f"w{x}" for x in rng.zipf(1.3, size=rng.integers(1, 40)) % vocab] for _ in range(n)]
    return EncodedCorpus.encode(sents, min_count=1)


def _reference(ec: EncodedCorpus, window: int) -> np.ndarray:
    """Stanford's symmetric counting, written out naively: both directions, 1/distance."""
    v = len(ec.vocab)
    ref = np.zeros((v, v))
    pos = 0
    for length in ec.sentence_lengths.tolist():
        t = ec.tokens[pos : pos + length].tolist()
        pos += length
        for i in range(length):
            for j in range(max(0, i - window), i):
                ref[t[i], t[j]] += 1 / (i - j)
                ref[t[j], t[i]] += 1 / (i - j)
    return ref


def _check(c: Cooccurrence, ref: np.ndarray) -> None:
    m = c.to_dense()
    off = ~np.eye(len(ref), dtype=bool)
    np.testing.assert_allclose(m[off], ref[off], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(2 * np.diag(m), np.diag(ref), rtol=1e-6, atol=1e-6)  # one record per diagonal pair
    assert c.nnz_both_directions == int((ref != 0).sum())
    rec = c.load()
    assert (rec["row"] <= rec["col"]).all() and len(rec) == c.nnz
    keys = rec["row"].astype(np.int64) * len(ref) + rec["col"]
    assert len(np.unique(keys)) == len(keys)  # each pair once
    assert not (np.diff(keys) > 0).all()  # shuffled, not sorted


@pytest.mark.parametrize("window", [1, 5, 10])
def test_counts_match_stanford_rule(window: int) -> None:
    ec = _corpus()
    _check(Cooccurrence.build(ec, window=window, max_memory=2**30, workers=1), _reference(ec, window))


def test_spills_and_merges_in_small_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    """Force the hash-table path, many spills, a multi-bucket shuffle: same counts."""
    ec = _corpus(1, n=3000, vocab=2000)
    monkeypatch.setattr(cooc_mod, "_DENSE_SHARE", 0.0001)
    monkeypatch.setattr(cooc_mod, "_MIN_TABLE", 1 << 12)
    monkeypatch.setattr(cooc_mod, "_MAX_TABLE", 1 << 12)
    c = Cooccurrence.build(ec, window=5, max_memory=16 * 2**20, workers=2)
    runs = list(c.workdir.glob("run-*")) if c.workdir else []
    assert not runs  # spill files are cleaned up
    _check(c, _reference(ec, 5))
    workdir = c.workdir
    c.close()
    assert workdir is not None and not workdir.exists()


def test_parse_memory_and_errors() -> None:
    assert parse_memory("1GB", 0) == 2**30
    assert parse_memory("512MiB", 0) == 512 * 2**20
    assert parse_memory(None, 7) == 7 and parse_memory(1000, 0) == 1000
    with pytest.raises(InvalidInputError, match="memory size"):
        parse_memory("lots", 0)
    with pytest.raises(InvalidInputError, match="too small"):
        Cooccurrence.build(_corpus(), max_memory=2**20)
