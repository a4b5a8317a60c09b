"""The index agrees with the table (issue 23, defects 3, 4, 7, 13).

- a rebuild reads the change-log position and the vectors in one read transaction, and a replay error can
  never wedge a reader (3);
- the index records the table's identity and the history it covers: a restored older database, a foreign
  index or a log position beyond the table's makes it rebuild, never answer wrongly (4);
- paged reads (items, keys, records, to_space, export) see one version while another connection writes (7);
- leftovers of a killed index save (``.old-index-<pid>``, ``.index-*``) break nothing, and close() releases
  the database and the lock even when the save fails (13).
"""

from __future__ import annotations

import json
import os
import shutil
import threading
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from embspace.store import Collection

pytest.importorskip("faiss")

DIM = 16


def _vecs(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, DIM)).astype(np.float32)


def _exact_top(col: Any, query: np.ndarray, k: int) -> tuple[list[str], np.ndarray]:
    """The top ``k`` keys and cosine scores by brute force over the table (the oracle)."""
    keys, vecs = [], []
    for key, v, _ in col.items():
        keys.append(key)
        vecs.append(v)
    m = np.stack(vecs)
    m = m / np.linalg.norm(m, axis=1, keepdims=True)
    q = query / np.linalg.norm(query)
    scores = m @ q
    order = np.argsort(-scores, kind="stable")[:k]
    return [keys[i] for i in order], scores[order]


def _check_agrees_with_table(col: Any, *, k: int = 5) -> None:
    """Every item is its own nearest neighbour, and searches equal exact search over the table."""
    items = list(col.items())
    assert items, "nothing to check"
    for key, v, _ in items:
        res = col.search(v, k=k)
        assert res.keys[0] == key
        want_keys, want_scores = _exact_top(col, v, k) if key == items[0][0] else (None, None)
        if want_keys is not None:
            assert res.keys == want_keys
            # scores of FAISS and of NumPy: different summation orders, so equal within float32 rounding
            np.testing.assert_allclose(res.scores, want_scores, atol=1e-5)
    for seed in range(5):
        q = _vecs(1, 1000 + seed)[0]
        res = col.search(q, k=k)
        want_keys, want_scores = _exact_top(col, q, k)
        assert res.keys == want_keys
        np.testing.assert_allclose(res.scores, want_scores, atol=1e-5)  # float32, another summation order


# -- (3) one read transaction for a rebuild; replay cannot wedge a reader --------------------------------
def test_a_commit_between_log_position_and_vectors_does_not_wedge_a_reader(tmp_path: Path) -> None:
    path = tmp_path / "c"
    w = Collection.create(path, dim=DIM, index="Flat")
    w.add([f"a{i}" for i in range(200)], _vecs(200, 1))
    w.close()  # no search: no index saved, so the reader rebuilds it
    writer = Collection.open(path, hold_lock=False)
    reader = Collection.open(path, readonly=True)
    original = reader._all_vectors
    fired = []

    def racing(*args: Any, **kwargs: Any) -> Any:
        if not fired:  # another connection commits between the reading of the log position and the vectors
            fired.append(1)
            writer.add([f"b{i}" for i in range(50)], _vecs(50, 2))
        return original(*args, **kwargs)

    reader._all_vectors = racing  # type: ignore[method-assign]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no replay failure, no rebuild: it simply works
        res = reader.search(_vecs(1, 2)[0], k=1)
    assert fired and res.keys == ["b0"]
    assert reader.count() == 250 and reader.info()["index_entries"] == 250
    _check_agrees_with_table(reader)
    writer.close()
    reader.close()


def test_replay_is_idempotent_and_a_replay_error_rebuilds(tmp_path: Path) -> None:
    path = tmp_path / "c"
    w = Collection.create(path, dim=DIM, index="Flat")
    w.add([f"a{i}" for i in range(100)], _vecs(100, 1))
    w.close()
    writer = Collection.open(path, hold_lock=False)
    reader = Collection.open(path, readonly=True)
    reader.search(_vecs(1, 9)[0], k=1)  # the reader's index covers a0..a99
    writer.add([f"b{i}" for i in range(30)], _vecs(30, 2))
    reader._index_seq -= 10  # a replay that meets adds the index has already
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert reader.search(_vecs(30, 2)[0], k=1).keys == ["b0"]
    assert reader.info()["index_entries"] == 130
    writer.upsert(["a0"], _vecs(1, 3))

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("disagrees")

    reader._index.remove = broken  # the next replay fails: the reader rebuilds instead of failing for good
    with pytest.warns(RuntimeWarning, match="rebuilding"):
        assert reader.search(_vecs(1, 3)[0], k=1).keys == ["a0"]
    assert reader.search(_vecs(1, 3)[0], k=1).keys == ["a0"]  # and stays usable
    _check_agrees_with_table(reader)
    writer.close()
    reader.close()


