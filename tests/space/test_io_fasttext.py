"""fastText's native .bin: read without fastText or gensim, checked against gensim and a plain port of fastText."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest
from fasttext_files import write_fasttext_bin

from embspace import EmbeddingSpace, detect_format, load
from embspace.errors import CorruptDataError, EmbspaceError, InvalidInputError, UnknownFormatError
from embspace.space._formats._fasttext import ngram_rows

# ----------------------------------------------------------------------------- a plain port of fastText


def _ft_hash(data: bytes) -> int:
    """fastText's Dictionary::hash: FNV-1a over the bytes taken as signed chars."""
    h = 2166136261
    for b in data:
        signed = b - 256 if b >= 128 else b
        h = ((h ^ (signed & 0xFFFFFFFF)) * 16777619) & 0xFFFFFFFF
    return h


def _ft_subwords(word: bytes, index: int, nwords: int, bucket: int, minn: int, maxn: int) -> list[int]:
    """Dictionary::initNgrams + computeSubwords, line by line (fastText src/dictionary.cc)."""
    rows = [index]
    if word == b"</s>":
        return rows
    w = b"<" + word + b">"
    for i in range(len(w)):
        if (w[i] & 0xC0) == 0x80:
            continue
        j, n = i, 1
        while j < len(w) and n <= maxn:
            j += 1
            while j < len(w) and (w[j] & 0xC0) == 0x80:
                j += 1
            if n >= minn and not (n == 1 and (i == 0 or j == len(w))):
                rows.append(nwords + _ft_hash(w[i:j]) % bucket)
            n += 1
    return rows


WORDS = [b"cat", b"a", b"ab", b"</s>", "naïve".encode(), "日本語".encode(), b"x\xc2\xa0y",
         b"\xff\xfe", b"caf\x82", "café".encode("cp852"), b"\x80\x80\x80x", b"averyveryverylongword"]


@pytest.mark.parametrize(("minn", "maxn"), [(3, 6), (1, 4), (1, 1), (2, 2), (5, 5)])
def test_ngram_rows_are_fasttexts(minn: int, maxn: int) -> None:
    nwords, bucket = 1000, 997
    rows, mask = ngram_rows(WORDS, nwords, bucket, minn, maxn)
    for i, w in enumerate(WORDS):
        got = rows[i][mask[i]].tolist()
        got[0] = i
        assert got == _ft_subwords(w, i, nwords, bucket, minn, maxn), w


def test_hash_reads_bytes_as_signed_chars() -> None:
    """gensim's ft_hash_bytes is the reference port of fastText's hash; ours must agree on non-ASCII bytes."""
    fasttext_inner = pytest.importorskip("gensim.models.fasttext_inner")
    for w in WORDS:
        assert _ft_hash(w) == fasttext_inner.ft_hash_bytes(w)
    rows, mask = ngram_rows([b"\xe9"], 0, 1 << 31, 1, 1)  # "<\xe9>": its only n-gram is the byte itself
    assert rows[0][mask[0]].tolist()[1:] == [fasttext_inner.ft_hash_bytes(b"\xe9") % (1 << 31)]


# ----------------------------------------------------------------------------- against gensim


def _train(tmp_path: Path, min_n: int, max_n: int) -> tuple[object, Path]:
    models = pytest.importorskip("gensim.models")
    from gensim.models.fasttext import save_facebook_model

    rng = np.random.default_rng(0)
    vocab = ["cat", "cats", "dog", "dogs", "naïve", "café", "日本語", "über", "a", "ab", "new\u00a0york",
             "tab\there"]
    sentences = [[vocab[i] for i in rng.integers(0, len(vocab), 12)] for _ in range(200)]
    model = models.FastText(vector_size=16, window=3, min_count=1, min_n=min_n, max_n=max_n, bucket=500,
                            epochs=3, seed=1, workers=1)
    model.build_vocab(sentences)
    model.train(sentences, total_examples=len(sentences), epochs=3)
    path = tmp_path / "model.bin"
    save_facebook_model(model, str(path))
    return model, path


