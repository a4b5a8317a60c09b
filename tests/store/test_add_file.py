"""Collection.add_file (issue 22): texts kept, non-documents skipped, the content-hash cache, chunks,
records read by named fields (each applied or refused), progress."""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

import embspace
from embspace.errors import InvalidInputError
from embspace.store import Collection

pytest.importorskip("faiss")


class _Encoder:
    """A stand-in encoder (no model) that counts the texts it encodes; a text's vector comes from its length."""

    name = "counting"
    space_id = "add-file-test-space"
    dim = 4

    def __init__(self) -> None:
        self.provenance = embspace.Provenance(model="counting", config={})
        self.encoded = 0

    def encode(self, texts: list[str], progress: bool = False) -> np.ndarray:
        self.encoded += len(texts)
        return np.asarray([[1.0, len(t), 0.5, (sum(map(ord, t)) % 97) / 97] for t in texts], np.float32)


def _folder(root: Path) -> Path:
    d = root / "reviews"
    (d / "pos").mkdir(parents=True)
    (d / "neg").mkdir()
    (d / ".git").mkdir()
    (d / "pos" / "a.txt").write_text("a fine film, warm and funny\n", encoding="utf-8")
    (d / "neg" / "b.txt").write_text("a dull film\n", encoding="utf-8")
    (d / "README").write_text("2,000 reviews, 1,000 of each polarity\n", encoding="utf-8")
    (d / "LICENSE.md").write_text("CC BY\n", encoding="utf-8")
    (d / ".notes.txt").write_text("hidden\n", encoding="utf-8")
    (d / ".git" / "HEAD").write_text("ref: refs/heads/main\n", encoding="utf-8")
    (d / "data.txt").write_bytes(b"\x00\x01\x02binary")
    (d / "empty.txt").write_text("", encoding="utf-8")
    (d / "cover.png").write_bytes(b"\x89PNG\r\n")
    return d


def test_a_folder_keeps_texts_and_skips_what_is_not_a_document(tmp_path: Path) -> None:
    d = _folder(tmp_path)
    enc = _Encoder()
    with Collection.create(tmp_path / "c", encoder=enc) as col:
        report = col.add_file(d, cache_dir=tmp_path / "cache")
        assert report == 2 and sorted(col.keys()) == ["neg/b.txt", "pos/a.txt"]
        got = col.get(["pos/a.txt"], vectors=False)[0]
        assert got["text"] == "a fine film, warm and funny" and got["metadata"] == {"path": str(d / "pos/a.txt")}
        hits = col.search("a dull film", k=1, include="text")
        assert hits.texts == ["a dull film"]  # the same text: the same vector, the top hit
        reasons = dict(report.skipped)
        assert reasons["README"] == reasons["LICENSE.md"] == "describes the folder, not a document"
        assert reasons[".notes.txt"] == reasons[".git/HEAD"] == "hidden"
        assert reasons["data.txt"] == "binary" and reasons["empty.txt"] == "empty"
        assert reasons["cover.png"].startswith("not a text file")
        assert report.n_encoded == 2 and report.n_cached == 0 and report.seconds > 0
    with Collection.create(tmp_path / "all", encoder=_Encoder()) as col:
        (d / "data.txt").unlink()
        # every text file: + README, LICENSE.md, empty.txt and .git/HEAD (dot-named files stay out, as in encode)
        assert col.add_file(d, include_all=True, cache_dir=tmp_path / "cache") == 6
        assert "README" in col and ".git/HEAD" in col and ".notes.txt" not in col


def test_the_second_add_of_the_same_texts_encodes_nothing(tmp_path: Path) -> None:
    d = _folder(tmp_path)
    first, second = _Encoder(), _Encoder()
    with Collection.create(tmp_path / "c1", encoder=first) as col:
        r1 = col.add_file(d, cache_dir=tmp_path / "cache")
    with Collection.create(tmp_path / "c2", encoder=second) as col:
        r2 = col.add_file(d, cache_dir=tmp_path / "cache")
        assert (r2.n_encoded, r2.n_cached, second.encoded) == (0, 2, 0)
        v2 = col.get(["pos/a.txt"])[0]["vector"]
    with Collection.open(tmp_path / "c1", readonly=True) as col:
        # the same stored float32 vector, read back from the cache rather than re-encoded: a tolerance covers
        # the one renormalisation each path does
        np.testing.assert_allclose(col.get(["pos/a.txt"])[0]["vector"], v2, rtol=1e-6)
    assert (r1.n_encoded, r1.n_cached) == (2, 0)
    with Collection.create(tmp_path / "c3", encoder=_Encoder()) as col:
        assert col.add_file(d, cache_dir=tmp_path / "cache", cache=False).n_encoded == 2


