"""EmbeddingSpace and DataFrames/Arrow: Series of arrays as vectors, integer keys, from_/to_pandas, to_arrow and
the Arrow PyCapsule stream read by pyarrow, pandas, polars and duckdb (issue 22)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import embspace
from embspace import EmbeddingSpace, Provenance
from embspace.errors import InvalidInputError

pd = pytest.importorskip("pandas")
pa = pytest.importorskip("pyarrow")


@pytest.fixture
def space() -> EmbeddingSpace:
    rng = np.random.default_rng(0)
    return EmbeddingSpace([f"w{i}" for i in range(20)], rng.standard_normal((20, 6)), metric="dot",
                          counts=np.arange(20, 0, -1), provenance=Provenance("toy-model", {"seed": 1}))


@pytest.fixture
def frame() -> object:
    rng = np.random.default_rng(1)
    return pd.DataFrame({"title": [f"doc {i}" for i in range(5)],
                         "embedding": [rng.standard_normal(4) for _ in range(5)],
                         "id": [10, 11, 12, 13, 14]})


def assert_same(a: EmbeddingSpace, b: EmbeddingSpace) -> None:
    assert a.keys == b.keys
    np.testing.assert_array_equal(a.vectors, b.vectors)  # float32 in, float32 out: no arithmetic on the way
    assert a.metric == b.metric and a.space_id == b.space_id and a.is_normalized == b.is_normalized
    if a.counts is None:
        assert b.counts is None
    else:
        assert b.counts is not None
        np.testing.assert_array_equal(a.counts, b.counts)


# --------------------------------------------------------------------------- the constructor at the boundary
def test_series_of_arrays_as_vectors(frame: object) -> None:
    space = EmbeddingSpace(frame.title, frame.embedding)  # type: ignore[attr-defined]
    assert space.keys == tuple(f"doc {i}" for i in range(5)) and space.dim == 4
    assert space.vectors.dtype == np.float32 and space.vectors.flags.c_contiguous
    np.testing.assert_allclose(space["doc 3"], frame.embedding[3], rtol=1e-6)  # type: ignore[attr-defined]
    as_lists = EmbeddingSpace(list(frame.title), [list(v) for v in frame.embedding])  # type: ignore[attr-defined]
    np.testing.assert_array_equal(as_lists.vectors, space.vectors)


def test_other_row_containers() -> None:
    pl = pytest.importorskip("polars")
    rows = [[1.0, 2.0], [3.0, 4.0]]
    expected = np.array(rows, np.float32)
    for vectors in (pl.Series(rows), pl.Series(rows, dtype=pl.Array(pl.Float32, 2)), pa.array(rows),
                    pa.chunked_array([pa.array(rows[:1]), pa.array(rows[1:])]), np.array(rows, object),
                    pd.Series([np.array(r) for r in rows]), [np.array(r) for r in rows]):
        np.testing.assert_array_equal(EmbeddingSpace(["a", "b"], vectors).vectors, expected)


@pytest.mark.parametrize(("vectors", "match"), [
    ([np.ones(3), np.ones(2)], "ragged rows: row 1 \\(key 'b'\\) has 2 values, but row 0 \\(key 'a'\\) has 3"),
    ([np.ones(3), None], "row 1 \\(key 'b'\\) has no vector"),
    ([np.ones(3), float("nan")], "row 1 \\(key 'b'\\) has no vector"),
    ([np.ones(3), np.ones((1, 3))], "row 1 \\(key 'b'\\) has shape \\(1, 3\\)"),
    ([np.ones(3), ["x", "y", "z"]], "row 1 \\(key 'b'\\) is not a vector of numbers"),
])
def test_bad_rows_are_named(vectors: list[object], match: str) -> None:
    for given in (vectors, pd.Series(vectors, dtype=object)):
        with pytest.raises(InvalidInputError, match=match):
            EmbeddingSpace(["a", "b"], given)


def test_bad_arrow_rows_are_named() -> None:
    with pytest.raises(InvalidInputError, match="row 1 \\(key 'b'\\): vector has 1 values"):
        EmbeddingSpace(["a", "b"], pa.array([[1.0, 2.0], [3.0]]))
    with pytest.raises(InvalidInputError, match="row 1 \\(key 'b'\\): null vector"):
        EmbeddingSpace(["a", "b"], pa.array([[1.0, 2.0], None]))


def test_integer_keys_are_stored_as_strings() -> None:
    space = EmbeddingSpace([7, np.int64(8), "x"], np.eye(3))
    assert space.keys == ("7", "8", "x") and all(type(k) is str for k in space.keys)
    np.testing.assert_array_equal(space[7], space["7"])  # an integer is a key, never a row number
    assert 8 in space and "8" in space and 9 not in space and space.index_of(np.int32(8)) == 1
    assert space[[7, "x"]].shape == (2, 3) and space.get(8) is not None and space.get(99) is None
    with pytest.raises(KeyError):
        space[0]
    series = EmbeddingSpace(pd.Series([3, 1, 2]), np.eye(3))
    assert series.keys == ("3", "1", "2")


@pytest.mark.parametrize("keys", [[1, "1"], ["1", np.int64(1)]])
def test_an_integer_and_its_string_are_one_key(keys: list[object]) -> None:
    with pytest.raises(InvalidInputError, match=r"duplicate key .1.*integer keys are stored as strings"):
        EmbeddingSpace(keys, np.eye(2))  # type: ignore[arg-type]


def test_plain_duplicates_name_both_rows() -> None:
    with pytest.raises(InvalidInputError, match="duplicate key 'a' \\(rows 0 and 2\\)"):
        EmbeddingSpace(["a", "b", "a"], np.eye(3))


# --------------------------------------------------------------------------- pandas
def test_to_pandas(space: EmbeddingSpace) -> None:
    df = space.to_pandas()
    assert list(df.columns) == ["key", "vector", "count"] and len(df) == len(space)
    assert list(df["key"]) == list(space.keys)
    cell = df["vector"].iloc[3]
    assert isinstance(cell, np.ndarray) and cell.dtype == np.float32 and cell.shape == (6,)
    assert not cell.flags.writeable  # views of the read-only matrix
    np.testing.assert_array_equal(np.stack(df["vector"].to_numpy()), space.vectors)
    assert df["count"].dtype == np.int64
    meta = df.attrs["embspace"]
    assert meta["metric"] == "dot" and meta["provenance"]["space_id"] == space.space_id
    no_counts = EmbeddingSpace(["a"], [[1.0, 2.0]]).to_pandas()
    assert list(no_counts.columns) == ["key", "vector"]


def test_pandas_round_trip_keeps_metric_counts_and_provenance(space: EmbeddingSpace) -> None:
    assert_same(space, EmbeddingSpace.from_pandas(space.to_pandas()))
    via_parquet = EmbeddingSpace.from_pandas(space.to_pandas(), metric="cosine")
    assert via_parquet.metric == "cosine"  # keyword arguments override what the frame carries


def test_a_changed_frame_is_a_new_space(space: EmbeddingSpace) -> None:
    """attrs follow a frame through pandas operations: provenance is kept only for the very same content."""
    df = space.to_pandas()
    head = EmbeddingSpace.from_pandas(df.head(5))
    assert head.keys == space.keys[:5] and head.space_id != space.space_id and head.provenance.model == "unknown"
    assert head.metric == "dot"  # the metric is not an identity: it is kept
    edited = df.assign(vector=[v * 2 for v in df["vector"]])
    assert EmbeddingSpace.from_pandas(edited).space_id != space.space_id
    kept = EmbeddingSpace.from_pandas(df.head(5), provenance=space.provenance)
    assert kept.space_id == space.space_id  # the user says it is the same model


def test_from_pandas_with_user_columns(frame: object) -> None:
    space = EmbeddingSpace.from_pandas(frame, key="title", vector="embedding")
    assert space.keys[0] == "doc 0" and space.dim == 4 and space.counts is None
    by_id = EmbeddingSpace.from_pandas(frame, key="id", vector="embedding")
    assert by_id.keys == ("10", "11", "12", "13", "14")
    np.testing.assert_array_equal(by_id.vectors, space.vectors)
    wide = pd.DataFrame(np.arange(12, dtype=np.float64).reshape(4, 3), columns=["x", "y", "z"],
                        index=["a", "b", "c", "d"])
    from_columns = EmbeddingSpace.from_pandas(wide, key=None, vector=["x", "z"])
    assert from_columns.keys == ("a", "b", "c", "d")
    np.testing.assert_array_equal(from_columns.vectors, np.array([[0, 2], [3, 5], [6, 8], [9, 11]], np.float32))
    counted = EmbeddingSpace.from_pandas(wide.assign(count=[4, 3, 2, 1]), key=None, vector=["x", "y"])
    assert counted.counts is not None and counted.top(1).keys == ("a",)
    assert EmbeddingSpace.from_pandas(wide.assign(count=[4, 3, 2, 1]), key=None, vector=["x"], counts=None
                                      ).counts is None


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"key": "nope", "vector": "embedding"}, "no key column 'nope'; the columns are \\['title', 'embedding', 'id'\\]"),
    ({"key": "title", "vector": "nope"}, "no vector column 'nope'"),
    ({"key": "title", "vector": ["id", "nope"]}, "no vector column 'nope'"),
    ({"key": "title", "vector": ["title"]}, "column 'title' is not numeric"),
    ({"key": "title", "vector": []}, "empty list"),
    ({"key": "title", "vector": "embedding", "counts": "title"}, "expected integer counts"),
])
def test_from_pandas_errors(frame: object, kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(InvalidInputError, match=match):
        EmbeddingSpace.from_pandas(frame, **kwargs)  # type: ignore[arg-type]


def test_from_pandas_names_a_ragged_row(frame: object) -> None:
    ragged = frame.copy()  # type: ignore[attr-defined]
    ragged.loc[2, "embedding"] = np.ones(3)
    with pytest.raises(InvalidInputError, match="ragged rows: row 2 \\(key 'doc 2'\\) has 3 values"):
        EmbeddingSpace.from_pandas(ragged, key="title", vector="embedding")
    with pytest.raises(TypeError, match="from_arrow"):
        EmbeddingSpace.from_pandas({"key": ["a"]})
    with pytest.raises(TypeError, match="from_arrow"):
        EmbeddingSpace.from_pandas(pa.table({"key": ["a"], "x": [1.0]}), vector=["x"])


def test_from_pandas_passes_an_arrow_table_on(space: EmbeddingSpace) -> None:
    assert_same(space, EmbeddingSpace.from_pandas(space.to_arrow()))


def test_pd_dataframe_of_a_space_fails_clearly(space: EmbeddingSpace) -> None:
    """It used to return a one-column frame of the keys; pandas' constructor does not read Arrow streams."""
    with pytest.raises(TypeError, match="to_pandas\\(\\)"):
        pd.DataFrame(space)
    with pytest.raises(TypeError, match=r"space\.vectors"):
        np.asarray(space)
    if hasattr(pd.DataFrame, "from_arrow"):  # pandas >= 3.0 reads the PyCapsule stream
        df = pd.DataFrame.from_arrow(space)
        assert list(df["key"]) == list(space.keys)
        np.testing.assert_array_equal(np.stack(df["vector"].to_numpy()), space.vectors)