@pytest.mark.parametrize(("min_n", "max_n"), [(3, 6), (1, 4)])
def test_vectors_match_gensim(tmp_path: Path, min_n: int, max_n: int) -> None:
    model, path = _train(tmp_path, min_n, max_n)
    wv = model.wv  # type: ignore[attr-defined]
    assert detect_format(path) == "fasttext-bin"
    space = load(path)
    assert list(space.keys) == list(wv.index_to_key)  # keys with a non-breaking space or a tab included
    assert space.dim == 16
    assert space.counts is not None and (space.counts > 0).all()
    for key in space.keys:
        ours, theirs = space.vectors[space.index_of(key)], wv[key]
        # Same rows, averaged in another order (fastText and we add float32 rows in n-gram order,
        # gensim adds them to the word's row in its own loop): equal up to float32 rounding.
        cosine = float(ours @ theirs / np.linalg.norm(ours) / np.linalg.norm(theirs))
        assert cosine >= 0.9999, key
        np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-6)


def test_gensims_own_fasttext_files(tmp_path: Path) -> None:
    """gensim's test models: ours follows fastText where gensim does not (the </s> token, non-UTF-8 words)."""
    utils = pytest.importorskip("gensim.test.utils")
    from gensim.models.fasttext import load_facebook_vectors

    for name in ["toy-model.bin", "crime-and-punishment.bin", "lee_fasttext_new.bin",  # fastText 0.9
                 "lee_fasttext.bin", "non_ascii_fasttext.bin"]:  # the two before fastText 0.1 (no magic)
        path = Path(utils.datapath(name))
        assert detect_format(path) == "fasttext-bin", name
        space = load(path)
        wv = load_facebook_vectors(str(path))
        assert list(space.keys) == list(wv.index_to_key)
        for key in space.keys:
            if key == "</s>":  # fastText gives </s> no n-grams (initNgrams: word != EOS); gensim does
                continue
            ours, theirs = space.vectors[space.index_of(key)], wv[key]
            cosine = float(ours @ theirs / np.linalg.norm(ours) / np.linalg.norm(theirs))
            assert cosine >= 0.9999, (name, key)  # the same rows added in another order


def test_cp852_model_needs_its_encoding() -> None:
    utils = pytest.importorskip("gensim.test.utils")
    path = Path(utils.datapath("cp852_fasttext.bin"))  # gensim loads it with encoding="cp852" too
    with pytest.raises(CorruptDataError) as info:
        load(path)
    msg = str(info.value)
    assert "encoding=" in msg and "unicode_errors=" in msg and "UTF-8" in msg and "kter" in msg
    space = load(path, encoding="cp852")
    assert "který" in space.keys
    # The n-grams are hashed on the file's own (cp852) bytes, as fastText does; gensim re-encodes
    # the words in UTF-8 first, so only the ASCII words can be compared with it.
    from gensim.models.fasttext import load_facebook_vectors

    wv = load_facebook_vectors(str(path), encoding="cp852")
    ascii_keys = [k for k in space.keys if k.isascii() and k != "</s>"]
    assert len(ascii_keys) > 50
    for key in ascii_keys:
        np.testing.assert_allclose(space.vectors[space.index_of(key)], wv[key], rtol=1e-4, atol=1e-6)
    with pytest.raises(CorruptDataError, match=r"duplicate key 'kter\ufffd'.*unicode_errors='replace'.*encoding="):
        load(path, unicode_errors="replace")  # "který" and "které" both become "kter\ufffd"


def test_supervised_model_gives_its_words(tmp_path: Path) -> None:
    """A supervised model (gensim refuses these) still has word vectors; the labels are not words."""
    utils = pytest.importorskip("gensim.test.utils")
    path = Path(utils.datapath("pang_lee_polarity_fasttext.bin"))
    space = load(path, unicode_errors="replace")
    assert not any(k.startswith("__label__") for k in space.keys)
    assert len(space) == 1694