def test_records_apply_each_named_field_or_refuse_it(tmp_path: Path) -> None:
    """Issue 22: `collection add x.parquet --id-field id` keyed by another column and dropped the metadata."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(0)
    vecs = rng.standard_normal((5, 4)).astype(np.float32)
    pq.write_table(pa.table({"title": [f"t{i}" for i in range(5)], "id": [f"id{i}" for i in range(5)],
                             "genre": list("ababa"), "year": [2000 + i for i in range(5)], "vector": list(vecs)}),
                   tmp_path / "x.parquet")
    with Collection.create(tmp_path / "c", dim=4) as col:
        assert col.add_file(tmp_path / "x.parquet", key_field="id", text_field="title") == 5
        got = col.get(["id3"], vectors=True)[0]
        assert got["metadata"] == {"genre": "b", "year": 2003} and got["text"] == "t3"
        np.testing.assert_allclose(got["vector"], vecs[3] / np.linalg.norm(vecs[3]), rtol=1e-5)  # cosine: unit
        assert col.add_file(tmp_path / "x.parquet", key_field="id", metadata_fields=["genre"], upsert=True) == 5
        assert col.get(["id3"], vectors=False)[0]["metadata"] == {"genre": "b"}
        for kwargs, fragment in (({"key_field": "idd"}, "no field 'idd' for the keys; its fields are: title, id"),
                                 ({"key_field": "id", "vector_field": "emb"}, "no field 'emb' for the vectors"),
                                 ({"key_field": "id", "metadata_fields": ["genre", "lang"]}, "no field 'lang'"),
                                 ({"key_field": "id", "metadata_fields": ["id"]}, "already used"),
                                 ({"key_field": "id", "text_field": "body"}, "no text field 'body'"),
                                 ({}, "no field 'key'")):
            with pytest.raises(InvalidInputError, match=fragment):
                col.add_file(tmp_path / "x.parquet", upsert=True, **kwargs)  # type: ignore[arg-type]
        with pytest.raises(InvalidInputError, match="apply to files of records"):
            col.add_file(tmp_path, key_field="id")
    # a collection's own export comes back whole: metadata (JSON text in the file) unpacked
    with Collection.open(tmp_path / "c") as col:
        col.export_parquet(tmp_path / "export.parquet")
    with Collection.create(tmp_path / "back", dim=4) as col:
        assert col.add_file(tmp_path / "export.parquet", key_field="key") == 5
        assert col.get(["id1"], vectors=False)[0]["metadata"]["genre"] == "b"
    # CSV and JSONL hold vectors as lists (a JSON list in a CSV cell)
    (tmp_path / "v.csv").write_text("key,vector,lang\na,\"[1, 0, 0, 0]\",en\nb,\"[0, 1, 0, 0]\",fr\n")
    (tmp_path / "v.jsonl").write_text('{"k": "a", "emb": [1, 0, 0, 0], "text": "hello"}\n')
    with Collection.create(tmp_path / "csv", dim=4) as col:
        assert col.add_file(tmp_path / "v.csv") == 2 and col.get(["b"], vectors=False)[0]["metadata"] == {"lang": "fr"}
        assert col.add_file(tmp_path / "v.jsonl", key_field="k", vector_field="emb", upsert=True) == 1
        assert col.get(["a"], vectors=False)[0]["text"] == "hello"


def test_record_texts_are_encoded_through_the_cache_and_kept(tmp_path: Path) -> None:
    (tmp_path / "r.jsonl").write_text("".join(json.dumps({"id": f"d{i}", "body": f"text number {i}", "lang": "en"})
                                              + "\n" for i in range(3)))
    enc = _Encoder()
    with Collection.create(tmp_path / "c", encoder=enc) as col:
        r = col.add_file(tmp_path / "r.jsonl", key_field="id", text_field="body", cache_dir=tmp_path / "cache")
        assert r == 3 and r.n_encoded == 3
        got = col.get(["d1"], vectors=False)[0]
        assert got["text"] == "text number 1" and got["metadata"] == {"lang": "en"}


def test_id_field_is_a_deprecated_alias_of_key_field(tmp_path: Path) -> None:
    (tmp_path / "r.jsonl").write_text('{"id": "x", "text": "a b"}\n')
    with Collection.create(tmp_path / "c", encoder=_Encoder()) as col:
        with pytest.warns(DeprecationWarning, match="key_field"):
            assert col.add_file(tmp_path / "r.jsonl", id_field="id", cache_dir=tmp_path / "cache") == 1
        assert "x" in col


def test_no_encoder_and_nothing_to_chunk_are_clear_errors(tmp_path: Path) -> None:
    d = _folder(tmp_path)
    with Collection.create(tmp_path / "c", dim=4) as col, pytest.raises(InvalidInputError, match="no encoder"):
        col.add_file(d)
    with Collection.create(tmp_path / "e", encoder=_Encoder()) as col, \
            pytest.raises(InvalidInputError, match="no chunk method"):
        col.add_file(d, chunk=16, cache_dir=tmp_path / "cache")


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "encoders"))
    from text_testing import build_st  # the tiny BERT sentence model of the encoder tests

    return Path(build_st(tmp_path_factory.mktemp("model"), max_seq_length=16))


def test_chunks_truncation_and_progress_with_a_real_model(tiny_model: Path, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    d = tmp_path / "docs"
    d.mkdir()
    long = " ".join(["the cat sat on the mat and the dog sat on the log"] * 6)
    (d / "long.txt").write_text(long, encoding="utf-8")
    (d / "short.txt").write_text("a river bank", encoding="utf-8")
    with Collection.create(tmp_path / "c", encoder=str(tiny_model)) as col:
        r = col.add_file(d, chunk=16, overlap=4, cache_dir=tmp_path / "cache", progress=False)
        assert r.n_chunked == 1 and r > 2 and "short.txt" in col and "long.txt#0" in col and "long.txt" not in col
        part = col.get(["long.txt#1"], vectors=False)[0]
        assert part["metadata"]["parent"] == "long.txt" and part["metadata"]["chunk"] == 1
        m = part["metadata"]
        assert part["text"] == long[m["start"]:m["end"]] and len(part["text"]) < len(long)
    with Collection.create(tmp_path / "t", encoder=str(tiny_model)) as col:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            r = col.add_file(d, cache_dir=tmp_path / "cache2", progress=True)
        messages = [str(w.message) for w in caught if w.category.__name__ == "TruncationWarning"]
        assert r.n_truncated == 1 and len(messages) == 1 and "chunk=TOKENS" in messages[0]
        assert col.get(["long.txt"], vectors=False)[0]["text"] == long  # the whole text is kept
    assert "docs/s" in capsys.readouterr().err  # the encoder's progress: rate and ETA on stderr
