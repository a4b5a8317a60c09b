"""ingest: token chunks with overlap and citation metadata, re-ingest (skip unchanged, replace changed, prune)."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from rag_testing import DOCS, tiny_model, write_docs

from embspace.apps import ingest, read_document
from embspace.apps.schemas import IngestReport
from embspace.errors import InvalidInputError
from embspace.store import Collection

pytest.importorskip("sentence_transformers")


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(tiny_model(tmp_path_factory.mktemp("tiny")))


def _chunks(path: Path) -> dict[str, dict[str, object]]:
    """Each chunk's metadata with its text (stored in the text column since issue 22, not in the metadata)."""
    with Collection.open(path, readonly=True) as col:
        out = {}
        for rec in col.records(vectors=False):
            assert "text" not in rec["metadata"] and isinstance(rec["text"], str)
            out[rec["key"]] = {**rec["metadata"], "text": rec["text"]}
        return out


def test_ingest_stores_token_chunks_with_offsets_titles_and_overlap(model: str, tmp_path: Path) -> None:
    docs = write_docs(tmp_path / "docs")
    (docs / "notes.docx").write_text("x")
    report = ingest(docs, tmp_path / "coll", encoder=model, progress=False)
    assert isinstance(report, IngestReport)
    assert report.documents == len(DOCS) and report.unchanged == 0 and report.removed == 0
    assert report.skipped == ["notes.docx: unsupported file type '.docx' (readable: .htm, .html, .markdown, .md, "
                              ".pdf, .text, .txt)"]
    items = _chunks(tmp_path / "coll")
    assert len(items) == report.chunks > len(DOCS)  # the long documents are cut into several chunks
    by_source: dict[str, list[dict[str, object]]] = {}
    for key, meta in items.items():
        assert key == f"{meta['source']}#{meta['chunk']}"
        by_source.setdefault(str(meta["source"]), []).append(meta)
    assert sorted(by_source) == sorted(DOCS)
    titles = {s: ms[0]["title"] for s, ms in by_source.items()}
    assert titles["animals/cat.md"] == "The cat" and titles["money.html"] == "Money" and titles["rare.txt"] == "rare"
    for source, metas in by_source.items():
        metas.sort(key=lambda m: int(m["chunk"]))  # type: ignore[call-overload]
        text = read_document(docs / source, source=source).text
        assert [m["chunk"] for m in metas] == list(range(len(metas)))
        for m in metas:
            assert text[m["start"]:m["end"]] == m["text"]  # type: ignore[misc]  # offsets index the document's text
            assert m["chunks"] == len(metas) and m["doc_chars"] == len(text)
            assert m["kind"] == {"md": "markdown", "txt": "text", "html": "html"}[source.rsplit(".", 1)[1]]
        for a, b in itertools.pairwise(metas):
            assert a["start"] < b["start"] < a["end"] <= b["end"]  # consecutive chunks overlap
        assert metas[0]["start"] == 0 or text[: metas[0]["start"]].strip() == ""
        assert metas[-1]["end"] == len(text.rstrip())
    assert (tmp_path / "coll" / "bm25" / "covers.json").is_file()  # the BM25 index is built at once


def test_chunk_size_and_overlap_are_tokens_of_the_encoder(model: str, tmp_path: Path) -> None:
    docs = write_docs(tmp_path / "docs", {"a.txt": " ".join(["cat"] * 50)})
    ingest(docs, tmp_path / "c0", encoder=model, chunk_tokens=12, overlap=0, progress=False)
    ingest(docs, tmp_path / "c4", encoder=model, chunk_tokens=12, overlap=4, progress=False)
    no_overlap = sorted(_chunks(tmp_path / "c0").values(), key=lambda m: int(m["chunk"]))  # type: ignore[call-overload]
    overlap = sorted(_chunks(tmp_path / "c4").values(), key=lambda m: int(m["chunk"]))  # type: ignore[call-overload]
    assert [m["text"].count("cat") for m in no_overlap] == [10] * 5  # type: ignore[union-attr]  # 12 - [CLS], [SEP]
    assert all(m["text"].count("cat") == 10 for m in overlap[:-1])  # type: ignore[union-attr]
    assert len(overlap) == 8  # windows step by 10 - 4 = 6 tokens: 1 + ceil((50 - 10) / 6)
    shared = overlap[0]["end"] - overlap[1]["start"]  # type: ignore[operator]
    assert shared == len("cat cat cat cat") == 15  # 4 tokens shared
    with pytest.raises(InvalidInputError, match="exceeds the model's maximum"):
        ingest(docs, tmp_path / "c0", chunk_tokens=64, progress=False)
    with pytest.raises(InvalidInputError, match="overlap"):
        ingest(docs, tmp_path / "c0", chunk_tokens=12, overlap=12, progress=False)


