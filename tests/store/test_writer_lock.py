"""The writer lock: held from open to close by default; taken per write with ``hold_lock=False`` (a server);
the holder notes who it is, and a writer kept waiting is told."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from embspace.errors import CollectionLockedError
from embspace.store import Collection
from embspace.store.collection import command_line, describe_holder, lock_holder

EYE = np.eye(8, dtype=np.float32)


def _made(path: Path) -> Path:
    with Collection.create(path, dim=8) as col:
        col.add(["a", "b"], EYE[:2])
    return path


def test_a_writer_notes_who_it_is_and_a_refused_writer_is_told(tmp_path: Path) -> None:
    path = _made(tmp_path / "c")
    assert lock_holder(path) is None  # nobody writes: the note is gone with the lock
    with Collection.open(path) as writer:
        holder = lock_holder(path)
        assert holder is not None and holder["pid"] > 0 and holder["command"]
        with pytest.raises(CollectionLockedError) as info:
            Collection.open(path, timeout=0.1)
        assert info.value.path == writer.path and info.value.holder == holder
        assert f"pid {holder['pid']}" in str(info.value)  # the holder is named
        assert describe_holder(holder).startswith(f"pid {holder['pid']}, `")
    assert lock_holder(path) is None


def test_a_writer_that_does_not_hold_the_lock_lets_others_write_between_its_writes(tmp_path: Path) -> None:
    path = _made(tmp_path / "c")
    server = Collection.open(path, hold_lock=False, timeout=0.2)
    assert isinstance(server, Collection)
    server.lock_note = {"by": "embspace serve", "collection": "c", "url": "http://127.0.0.1:8000"}
    assert server.writable and lock_holder(path) is None
    assert server.search(EYE[0], k=1).keys == ["a"]  # its index is loaded (and not saved: it holds no lock)
    with Collection.open(path, timeout=0.2) as cli:  # at once: the idle server holds nothing
        cli.add(["c"], EYE[2:3])
        with pytest.raises(CollectionLockedError) as info:  # the server's write waits 0.2 s, then is told
            server.add(["d"], EYE[3:4])
        assert info.value.holder is not None and info.value.holder["pid"] == lock_holder(path)["pid"]  # type: ignore[index]
    assert server.search(EYE[2], k=1).keys == ["c"]  # it sees the other writer's items
    server.add(["d"], EYE[3:4])  # the lock is free again
    server.delete(["a"])
    assert lock_holder(path) is None  # released after each write
    with Collection.open(path, timeout=0.2) as cli:  # and others see its writes
        assert sorted(cli.keys()) == ["b", "c", "d"] and cli.search(EYE[3], k=1).keys == ["d"]
    # while it writes, its note (with what it added) is in the lock file
    seen: list[dict[str, object] | None] = []
    real = Collection._write

    def spy(self: Collection, *args: object, **kwargs: object) -> int:
        seen.append(lock_holder(path))
        return real(self, *args, **kwargs)  # type: ignore[arg-type]

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(Collection, "_write", spy)
        server.upsert(["e"], EYE[4:5])
    assert seen and seen[0] is not None and seen[0]["by"] == "embspace serve" and seen[0]["collection"] == "c"
    server.close()  # saves its index, taking the lock for that moment
    assert lock_holder(path) is None
    with Collection.open(path, readonly=True) as reader:
        assert reader.count() == 4 and reader.search(EYE[4], k=1).keys == ["e"]


def test_readers_never_take_the_lock(tmp_path: Path) -> None:
    path = _made(tmp_path / "c")
    with Collection.open(path, readonly=True) as reader, Collection.open(path, timeout=0.1) as writer:
        writer.add(["z"], EYE[7:8])
        assert reader.count() == 3


def test_the_noted_command_line_hides_secrets() -> None:
    argv = ["/usr/local/bin/embspace", "serve", "--api-key", "s3cret-value", "--token=abc123", "data/",
            "milvus://user:pw@host:19530/docs", "--port", "9000"]
    noted = command_line(argv)
    assert noted == "embspace serve --api-key *** --token=*** data/ milvus://***@host:19530/docs --port 9000"
    assert "s3cret" not in noted and "abc123" not in noted and "pw@" not in noted
