"""Legacy vector files as people have them: other encodings, bad bytes, limits, odd whitespace, pickles."""

from __future__ import annotations

import gzip
import pickle
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from embspace import EmbeddingSpace, detect_format, load
from embspace.errors import CorruptDataError, InvalidInputError


def _gensim_data(name: str) -> Path:
    utils = pytest.importorskip("gensim.test.utils")
    return Path(utils.datapath(name))


def _keyed_vectors() -> Any:
    return pytest.importorskip("gensim.models").KeyedVectors


# ----------------------------------------------------------------------------- encoding and unicode_errors


def test_gensim_file_with_keys_cut_mid_character() -> None:
    """gensim's test_keyedvectors loads this file only with unicode_errors='replace' or 'ignore'."""
    path = _gensim_data("w2v_keyedvectors_load_test.modeldata")
    with pytest.raises(CorruptDataError) as info:
        load(path)
    msg = str(info.value)
    assert info.value.line == 2 and "not valid UTF-8" in msg
    assert "unicode_errors='replace'" in msg and "encoding=" in msg
    replaced = load(path, unicode_errors="replace")
    assert replaced.keys == ("ありがとう\ufffd", "どういたしまして\ufffd")
    np.testing.assert_allclose(replaced.vectors, [[0.6, 0.6, 0.6], [0.1, 0.2, 0.3]], rtol=1e-7)
    ignored = load(path, unicode_errors="ignore")
    assert ignored.keys == ("ありがとう", "どういたしまして")
    kv = _keyed_vectors().load_word2vec_format(str(path), binary=False, unicode_errors="replace")
    assert list(kv.index_to_key) == list(replaced.keys)


def test_gensim_vec_with_a_cp1252_byte() -> None:
    """fastText wrote a lone 0x97 (an em dash in cp1252) as a word: gensim needs unicode_errors too."""
    path = _gensim_data("pang_lee_polarity_fasttext.vec")
    with pytest.raises(CorruptDataError) as info:
        load(path)
    assert info.value.line == 150
    assert "byte 0x97" in str(info.value) and "unicode_errors=" in str(info.value)
    space = load(path, unicode_errors="replace")
    kv = _keyed_vectors().load_word2vec_format(str(path), binary=False, unicode_errors="replace")
    assert list(space.keys) == list(kv.index_to_key) and len(space) == 1694
    # both parse the decimal text to float32, by different code: equal up to the last bit
    np.testing.assert_allclose(space.vectors, kv.vectors, rtol=1e-6, atol=1e-7)
    assert "\u2014" in load(path, encoding="cp1252").keys  # the byte as what it meant


@pytest.mark.parametrize("name", ["v.txt", "v.txt.gz", "v.vec", "g.txt"])
def test_latin1_text_file(tmp_path: Path, name: str) -> None:
    header = "" if name == "g.txt" else "2 3\n"
    raw = (header + "café 1 2 3\nnaïve 4 5 6\n").encode("latin-1")
    path = tmp_path / name
    path.write_bytes(gzip.compress(raw) if name.endswith(".gz") else raw)
    with pytest.raises(CorruptDataError, match=r"not valid UTF-8 \(byte 0xe9.*encoding=") as info:
        load(path)
    assert info.value.line == (1 if name == "g.txt" else 2)
    space = load(path, encoding="latin-1")
    assert space.keys == ("café", "naïve")
    np.testing.assert_array_equal(space.vectors, [[1, 2, 3], [4, 5, 6]])


def test_latin1_binary_file(tmp_path: Path) -> None:
    path = tmp_path / "v.bin"
    path.write_bytes(b"2 2\ncaf\xe9 " + struct.pack("<2f", 1, 2) + b"\nna\xefve " + struct.pack("<2f", 3, 4) + b"\n")
    with pytest.raises(CorruptDataError, match=r"record 1: key is not valid UTF-8.*encoding=.*unicode_errors="):
        load(path)
    assert load(path, encoding="latin-1").keys == ("café", "naïve")
    assert load(path, unicode_errors="replace").keys == ("caf\ufffd", "na\ufffdve")
    kv = _keyed_vectors().load_word2vec_format(str(path), binary=True, encoding="latin-1")
    assert list(kv.index_to_key) == ["café", "naïve"]