# --------------------------------------------------------------------------- Arrow
def test_to_arrow_schema(space: EmbeddingSpace) -> None:
    table = space.to_arrow()
    assert table.schema.field("key").type == pa.string()
    assert table.schema.field("vector").type == pa.list_(pa.float32(), 6)
    assert table.schema.field("count").type == pa.int64()
    import json

    meta = json.loads(table.schema.metadata[b"embspace"])
    assert meta["metric"] == "dot" and meta["provenance"]["space_id"] == space.space_id
    flat = table.column("vector").combine_chunks().flatten().to_numpy()
    np.testing.assert_array_equal(flat.reshape(len(space), 6), space.vectors)


def test_arrow_round_trips(space: EmbeddingSpace, tmp_path: Path) -> None:
    assert_same(space, EmbeddingSpace.from_arrow(space.to_arrow()))
    assert_same(space, EmbeddingSpace.from_arrow(pa.table(space)))  # the PyCapsule stream
    assert_same(space, EmbeddingSpace.from_arrow(space.to_arrow().to_batches()[0]))
    import pyarrow.parquet as pq

    pq.write_table(space.to_arrow(), tmp_path / "t.parquet")  # what to_arrow gives is what embspace.load reads
    assert_same(space, embspace.load(tmp_path / "t.parquet"))
    space.save(tmp_path / "s.parquet")
    assert pq.read_table(tmp_path / "s.parquet").equals(space.to_arrow())
    empty = EmbeddingSpace([], np.empty((0, 3), np.float32))
    assert empty.to_arrow().num_rows == 0 and pa.table(empty).schema.field("vector").type.list_size == 3


