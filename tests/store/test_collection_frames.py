"""Collections and DataFrames: add_dataframe (pandas, pyarrow), to_pandas, and the metadata value rule (issue 22)."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import numpy as np
import pytest

import embspace
from embspace.errors import InvalidInputError
from embspace.store import Collection

pd = pytest.importorskip("pandas")
pa = pytest.importorskip("pyarrow")


class _LengthEncoder:
    name = "length"
    space_id = "length-space"
    dim = 3

    def __init__(self) -> None:
        self.provenance = embspace.Provenance(model="length", config={})

    def encode(self, texts: list[str], progress: bool = False) -> np.ndarray:
        return np.asarray([[1.0, len(t), 0.5] for t in texts], np.float32)


def _frame(n: int = 6) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame({
        "id": np.arange(100, 100 + n),
        "embedding": list(rng.standard_normal((n, 3)).astype(np.float32)),
        "title": [f"title {i}" for i in range(n)],
        "lang": ["en", "fr"] * (n // 2),
        "score": [0.5, np.nan] * (n // 2),
        "when": pd.date_range("2024-01-01", periods=n, freq="D"),
        "count": np.arange(n, dtype=np.int32),
        "flag": np.array([True, False] * (n // 2)),
        "ignored": ["x"] * n,
    })


def test_add_dataframe_from_pandas_applies_every_argument(tmp_path: Path) -> None:
    df = _frame()
    with Collection.create(tmp_path / "c", dim=3, metric="dot") as col:
        n = col.add_dataframe(df, key="id", vector="embedding", text="title",
                              metadata=["lang", "score", "when", "count", "flag"])
        assert n == 6 and sorted(col.keys()) == [str(i) for i in range(100, 106)]
        first, second = col.get([100, 101])
        np.testing.assert_array_equal(first["vector"], df.embedding[0])  # dot: stored as given
        assert first["text"] == "title 0"
        assert first["metadata"] == {"lang": "en", "score": 0.5, "when": "2024-01-01T00:00:00", "count": 0,
                                     "flag": True}
        assert second["metadata"] == {"lang": "fr", "when": "2024-01-02T00:00:00", "count": 1, "flag": False}
        assert type(first["metadata"]["count"]) is int and type(first["metadata"]["flag"]) is bool
        with pytest.raises(InvalidInputError, match="use upsert"):
            col.add_dataframe(df, key="id", vector="embedding")
        assert col.add_dataframe(df.head(2), key="id", vector="embedding", upsert=True) == 2
        assert col.get(["100"])[0]["text"] is None and col.get(["100"])[0]["metadata"] == {}  # replaced whole
        with pytest.raises(InvalidInputError, match=r"metadata='nope' is not a column.*id, embedding"):
            col.add_dataframe(df, key="id", vector="embedding", metadata=["nope"])
        with pytest.raises(InvalidInputError, match="key='ident' is not a column"):
            col.add_dataframe(df, key="ident", vector="embedding")
        with pytest.raises(InvalidInputError, match=r"vector= .* or text="):
            col.add_dataframe(df, key="id")
        with pytest.raises(InvalidInputError, match="pandas DataFrame or a pyarrow Table"):
            col.add_dataframe({"id": [1]}, key="id", vector="embedding")
        assert col.count() == 6


def test_add_dataframe_encodes_a_text_column_and_reads_a_pyarrow_table(tmp_path: Path) -> None:
    table = pa.table({"doc": ["a", "bb"], "body": ["short", "a longer text"],
                      "vec": pa.array([[1.0, 2.0, 3.0], [3.0, 2.0, 1.0]], pa.list_(pa.float32(), 3)),
                      "day": pa.array([dt.date(2024, 5, 1), None], pa.date32())})
    with Collection.create(tmp_path / "t", encoder=_LengthEncoder()) as col:
        assert col.add_dataframe(table, key="doc", text="body", metadata="day") == 2
        a, b = col.get(["a", "bb"])
        assert a["text"] == "short" and a["metadata"] == {"day": "2024-05-01"} and b["metadata"] == {}
        np.testing.assert_allclose(b["vector"], np.array([1.0, 13.0, 0.5]) / math.sqrt(1 + 169 + 0.25), rtol=1e-6)
    with Collection.create(tmp_path / "v", dim=3, metric="l2") as col:
        assert col.add_dataframe(table, key="doc", vector="vec", text="body") == 2
        np.testing.assert_array_equal(col.get(["bb"])[0]["vector"], [3.0, 2.0, 1.0])
        assert col.get(["bb"])[0]["text"] == "a longer text"
        plain = pa.table({"doc": ["c"], "vec": pa.array([[0.0, 1.0, 0.0]], pa.list_(pa.float64()))})
        assert col.add_dataframe(plain, key="doc", vector="vec") == 1


def test_to_pandas_has_key_text_vector_then_the_metadata_fields(tmp_path: Path) -> None:
    df = _frame(4)
    with Collection.create(tmp_path / "c", dim=3, metric="dot") as col:
        col.add_dataframe(df, key="id", vector="embedding", text="title", metadata=["lang", "score"])
        col.add(["meta-clash"], np.ones((1, 3), np.float32), [{"text": "in metadata", "extra": 1}])
        out = col.to_pandas()
        assert list(out.columns) == ["key", "text", "vector", "lang", "score", "metadata.text", "extra"]
        assert list(out.key) == ["100", "101", "102", "103", "meta-clash"]
        assert list(out.text) == ["title 0", "title 1", "title 2", "title 3", "in metadata"]
        np.testing.assert_array_equal(np.stack(out.vector[:4]), np.stack(df.embedding))
        assert out.score.isna().tolist() == [False, True, False, True, True]
        assert out.lang.tolist()[:4] == ["en", "fr", "en", "fr"] and pd.isna(out.lang[4])
        small = col.to_pandas(vectors=False, where={"lang": "fr"})
        assert list(small.columns) == ["key", "text", "lang"]  # no "fr" row has a score (NaN was left out)
        assert list(small.key) == ["101", "103"]
        empty = col.to_pandas(where={"lang": "de"})
        assert len(empty) == 0 and list(empty.columns) == ["key", "text", "vector"]


def test_the_metadata_value_rule(tmp_path: Path) -> None:
    with Collection.create(tmp_path / "c", dim=2) as col:
        meta = {"i": np.int64(3), "f": np.float32(0.5), "b": np.bool_(True), "arr": np.array([1, 2]),
                "ts": pd.Timestamp("2024-03-04 05:06:07"), "d64": np.datetime64("2024-03-04"),
                "ns": np.datetime64("2024-03-04T05:06:07.123456789"), "date": dt.date(2020, 1, 2),
                "nested": {"x": np.float64(1.5), "gone": None, "list": [1, np.nan, None]},
                "nan": float("nan"), "none": None, "na": pd.NA, "nat": pd.NaT, "npnat": np.datetime64("NaT"),
                "tz": pd.Timestamp("2024-01-01", tz="UTC")}
        col.add(["a"], np.ones((1, 2), np.float32), [meta])
        got = col.get(["a"])[0]["metadata"]
        assert got == {"i": 3, "f": 0.5, "b": True, "arr": [1, 2], "ts": "2024-03-04T05:06:07", "d64": "2024-03-04",
                       "ns": "2024-03-04T05:06:07.123456789", "date": "2020-01-02",
                       "nested": {"x": 1.5, "list": [1, None, None]}, "tz": "2024-01-01T00:00:00+00:00"}
        with pytest.raises(InvalidInputError, match=r"metadata of 'b', field 'when': a set cannot be stored"):
            col.add(["b"], np.ones((1, 2), np.float32), [{"when": {1, 2}}])
        with pytest.raises(InvalidInputError, match=r"field 'x.deep': a bytes"):
            col.add(["b"], np.ones((1, 2), np.float32), [{"x": {"deep": b"raw"}}])
        with pytest.raises(InvalidInputError, match="finite"):
            col.add(["b"], np.ones((1, 2), np.float32), [{"x": np.float64("inf")}])
        with pytest.raises(InvalidInputError, match="must be a dict"):
            col.add(["b"], np.ones((1, 2), np.float32), ["not a dict"])
        assert col.count() == 1