def test_lossy_decoding_that_makes_keys_alike_says_so(tmp_path: Path) -> None:
    path = tmp_path / "v.txt"
    path.write_bytes(b"2 1\nw\xe9 1\nw\xe8 2\n")
    with pytest.raises(CorruptDataError, match=r"duplicate key 'w\ufffd'.*unicode_errors='replace'.*encoding="):
        load(path, unicode_errors="replace")
    assert load(path, encoding="latin-1").keys == ("wé", "wè")


def test_gensim_writes_latin1_and_we_read_it(tmp_path: Path) -> None:
    kv = _keyed_vectors()(vector_size=2)
    kv.add_vectors(["façade", "über"], np.array([[1, 2], [3, 4]], np.float32))
    for binary, name in [(False, "k.txt"), (True, "k.bin")]:
        path = tmp_path / name
        kv.save_word2vec_format(str(path), binary=binary)
        # gensim writes UTF-8: re-encode the file in latin-1 as an old tool would have
        raw = path.read_bytes().replace("façade".encode(), "façade".encode("latin-1"))
        path.write_bytes(raw.replace("über".encode(), "über".encode("latin-1")))
        assert load(path, encoding="latin-1").keys == ("façade", "über")
        back = _keyed_vectors().load_word2vec_format(str(path), binary=binary, encoding="latin-1")
        assert list(back.index_to_key) == ["façade", "über"]


@pytest.mark.parametrize(("option", "value", "match"), [
    ("encoding", "no-such-codec", "unknown encoding 'no-such-codec'"),
    ("unicode_errors", "lenient", "unknown unicode_errors 'lenient'"),
    ("limit", 0, "limit=0"), ("limit", -3, "limit=-3"), ("limit", True, "limit=True"), ("limit", "5", "limit='5'"),
])
def test_bad_options_refused(tmp_path: Path, option: str, value: object, match: str) -> None:
    path = EmbeddingSpace(["a"], [[1.0, 2.0]]).save(tmp_path / "v.txt")
    with pytest.raises(InvalidInputError, match=match):
        load(path, **{option: value})


@pytest.mark.parametrize("name", ["space", "v.npy", "v.parquet", "v.arrow"])
@pytest.mark.parametrize(("option", "value"), [("encoding", "latin-1"), ("unicode_errors", "replace"),
                                               ("limit", 1)])
def test_options_refused_where_they_do_not_apply(tmp_path: Path, name: str, option: str, value: object) -> None:
    path = EmbeddingSpace(["a", "b"], np.eye(2)).save(tmp_path / name)
    with pytest.raises(InvalidInputError, match=f"{option}={value!r}: these options are for the legacy"):
        load(path, **{option: value})
    assert len(load(path)) == 2


# ----------------------------------------------------------------------------- limit


def _big(tmp_path: Path, name: str, n: int = 50) -> tuple[Path, EmbeddingSpace]:
    rng = np.random.default_rng(0)
    space = EmbeddingSpace([f"w{i}" for i in range(n)], rng.standard_normal((n, 4)).astype(np.float32))
    fmt = "glove" if name.startswith("g") else None
    return space.save(tmp_path / name, format=fmt), space


@pytest.mark.parametrize("name", ["v.txt", "v.vec", "v.bin", "g.txt", "v.txt.gz", "v.bin.gz", "g.txt.bz2"])
def test_limit_reads_the_first_vectors(tmp_path: Path, name: str) -> None:
    path, space = _big(tmp_path, name)
    five = load(path, limit=5)
    assert five.keys == space.keys[:5]
    np.testing.assert_array_equal(five.vectors, space.vectors[:5])
    assert load(path, limit=1000).keys == space.keys  # more than there is: all of it


