"""Interoperability with gensim's KeyedVectors: files go both ways, bit for bit."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from space_testing import any_finite32, bits, fast

from embspace import EmbeddingSpace, load

gensim_models = pytest.importorskip("gensim.models")
KeyedVectors = gensim_models.KeyedVectors

# gensim splits text lines on a single space and strips the line: keep keys to visible non-space
# characters (non-ASCII included); gensim's own writer also needs keys with str() == key.
gensim_keys = st.text(st.characters(blacklist_categories=("Cs", "Zs", "Zl", "Zp", "Cc")).filter(
    lambda c: not c.isspace()), min_size=1, max_size=8)


@st.composite
def space_data(draw: st.DrawFn) -> tuple[list[str], np.ndarray]:
    keys = draw(st.lists(gensim_keys, min_size=1, max_size=10, unique=True))
    dim = draw(st.integers(1, 6))
    return keys, draw(hnp.arrays(np.float32, (len(keys), dim), elements=any_finite32))


def _kv(keys: list[str], vectors: np.ndarray) -> Any:
    kv = KeyedVectors(vector_size=vectors.shape[1])
    kv.add_vectors(keys, vectors)
    return kv


@pytest.mark.parametrize(("binary", "name"), [(False, "v.txt"), (True, "v.bin"), (False, "v.txt.gz")])
@fast(30)
@given(data=space_data())
def test_embspace_files_load_in_gensim(binary: bool, name: str, data: tuple[list[str], np.ndarray]) -> None:
    keys, vectors = data
    with tempfile.TemporaryDirectory() as d:
        path = EmbeddingSpace(keys, vectors).save(Path(d) / name)
        kv = KeyedVectors.load_word2vec_format(str(path), binary=binary)
    assert list(kv.index_to_key) == keys
    assert kv.vectors.dtype == np.float32
    np.testing.assert_array_equal(bits(kv.vectors), bits(vectors))


@pytest.mark.parametrize(("binary", "name"), [(False, "g.txt"), (True, "g.bin"), (True, "g.txt"),
                                              (False, "g.txt.bz2")])
@fast(30)
@given(data=space_data())
def test_gensim_files_load_in_embspace(binary: bool, name: str, data: tuple[list[str], np.ndarray]) -> None:
    keys, vectors = data
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / name
        _kv(keys, vectors).save_word2vec_format(str(path), binary=binary)
        space = load(path)
    assert list(space.keys) == keys
    np.testing.assert_array_equal(bits(space.vectors), bits(vectors))


def test_gensim_headerless_text_loads_as_glove(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    keys = ["the", "cat", "sat", "ñandú", "日本"]
    vectors = rng.standard_normal((5, 7)).astype(np.float32)
    path = tmp_path / "glove.txt"
    _kv(keys, vectors).save_word2vec_format(str(path), binary=False, write_header=False)
    space = load(path)
    assert list(space.keys) == keys
    np.testing.assert_array_equal(space.vectors, vectors)
    # ...and gensim reads our GloVe files.
    ours = EmbeddingSpace(keys, vectors).save(tmp_path / "ours.txt", format="glove")
    kv = KeyedVectors.load_word2vec_format(str(ours), binary=False, no_header=True)
    assert list(kv.index_to_key) == keys
    np.testing.assert_array_equal(kv.vectors, vectors)


def test_neighbours_agree_with_gensim(small_space: EmbeddingSpace) -> None:
    kv = _kv(list(small_space.keys), np.asarray(small_space.vectors))
    for key in ("w0", "w7", "w39"):
        ours = small_space.neighbors(key, k=6)
        theirs = kv.most_similar(key, topn=6)
        assert ours.keys == [k for k, _ in theirs]
        np.testing.assert_allclose(ours.scores, [s for _, s in theirs], atol=1e-5)
        assert small_space.similarity(key, "w1") == pytest.approx(float(kv.similarity(key, "w1")), abs=1e-6)


# Reading splits on ' ' only, as gensim does (line.rstrip().split(" ")): any other character,
# whitespace included (tabs, non-breaking and ideographic spaces, form feeds), may be in a key.
# Newlines end records; a key cannot start with one in the binary format (both readers skip them).
spaced_keys = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters=" \n\r"),
                      min_size=1, max_size=8)


@pytest.mark.parametrize(("binary", "name"), [(False, "g.txt"), (True, "g.bin")])
@fast(30)
@given(keys=st.lists(spaced_keys, min_size=1, max_size=8, unique=True))
def test_keys_with_other_whitespace_read_as_gensim_reads_them(binary: bool, name: str, keys: list[str]) -> None:
    vectors = np.arange(2 * len(keys), dtype=np.float32).reshape(len(keys), 2)
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / name
        _kv(keys, vectors).save_word2vec_format(str(path), binary=binary)
        theirs = KeyedVectors.load_word2vec_format(str(path), binary=binary)
        space = load(path)
    assert list(space.keys) == list(theirs.index_to_key) == keys
    np.testing.assert_array_equal(space.vectors, vectors)
