"""Interactions: named columns, id mapping, validation, orientation safety, file loading."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from scipy import sparse

from embspace.data import Interactions, load_interactions
from embspace.errors import CorruptDataError, InvalidInputError, UnknownKeyError

ROWS = {"user": ["u1", "u2", "u2", "u3", "u1"], "item": [10, 20, 10, 30, 30],
        "rating": [5.0, 3.0, 4.0, 1.0, 2.5], "timestamp": [5, 1, 2, 9, 7]}


def test_ids_are_mapped_both_ways_in_first_appearance_order() -> None:
    x = Interactions(ROWS)
    assert len(x) == 5 and x.n_users == 3 and x.n_items == 3
    assert x.user_ids == ("u1", "u2", "u3") and x.item_ids == ("10", "20", "30")
    assert x.user_codes.tolist() == [0, 1, 1, 2, 0] and x.item_codes.tolist() == [0, 1, 0, 2, 2]
    assert x.users.tolist() == ROWS["user"] and x.items.tolist() == ["10", "20", "10", "30", "30"]
    assert x.user_index("u2") == 1 and x.item_index(30) == 2 and x.item_index("30") == 2 and x.item_index(30.0) == 2
    assert x.ratings is not None and x.ratings.dtype == np.float32 and x.ratings.tolist() == ROWS["rating"]
    assert x.timestamps is not None and x.timestamps.tolist() == ROWS["timestamp"]


def test_dataframe_arrow_and_dict_give_the_same_table() -> None:
    a = Interactions(ROWS)
    b = Interactions(pd.DataFrame(ROWS))
    c = Interactions(pa.table(ROWS))
    for other in (b, c):
        assert other.user_ids == a.user_ids and other.item_ids == a.item_ids
        assert np.array_equal(other.user_codes, a.user_codes) and np.array_equal(other.item_codes, a.item_codes)
        assert np.array_equal(other.ratings, a.ratings) and np.array_equal(other.timestamps, a.timestamps)
    assert a.fingerprint() == b.fingerprint() == c.fingerprint()
    assert a.fingerprint() != Interactions({**ROWS, "rating": [5.0, 3.0, 4.0, 1.0, 2.0]}).fingerprint()


def test_columns_mapping_and_optional_roles() -> None:
    df = pd.DataFrame({"userId": [1, 2], "movieId": [7, 8], "stars": [4, 2]})
    x = Interactions(df, columns={"user": "userId", "item": "movieId", "rating": "stars"})
    assert x.user_ids == ("1", "2") and x.ratings is not None and x.ratings.tolist() == [4.0, 2.0]
    implicit = Interactions({"user": [1, 1], "item": [2, 3]})
    assert implicit.ratings is None and implicit.timestamps is None and not implicit.has_ratings
    assert implicit.user_item_matrix().toarray().tolist() == [[1.0, 1.0]]


def test_datetime_timestamps_and_float_ids_from_pandas() -> None:
    df = pd.DataFrame({"user": [1.0, 2.0], "item": [3, 4],
                       "timestamp": pd.to_datetime(["2020-01-01", "2020-01-02"])})
    x = Interactions(df)
    assert x.user_ids == ("1", "2")  # integer-valued floats are integer ids
    assert x.timestamps is not None and x.timestamps[1] - x.timestamps[0] == 86_400 * 10**9


@pytest.mark.parametrize(("data", "columns", "message"), [
    ({"userId": [1], "item": [2]}, None, "pass columns={'user': 'userId'}"),
    ({"user": [1], "product": [2]}, None, "no column 'item'"),
    ({"user": [1], "item": [2]}, {"rating": "score"}, "no column 'score'"),
    ({"user": [1], "item": [2]}, {"usr": "user"}, "unknown roles"),
    ({"user": [], "item": []}, None, "empty"),
    ({"user": [1, 2], "item": [2]}, None, "different lengths"),
    ({"user": [1, 2], "item": [2, 3], "rating": [4.0, float("nan")]}, None, "NaN"),
    ({"user": [1, 2], "item": [2, 3], "rating": ["good", "bad"]}, None, "numeric"),
    ({"user": [1.0, float("nan")], "item": [2, 3]}, None, "missing (NaN) ids"),
    ({"user": ["a", None], "item": [2, 3]}, None, "missing ids"),
    ({"a": [1], "b": [2]}, {"user": "a", "item": "a"}, "two different columns"),
    ({"user": [1], "item": [2], "timestamp": [float("inf")]}, None, "infinite"),
])
def test_bad_tables_raise_clear_errors(data: dict[str, list[object]], columns: dict[str, str] | None,
                                       message: str) -> None:
    with pytest.raises(InvalidInputError, match=re.escape(message)):
        Interactions(data, columns=columns)


def test_nan_rating_in_a_dataframe_is_refused() -> None:
    df = pd.DataFrame({"user": [1, 2], "item": [1, 2], "rating": [4.0, None]})
    with pytest.raises(InvalidInputError, match="row 1"):
        Interactions(df)


@pytest.mark.parametrize("matrix", [np.ones((3, 4)), sparse.csr_matrix(np.eye(3)), [[1, 2, 5.0], [2, 3, 4.0]]])
def test_a_matrix_is_refused_with_a_message_to_pass_named_columns(matrix: object) -> None:
    with pytest.raises(InvalidInputError, match="NAMED columns") as info:
        Interactions(matrix)
    assert "which axis holds the users" in str(info.value)


def test_swapping_the_column_names_of_the_input_is_harmless() -> None:
    """Users and items are namespaces by column NAME: a caller who swaps the names gets exactly the
    transposed table (every id keeps its role by name), never users silently read as items."""
    df = pd.DataFrame({"userId": [1, 1, 2, 3, 3, 3], "movieId": [1, 2, 2, 1, 3, 4], "rating": [5, 4, 3, 2, 1, 5]})
    right = Interactions(df, columns={"user": "userId", "item": "movieId"})
    swapped = Interactions(df, columns={"user": "movieId", "item": "userId"})
    assert swapped.user_ids == right.item_ids and swapped.item_ids == right.user_ids
    assert (right.user_item_matrix() != swapped.user_item_matrix().T).nnz == 0
    # Renaming the columns themselves (a table whose 'user' column holds items) is the same transpose.
    renamed = Interactions(df.rename(columns={"userId": "item", "movieId": "user"}))
    assert (renamed.user_item_matrix() != swapped.user_item_matrix()).nnz == 0
    # The same table in a different column order is the same table: order never decides the role.
    reordered = Interactions(df[["rating", "movieId", "userId"]], columns={"user": "userId", "item": "movieId"})
    assert reordered.fingerprint() == right.fingerprint()
    # User "1" and item "1" are different things: each lookup answers in its own namespace.
    assert right.user_index(3) == 2 and right.item_index(3) == 2 and right.item_index(4) == 3
    with pytest.raises(UnknownKeyError, match="users"):
        right.user_index(4)


def test_unknown_ids_raise_unknown_key_error_with_suggestions() -> None:
    x = Interactions({"user": ["alice", "bob"], "item": ["apple", "pear"]})
    with pytest.raises(UnknownKeyError, match="did you mean 'alice'") as info:
        x.user_index("alicia")
    assert isinstance(info.value, KeyError)
    with pytest.raises(UnknownKeyError, match="items"):
        x.item_index("alice")


def test_subset_recodes_and_keeps_ids() -> None:
    x = Interactions(ROWS)
    sub = x.subset(np.array([False, True, True, False, False]))
    assert sub.user_ids == ("u2",) and sub.item_ids == ("20", "10") and sub.user_codes.tolist() == [0, 0]
    assert sub.ratings is not None and sub.ratings.tolist() == [3.0, 4.0]
    assert x.subset([4, 0]).items.tolist() == ["30", "10"]
    with pytest.raises(InvalidInputError, match="empty"):
        x.subset(np.zeros(5, bool))
    with pytest.raises(InvalidInputError, match="shape"):
        x.subset(np.ones(3, bool))


def test_items_by_user_and_matrix_sum_duplicates() -> None:
    x = Interactions(ROWS)
    assert x.items_by_user() == {"u1": ["10", "30"], "u2": ["20", "10"], "u3": ["30"]}
    assert x.items_by_user(min_rating=4) == {"u1": ["10"], "u2": ["10"]}
    dup = Interactions({"user": [1, 1], "item": [2, 2], "rating": [1.0, 2.0]})
    assert dup.user_item_matrix().toarray().tolist() == [[3.0]]
    assert dup.user_item_matrix("ones").toarray().tolist() == [[2.0]]
    with pytest.raises(InvalidInputError, match="no ratings"):
        Interactions({"user": [1], "item": [2]}).items_by_user(min_rating=4)


def test_load_csv_tsv_parquet_and_headerless(tmp_path: Path) -> None:
    (tmp_path / "r.csv").write_text("userId,movieId,rating,timestamp\n007,1,4.5,10\n8,2,3,11\n")
    x = load_interactions(tmp_path / "r.csv", columns={"user": "userId", "item": "movieId"})
    assert x.user_ids == ("007", "8") and x.ratings is not None and x.ratings.tolist() == [4.5, 3.0]
    assert Interactions(tmp_path / "r.csv", columns={"user": "userId", "item": "movieId"}).fingerprint() == \
        x.fingerprint()
    (tmp_path / "u.tsv").write_text("1\t2\t5\n1\t3\t4\n")
    y = load_interactions(tmp_path / "u.tsv", column_names=["user", "item", "rating"])
    assert y.item_ids == ("2", "3") and y.ratings is not None and y.ratings.tolist() == [5.0, 4.0]
    pq.write_table(x.to_arrow(), tmp_path / "r.parquet")
    z = load_interactions(tmp_path / "r.parquet")
    assert z.fingerprint() == Interactions(x.to_arrow()).fingerprint() and z.user_ids == ("007", "8")


def test_load_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="no interaction file"):
        load_interactions(tmp_path / "missing.csv")
    (tmp_path / "bad.csv").write_text("user,item\n1,2,3\n")
    with pytest.raises(CorruptDataError, match=r"bad\.csv"):
        load_interactions(tmp_path / "bad.csv")
    (tmp_path / "cols.csv").write_text("a,b\n1,2\n")
    with pytest.raises(InvalidInputError, match=r"cols\.csv: no column 'user'"):
        load_interactions(tmp_path / "cols.csv")
    (tmp_path / "x.parquet").write_text("not parquet")
    with pytest.raises(CorruptDataError, match="Parquet"):
        load_interactions(tmp_path / "x.parquet")