@pytest.mark.parametrize("name", ["v.txt", "v.bin", "g.txt"])
def test_limit_agrees_with_gensim(tmp_path: Path, name: str) -> None:
    path, _ = _big(tmp_path, name)
    kv = _keyed_vectors().load_word2vec_format(str(path), binary=name.endswith(".bin"), limit=7,
                                               no_header=name.startswith("g"))
    ours = load(path, limit=7)
    assert list(ours.keys) == list(kv.index_to_key)
    np.testing.assert_allclose(ours.vectors, kv.vectors, rtol=1e-6)  # text parsed by two parsers


@pytest.mark.parametrize("name", ["v.txt", "v.bin", "g.txt"])
def test_limit_stops_reading(tmp_path: Path, name: str) -> None:
    """What follows the first vectors is never read: garbage there does not matter."""
    path, space = _big(tmp_path, name)
    raw = path.read_bytes()
    cut = len(raw) // 2
    path.write_bytes(raw[:cut] + b"\xff\xfe garbage \x00\x01 not a vector\n" * 1000)
    assert load(path, limit=3).keys == space.keys[:3]
    with pytest.raises(CorruptDataError):
        load(path, format=detect_format(path) if not name.startswith("g") else "glove")


def test_limit_stops_reading_a_truncated_gzip(tmp_path: Path) -> None:
    path, space = _big(tmp_path, "v.txt.gz", n=20_000)
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])  # the gzip stream ends mid-way
    with pytest.raises(CorruptDataError):
        load(path)
    assert load(path, limit=10).keys == space.keys[:10]


def test_limit_on_a_file_shorter_than_its_header_says(tmp_path: Path) -> None:
    path = tmp_path / "v.txt"
    path.write_text("5 2\na 1 2\nb 3 4\n")
    assert load(path, limit=2).keys == ("a", "b")  # what was asked for is there
    with pytest.raises(CorruptDataError, match="truncated"):
        load(path, limit=3)


# ----------------------------------------------------------------------------- whitespace as word2vec.c and gensim


KEYS_WITH_SPACES = ["new\u00a0york", "tab\there", "wide\u3000space", "thin\u2009space", "nel\x85x", "ff\x0cx"]


@pytest.mark.parametrize("name", ["v.txt", "v.vec", "g.txt", "v.txt.gz"])
def test_whitespace_other_than_space_stays_in_keys(tmp_path: Path, name: str) -> None:
    header = "" if name.startswith("g") else f"{len(KEYS_WITH_SPACES)} 2\n"
    text = header + "".join(f"{k} {i} {i + 1}\n" for i, k in enumerate(KEYS_WITH_SPACES))
    path = tmp_path / name
    path.write_bytes(gzip.compress(text.encode()) if name.endswith(".gz") else text.encode())
    space = load(path)
    assert list(space.keys) == KEYS_WITH_SPACES
    np.testing.assert_array_equal(space.vectors[:, 0], np.arange(len(KEYS_WITH_SPACES)))
    if not name.endswith(".gz"):
        kv = _keyed_vectors().load_word2vec_format(str(path), no_header=name.startswith("g"))
        assert list(kv.index_to_key) == list(space.keys)  # gensim: line.rstrip().split(" ")


def test_whitespace_in_binary_keys(tmp_path: Path) -> None:
    path = tmp_path / "v.bin"
    records = b"".join(k.encode() + b" " + struct.pack("<2f", i, i) + b"\n" for i, k in enumerate(KEYS_WITH_SPACES))
    path.write_bytes(f"{len(KEYS_WITH_SPACES)} 2\n".encode() + records)
    assert list(load(path).keys) == KEYS_WITH_SPACES
    kv = _keyed_vectors().load_word2vec_format(str(path), binary=True)
    assert list(kv.index_to_key) == KEYS_WITH_SPACES


def test_trailing_spaces_crlf_and_double_spaces(tmp_path: Path) -> None:
    path = tmp_path / "v.vec"
    path.write_bytes(b"3 2\r\na 1 2 \r\nb  3   4\r\nc 5 6  \n")  # fastText leaves a space before the newline
    space = load(path)
    assert space.keys == ("a", "b", "c")
    np.testing.assert_array_equal(space.vectors, [[1, 2], [3, 4], [5, 6]])