def test_from_arrow_with_other_columns() -> None:
    table = pa.table({"id": [1, 2], "emb": pa.array([[1.0, 0.0], [0.0, 1.0]], pa.list_(pa.float64()))})
    space = EmbeddingSpace.from_arrow(table, key="id", vector="emb")
    assert space.keys == ("1", "2") and space.vectors.dtype == np.float32
    with pytest.raises(InvalidInputError, match="no vector column 'vector'"):
        EmbeddingSpace.from_arrow(table, key="id")
    with pytest.raises(InvalidInputError, match=r"column .id.*expected a list of numbers"):
        EmbeddingSpace.from_arrow(table, key="id", vector="id")
    with pytest.raises(TypeError, match="__arrow_c_stream__"):
        EmbeddingSpace.from_arrow({"key": ["a"]})


def test_polars_reads_the_stream(space: EmbeddingSpace) -> None:
    pl = pytest.importorskip("polars")
    df = pl.DataFrame(space)
    assert df.columns == ["key", "vector", "count"] and df.height == len(space)
    assert df.schema["vector"] == pl.Array(pl.Float32, 6)
    np.testing.assert_array_equal(df["vector"].to_numpy(), space.vectors)
    assert df["key"].to_list() == list(space.keys)
    assert pl.from_arrow(space.to_arrow()).equals(df)
    back = EmbeddingSpace.from_arrow(df)  # polars drops the schema metadata: a space of unknown origin
    assert back.keys == space.keys and back.counts is not None
    np.testing.assert_array_equal(back.vectors, space.vectors)
    assert_same(space, EmbeddingSpace.from_arrow(df, metric="dot", provenance=space.provenance))
    assert EmbeddingSpace.from_pandas(df).keys == space.keys  # a polars frame through from_pandas too


