"""Bad files: one test per case, each a CorruptDataError (a ValueError) naming the file (and line)."""

from __future__ import annotations

import gzip
import json
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from embspace import EmbeddingSpace, load
from embspace.errors import CorruptDataError, EmbspaceError, InvalidInputError


def _corrupt(path: Path, line: int | None = None, fmt: str | None = None, match: str | None = None
             ) -> CorruptDataError:
    """Load ``path``; assert a CorruptDataError naming the file and (for text) the line."""
    with pytest.raises(CorruptDataError) as info:
        load(path, format=fmt)
    err = info.value
    assert isinstance(err, ValueError) and isinstance(err, EmbspaceError)
    msg = str(err)
    assert path.name in msg, msg
    if line is not None:
        assert f"line {line}:" in msg, msg
        assert err.line == line
    if match is not None:
        assert match in msg, msg
    return err


def _w2v(path: Path, text: str) -> Path:
    path.write_text(text, "utf-8")
    return path


# ----------------------------------------------------------------------------- truncation


def test_text_truncated_header_promises_more_lines(tmp_path: Path) -> None:
    p = _w2v(tmp_path / "t.txt", "4 2\na 1 2\nb 3 4\nc 5 6\n")
    _corrupt(p, line=5, match="truncated")


def test_text_extra_lines(tmp_path: Path) -> None:
    p = _w2v(tmp_path / "t.txt", "1 2\na 1 2\nb 3 4\n")
    _corrupt(p, line=3)


def test_binary_cut_mid_vector(tmp_path: Path) -> None:
    space = EmbeddingSpace(["a", "b", "c"], np.arange(12, dtype=np.float32).reshape(3, 4))
    p = space.save(tmp_path / "v.bin")
    raw = p.read_bytes()
    p.write_bytes(raw[: len(raw) - 9])  # c's vector loses its last floats
    _corrupt(p, match="truncated at record 3 of 3")


def test_binary_header_promises_far_too_much(tmp_path: Path) -> None:
    p = tmp_path / "huge.bin"
    p.write_bytes(b"1000000000000 300\nw " + struct.pack("<300f", *range(300)))
    _corrupt(p, match="truncated")  # not a MemoryError from allocating the promised matrix


def test_truncated_gzip(tmp_path: Path) -> None:
    p = tmp_path / "v.txt.gz"
    p.write_bytes(gzip.compress(b"2 2\na 1 2\nb 3 4\n")[:-12])
    _corrupt(p)


def test_not_gzip_at_all(tmp_path: Path) -> None:
    p = tmp_path / "v.txt.gz"
    p.write_bytes(b"2 2\na 1 2\nb 3 4\n")
    _corrupt(p)
    q = tmp_path / "v.txt.xz"
    q.write_bytes(b"2 2\na 1 2\nb 3 4\n")
    _corrupt(q)


# ----------------------------------------------------------------------------- wrong shape of a line


def test_text_line_with_too_many_values(tmp_path: Path) -> None:
    p = _w2v(tmp_path / "t.txt", "3 2\na 1 2\nb 3 4 5\nc 6 7\n")
    _corrupt(p, line=3, match="expected a key and 2 values, found 3")


def test_text_line_with_too_few_values(tmp_path: Path) -> None:
    p = _w2v(tmp_path / "t.vec", "3 2\na 1 2\nb 3 4\nc 6\n")
    _corrupt(p, line=4)


def test_glove_line_with_wrong_number_of_values(tmp_path: Path) -> None:
    p = _w2v(tmp_path / "g.txt", "a 1 2 3\nb 4 5 6\nc 7 8\n")
    _corrupt(p, line=3)


def test_text_blank_line_inside(tmp_path: Path) -> None:
    p = _w2v(tmp_path / "t.txt", "a 1 2\n\nb 3 4\n")
    _corrupt(p, line=2)


# ----------------------------------------------------------------------------- encoding


def test_text_non_utf8_key(tmp_path: Path) -> None:
    p = tmp_path / "t.txt"
    p.write_bytes(b"3 2\na 1 2\nb\xff\xfe 3 4\nc 5 6\n")
    _corrupt(p, line=3, match="UTF-8")