def test_tab_separated_file_says_fields_are_space_separated(tmp_path: Path) -> None:
    path = tmp_path / "v.txt"
    path.write_text("2 2\na\t1\t2\nb\t3\t4\n")
    with pytest.raises(CorruptDataError, match="separated by single spaces") as info:
        load(path)
    assert info.value.line == 2


def test_sniffing_uses_the_same_rules(tmp_path: Path) -> None:
    path = tmp_path / "v.data"
    path.write_text("2 2\nnew\u00a0york 1 2\nb 3 4\n")
    assert detect_format(path) == "word2vec"
    glove = tmp_path / "g.data"
    glove.write_text("new\u00a0york 1 2\nb 3 4\n")
    assert detect_format(glove) == "glove" and load(glove).keys == ("new\u00a0york", "b")


def test_detection_takes_the_encoding(tmp_path: Path) -> None:
    path = tmp_path / "v.data"
    path.write_bytes(b"2 3\ncaf\xe9 1 2 3\nb 4 5 6\n")
    assert detect_format(path) == "word2vec"  # text in another encoding, not binary garbage
    assert detect_format(path, encoding="latin-1") == "word2vec"
    assert load(path, encoding="latin-1").keys == ("café", "b")


# ----------------------------------------------------------------------------- pickles


_UNPICKLED: list[str] = []


def _record_unpickle() -> str:
    _UNPICKLED.append("yes")
    return "trap"


class Trap:
    """Unpickling this records it: the loader must never get that far."""

    def __reduce__(self) -> tuple[Any, ...]:
        return (_record_unpickle, ())


def _refused(path: Path, **kwargs: Any) -> str:
    with pytest.raises(CorruptDataError) as info:  # as the .npy reader refuses pickled arrays
        load(path, **kwargs)
    msg = str(info.value)
    assert path.name in msg and "pickle" in msg and "never unpickles" in msg
    assert "save_word2vec_format" in msg
    return msg


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
@pytest.mark.parametrize("name", ["model.kv", "vectors.bin", "vectors.txt", "vectors.vec", "m.pkl.gz"])
def test_pickles_are_named_and_never_unpickled(tmp_path: Path, protocol: int, name: str) -> None:
    data = pickle.dumps(Trap(), protocol=protocol)
    path = tmp_path / name
    path.write_bytes(gzip.compress(data) if name.endswith(".gz") else data)
    _UNPICKLED.clear()
    _refused(path)
    for fmt in ["word2vec", "word2vec-binary", "glove", "fasttext", "fasttext-bin"]:
        _refused(path, format=fmt)
    with pytest.raises(CorruptDataError, match="pickle"):
        detect_format(path)
    assert _UNPICKLED == []


def test_gensim_saved_models_are_refused_as_pickles(tmp_path: Path) -> None:
    models = pytest.importorskip("gensim.models")
    kv = models.KeyedVectors(vector_size=2)
    kv.add_vectors(["a", "b"], np.eye(2, dtype=np.float32))
    kv.save(str(tmp_path / "vectors.kv"))
    _refused(tmp_path / "vectors.kv")
    w2v = models.Word2Vec([["a", "b", "c"]] * 5, vector_size=4, min_count=1, workers=1, seed=0, epochs=1)
    w2v.save(str(tmp_path / "w2v.model"))
    _refused(tmp_path / "w2v.model")
    # ...and what the message says to do works
    w2v.wv.save_word2vec_format(str(tmp_path / "vectors.bin"), binary=True)
    assert set(load(tmp_path / "vectors.bin").keys) == {"a", "b", "c"}


@pytest.mark.parametrize("name", ["word2vec_old", "w2v-lee-v0.12.0", "old_keyedvectors_320.dat",
                                  "ft_kv_3.6.0.model.gz"])
def test_gensims_own_pickles(name: str) -> None:
    _refused(_gensim_data(name))
