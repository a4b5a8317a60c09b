"""File encoding (encode_file): every input kind, the content-hash cache, chunking, truncation, the CLI."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest

import embspace
from embspace.encoders import get_encoder
from embspace.encoders.file_encoding import encode_file, read_items
from embspace.errors import CorruptDataError, InvalidInputError

pytest.importorskip("sentence_transformers")

TEXTS = ["the cat sat on the mat", "a river bank", "money in the bank account", "we sat"]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from text_testing import build_st

    return build_st(tmp_path_factory.mktemp("st"), max_seq_length=12)


def _records(n: int = 4) -> list[dict[str, object]]:
    return [{"_id": f"d{i}", "title": f"doc {i}", "text": TEXTS[i % len(TEXTS)], "lang": "en"} for i in range(n)]


def test_every_input_kind_reads(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("the cat\n\n a river bank \n")
    items, kind = read_items(tmp_path / "a.txt")
    assert kind == "text" and [(i.id, i.content) for i in items] == [("1", "the cat"), ("3", "a river bank")]
    recs = _records()
    (tmp_path / "a.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))
    with gzip.open(tmp_path / "b.jsonl.gz", "wt") as f:
        f.write("".join(json.dumps(r) + "\n" for r in recs))
    import csv

    with open(tmp_path / "c.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(recs[0]))
        w.writeheader()
        w.writerows(recs)
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist(recs), tmp_path / "d.parquet")
    for name in ("a.jsonl", "b.jsonl.gz", "c.csv", "d.parquet"):
        items, _ = read_items(tmp_path / name, text_field="title,text", id_field="_id")
        assert [i.id for i in items] == ["d0", "d1", "d2", "d3"], name
        assert items[1].content == "doc 1 a river bank" and items[1].metadata == {"lang": "en"}, name
    docs = tmp_path / "docs"
    (docs / "sub").mkdir(parents=True)
    (docs / "x.txt").write_text("hello")
    (docs / "sub" / "y.md").write_text("world")
    items, kind = read_items(docs)
    assert kind == "text" and [i.id for i in items] == ["sub/y.md", "x.txt"]


def test_bad_inputs_are_clear_errors(tmp_path: Path) -> None:
    (tmp_path / "a.jsonl").write_text('{"text": "ok"}\nnot json\n')
    with pytest.raises(CorruptDataError, match="line 2"):
        read_items(tmp_path / "a.jsonl")
    (tmp_path / "b.jsonl").write_text('{"body": "ok"}\n')
    with pytest.raises(CorruptDataError, match="--text-field"):
        read_items(tmp_path / "b.jsonl")
    (tmp_path / "c.jsonl").write_text('{"id": 1, "text": "a"}\n{"id": 1, "text": "b"}\n')
    with pytest.raises(InvalidInputError, match="twice"):
        read_items(tmp_path / "c.jsonl", id_field="id")
    with pytest.raises(InvalidInputError, match="no input"):
        read_items(tmp_path / "missing.txt")
    (tmp_path / "d.xyz").write_text("x")
    with pytest.raises(InvalidInputError, match="unknown input type"):
        read_items(tmp_path / "d.xyz")


def test_encode_file_matches_the_encoder_and_keeps_metadata(tmp_path: Path, model_dir: Path) -> None:
    (tmp_path / "in.jsonl").write_text("".join(json.dumps(r) + "\n" for r in _records()))
    report = encode_file(tmp_path / "in.jsonl", tmp_path / "out", model=str(model_dir), id_field="_id",
                         cache_dir=tmp_path / "cache", progress=False, encoder_options={"device": "cpu"})
    assert (report.n_items, report.n_vectors, report.n_encoded, report.n_cached) == (4, 4, 4, 0)
    space = embspace.load(tmp_path / "out")
    enc = get_encoder(str(model_dir), device="cpu")
    assert space.keys == ("d0", "d1", "d2", "d3") and space.space_id == enc.space_id
    np.testing.assert_allclose(space.vectors, enc.encode([r["text"] for r in _records()], progress=False), atol=1e-5)
    meta = [json.loads(line) for line in (tmp_path / "out" / "metadata.jsonl").read_text().splitlines()]
    assert meta[2] == {"key": "d2", "title": "doc 2", "lang": "en"}


def test_cache_reencodes_only_changed_items_and_skips_the_model_when_all_hit(
        tmp_path: Path, model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = tmp_path / "in.txt"
    src.write_text("\n".join(TEXTS) + "\n")
    kw = {"model": str(model_dir), "cache_dir": tmp_path / "cache", "progress": False,
          "encoder_options": {"device": "cpu"}}
    first = encode_file(src, tmp_path / "o1", **kw)  # type: ignore[arg-type]
    assert first.n_encoded == 4
    src.write_text("\n".join([*TEXTS[:3], "a brand new line", "and another"]) + "\n")
    second = encode_file(src, tmp_path / "o2", **kw)  # type: ignore[arg-type]
    assert (second.n_encoded, second.n_cached) == (2, 3)
    a, b = embspace.load(tmp_path / "o1"), embspace.load(tmp_path / "o2")
    np.testing.assert_allclose(a.vectors[:3], b.vectors[:3])
    import embspace.encoders.registry as registry

    def no_model(*args: object, **kwargs: object) -> None:
        raise AssertionError("the model was loaded although every item was cached")

    monkeypatch.setattr(registry, "get_encoder", no_model)
    third = encode_file(src, tmp_path / "o3", **kw)  # type: ignore[arg-type]
    assert (third.n_encoded, third.n_cached) == (0, 5)
    c = embspace.load(tmp_path / "o3")
    assert c.space_id == b.space_id and c.provenance.data_hash == b.provenance.data_hash
    np.testing.assert_array_equal(c.vectors, b.vectors)


def test_no_cache_and_normalize_flag_are_separate_entries(tmp_path: Path, model_dir: Path) -> None:
    src = tmp_path / "in.txt"
    src.write_text("\n".join(TEXTS) + "\n")
    kw = {"model": str(model_dir), "cache_dir": tmp_path / "cache", "progress": False,
          "encoder_options": {"device": "cpu"}}
    encode_file(src, tmp_path / "o1", **kw)  # type: ignore[arg-type]
    raw = encode_file(src, tmp_path / "o2", normalize=False, **kw)  # type: ignore[arg-type]
    assert raw.n_encoded == 4
    again = encode_file(src, tmp_path / "o3", cache=False, **kw)  # type: ignore[arg-type]
    assert again.n_encoded == 4 and not (tmp_path / "o3" / "cache").exists()


def test_long_texts_truncate_with_a_count_or_chunk(tmp_path: Path, model_dir: Path) -> None:
    long = " ".join(["the cat sat on the mat"] * 6)
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps({"id": "long", "text": long}) + "\n" + json.dumps({"id": "short", "text": "we sat"}))
    kw = {"model": str(model_dir), "cache_dir": tmp_path / "cache", "progress": False, "id_field": "id",
          "encoder_options": {"device": "cpu"}}
    trunc = encode_file(src, tmp_path / "o1", **kw)  # type: ignore[arg-type]
    assert trunc.n_truncated == 1 and trunc.n_vectors == 2
    chunked = encode_file(src, tmp_path / "o2", chunk=10, overlap=2, **kw)  # type: ignore[arg-type]
    assert chunked.n_chunked == 1 and chunked.n_vectors > 3
    space = embspace.load(tmp_path / "o2")
    assert space.keys[0] == "long#0" and space.keys[-1] == "short"
    meta = [json.loads(line) for line in (tmp_path / "o2" / "metadata.jsonl").read_text().splitlines()]
    assert all(long[m["start"]:m["end"]] for m in meta[:-1]) and meta[0]["parent"] == "long"
    assert meta[-1] == {"key": "short", "parent": "short", "chunk": 0, "start": 0, "end": 6}


def test_cli_encode(tmp_path: Path, model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from embspace.cli.app import app

    monkeypatch.setenv("EMBSPACE_CACHE", str(tmp_path / "cache"))
    src = tmp_path / "in.txt"
    src.write_text("\n".join(TEXTS) + "\n")
    runner = CliRunner()
    res = runner.invoke(app, ["encode", str(src), "-o", str(tmp_path / "out"), "--model", str(model_dir),
                              "--device", "cpu", "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["items"] == 4 and data["encoded"] == 4
    res = runner.invoke(app, ["encode", str(src), "-o", str(tmp_path / "out2"), "--model", str(model_dir),
                              "--device", "cpu", "--quiet"])
    assert res.exit_code == 0 and "from cache 4" in res.stdout


def test_a_folder_of_images_encodes_and_caches_by_file_content(tmp_path: Path) -> None:
    pytest.importorskip("PIL")
    from PIL import Image
    from vision_testing import random_images, save_tiny_vit

    model = save_tiny_vit(tmp_path / "vit")
    photos = tmp_path / "photos"
    photos.mkdir()
    for i, arr in enumerate(random_images(3)):
        Image.fromarray(arr).save(photos / f"p{i}.png")
    kw = {"model": str(model), "cache_dir": tmp_path / "cache", "progress": False,
          "encoder_options": {"device": "cpu"}}
    first = encode_file(photos, tmp_path / "o1", **kw)  # type: ignore[arg-type]
    assert first.modality == "image" and first.n_encoded == 3
    space = embspace.load(tmp_path / "o1")
    assert space.keys == ("p0.png", "p1.png", "p2.png") and space.dim == 32
    Image.fromarray(random_images(1, seed=9)[0]).save(photos / "p1.png")  # same name, new content
    second = encode_file(photos, tmp_path / "o2", **kw)  # type: ignore[arg-type]
    assert (second.n_encoded, second.n_cached) == (1, 2)
    changed = embspace.load(tmp_path / "o2")
    assert not np.allclose(changed["p1.png"], space["p1.png"])
    np.testing.assert_allclose(changed["p0.png"], space["p0.png"])
    with pytest.raises(InvalidInputError, match="images"):
        encode_file(photos, tmp_path / "o3", model="minilm", cache_dir=tmp_path / "cache", progress=False)