def test_duckdb_reads_the_stream(space: EmbeddingSpace) -> None:
    duckdb = pytest.importorskip("duckdb")
    con = duckdb.connect()
    con.register("words", space)
    n, dim = con.execute("select count(*), max(len(vector)) from words").fetchone()
    assert (n, dim) == (len(space), 6)
    rows = con.execute("select key, vector from words where key in ('w1', 'w7') order by key").fetchall()
    assert [r[0] for r in rows] == ["w1", "w7"]
    np.testing.assert_allclose(np.array(rows[1][1]), space["w7"], rtol=0)  # float32 values, read back exactly
    relation = con.sql("select key, vector, count from words where count > 10")
    back = EmbeddingSpace.from_arrow(relation, metric="dot", provenance=space.provenance)
    assert back.keys == space.keys[:10]
    np.testing.assert_array_equal(back.vectors, space.vectors[:10])


def test_to_pandas_without_pandas_names_the_extra(space: EmbeddingSpace, monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from embspace.errors import MissingDependencyError

    monkeypatch.setitem(sys.modules, "pandas", None)  # import pandas now raises ImportError
    with pytest.raises(MissingDependencyError, match=r'pip install "embspace\[pandas\]"'):
        space.to_pandas()
    assert space.to_arrow().num_rows == len(space)  # Arrow needs only pyarrow, a core dependency


def test_from_pandas_key_none_needs_an_index(space: EmbeddingSpace) -> None:
    pl = pytest.importorskip("polars")
    with pytest.raises(InvalidInputError, match="has none; pass key=COLUMN"):
        EmbeddingSpace.from_pandas(pl.DataFrame(space), key=None)
