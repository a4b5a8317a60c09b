"""Formats: bit-exact round trips of every format, format detection, memory mapping, atomic writes."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from space_testing import any_keys, bits, fast, numpy_keys, spaces_data, text_format_keys

import embspace
from embspace import EmbeddingSpace, Provenance, detect_format, load, save
from embspace.errors import CorruptDataError, EmbspaceError, InvalidInputError, UnknownFormatError
from embspace.space import FORMATS
from embspace.space._formats import _binary, _numpy, _own, _text
from embspace.space._formats._text import parse_header

# format -> (file name, save options, key strategy)
CASES: dict[str, tuple[str, dict[str, Any], st.SearchStrategy[str]]] = {
    "embspace": ("space", {}, any_keys),
    "word2vec": ("vectors.txt", {}, text_format_keys),
    "word2vec-binary": ("vectors.bin", {}, text_format_keys),
    "fasttext": ("vectors.vec", {}, text_format_keys),
    "glove": ("glove.txt", {"format": "glove"}, text_format_keys),
    "numpy": ("vectors.npy", {}, numpy_keys),
    "parquet": ("vectors.parquet", {}, any_keys),
    "arrow": ("vectors.arrow", {}, any_keys),
}
KEEPS_METADATA = {"embspace", "parquet", "arrow"}
COMPRESSED = [("word2vec", "vectors.txt.gz"), ("word2vec", "vectors.txt.bz2"), ("word2vec", "vectors.txt.xz"),
              ("glove", "glove.txt.gz"), ("fasttext", "vectors.vec.xz"), ("word2vec-binary", "vectors.bin.gz")]


READ_ONLY = {"fasttext-bin"}  # tested in test_io_fasttext.py


def test_every_format_is_covered() -> None:
    assert set(CASES) | READ_ONLY == set(FORMATS)
    assert not set(CASES) & READ_ONLY


@contextmanager
def scratch() -> Iterator[Path]:
    """A fresh directory per hypothesis example (tmp_path is per test, not per example)."""
    with tempfile.TemporaryDirectory(prefix="embspace-test-") as d:
        yield Path(d)


def _glove_ambiguous(path: Path) -> bool:
    """A headerless file whose first row reads as a header ("7 3"): detection may pick word2vec."""
    import gzip

    opener: Any = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        return parse_header(f.readline()) is not None


def _round_trip(fmt: str, name: str, data: Any, options: dict[str, Any], with_meta: bool) -> None:
    keys, vectors = data.draw(spaces_data(CASES[fmt][2]))
    kwargs: dict[str, Any] = {}
    if with_meta and fmt in KEEPS_METADATA:
        kwargs["metric"] = data.draw(st.sampled_from(["cosine", "dot", "l2"]))
        if data.draw(st.booleans()):
            kwargs["counts"] = data.draw(st.lists(st.integers(0, 2**40), min_size=len(keys), max_size=len(keys)))
        kwargs["provenance"] = Provenance(data.draw(st.sampled_from(["word2vec", "sbert/x"])),
                                          {"seed": data.draw(st.integers(0, 9)), "dim": vectors.shape[1]})
    space = EmbeddingSpace(keys, vectors, **kwargs)
    with scratch() as d:
        path = d / name
        written = save(space, path, **options)
        assert written == path and path.exists()
        if fmt != "glove" or not _glove_ambiguous(path):
            assert detect_format(path) == fmt
        loaded = load(path, format=fmt)
        assert list(loaded.keys) == keys
        assert loaded.vectors.dtype == np.float32 and loaded.vectors.shape == vectors.shape
        np.testing.assert_array_equal(bits(loaded.vectors), bits(vectors))
        assert loaded.space_id == space.space_id  # equal content or kept provenance: still comparable
        if fmt in KEEPS_METADATA:
            assert loaded.metric == space.metric
            assert loaded.provenance.space_id == space.provenance.space_id
            assert loaded.provenance.model == space.provenance.model
            if space.counts is None:
                assert loaded.counts is None
            else:
                assert loaded.counts is not None
                np.testing.assert_array_equal(loaded.counts, space.counts)
        assert loaded.is_normalized == space.is_normalized


@pytest.mark.parametrize("fmt", list(CASES))
@fast(40)
@given(data=st.data(), with_meta=st.booleans())
def test_round_trip_is_exact(fmt: str, data: Any, with_meta: bool) -> None:
    name, options, _ = CASES[fmt]
    _round_trip(fmt, name, data, options, with_meta)


@pytest.mark.parametrize(("fmt", "name"), COMPRESSED)
@fast(15)
@given(data=st.data())
def test_compressed_round_trip_is_exact(fmt: str, name: str, data: Any) -> None:
    _round_trip(fmt, name, data, {"format": fmt} if fmt == "glove" else {}, with_meta=False)


def test_compressed_files_are_compressed(tmp_path: Path, small_space: EmbeddingSpace) -> None:
    magic = {".gz": b"\x1f\x8b", ".bz2": b"BZh", ".xz": b"\xfd7zXZ"}
    for suffix, head in magic.items():
        p = small_space.save(tmp_path / f"v.txt{suffix}")
        assert p.read_bytes().startswith(head)
        assert load(p).keys == small_space.keys


def test_methods_and_root_functions_agree(tmp_path: Path, small_space: EmbeddingSpace) -> None:
    p = small_space.save(tmp_path / "s.parquet")
    assert EmbeddingSpace.load(p).keys == embspace.load(p).keys == small_space.keys


# ----------------------------------------------------------------------------- detection


@pytest.fixture
def plain() -> EmbeddingSpace:
    return EmbeddingSpace(["alpha", "beta", "gamma"], [[0.5, -1.25, 3], [1, 2, 3], [-4, 5, 6.5]])


@pytest.mark.parametrize(("fmt", "expected"), [("word2vec", "word2vec"), ("word2vec-binary", "word2vec-binary"),
                                               ("glove", "glove"), ("fasttext", "word2vec")])
def test_detect_sniffs_txt_contents(tmp_path: Path, plain: EmbeddingSpace, fmt: str, expected: str) -> None:
    p = save(plain, tmp_path / "vectors.txt", format=fmt)
    assert detect_format(p) == expected
    assert load(p).keys == plain.keys


@pytest.mark.parametrize(("name", "expected"), [
    ("s", "embspace"), ("v.txt", "word2vec"), ("v.bin", "word2vec-binary"), ("v.vec", "fasttext"),
    ("v.npy", "numpy"), ("v.parquet", "parquet"), ("v.pq", "parquet"), ("v.arrow", "arrow"),
    ("v.feather", "arrow"), ("v.txt.gz", "word2vec"), ("v.bin.bz2", "word2vec-binary"),
])
def test_save_follows_suffix(tmp_path: Path, plain: EmbeddingSpace, name: str, expected: str) -> None:
    p = plain.save(tmp_path / name)
    assert detect_format(p) == expected
    assert load(p).keys == plain.keys


def test_detect_binary_with_text_suffix_and_text_with_bin_suffix(tmp_path: Path, plain: EmbeddingSpace) -> None:
    assert detect_format(save(plain, tmp_path / "a.txt", format="word2vec-binary")) == "word2vec-binary"
    assert detect_format(save(plain, tmp_path / "a.bin", format="word2vec")) == "word2vec"
    assert detect_format(save(plain, tmp_path / "a.dat", format="glove")) == "glove"


def test_detect_glove_with_numeric_first_row(tmp_path: Path) -> None:
    # "3 1" looks like a word2vec header, but two rows follow, not three.
    p = tmp_path / "g.txt"
    p.write_text("3 1\nx 0.5\ny 2\n")
    assert detect_format(p) == "glove"
    assert load(p).keys == ("3", "x", "y")
    q = tmp_path / "g2.txt"
    q.write_text("0 0\nx 0.5\n")  # a glove row "0 0" cannot be a header (dimension 0)
    assert detect_format(q) == "glove"


def test_detect_wide_text_file(tmp_path: Path) -> None:
    # The first vector line is longer than the sniffing window: still text, not binary.
    rng = np.random.default_rng(0)
    space = EmbeddingSpace(["a", "b"], rng.standard_normal((2, 9000)))
    p = space.save(tmp_path / "wide.txt")
    assert detect_format(p) == "word2vec"
    np.testing.assert_array_equal(load(p).vectors, space.vectors)


def test_detect_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        detect_format(tmp_path / "missing.txt")
    with pytest.raises(FileNotFoundError):
        load(tmp_path / "missing.txt")
    (tmp_path / "d").mkdir()
    with pytest.raises(UnknownFormatError):
        detect_format(tmp_path / "d")
    with pytest.raises(UnknownFormatError, match="unknown format"):
        load(tmp_path / "x.txt", format="csv")
    with pytest.raises(UnknownFormatError):
        save(EmbeddingSpace(["a"], [[1.0]]), tmp_path / "x.txt", format="csv")
    assert issubclass(UnknownFormatError, ValueError) and issubclass(UnknownFormatError, EmbspaceError)


def test_load_with_explicit_format_overrides_suffix(tmp_path: Path, plain: EmbeddingSpace) -> None:
    p = save(plain, tmp_path / "vectors.data", format="word2vec")
    assert load(p, format="word2vec").keys == plain.keys
    with pytest.raises(CorruptDataError):
        load(p, format="parquet")
    with pytest.raises(CorruptDataError):
        load(p, format="embspace")


def test_import_options(tmp_path: Path, plain: EmbeddingSpace) -> None:
    p = plain.save(tmp_path / "v.txt")
    assert load(p, metric="dot").metric == "dot"
    q = plain.save(tmp_path / "v.npy")
    (tmp_path / "v.keys.txt").unlink()
    with pytest.raises(CorruptDataError, match=r"v\.keys\.txt"):
        load(q)
    assert load(q, keys=["x", "y", "z"]).keys == ("x", "y", "z")


def test_compression_only_for_text_formats(tmp_path: Path, plain: EmbeddingSpace) -> None:
    for name in ("v.npy.gz", "v.parquet.xz", "dir.gz"):
        with pytest.raises(InvalidInputError, match="compress"):
            plain.save(tmp_path / name)
        assert not (tmp_path / name).exists()


# ----------------------------------------------------------------------------- own format


def test_open_memory_maps(tmp_path: Path, small_space: EmbeddingSpace) -> None:
    p = small_space.save(tmp_path / "space")
    assert p.is_dir() and {f.name for f in p.iterdir()} >= {"vectors.npy", "keys.json", "meta.json"}
    loaded = load(p)
    v = loaded.vectors
    assert isinstance(v, np.memmap) or isinstance(v.base, np.memmap)
    assert not v.flags.writeable and v.dtype == np.float32 and v.flags.c_contiguous
    np.testing.assert_array_equal(v, small_space.vectors)
    # Searching a memory-mapped space works and matches the in-memory one.
    assert loaded.neighbors("w3", k=5).keys == small_space.neighbors("w3", k=5).keys
    not_mapped = load(p, mmap=False)
    assert not isinstance(not_mapped.vectors, np.memmap) and not not_mapped.vectors.flags.writeable


def test_own_format_keeps_normalized_flag(tmp_path: Path, small_space: EmbeddingSpace) -> None:
    p = small_space.normalize().save(tmp_path / "n")
    assert load(p).is_normalized
    assert not load(small_space.save(tmp_path / "u")).is_normalized


def test_own_format_empty_space(tmp_path: Path) -> None:
    space = EmbeddingSpace([], np.zeros((0, 3)))
    loaded = load(space.save(tmp_path / "empty"))
    assert len(loaded) == 0 and loaded.dim == 3


def test_overwrite_own_space(tmp_path: Path, small_space: EmbeddingSpace) -> None:
    p = tmp_path / "space"
    small_space.save(p)
    small_space.subset(["w1", "w2"]).save(p)
    assert load(p).keys == ("w1", "w2")
    assert sorted(os.listdir(tmp_path)) == ["space"]  # no temporary left behind


def test_refuses_to_replace_a_foreign_directory(tmp_path: Path, small_space: EmbeddingSpace) -> None:
    d = tmp_path / "project"
    d.mkdir()
    (d / "precious.txt").write_text("do not delete")
    with pytest.raises(InvalidInputError, match="not an embspace space"):
        small_space.save(d)
    assert (d / "precious.txt").read_text() == "do not delete"
    f = tmp_path / "vectors"
    f.write_text("a file without suffix")
    with pytest.raises(InvalidInputError, match="not an embspace space"):
        small_space.save(f)
    assert f.read_text() == "a file without suffix"
    empty = tmp_path / "empty"
    empty.mkdir()
    small_space.save(empty)  # an empty directory may be used
    assert load(empty).keys == small_space.keys


# ----------------------------------------------------------------------------- atomic writes


class _Boom(RuntimeError):
    pass


class _FailingFile:
    """Writes half of the first chunk through, then fails: a disk that fills up mid-write."""

    def __init__(self, f: Any) -> None:
        self.f = f

    def write(self, b: bytes) -> int:
        self.f.write(b[: len(b) // 2])
        raise _Boom("disk full")

    def __enter__(self) -> _FailingFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.f.close()


class _FailingNumpy:
    """numpy, except that ``save`` writes half an array and fails."""

    def __getattr__(self, name: str) -> Any:
        return getattr(np, name)

    @staticmethod
    def save(file: Any, arr: Any, *args: Any, **kwargs: Any) -> None:
        if isinstance(file, str | os.PathLike):
            Path(file).write_bytes(b"\x93NUMPY partial")
        else:
            file.write(b"\x93NUMPY partial")
        raise _Boom("disk full")


def _break_writer(fmt: str, monkeypatch: pytest.MonkeyPatch) -> None:
    if fmt in ("word2vec", "fasttext", "glove"):
        real = _text.open_binary
        monkeypatch.setattr(_text, "open_binary", lambda p, mode="rb": _FailingFile(real(p, mode)))
    elif fmt == "word2vec-binary":
        real_b = _binary.open_binary
        monkeypatch.setattr(_binary, "open_binary", lambda p, mode="rb": _FailingFile(real_b(p, mode)))
    elif fmt == "embspace":
        monkeypatch.setattr(_own, "np", _FailingNumpy())
    elif fmt == "numpy":
        monkeypatch.setattr(_numpy, "np", _FailingNumpy())
    else:
        import pyarrow.feather
        import pyarrow.parquet

        def fail(table: Any, where: Any, *a: Any, **k: Any) -> None:
            Path(where).write_bytes(b"PAR1 partial")
            raise _Boom("disk full")

        monkeypatch.setattr(pyarrow.parquet, "write_table", fail)
        monkeypatch.setattr(pyarrow.feather, "write_feather", fail)


@pytest.mark.parametrize("fmt", list(CASES))
def test_failed_save_keeps_existing_file(tmp_path: Path, small_space: EmbeddingSpace, fmt: str,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    name, options, _ = CASES[fmt]
    path = tmp_path / name
    save(small_space, path, **options)
    before = sorted(os.listdir(tmp_path))
    other = EmbeddingSpace([f"z{i}" for i in range(300)], np.ones((300, 8)))
    with monkeypatch.context() as m:
        _break_writer(fmt, m)
        with pytest.raises(_Boom):
            save(other, path, **options)
    assert sorted(os.listdir(tmp_path)) == before  # nothing half-written, no temporary left
    again = load(path, format=fmt)
    assert again.keys == small_space.keys
    np.testing.assert_array_equal(again.vectors, small_space.vectors)


def test_failed_save_to_new_path_leaves_nothing(tmp_path: Path, small_space: EmbeddingSpace,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    _break_writer("word2vec", monkeypatch)
    with pytest.raises(_Boom):
        small_space.save(tmp_path / "new.txt")
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize(("fmt", "name"), [("word2vec", "v.txt"), ("fasttext", "v.vec"), ("glove", "v.txt"),
                                           ("word2vec-binary", "v.bin")])
@pytest.mark.parametrize("bad_key", ["new york", "tab\there", "line\nbreak", "nbsp\u00a0x", ""])
def test_whitespace_keys_refused_by_text_formats(tmp_path: Path, fmt: str, name: str, bad_key: str) -> None:
    path = tmp_path / name
    good = EmbeddingSpace(["ok"], [[1.0, 2.0]])
    save(good, path, format=fmt)
    space = EmbeddingSpace(["fine", bad_key], [[1.0, 2.0], [3.0, 4.0]])
    with pytest.raises(InvalidInputError) as info:
        save(space, path, format=fmt)
    assert repr(bad_key) in str(info.value)
    assert load(path, format=fmt).keys == ("ok",)  # the existing file is intact


def test_line_break_keys_refused_by_numpy(tmp_path: Path) -> None:
    space = EmbeddingSpace(["a\nb", "c"], np.eye(2))
    with pytest.raises(InvalidInputError, match=r"'a\\nb'"):
        space.save(tmp_path / "v.npy")
    assert os.listdir(tmp_path) == []
    # Structured formats store any key.
    for name in ("s", "v.parquet", "v.arrow"):
        assert load(space.save(tmp_path / name)).keys == ("a\nb", "c")


def test_cannot_write_empty_space_to_table(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError):
        EmbeddingSpace([], np.zeros((0, 2))).save(tmp_path / "e.parquet")


@pytest.mark.parametrize(("name", "expected"), [
    ("vectors.txt", True), ("glove.6B.50d.txt", True), ("wiki.vec", True), ("GoogleNews.bin.gz", True),
    ("words.npy", True), ("words.parquet", True), ("w.feather", True), ("model.ftz", True), ("a.TXT.XZ", True),
    ("report.html", False), ("README.md", False), ("plot.png", False), ("page.json", False), ("LICENSE", False),
    ("model.pkl", False), ("notes.gz", False),
])
def test_has_vector_suffix_tells_vector_files_by_name_alone(name: str, expected: bool) -> None:
    from embspace.space.io import VECTOR_SUFFIXES, has_vector_suffix

    assert has_vector_suffix(name) is expected  # nothing is read: the file need not exist
    assert ".txt" in VECTOR_SUFFIXES and ".html" not in VECTOR_SUFFIXES