def test_reingest_skips_unchanged_replaces_changed_and_prunes(model: str, tmp_path: Path) -> None:
    docs = write_docs(tmp_path / "docs")
    coll = tmp_path / "coll"
    first = ingest(docs, coll, encoder=model, progress=False)
    before = _chunks(coll)
    again = ingest(docs, coll, progress=False)
    assert (again.documents, again.chunks, again.unchanged) == (0, 0, len(DOCS))
    assert _chunks(coll) == before
    long_keys = [k for k in before if k.startswith("animals/cat.md#")]
    assert len(long_keys) > 1
    (docs / "animals" / "cat.md").write_text("# The cat\n\nshort now")  # shorter: fewer chunks
    (docs / "rare.txt").unlink()
    changed = ingest(docs, coll, progress=False)
    assert (changed.documents, changed.chunks, changed.unchanged, changed.removed) == (1, 1, len(DOCS) - 2, 0)
    after = _chunks(coll)
    assert [k for k in after if k.startswith("animals/cat.md#")] == ["animals/cat.md#0"]  # no stale chunk
    assert after["animals/cat.md#0"]["text"] == "# The cat\n\nshort now"
    assert any(k.startswith("rare.txt#") for k in after)  # kept without prune
    pruned = ingest(docs, coll, prune=True, progress=False)
    assert (pruned.documents, pruned.removed) == (0, 1)
    assert not any(k.startswith("rare.txt#") for k in _chunks(coll))
    assert first.chunks == len(before)


def test_changed_chunking_reingests_and_a_wrong_encoder_is_refused(model: str, tmp_path: Path) -> None:
    docs = write_docs(tmp_path / "docs", {"a.txt": "the cat sat on the mat " * 8})
    coll = tmp_path / "coll"
    ingest(docs, coll, encoder=model, chunk_tokens=16, overlap=0, progress=False)
    redo = ingest(docs, coll, chunk_tokens=24, overlap=4, progress=False)
    assert redo.documents == 1 and redo.unchanged == 0
    with pytest.raises(InvalidInputError, match="created with the encoder"):
        ingest(docs, coll, encoder="minilm", progress=False)
    with Collection.create(tmp_path / "plain", dim=4) as col, pytest.raises(InvalidInputError, match="no encoder"):
        ingest(docs, col, progress=False)


def test_ingest_into_an_open_collection_and_a_missing_folder(model: str, tmp_path: Path) -> None:
    docs = write_docs(tmp_path / "docs", {"a.md": "# A\n\nthe dog"})
    with Collection.create(tmp_path / "coll", encoder=model) as col:
        report = ingest(docs, col, progress=False)
        assert report.documents == 1 and col.count() == 1  # the caller's collection stays open
        assert report.collection == str(tmp_path / "coll")
    with Collection.open(tmp_path / "coll", readonly=True) as ro, pytest.raises(InvalidInputError, match="writing"):
        ingest(docs, ro, progress=False)
    with pytest.raises(InvalidInputError, match="not a directory"):
        ingest(tmp_path / "nope", tmp_path / "coll", progress=False)


def test_pdf_chunks_carry_their_page(model: str, tmp_path: Path) -> None:
    from test_documents import write_pdf

    docs = tmp_path / "docs"
    docs.mkdir()
    write_pdf(docs / "p.pdf", ["the cat sat on the mat", "the dog in the river"], title="Pets")
    ingest(docs, tmp_path / "coll", encoder=model, chunk_tokens=8, overlap=0, progress=False)
    metas = sorted(_chunks(tmp_path / "coll").values(), key=lambda m: int(m["chunk"]))  # type: ignore[call-overload]
    assert metas[0]["title"] == "Pets" and metas[0]["page"] == 1 and metas[-1]["page"] == 2
    assert [m["text"] for m in metas] == ["the cat sat on the mat", "the dog in the river"]