def test_readers_racing_a_writer_never_fail(tmp_path: Path) -> None:
    path = tmp_path / "c"
    w = Collection.create(path, dim=DIM, index="Flat")
    w.add([f"a{i}" for i in range(100)], _vecs(100, 1))
    w.close()
    stop = threading.Event()
    errors: list[BaseException] = []

    def write() -> None:
        col = Collection.open(path)
        try:
            i = 0
            while not stop.is_set():
                col.add([f"w{i}_{j}" for j in range(20)], _vecs(20, 100 + i))
                if i % 3 == 0:
                    col.upsert([f"w{i}_0"], _vecs(1, 5000 + i))
                i += 1
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)
        finally:
            col.close()

    t = threading.Thread(target=write)
    t.start()
    try:
        for n in range(30):
            reader = Collection.open(path, readonly=True)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # a saved index being replaced: rebuilt
                for _ in range(3):
                    assert len(reader.search(_vecs(1, n)[0], k=3).keys) == 3
            reader.close()
    finally:
        stop.set()
        t.join()
    assert not errors
    reader = Collection.open(path, readonly=True)
    _check_agrees_with_table(reader)
    reader.close()


# -- (4) the index is checked against its table --------------------------------------------------------
def test_a_restored_older_database_with_a_kept_index_gives_exact_answers(tmp_path: Path) -> None:
    path = tmp_path / "c"
    col = Collection.create(path, dim=DIM, index="Flat")
    col.add([f"a{i}" for i in range(300)], _vecs(300, 1))
    col.search(_vecs(1, 0)[0], k=1)
    col.close()
    shutil.copy(path / "collection.sqlite", tmp_path / "aside.sqlite")  # a backup
    col = Collection.open(path)
    col.add([f"b{i}" for i in range(300)], _vecs(300, 2))
    col.delete([f"a{i}" for i in range(0, 300, 7)])
    col.search(_vecs(1, 0)[0], k=1)
    col.close()  # the index now covers the later history
    assert (path / "index" / "covers.json").is_file()
    for extra in ("collection.sqlite-wal", "collection.sqlite-shm"):
        (path / extra).unlink(missing_ok=True)
    shutil.copy(tmp_path / "aside.sqlite", path / "collection.sqlite")  # restore the backup, keep index/
    col = Collection.open(path)
    col.add([f"c{i}" for i in range(500)], _vecs(500, 3))  # the same ids and sequence numbers again
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _check_agrees_with_table(col)  # the answers first: before the fix, 499 of 500 items were not found
        assert col.info()["index_entries"] == 800
    assert any("does not match the table" in str(w.message) for w in caught)
    col.close()
    col = Collection.open(path, readonly=True)  # what was saved now matches: no warning, the same answers
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _check_agrees_with_table(col)
    col.close()


def _epochs(path: Path) -> int:
    import sqlite3
    from contextlib import closing

    with closing(sqlite3.connect(path / "collection.sqlite")) as db:
        return int(db.execute("SELECT COUNT(*) FROM epochs").fetchone()[0])


