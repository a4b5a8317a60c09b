"""MovieLens loaders on a tiny generated archive, and on the real files when present."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from embspace.data import MOVIELENS_100K_SPLITS, load_movielens_100k, load_movielens_latest_small
from embspace.errors import InvalidInputError

DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "recsys"
U_DATA = "1\t10\t5\t100\n2\t10\t3\t101\n1\t11\t4\t102\n"


def _fake_100k(root: Path) -> Path:
    folder = root / "ml-100k"
    folder.mkdir()
    (folder / "u.data").write_text(U_DATA)
    (folder / "u1.base").write_text("1\t10\t5\t100\n2\t10\t3\t101\n")
    (folder / "u1.test").write_text("1\t11\t4\t102\n")
    archive = root / "ml-100k.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for f in sorted(folder.iterdir()):
            zf.write(f, f"ml-100k/{f.name}")
    return archive


@pytest.mark.parametrize("where", ["zip", "folder", "parent"])
def test_100k_from_zip_folder_or_parent(tmp_path: Path, where: str) -> None:
    archive = _fake_100k(tmp_path)
    path = {"zip": archive, "folder": tmp_path / "ml-100k", "parent": tmp_path}[where]
    train, test = load_movielens_100k(path)
    assert train.users.tolist() == ["1", "2"] and train.items.tolist() == ["10", "10"]
    assert test.users.tolist() == ["1"] and test.items.tolist() == ["11"]
    assert test.ratings is not None and test.ratings.tolist() == [4.0]
    assert test.timestamps is not None and test.timestamps.tolist() == [102]
    everything = load_movielens_100k(path, split=None)
    assert len(everything) == 3 and everything.user_ids == ("1", "2")


def test_100k_errors(tmp_path: Path) -> None:
    archive = _fake_100k(tmp_path)
    with pytest.raises(InvalidInputError, match="unknown MovieLens 100K split 'u9'"):
        load_movielens_100k(archive, split="u9")
    with pytest.raises(InvalidInputError, match=r"has no ml-100k/u2\.base"):
        load_movielens_100k(archive, split="u2")
    with pytest.raises(InvalidInputError, match=r"no u\.data"):
        load_movielens_100k(tmp_path / "elsewhere", split=None)


def test_latest_small_from_folder(tmp_path: Path) -> None:
    (tmp_path / "ratings.csv").write_text("userId,movieId,rating,timestamp\n1,1,4.0,964982703\n1,3,0.5,964981247\n")
    x = load_movielens_latest_small(tmp_path)
    assert x.user_ids == ("1",) and x.item_ids == ("1", "3")
    assert x.ratings is not None and x.ratings.tolist() == [4.0, 0.5]


@pytest.mark.skipif(not (DATA / "ml-100k.zip").is_file(), reason="shared/data/recsys/ml-100k.zip is not present")
def test_real_100k_predefined_splits() -> None:
    everything = load_movielens_100k(DATA / "ml-100k.zip", split=None)
    assert (len(everything), everything.n_users, everything.n_items) == (100_000, 943, 1682)
    for split in ("u1", "ua"):
        train, test = load_movielens_100k(DATA / "ml-100k.zip", split=split)
        assert len(train) + len(test) == 100_000
    assert split in MOVIELENS_100K_SPLITS
    assert len(test) == 9430 and set(test.user_ids) <= set(train.user_ids)  # ua: 10 test ratings per user


@pytest.mark.skipif(not (DATA / "ml-latest-small.zip").is_file(),
                    reason="shared/data/recsys/ml-latest-small.zip is not present")
def test_real_latest_small() -> None:
    x = load_movielens_latest_small(DATA / "ml-latest-small.zip")
    assert (len(x), x.n_users, x.n_items) == (100_836, 610, 9724)
    assert x.ratings is not None and float(x.ratings.min()) == 0.5 and float(x.ratings.max()) == 5.0