def test_an_empty_folder_and_a_collection_inside_the_folder(model: str, tmp_path: Path) -> None:
    from embspace.apps import Retriever

    (tmp_path / "empty").mkdir()
    report = ingest(tmp_path / "empty", tmp_path / "coll", encoder=model, progress=False)
    assert (report.documents, report.chunks, report.skipped) == (0, 0, [])
    with Retriever(tmp_path / "coll") as r:
        assert r.retrieve("the cat", mode="hybrid") == [] and r.retrieve("the cat", mode="bm25") == []
    docs = write_docs(tmp_path / "docs", {"a.md": "# A\n\nthe dog"})
    first = ingest(docs, docs / "index", encoder=model, progress=False)  # the collection lives in the folder
    again = ingest(docs, docs / "index", progress=False)
    assert first.documents == 1 and again.unchanged == 1
    assert first.skipped == again.skipped == ["index/: the collection being written, not read"]


def test_chunks_start_and_end_on_word_edges(model: str, tmp_path: Path) -> None:
    # the tiny vocabulary splits unknown words into [UNK]s and known ones into pieces ("cats" = cat + ##s);
    # windows of word pieces may cut a word, the stored chunk never does (when the word is short)
    words = ["cats", "sitting", "the", "dogs", "wording", "texts"]
    text = " ".join(words[i % len(words)] for i in range(60))
    docs = write_docs(tmp_path / "docs", {"a.txt": text})
    ingest(docs, tmp_path / "coll", encoder=model, chunk_tokens=9, overlap=2, progress=False)
    metas = sorted(_chunks(tmp_path / "coll").values(), key=lambda m: int(m["chunk"]))  # type: ignore[call-overload]
    assert len(metas) > 5
    for m in metas:
        start, end = int(m["start"]), int(m["end"])  # type: ignore[call-overload]
        assert text[start:end] == m["text"]
        assert start == 0 or text[start - 1] == " "
        assert end == len(text) or text[end] == " "


def test_a_collection_ingested_before_the_text_column_still_answers(model: str, tmp_path: Path) -> None:
    """Issue 22: chunks written before texts were kept hold the text in metadata["text"]; retrieval (vector,
    BM25, hybrid) reads it there, read-only and after a writer added the column."""
    import sqlite3

    from embspace.apps import Retriever

    docs = write_docs(tmp_path / "docs", {"a.md": "# A\n\nthe cat sat on the mat", "b.md": "# B\n\nthe river bank"})
    ingest(docs, tmp_path / "coll", encoder=model, progress=False)
    with Collection.open(tmp_path / "coll") as col:  # rewrite it as an older ingest left it
        recs = list(col.records())
        col.upsert([r["key"] for r in recs], [r["vector"] for r in recs],
                   [{**r["metadata"], "text": r["text"]} for r in recs])
    db = sqlite3.connect(tmp_path / "coll" / "collection.sqlite")
    db.execute("ALTER TABLE items DROP COLUMN text")
    db.commit()
    db.close()
    import shutil

    shutil.rmtree(tmp_path / "coll" / "bm25", ignore_errors=True)
    with Collection.open(tmp_path / "coll", readonly=True) as col, Retriever(col) as r:
        for mode in ("vector", "bm25", "hybrid"):
            top = r.retrieve("the cat sat on the mat", k=1, mode=mode)[0]  # type: ignore[arg-type]
            assert top.source == "a.md" and "the cat sat on the mat" in top.text, mode


def test_a_symlink_loop_and_a_non_utf8_name_do_not_abort_ingest(model: str, tmp_path: Path) -> None:
    import os

    docs = write_docs(tmp_path / "docs", {"a.md": "# A\n\nthe dog"})
    (docs / "loop.txt").symlink_to(docs / "loop.txt")
    with open(os.path.join(os.fsencode(docs), b"bad\xff.txt"), "wb") as f:
        f.write(b"the cat")
    report = ingest(docs, tmp_path / "coll", progress=False)
    assert report.documents == 1
    assert any("loop.txt" in s and "loop" in s for s in report.skipped)
    assert any("bad\\xff.txt" in s and "UTF-8" in s for s in report.skipped)
