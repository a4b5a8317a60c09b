"""SubwordSpace: unknown words from fastText n-grams, and fastText .bin files written and read (against gensim)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from test_io_fasttext import _ft_hash, _ft_subwords

import embspace
from embspace import EmbeddingSpace, detect_format, load
from embspace.errors import DimensionMismatchError, IncompatibleSpaceError, InvalidInputError
from embspace.space import SubwordSpace
from embspace.space._subwords import subword_buckets

WORDS = ["cat", "cats", "dog", "naïve", "日本語", "a", "</s>", "x\u00a0y"]


def _space(bucket: int = 97, sparse: bool = False, dim: int = 6) -> tuple[SubwordSpace, np.ndarray]:
    rng = np.random.default_rng(3)
    grams = rng.standard_normal((bucket, dim)).astype(np.float32)
    vectors = rng.standard_normal((len(WORDS), dim)).astype(np.float32)
    if sparse:  # every other bucket stored: the others count as zero rows
        ids = np.arange(0, bucket, 2)
        dense = np.zeros_like(grams)
        dense[ids] = grams[ids]
        space = SubwordSpace(WORDS, vectors, ngram_vectors=grams[ids][::-1], bucket_ids=ids[::-1], bucket=bucket)
        return space, dense
    return SubwordSpace(WORDS, vectors, ngram_vectors=grams, bucket=bucket), grams


def _port_oov(word: str, grams: np.ndarray, bucket: int, minn: int = 3, maxn: int = 6) -> np.ndarray:
    rows = _ft_subwords(word.encode(), 0, 0, bucket, minn, maxn)[1:]  # a line-by-line port of fastText
    return grams[rows].mean(axis=0) if rows else np.zeros(grams.shape[1], np.float32)


def test_subword_buckets_are_fasttexts() -> None:
    words = [w.encode() for w in WORDS] + [b"", b"averyveryverylongword"]
    ptr, ids = subword_buckets(words, 2, 5, 1009)
    for i, w in enumerate(words):
        assert ids[ptr[i] : ptr[i + 1]].tolist() == _ft_subwords(w, 0, 0, 1009, 2, 5)[1:], w
    assert _ft_hash(b"<ca") % 1009 in ids[ptr[0] : ptr[1]].tolist()


@pytest.mark.parametrize("sparse", [False, True])
def test_unknown_words_are_the_mean_of_their_ngram_rows(sparse: bool) -> None:
    space, grams = _space(sparse=sparse)
    for word in ["catz", "dogs", "naïf", "日本", "zz", "q"]:
        assert word not in space
        # float32 sums in another order than the port's: equal up to rounding
        np.testing.assert_allclose(space.vector(word), _port_oov(word, grams, 97), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(space.oov_vector(word), _port_oov(word, grams, 97), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(space.vector("cat"), space["cat"])  # known: the vocabulary's vector
    assert not np.allclose(space.oov_vector("cat"), space["cat"])  # the n-grams alone
    np.testing.assert_array_equal(space.oov_vector(""), np.zeros(6, np.float32))  # no n-grams: the origin
    batch = space.vector(["cat", "catz"])
    assert batch.shape == (2, 6)
    np.testing.assert_array_equal(batch[1], space.vector("catz"))
    assert space.ngrams("cat") == ["<ca", "<cat", "<cat>", "cat", "cat>", "at>"]
    assert space.minn == 3 and space.maxn == 6 and space.bucket == 97
    assert space.ngram_nbytes == (49 if sparse else 97) * 6 * 4


def test_queries_take_unknown_words_and_the_space_id_stays() -> None:
    space, _ = _space()
    res = space.neighbors("catz", k=3)
    assert len(res.keys) == 3 and "catz" not in res.keys
    assert space.similarity("catz", "catz") == pytest.approx(1.0)
    assert space.can_embed("catz") and space.can_embed("cat") and not space.can_embed("")
    assert "catz" not in space
    with pytest.raises(KeyError):
        space["catz"]  # indexing stays about the vocabulary
    cfg = space.provenance.config["subwords"]
    assert cfg == {"minn": 3, "maxn": 6, "bucket": 97, "hash": "fasttext-fnv1a"}
    plain = EmbeddingSpace(space.keys, space.vectors)
    assert plain.space_id == space.space_id  # the subwords entry is informational: same coordinates
    other = EmbeddingSpace(["u"], np.ones((1, 6), np.float32))
    with pytest.raises(IncompatibleSpaceError):
        space.neighbors(other["u"])
    assert "SubwordSpace(n=8" in repr(space)


def test_analogy_takes_unknown_words() -> None:
    """An unknown a, b or c gets its n-gram vector (and, having no row, excludes nothing); known words as before."""
    space, _ = _space()
    known = list(space.keys[:3])
    res = space.analogy(known[0], known[1], "catz", k=3)
    unit = [np.asarray(x) / np.linalg.norm(x) for x in (space[known[0]], space[known[1]], space.vector("catz"))]
    want = space.neighbors(unit[1] - unit[0] + unit[2], k=len(space), exclude=known[:2])
    assert res.keys == [k for k in want.keys if k not in known[:2]][:3]
    batch = space.analogy([known[0], "dogz"], [known[1], known[1]], [known[2], "catz"], k=2)
    assert batch[0].keys == space.analogy(*known, k=2).keys and len(batch[1].keys) == 2
    plain = EmbeddingSpace(space.keys, space.vectors)
    with pytest.raises(KeyError, match="catz"):
        plain.analogy(known[0], known[1], "catz")


def test_bad_construction() -> None:
    v = np.ones((2, 3), np.float32)
    with pytest.raises(InvalidInputError, match="bucket_ids"):
        SubwordSpace(["a", "b"], v, ngram_vectors=np.ones((4, 3)), bucket=5)
    with pytest.raises(InvalidInputError, match="duplicates"):
        SubwordSpace(["a", "b"], v, ngram_vectors=np.ones((2, 3)), bucket_ids=[1, 1], bucket=5)
    with pytest.raises(InvalidInputError, match=r"0\.\.4"):
        SubwordSpace(["a", "b"], v, ngram_vectors=np.ones((1, 3)), bucket_ids=[5], bucket=5)
    with pytest.raises(DimensionMismatchError):
        SubwordSpace(["a", "b"], v, ngram_vectors=np.ones((5, 4)), bucket=5)
    with pytest.raises(InvalidInputError, match="minn <= maxn"):
        SubwordSpace(["a", "b"], v, ngram_vectors=np.ones((5, 3)), bucket=5, minn=4, maxn=3)


@pytest.mark.parametrize("sparse", [False, True])
def test_bin_round_trip(tmp_path: Path, sparse: bool) -> None:
    space, _ = _space(sparse=sparse)
    path = space.save(tmp_path / "m.bin", format="fasttext")
    assert detect_format(path) == "fasttext-bin"
    back = load(path, format="fasttext")  # the family name reads a .bin model (told by its magic number)
    assert isinstance(back, SubwordSpace) and back.keys == space.keys
    # own rows derived as (k + 1) v - sum(n-grams), then averaged again: equal up to float32 rounding
    np.testing.assert_allclose(back.vectors, space.vectors, rtol=1e-5, atol=1e-5)
    for word in ["catz", "naïf", "日本"]:
        # two spaces of different origin (the file has a content-hash identity): compare as plain arrays
        np.testing.assert_allclose(np.asarray(back.vector(word)), np.asarray(space.vector(word)), rtol=1e-6,
                                   atol=1e-7)
    again = back.save(tmp_path / "again.bin", format="fasttext-bin")  # own rows kept from the file this time
    assert again.read_bytes()[: 200] == path.read_bytes()[: 200]
    # a .vec path stays text; the n-grams are then gone
    plain_keys = SubwordSpace(WORDS[:7], space.vectors[:7], ngram_vectors=np.ones((3, 6)), bucket=3)
    vec = plain_keys.save(tmp_path / "m.vec", format="fasttext")  # (.vec text cannot hold "x\u00a0y")
    assert detect_format(vec) == "fasttext" and type(load(vec)) is EmbeddingSpace
    with pytest.raises(InvalidInputError, match="NUL"):
        SubwordSpace(["a\0b"], np.ones((1, 2)), ngram_vectors=np.ones((3, 2)), bucket=3).save(
            tmp_path / "bad.bin", format="fasttext")
    assert not (tmp_path / "bad.bin").exists()


def _gensim_model(min_n: int = 3, max_n: int = 6) -> object:
    models = pytest.importorskip("gensim.models")
    rng = np.random.default_rng(0)
    vocab = ["cat", "cats", "dog", "dogs", "naïve", "café", "日本語", "über", "a", "ab"]
    sentences = [[vocab[i] for i in rng.integers(0, len(vocab), 12)] for _ in range(200)]
    model = models.FastText(vector_size=16, window=3, min_count=1, min_n=min_n, max_n=max_n, bucket=500, epochs=3,
                            seed=1, workers=1)
    model.build_vocab(sentences)
    model.train(sentences, total_examples=len(sentences), epochs=3)
    return model


UNKNOWN = ["catz", "dögs", "日本", "zzzzzz", "ca", "über-cat"]


@pytest.mark.parametrize(("min_n", "max_n"), [(3, 6), (2, 4)])
def test_gensim_bin_loads_with_gensims_unknown_words(tmp_path: Path, min_n: int, max_n: int) -> None:
    from gensim.models.fasttext import save_facebook_model

    model = _gensim_model(min_n, max_n)
    wv = model.wv  # type: ignore[attr-defined]
    path = tmp_path / "gensim.bin"
    save_facebook_model(model, str(path))
    space = embspace.load(path)
    assert isinstance(space, SubwordSpace) and (space.minn, space.maxn, space.bucket) == (min_n, max_n, 500)
    for word in UNKNOWN:
        assert word not in space
        # the same rows summed in another order (float32): equal up to rounding
        np.testing.assert_allclose(space.vector(word), wv[word], rtol=1e-5, atol=1e-6)
    for word in space.keys:
        np.testing.assert_allclose(space.vector(word), wv[word], rtol=1e-4, atol=1e-6)


def test_our_bin_loads_in_gensim(tmp_path: Path) -> None:
    from gensim.models.fasttext import load_facebook_model, load_facebook_vectors, save_facebook_model

    model = _gensim_model()
    path = tmp_path / "gensim.bin"
    save_facebook_model(model, str(path))
    ours = embspace.load(path)
    out = ours.save(tmp_path / "ours.bin", format="fasttext")
    wv = load_facebook_vectors(str(out))
    assert list(wv.index_to_key) == list(ours.keys)
    for word in [*ours.keys, *UNKNOWN]:
        # gensim recomputes each known word's mean from the rows we wrote (float32, another order)
        np.testing.assert_allclose(wv[word], ours.vector(word), rtol=1e-5, atol=1e-6)
    assert load_facebook_model(str(out)).wv.vector_size == 16  # the whole model (output matrix too) parses


@pytest.mark.parametrize("sparse", [False, True])
def test_space_directory_keeps_the_ngrams(tmp_path: Path, sparse: bool) -> None:
    space, _ = _space(sparse=sparse)
    back = load(space.save(tmp_path / "dir"))
    assert isinstance(back, SubwordSpace) and back.space_id == space.space_id
    np.testing.assert_array_equal(back.vectors, space.vectors)
    for word in ["catz", "naïf", "日本"]:
        np.testing.assert_array_equal(back.vector(word), space.vector(word))  # the same rows, the same sums
    assert (back.minn, back.maxn, back.bucket) == (3, 6, 97)
    plain = load(EmbeddingSpace(space.keys, space.vectors).save(tmp_path / "plain"))
    assert type(plain) is EmbeddingSpace
    (tmp_path / "dir" / "ngrams.npy").unlink()
    with pytest.raises(embspace.errors.CorruptDataError, match="n-gram part"):
        load(tmp_path / "dir")