def test_glove_non_utf8_key(tmp_path: Path) -> None:
    p = tmp_path / "g.txt"
    p.write_bytes(b"a 1 2\nb 3 4\n\xc3x 5 6\n")
    _corrupt(p, line=3, match="UTF-8")


def test_binary_non_utf8_key(tmp_path: Path) -> None:
    p = tmp_path / "v.bin"
    p.write_bytes(b"2 2\na " + struct.pack("<2f", 1, 2) + b"\n\xff\xfe " + struct.pack("<2f", 3, 4) + b"\n")
    _corrupt(p, match="record 2")


def test_numpy_keys_file_non_utf8(tmp_path: Path) -> None:
    np.save(tmp_path / "v.npy", np.eye(2, dtype=np.float32))
    (tmp_path / "v.keys.txt").write_bytes(b"a\n\xffb\n")
    err = _corrupt(tmp_path / "v.npy", match="v.keys.txt")
    assert err.line == 2


# ----------------------------------------------------------------------------- duplicates


def test_text_duplicate_keys(tmp_path: Path) -> None:
    p = _w2v(tmp_path / "t.txt", "3 2\na 1 2\nb 3 4\na 5 6\n")
    _corrupt(p, line=4, match="duplicate key 'a', first seen at line 2")


def test_glove_duplicate_keys(tmp_path: Path) -> None:
    p = _w2v(tmp_path / "g.txt", "x 1 2\ny 3 4\nx 5 6\n")
    _corrupt(p, line=3, match="duplicate key 'x'")


def test_binary_duplicate_keys(tmp_path: Path) -> None:
    p = tmp_path / "v.bin"
    p.write_bytes(b"2 1\nk " + struct.pack("<f", 1) + b"\nk " + struct.pack("<f", 2) + b"\n")
    _corrupt(p, match="record 2: duplicate key 'k'")


def test_numpy_duplicate_keys(tmp_path: Path) -> None:
    np.save(tmp_path / "v.npy", np.eye(2, dtype=np.float32))
    (tmp_path / "v.keys.txt").write_text("a\na\n")
    _corrupt(tmp_path / "v.npy", match="duplicate key 'a'")


