"""encode_file(..., engine="ray") on a local 2-CPU Ray cluster started by this module (skipped without ray).

One cluster for the module (Ray starts in seconds, its encoder actors in ~15 s): the tests that need actors
are few; the others are answered from the content-hash cache, which is what they test (the reading of
every input kind, the CLI), so they run no actor.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import embspace
from embspace.encoders.file_encoding import encode_file
from embspace.errors import InvalidInputError, MissingDependencyError

pytest.importorskip("sentence_transformers")

TEXTS = ["the cat sat on the mat", "a river bank", "money in the bank account", "we sat", "she opened a long text",
         "the dog and the cat", "words of the river", "we opened an account"]


def _ray() -> object:
    return pytest.importorskip("ray", reason="ray is not installed: pip install 'embspace[ray]' to test "
                                             "encoding on Ray")


@pytest.fixture(scope="module")
def cluster() -> Iterator[None]:
    ray = _ray()
    pytest.importorskip("ray.data", reason="Ray Data is not installed: pip install 'ray[data]'")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)  # type: ignore[attr-defined]
    try:
        yield
    finally:
        ray.shutdown()  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from text_testing import build_st

    return build_st(tmp_path_factory.mktemp("st"), max_seq_length=12)


def _records(start: int, n: int) -> list[dict[str, object]]:
    return [{"_id": f"d{i}", "title": f"doc {i}", "text": f"{TEXTS[i % len(TEXTS)]} {i}", "lang": "en", "n": i}
            for i in range(start, start + n)]


def _write_jsonl(path: Path, recs: list[dict[str, object]]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in recs))


def _meta(out: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in (out / "metadata.jsonl").read_text().splitlines()]


def _kw(model_dir: Path, cache: Path) -> dict[str, object]:
    return {"model": str(model_dir), "cache_dir": cache, "progress": False, "encoder_options": {"device": "cpu"}}


def test_ray_gives_the_local_space_and_a_rerun_encodes_only_the_appended_items(
        tmp_path: Path, model_dir: Path, cluster: None) -> None:
    src = tmp_path / "in.jsonl"
    _write_jsonl(src, _records(0, 60))
    kw = _kw(model_dir, tmp_path / "cache")
    first = encode_file(src, tmp_path / "ray1", engine="ray", id_field="_id", text_field="title,text", **kw)  # type: ignore[arg-type]
    assert (first.n_items, first.n_vectors, first.n_encoded, first.n_cached) == (60, 60, 60, 0)
    assert not (tmp_path / "ray1.ray-shards").exists()  # the shards are gone once the space is written
    local = encode_file(src, tmp_path / "local1", id_field="_id", text_field="title,text", cache=False,
                        **kw)  # type: ignore[arg-type]
    a, b = embspace.load(tmp_path / "ray1"), embspace.load(tmp_path / "local1")
    assert a.keys == b.keys and a.space_id == b.space_id and _meta(tmp_path / "ray1") == _meta(tmp_path / "local1")
    assert a.provenance.data_hash == b.provenance.data_hash  # the same contents, in the same order
    # Not bit-exact: the actors encode other batches (other padding lengths, so other matmul shapes) with one
    # torch thread each, the local path with the machine's threads; float sums then round differently.
    cos = np.sum(a.vectors * b.vectors, axis=1)
    assert cos.min() >= 0.9999, cos.min()
    assert local.n_encoded == 60

    _write_jsonl(src, _records(0, 60) + _records(60, 7))  # 7 documents appended
    second = encode_file(src, tmp_path / "ray2", engine="ray", id_field="_id", text_field="title,text",
                         **kw)  # type: ignore[arg-type]
    assert (second.n_items, second.n_encoded, second.n_cached) == (67, 7, 60)
    c = embspace.load(tmp_path / "ray2")
    assert c.keys == tuple(f"d{i}" for i in range(67))
    np.testing.assert_array_equal(c.vectors[:60], a.vectors)  # the first 60 came from the cache as they were
    fresh = encode_file(src, tmp_path / "local2", id_field="_id", text_field="title,text", cache=False,
                        **kw)  # type: ignore[arg-type]
    d = embspace.load(fresh.output)
    assert np.sum(c.vectors * d.vectors, axis=1).min() >= 0.9999  # tolerance: as above


def test_an_interrupted_run_resumes_from_its_shards(tmp_path: Path, model_dir: Path, cluster: None,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from embspace.encoders import _ray_encoding, get_encoder
    from embspace.encoders._ray_encoding import _write_shard, shard_dir
    from embspace.encoders.file_encoding import EncodingCache

    src = tmp_path / "in.txt"
    lines = [f"{TEXTS[i % len(TEXTS)]} {i}" for i in range(20)]
    src.write_text("\n".join(lines) + "\n")
    kw = _kw(model_dir, tmp_path / "cache")
    enc = get_encoder(str(model_dir), device="cpu")
    # What a run stopped part way left: the last 8 texts in the cache (as each batch is), the first 12 in a
    # shard, a shard cut short, the job's header. Nothing is left to encode, so no actor starts: the mixed
    # case (some cached, some encoded on the actors) is the test above.
    (tmp_path / "rest.txt").write_text("\n".join(lines[12:]) + "\n")
    assert encode_file(tmp_path / "rest.txt", tmp_path / "rest", **kw).n_encoded == 8  # type: ignore[arg-type]
    folder = shard_dir(tmp_path / "out")
    folder.mkdir()
    job = {"space_id": enc.space_id, "dim": enc.dim, "normalize": True, "input": str(src.resolve())}
    (folder / "job.json").write_text(json.dumps(job))
    first = enc.encode(lines[:12], progress=False)
    _write_shard(folder, 0, [EncodingCache.key(t, True) for t in lines[:12]], first)
    (folder / "part-000001.parquet").write_bytes(b"PAR1 cut short")
    report = encode_file(src, tmp_path / "out", engine="ray", **kw)  # type: ignore[arg-type]
    assert (report.n_items, report.n_encoded, report.n_cached) == (20, 0, 20)
    space = embspace.load(tmp_path / "out")
    assert space.keys == tuple(str(i) for i in range(1, 21))  # line numbers, as the local path numbers them
    np.testing.assert_array_equal(space.vectors[:12], first)  # taken from the shard as written
    assert not folder.exists()
    # the shard's vectors went into the cache: the local path now encodes nothing either
    assert encode_file(src, tmp_path / "again", **kw).n_encoded == 0  # type: ignore[arg-type]
    # shards of another job (another model space) are not used
    other = shard_dir(tmp_path / "out2")
    other.mkdir()
    (other / "job.json").write_text(json.dumps({**job, "space_id": "other"}))
    _write_shard(other, 0, [EncodingCache.key("a new line", True)], np.ones((1, enc.dim), np.float32))
    src.write_text("\n".join([*lines, "a new line"]) + "\n")

    def no_actors(*args: object) -> None:
        raise AssertionError("encoder actors were asked for")

    monkeypatch.setattr(_ray_encoding, "_actors", no_actors)
    with pytest.raises(AssertionError, match="encoder actors"):
        encode_file(src, tmp_path / "out2", engine="ray", **kw)  # type: ignore[arg-type]
    assert not list(other.glob("part-*"))  # the other job's shard was removed


def test_every_input_kind_reads_as_the_local_path_reads_it(tmp_path: Path, model_dir: Path, cluster: None) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    recs = _records(0, 8)
    (tmp_path / "a.txt").write_text("the cat sat\n\n  a river bank \nwe sat\n")
    _write_jsonl(tmp_path / "b.jsonl", recs)
    pq.write_table(pa.Table.from_pylist(recs), tmp_path / "c.parquet")
    docs = tmp_path / "docs"
    (docs / "sub").mkdir(parents=True)
    (docs / "x.txt").write_text("the cat sat on the mat")
    (docs / "sub" / "y.md").write_text("a river bank\n")
    (docs / ".hidden.txt").write_text("not read")
    kw = _kw(model_dir, tmp_path / "cache")
    for name, extra in (("a.txt", {}), ("b.jsonl", {}), ("c.parquet", {"id_field": "_id"}), ("docs", {})):
        local = encode_file(tmp_path / name, tmp_path / f"{name}.local", **extra, **kw)  # type: ignore[arg-type]
        # every content is in the cache now: the Ray job reads and hashes, and encodes nothing
        ray = encode_file(tmp_path / name, tmp_path / f"{name}.ray", engine="ray", **extra, **kw)  # type: ignore[arg-type]
        assert ray.n_encoded == 0 and ray.n_items == local.n_items, name
        a, b = embspace.load(ray.output), embspace.load(local.output)
        assert a.keys == b.keys, name
        assert _meta(ray.output) == _meta(local.output), name
        np.testing.assert_array_equal(a.vectors, b.vectors)  # the same cache entries: exact


def test_cli_encode_ray(tmp_path: Path, model_dir: Path, cluster: None, capsys: pytest.CaptureFixture[str],
                        monkeypatch: pytest.MonkeyPatch) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "cli"))
    from cli_testing import run

    monkeypatch.setenv("EMBSPACE_CACHE", str(tmp_path / "cache"))
    src = tmp_path / "in.jsonl"
    _write_jsonl(src, _records(0, 5))
    base = ["encode", str(src), "-o", str(tmp_path / "local"), "--model", str(model_dir), "--device", "cpu",
            "--quiet", "--json"]
    code, out, err = run(base, capsys)
    assert code == 0, err
    code, out, err = run([*base[:3], str(tmp_path / "ray"), *base[4:], "--ray"], capsys)
    assert code == 0, err
    got = json.loads(out)
    assert (got["items"], got["encoded"], got["cached"]) == (5, 0, 5)
    assert embspace.load(tmp_path / "ray").keys == embspace.load(tmp_path / "local").keys


def test_engine_arguments_are_checked(tmp_path: Path, model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = tmp_path / "in.txt"
    src.write_text("a\n")
    with pytest.raises(InvalidInputError, match="not an engine"):
        encode_file(src, tmp_path / "o", engine="spark")
    with pytest.raises(InvalidInputError, match="engine='ray'"):
        encode_file(src, tmp_path / "o", address="auto")
    monkeypatch.setitem(sys.modules, "ray", None)  # ray not installed: the extra is named
    with pytest.raises(MissingDependencyError, match=r"embspace\[ray\]"):
        encode_file(src, tmp_path / "o", engine="ray")


def test_ray_refuses_chunking(tmp_path: Path, model_dir: Path) -> None:
    _ray()
    src = tmp_path / "in.txt"
    src.write_text("a\n")
    with pytest.raises(InvalidInputError, match="chunk"):
        encode_file(src, tmp_path / "o", engine="ray", chunk=8, model=str(model_dir))


def test_cli_ray_takes_an_optional_address() -> None:
    from embspace.cli.app import _ray_address_optional as fix

    assert fix(["encode", "--ray", "in.jsonl", "-o", "out"]) == ["encode", "--ray", "local", "in.jsonl", "-o", "out"]
    assert fix(["encode", "in.jsonl", "-o", "out", "--ray"]) == ["encode", "in.jsonl", "-o", "out", "--ray", "local"]
    for address in ("auto", "local", "ray://head:10001", "10.0.0.5:6379"):
        assert fix(["encode", "in", "--ray", address, "-q"]) == ["encode", "in", "--ray", address, "-q"]
    assert fix(["encode", "in", "--ray=auto"]) == ["encode", "in", "--ray=auto"]