# ----------------------------------------------------------------------------- the reader itself


def _model(tmp_path: Path, name: str = "m.bin", **kwargs: object) -> tuple[Path, np.ndarray]:
    rng = np.random.default_rng(1)
    words = [b"the", b"cat", "naïve".encode(), b"x\xc2\xa0y"]
    matrix = rng.standard_normal((len(words) + 50, 4)).astype(np.float32)
    return write_fasttext_bin(tmp_path / name, words, matrix, **kwargs), matrix  # type: ignore[arg-type]


def _expected(matrix: np.ndarray, words: list[bytes], bucket: int, minn: int = 3, maxn: int = 6) -> np.ndarray:
    return np.stack([matrix[_ft_subwords(w, i, len(words), bucket, minn, maxn)].mean(axis=0)
                     for i, w in enumerate(words)])


def test_vectors_are_the_mean_of_word_and_ngram_rows(tmp_path: Path) -> None:
    path, matrix = _model(tmp_path)
    space = load(path)
    assert space.keys == ("the", "cat", "naïve", "x\u00a0y")
    words = [k.encode() for k in space.keys]
    # float32 sums in fastText's order against NumPy's float32 mean: equal up to rounding
    np.testing.assert_allclose(space.vectors, _expected(matrix, words, 50), rtol=1e-5, atol=1e-6)
    assert space.counts is not None and space.counts.tolist() == [4, 3, 2, 1]


def test_gzipped_model(tmp_path: Path) -> None:
    path, _ = _model(tmp_path)
    gz = tmp_path / "m.bin.gz"
    gz.write_bytes(gzip.compress(path.read_bytes()))
    assert detect_format(gz) == "fasttext-bin"
    np.testing.assert_array_equal(load(gz).vectors, load(path).vectors)


def test_no_ngrams(tmp_path: Path) -> None:
    """maxn = 0 (supervised models by default) or bucket = 0: each word is its own row."""
    rng = np.random.default_rng(2)
    matrix = rng.standard_normal((3, 2)).astype(np.float32)
    path = write_fasttext_bin(tmp_path / "m.bin", [b"a", b"b", b"c"], matrix, maxn=0, minn=0, bucket=0)
    np.testing.assert_array_equal(load(path).vectors, matrix)


def test_limit_keeps_the_first_words(tmp_path: Path) -> None:
    path, _ = _model(tmp_path)
    full = load(path)
    two = load(path, limit=2)
    assert two.keys == full.keys[:2]
    np.testing.assert_array_equal(two.vectors, full.vectors[:2])


def test_old_format_without_magic(tmp_path: Path) -> None:
    new, _ = _model(tmp_path, "new.bin")
    old, _ = _model(tmp_path, "old.bin", old_format=True)
    assert detect_format(old) == "fasttext-bin"
    np.testing.assert_array_equal(load(old).vectors, load(new).vectors)
    assert load(old, format="fasttext-bin").keys == load(new).keys


def test_quantized_model_refused(tmp_path: Path) -> None:
    for name in ["q.bin", "q.ftz"]:
        path, _ = _model(tmp_path, name, quantized=True)
        assert detect_format(path) == "fasttext-bin"
        with pytest.raises(UnknownFormatError, match=r"quantized fastText model \(\.ftz.*\.vec"):
            load(path)


def test_newer_version_refused(tmp_path: Path) -> None:
    path, _ = _model(tmp_path, version=13)
    with pytest.raises(CorruptDataError, match="version 13"):
        load(path)


@pytest.mark.parametrize("cut", [6, 40, 100, 140, 160, -30])  # header, args, dictionary, matrix
def test_truncated_model(tmp_path: Path, cut: int) -> None:
    path, _ = _model(tmp_path)
    raw = path.read_bytes()
    output_matrix = 16 + 4 * 4 + 1  # qout, shape, one row of 4 floats: never read
    path.write_bytes(raw[:cut] if cut > 0 else raw[: cut - output_matrix])
    with pytest.raises(CorruptDataError, match="truncated") as info:
        load(path, format="fasttext-bin")
    assert path.name in str(info.value)