def test_parquet_duplicate_keys(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    p = tmp_path / "v.parquet"
    pq.write_table(pa.table({"key": ["a", "a"], "vector": [[1.0, 2.0], [3.0, 4.0]]}), p)
    _corrupt(p, match="row 2: duplicate key 'a'")


def test_own_format_duplicate_keys(tmp_path: Path) -> None:
    p = EmbeddingSpace(["a", "b"], np.eye(2)).save(tmp_path / "space")
    (p / "keys.json").write_text(json.dumps(["a", "a"]))
    _corrupt(p, match="duplicate key 'a'")


# ----------------------------------------------------------------------------- bad values


@pytest.mark.parametrize("bad", ["nan", "NaN", "inf", "-inf", "Infinity", "1e39"])
def test_text_nan_and_inf(tmp_path: Path, bad: str) -> None:
    p = _w2v(tmp_path / "t.txt", f"3 2\na 1 2\nb 3 4\nc 5 {bad}\n")
    _corrupt(p, line=4, match="'c'")


def test_glove_nan(tmp_path: Path) -> None:
    p = _w2v(tmp_path / "g.txt", "a 1 2\nb nan 4\n")
    _corrupt(p, line=2)


def test_binary_nan_and_inf(tmp_path: Path) -> None:
    for i, bad in enumerate([float("nan"), float("inf")]):
        p = tmp_path / f"v{i}.bin"
        p.write_bytes(b"2 2\na " + struct.pack("<2f", 1, 2) + b"\nb " + struct.pack("<2f", 3, bad) + b"\n")
        _corrupt(p, match="record 2")


def test_numpy_nan(tmp_path: Path) -> None:
    np.save(tmp_path / "v.npy", np.array([[1, 2], [np.inf, 3]], dtype=np.float32))
    (tmp_path / "v.keys.txt").write_text("a\nb\n")
    _corrupt(tmp_path / "v.npy", match="'b'")


def test_parquet_nan(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    p = tmp_path / "v.parquet"
    pq.write_table(pa.table({"key": ["a", "b"], "vector": [[1.0, 2.0], [3.0, float("nan")]]}), p)
    _corrupt(p, match="row 2")


@pytest.mark.parametrize("bad", ["abc", "1.2.3", "0x10", "--1", "1,5"])
def test_text_non_number(tmp_path: Path, bad: str) -> None:
    p = _w2v(tmp_path / "t.txt", f"3 2\na 1 2\nb 3 4\nc {bad} 6\n")
    _corrupt(p, line=4, match=f"value #1 {bad!r} is not a number")


def test_text_non_number_in_a_later_chunk(tmp_path: Path) -> None:
    lines = [f"w{i} {i} 1" for i in range(25_000)]
    lines[23_456] = "w23456 1 oops"
    p = _w2v(tmp_path / "g.txt", "\n".join(lines) + "\n")
    _corrupt(p, line=23_457, match="value #2 'oops'")


# ----------------------------------------------------------------------------- empty files


@pytest.mark.parametrize("content", [b"", b"\n\n  \n"])
@pytest.mark.parametrize("name", ["e.txt", "e.vec", "e.bin", "e.txt.gz"])
def test_empty_text_files(tmp_path: Path, name: str, content: bytes) -> None:
    p = tmp_path / name
    p.write_bytes(gzip.compress(content) if name.endswith(".gz") else content)
    _corrupt(p, line=1 if ".bin" not in name else None, match="empty")


@pytest.mark.parametrize("fmt", ["word2vec", "glove", "word2vec-binary", "fasttext"])
def test_empty_file_with_explicit_format(tmp_path: Path, fmt: str) -> None:
    p = tmp_path / "e.data"
    p.write_bytes(b"")
    _corrupt(p, fmt=fmt, match="empty")


def test_header_only(tmp_path: Path) -> None:
    p = _w2v(tmp_path / "h.txt", "0 3\n")
    _corrupt(p, match="no vectors")


def test_empty_npy_and_parquet(tmp_path: Path) -> None:
    (tmp_path / "e.npy").write_bytes(b"")
    _corrupt(tmp_path / "e.npy")
    (tmp_path / "e.parquet").write_bytes(b"")
    _corrupt(tmp_path / "e.parquet")
    (tmp_path / "e.arrow").write_bytes(b"")
    _corrupt(tmp_path / "e.arrow")


# ----------------------------------------------------------------------------- unsafe or inconsistent


_UNPICKLED: list[str] = []


def _record_unpickle() -> str:
    _UNPICKLED.append("yes")
    return "trap"


class Trap:
    """Unpickling this records it: the loader must never get that far."""

    def __reduce__(self) -> tuple[Any, ...]:
        return (_record_unpickle, ())


def test_npy_with_pickled_objects_is_never_unpickled(tmp_path: Path) -> None:
    arr = np.empty((2, 2), dtype=object)
    arr[:] = Trap()
    np.save(tmp_path / "v.npy", arr, allow_pickle=True)
    (tmp_path / "v.keys.txt").write_text("a\nb\n")
    _UNPICKLED.clear()
    _corrupt(tmp_path / "v.npy", match="pickle")
    assert _UNPICKLED == []


def test_npy_wrong_shape_or_dtype(tmp_path: Path) -> None:
    np.save(tmp_path / "one.npy", np.ones(3, np.float32))
    _corrupt(tmp_path / "one.npy", match="2-D")
    np.save(tmp_path / "s.npy", np.array([["a", "b"]]))
    _corrupt(tmp_path / "s.npy")


def test_npy_keys_count_mismatch(tmp_path: Path) -> None:
    np.save(tmp_path / "v.npy", np.eye(3, dtype=np.float32))
    (tmp_path / "v.keys.txt").write_text("a\nb\n")
    _corrupt(tmp_path / "v.npy", match="2 keys for 3 vectors")


def test_parquet_ragged_list_vectors(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    p = tmp_path / "r.parquet"
    pq.write_table(pa.table({"key": ["a", "b", "c"], "vector": [[1.0, 2.0], [3.0, 4.0], [5.0]]}), p)
    _corrupt(p, match="row 3: vector has 1 values")


def test_arrow_null_vector_and_key(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.feather as feather

    p = tmp_path / "n.arrow"
    feather.write_feather(pa.table({"key": ["a", "b"], "vector": [[1.0, 2.0], None]}), p)
    _corrupt(p, match="row 2: null vector")
    q = tmp_path / "k.arrow"
    feather.write_feather(pa.table({"key": ["a", None], "vector": [[1.0, 2.0], [1.0, 3.0]]}), q)
    _corrupt(q, match="row 2: null key")


def test_parquet_without_vector_column(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    p = tmp_path / "x.parquet"
    pq.write_table(pa.table({"key": ["a"], "score": [1.0]}), p)
    _corrupt(p, match="no vector column")


def test_own_format_shape_disagrees_with_meta(tmp_path: Path) -> None:
    p = EmbeddingSpace(["a", "b", "c"], np.eye(3)).save(tmp_path / "space")
    np.save(p / "vectors.npy", np.eye(4, 3, dtype=np.float32))
    err = _corrupt(p, match="vectors.npy")
    assert "(3, 3)" in str(err) and "(4, 3)" in str(err)


def test_own_format_wrong_dtype(tmp_path: Path) -> None:
    p = EmbeddingSpace(["a", "b"], np.eye(2)).save(tmp_path / "space")
    np.save(p / "vectors.npy", np.eye(2, dtype=np.float64))
    _corrupt(p, match="float64")


def test_own_format_missing_or_bad_parts(tmp_path: Path) -> None:
    p = EmbeddingSpace(["a", "b"], np.eye(2)).save(tmp_path / "space")
    (p / "keys.json").write_text("{not json")
    _corrupt(p, match="keys.json")
    (p / "keys.json").write_text(json.dumps(["a"]))
    _corrupt(p, match="keys.json")
    (p / "keys.json").unlink()
    _corrupt(p, match="keys.json is missing")
    (p / "meta.json").write_text("[1, 2]")
    _corrupt(p, match="meta.json")
    (p / "meta.json").write_text(json.dumps({"format": "embspace.space", "format_version": "x"}))
    _corrupt(p, match="meta.json")
    (p / "meta.json").write_text(json.dumps({"format": "other"}))
    _corrupt(p, match="meta.json")


def test_own_format_truncated_vectors(tmp_path: Path) -> None:
    p = EmbeddingSpace(["a", "b"], np.eye(2)).save(tmp_path / "space")
    raw = (p / "vectors.npy").read_bytes()
    (p / "vectors.npy").write_bytes(raw[:-5])
    _corrupt(p, match="vectors.npy")


def test_own_format_newer_version(tmp_path: Path) -> None:
    p = EmbeddingSpace(["a", "b"], np.eye(2)).save(tmp_path / "space")
    meta = json.loads((p / "meta.json").read_text())
    meta["format_version"] = 99
    (p / "meta.json").write_text(json.dumps(meta))
    _corrupt(p, match="upgrade")


def test_message_format_names_file_and_line() -> None:
    err = CorruptDataError("dir/vectors.txt", "bad value", line=7)
    assert str(err) == "dir/vectors.txt, line 7: bad value"
    assert err.path == "dir/vectors.txt" and err.line == 7 and err.reason == "bad value"
    assert str(CorruptDataError(None, "x")) == "<input>: x"


def test_parquet_bad_counts(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    p = tmp_path / "neg.parquet"
    pq.write_table(pa.table({"key": ["a", "b"], "vector": [[1.0], [2.0]], "count": [3, -1]}), p)
    _corrupt(p, match="non-negative")
    q = tmp_path / "null.parquet"
    pq.write_table(pa.table({"key": ["a", "b"], "vector": [[1.0], [2.0]], "count": [3, None]}), q)
    _corrupt(q, match="row 2: null count")


def test_bad_metric_option_is_the_callers_error(tmp_path: Path) -> None:
    p = EmbeddingSpace(["a"], [[1.0, 2.0]]).save(tmp_path / "v.txt")
    with pytest.raises(InvalidInputError, match="unknown metric"):
        load(p, metric="cosinus")


def test_binary_header_with_absurd_dimension(tmp_path: Path) -> None:
    p = tmp_path / "wide.bin"
    p.write_bytes(b"2 1000000000000\na " + struct.pack("<4f", 1, 2, 3, 4) + b"\n")
    _corrupt(p, match="truncated at record 1")
    q = tmp_path / "wide.txt"
    q.write_text("2 1000000000000\na 1 2\nb 3 4\n")
    _corrupt(q, line=2)