def test_the_epochs_table_stays_bounded_and_a_restored_database_is_still_detected(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The epochs table (a row per write) is pruned to what the checks need: the saved index's row and the
    latest EPOCHS_KEPT writes; a restored older database (pruned too) is still told apart from the index."""
    from embspace.store import collection as collection_module

    kept = 10
    monkeypatch.setattr(collection_module, "EPOCHS_KEPT", kept)
    path = tmp_path / "c"
    col = Collection.create(path, dim=DIM, index="Flat")
    vecs = _vecs(300, 1)
    most = 0
    for i in range(300):  # one write each: a row each
        col.add([f"a{i}"], vecs[i : i + 1])
        if i % 50 == 49:
            col.compact()  # an index save each time
        if i % 10 == 0:
            most = max(most, _epochs(path))
        if i == 149:
            col.close()
            shutil.copy(path / "collection.sqlite", tmp_path / "aside.sqlite")  # a backup, half-way
            col = Collection.open(path)
    col.search(vecs[0], k=1)
    col.close()
    assert _epochs(path) <= 2 * kept + 1 and most <= 2 * kept + 1, (_epochs(path), most)  # not 300
    for extra in ("collection.sqlite-wal", "collection.sqlite-shm"):
        (path / extra).unlink(missing_ok=True)
    shutil.copy(tmp_path / "aside.sqlite", path / "collection.sqlite")  # restore the backup, keep index/
    col = Collection.open(path)
    more = _vecs(150, 2)
    for i in range(150):  # the same sequence numbers again, other items (pruned as they go)
        col.add([f"c{i}"], more[i : i + 1])
    assert _epochs(path) <= 2 * kept + 1
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _check_agrees_with_table(col)
        assert col.info()["index_entries"] == 300
    assert any("does not match the table" in str(w.message) for w in caught)
    col.close()


def test_a_restored_database_behind_the_index_rebuilds(tmp_path: Path) -> None:
    path = tmp_path / "c"
    col = Collection.create(path, dim=DIM, index="Flat")
    col.add([f"a{i}" for i in range(100)], _vecs(100, 1))
    col.close()
    shutil.copy(path / "collection.sqlite", tmp_path / "aside.sqlite")
    col = Collection.open(path)
    col.add([f"b{i}" for i in range(100)], _vecs(100, 2))
    col.search(_vecs(1, 0)[0], k=1)
    col.close()
    shutil.copy(tmp_path / "aside.sqlite", path / "collection.sqlite")
    col = Collection.open(path, readonly=True)  # the index covers a change the table does not have
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert col.search(_vecs(100, 2)[0], k=1).keys != ["b0"]  # b0 is not in the table
        assert col.info()["index_entries"] == 100
        _check_agrees_with_table(col)
    assert any("covers change" in str(w.message) for w in caught)
    col.close()


def test_a_foreign_index_is_not_used(tmp_path: Path) -> None:
    for name, seed in (("one", 1), ("two", 2)):
        col = Collection.create(tmp_path / name, dim=DIM, index="Flat")
        col.add([f"{name}{i}" for i in range(100)], _vecs(100, seed))
        col.search(_vecs(1, 0)[0], k=1)
        col.close()
    shutil.rmtree(tmp_path / "one" / "index")
    shutil.copytree(tmp_path / "two" / "index", tmp_path / "one" / "index")  # same size, same positions
    col = Collection.open(tmp_path / "one", readonly=True)
    with pytest.warns(RuntimeWarning, match="another collection"):
        assert col.search(_vecs(100, 1)[5], k=1).keys == ["one5"]
    _check_agrees_with_table(col)
    col.close()


def test_a_history_changed_under_an_open_reader_is_noticed(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "c"
    col = Collection.create(path, dim=DIM, index="Flat")
    col.add([f"a{i}" for i in range(100)], _vecs(100, 1))
    col.close()
    reader = Collection.open(path, readonly=True)
    assert reader.search(_vecs(100, 1)[3], k=1).keys == ["a3"]
    db = sqlite3.connect(path / "collection.sqlite")  # what a restore does to the history the reader saw
    with db:
        db.execute("UPDATE epochs SET token = 'another history'")
        db.execute("UPDATE items SET vector = ? WHERE key = 'a3'", (_vecs(1, 9)[0].tobytes(),))
    db.close()
    with Collection.open(path) as w:
        w.add(["n"], _vecs(1, 5))
    with pytest.warns(RuntimeWarning, match="no longer matches"):
        assert reader.search(_vecs(1, 9)[0], k=1).keys == ["a3"]
    _check_agrees_with_table(reader)
    reader.close()


def test_a_collection_from_before_the_identity_gets_one(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "c"
    col = Collection.create(path, dim=DIM, index="Flat")
    col.add([f"a{i}" for i in range(50)], _vecs(50, 1))
    col.search(_vecs(1, 0)[0], k=1)
    col.close()
    db = sqlite3.connect(path / "collection.sqlite")  # as an older embspace left it
    with db:
        db.execute("DELETE FROM info WHERE name = 'uid'")
        db.execute("DROP TABLE epochs")
    db.close()
    covers = path / "index" / "covers.json"
    covers.write_text(json.dumps({"seq": json.loads(covers.read_text())["seq"]}))
    reader = Collection.open(path, readonly=True)  # read-only: the old index is used as it is
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _check_agrees_with_table(reader)
    reader.close()
    with Collection.open(path) as col:  # a writer adds the identity (the index is rebuilt once)
        col.add(["n"], _vecs(1, 7))
        with pytest.warns(RuntimeWarning, match="older embspace"):
            _check_agrees_with_table(col)
    assert json.loads(covers.read_text())["uid"]


# -- (7) snapshot reads ---------------------------------------------------------------------------------
def test_paged_reads_see_one_version_while_another_connection_upserts(tmp_path: Path) -> None:
    path = tmp_path / "c"
    col = Collection.create(path, dim=4, index="exact")
    keys = [f"k{i}" for i in range(100)]
    col.upsert(keys, np.ones((100, 4), np.float32), [{"v": 0}] * 100)
    col.close()
    writer = Collection.open(path, hold_lock=False)
    reader = Collection.open(path, readonly=True)
    for version, scan in enumerate((lambda: reader.records(batch=7), lambda: reader.items(batch=7),
                                    lambda: reader.keys(batch=7)), start=1):
        it = iter(scan())
        first = [next(it) for _ in range(10)]
        writer.upsert(keys, np.full((100, 4), version, np.float32), [{"v": version}] * 100)  # moves every row
        rest = list(it)
        got = first + rest
        assert len(got) == 100
        seen = [r["key"] if isinstance(r, dict) else r[0] if isinstance(r, tuple) else r for r in got]
        assert sorted(seen) == sorted(keys)  # no key twice, none missing
        if isinstance(got[0], dict):
            assert {r["metadata"]["v"] for r in got} == {version - 1}  # one version: the one when it began
        if isinstance(got[0], tuple):
            assert {r[2]["v"] for r in got} == {version - 1}
    writer.close()
    reader.close()


def test_pages_across_calls_are_one_snapshot_or_refused(tmp_path: Path) -> None:
    """Collection.page: later pages leave out items added since the first; after a delete, a replace or a
    restored database they raise SnapshotChangedError, never a page of mixed versions."""
    from embspace.errors import SnapshotChangedError

    path = tmp_path / "c"
    col = Collection.create(path, dim=4, index="exact")
    col.add([f"k{i}" for i in range(30)], np.ones((30, 4), np.float32), [{"v": 0}] * 30)
    col.close()
    shutil.copy(path / "collection.sqlite", tmp_path / "aside.sqlite")
    writer = Collection.open(path, hold_lock=False)
    reader = Collection.open(path, readonly=True)

    def read_all(between: Any = None) -> list[str]:
        page = reader.page(8)
        got = [r["key"] for r in page.records]
        if between is not None:
            between()
        while page.next is not None:
            page = reader.page(8, cursor=page.next)
            got += [r["key"] for r in page.records]
        return got

    assert read_all(lambda: writer.add(["late"], np.ones((1, 4), np.float32))) == [f"k{i}" for i in range(30)]
    for change in (lambda: writer.upsert(["k20"], np.ones((1, 4), np.float32), [{"v": 1}]),
                   lambda: writer.delete(["k25"])):
        with pytest.raises(SnapshotChangedError, match=r"deleted or replaced since.*first page"):
            read_all(change)
    page = reader.page(8)
    writer.close()
    reader.close()
    for extra in ("collection.sqlite-wal", "collection.sqlite-shm"):
        (path / extra).unlink(missing_ok=True)
    shutil.copy(tmp_path / "aside.sqlite", path / "collection.sqlite")  # an older database restored
    with Collection.open(path) as col:
        col.add([f"r{i}" for i in range(3)], np.ones((3, 4), np.float32))  # the same version numbers again
        with pytest.raises(SnapshotChangedError, match="first page"):
            col.page(8, cursor=page.next)
        assert len(col.page(100).records) == 33 and col.page(100).next is None


def test_to_space_and_export_during_a_writer_thread_are_snapshots(tmp_path: Path) -> None:
    path = tmp_path / "c"
    n = 10_050  # more than one page (10,000 rows) of to_space and export
    col = Collection.create(path, dim=2, index="exact")
    keys = [f"k{i}" for i in range(n)]
    col.add(keys, np.ones((n, 2), np.float32), [{"v": 0}] * n)
    col.close()
    stop = threading.Event()

    def write() -> None:
        with Collection.open(path) as w:  # its own connection
            v = 1
            while not stop.is_set():
                w.upsert(keys[:200], np.full((200, 2), v, np.float32), [{"v": v}] * 200)
                v += 1

    t = threading.Thread(target=write)
    t.start()
    reader = Collection.open(path, readonly=True)
    try:
        for i in range(6):
            space = reader.to_space()
            assert len(space) == n and len(set(space.keys)) == n
            assert len({float(x) for x in np.asarray(space.vectors)[:200, 0]}) == 1  # one version of the upserts
            out = tmp_path / f"e{i}.jsonl"
            assert reader.export_jsonl(out) == n
            lines = [json.loads(line) for line in out.read_text().splitlines()]
            assert len({r["key"] for r in lines}) == n
            assert len({r["metadata"]["v"] for r in lines if r["key"] in set(keys[:200])}) == 1
    finally:
        stop.set()
        t.join()
        reader.close()


# -- (13) leftovers of a killed save; close releases everything -----------------------------------------
def _stale_old_index(path: Path) -> Path:
    stale = path / f".old-index-{os.getpid()}"  # a killed process with this pid left it (pids are reused)
    (stale / "sub").mkdir(parents=True)
    (stale / "sub" / "junk").write_text("x")
    return stale


def test_a_stale_old_index_of_this_pid_does_not_break_saves(tmp_path: Path) -> None:
    path = tmp_path / "c"
    col = Collection.create(path, dim=DIM, index="Flat")
    col.add([f"a{i}" for i in range(50)], _vecs(50, 1))
    col.search(_vecs(1, 0)[0], k=1)
    col.close()
    stale = _stale_old_index(path)
    leak = path / ".index-abc123"
    (leak / "i").mkdir(parents=True)
    col = Collection.open(path)  # open for writing: stale leftovers are removed
    assert not stale.exists() and not leak.exists()
    _stale_old_index(path)  # and one appearing later breaks no save either
    col.add([f"b{i}" for i in range(50)], _vecs(50, 2))
    col.search(_vecs(1, 0)[0], k=1)
    col.close()
    covers = json.loads((path / "index" / "covers.json").read_text())
    assert covers["count"] == 100
    assert not list(path.glob(".index-*"))
    with Collection.open(path) as col:
        assert col._lock_file is not None
    assert not list(path.glob(".old-index-*")) and not list(path.glob(".index-*"))


def test_a_reader_leaves_temp_dirs_alone(tmp_path: Path) -> None:
    path = tmp_path / "c"
    Collection.create(path, dim=DIM).close()
    leak = path / ".index-xyz"
    leak.mkdir()
    Collection.open(path, readonly=True).close()
    assert leak.exists()  # a reader cannot know whether the writer is saving into it


def test_close_releases_the_database_and_the_lock_when_the_save_fails(tmp_path: Path) -> None:
    path = tmp_path / "c"
    col = Collection.create(path, dim=DIM, index="Flat")
    col.add([f"a{i}" for i in range(50)], _vecs(50, 1))
    col.search(_vecs(1, 0)[0], k=1)
    col.add(["b"], _vecs(1, 2))
    col.search(_vecs(1, 0)[0], k=1)  # the index has a change to save

    def full(*args: Any, **kwargs: Any) -> None:
        raise OSError(28, "No space left on device")

    col._save_index = full  # type: ignore[method-assign]
    with pytest.warns(RuntimeWarning, match="could not save the index"):
        col.close()
    with pytest.raises(Exception, match="closed"):
        col._db.execute("SELECT 1")
    again = Collection.open(path, timeout=0)  # the lock is free
    assert again.search(_vecs(50, 1)[3], k=1).keys == ["a3"]
    again.close()