def test_the_output_matrix_is_not_read(tmp_path: Path) -> None:
    path, _ = _model(tmp_path)
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) - 16 - 1 - 16])  # cut inside the output matrix
    assert len(load(path)) == 4


def test_matrix_shape_checked(tmp_path: Path) -> None:
    path, _ = _model(tmp_path, bucket=49)  # the arguments promise one row fewer than the matrix has
    with pytest.raises(CorruptDataError, match=r"input matrix of shape \(54, 4\)"):
        load(path)


def test_pruned_index_maps_buckets() -> None:
    """pruneidx ('fasttext quantize -cutoff') maps n-gram buckets to rows; unlisted n-grams are dropped."""
    bucket = 1000
    hashes = [r - 1 for r in _ft_subwords(b"cat", 0, 1, bucket, 3, 6)[1:]]  # row = nwords + hash % bucket
    kept = sorted(set(hashes))[:2]
    rows, mask = ngram_rows([b"cat"], 1, bucket, 3, 6, {kept[0]: 0, kept[1]: 1})
    assert rows[0][mask[0]].tolist() == [0] + [1 + kept.index(h) for h in hashes if h in kept]


def test_fasttext_bin_needs_ngrams_and_ftz_is_not_written(tmp_path: Path) -> None:
    """A .bin model is written only from a SubwordSpace (tests/space/test_subword_space.py); a plain space
    is told how to get n-grams or to write .vec text, and a quantized .ftz is never written."""
    space = EmbeddingSpace(["a"], [[1.0, 2.0]])
    with pytest.raises(InvalidInputError, match=r"needs character n-gram.*SubwordFiller.*\.vec"):
        space.save(tmp_path / "x.bin", format="fasttext-bin")
    with pytest.raises(InvalidInputError, match=r"\.ftz is fastText's quantized model"):
        space.save(tmp_path / "x.ftz")
    assert not list(tmp_path.iterdir())
    # format="fasttext" of a plain space stays fastText's .vec text, whatever the suffix
    assert detect_format(space.save(tmp_path / "x.txt", format="fasttext")) == "word2vec"


def test_word2vec_binary_is_not_taken_for_old_fasttext(tmp_path: Path) -> None:
    space = EmbeddingSpace(["a", "b"], np.eye(2, dtype=np.float32))
    assert detect_format(space.save(tmp_path / "v.bin")) == "word2vec-binary"


def test_errors_are_embspace_errors(tmp_path: Path) -> None:
    path = tmp_path / "bad.bin"
    path.write_bytes(struct.pack("<2i", 793712314, 12) + b"\0" * 10)
    with pytest.raises(EmbspaceError):
        load(path)


def test_arguments_out_of_range(tmp_path: Path) -> None:
    path, _ = _model(tmp_path)
    raw = bytearray(path.read_bytes())
    raw[8 + 8 * 4 : 8 + 9 * 4] = struct.pack("<i", -5)  # bucket
    path.write_bytes(bytes(raw))
    with pytest.raises(CorruptDataError, match="bucket -5"):
        load(path)


def test_maxn_beyond_every_word(tmp_path: Path) -> None:
    """maxn larger than any word only takes the n-grams that exist (and allocates nothing for the rest)."""
    short, matrix = _model(tmp_path, "short.bin", maxn=10)
    words = [k.encode() for k in load(short).keys]
    np.testing.assert_allclose(load(short).vectors, _expected(matrix, words, 50, 3, 10), rtol=1e-5, atol=1e-6)
    huge, _ = _model(tmp_path, "huge.bin", maxn=1_000_000)
    np.testing.assert_allclose(load(huge).vectors, load(short).vectors, rtol=1e-6)
