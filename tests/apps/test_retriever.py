"""Retriever: vector, BM25 and hybrid passages with citations; filters; the derived BM25 index; re-ranking."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pytest
from rag_testing import RARE, tiny_cross_encoder, tiny_model, write_docs

from embspace.apps import CrossEncoderReranker, Retriever, ingest, read_document, reciprocal_rank_fusion
from embspace.apps import _bm25 as bm25_module
from embspace.apps.schemas import MAX_K, Passage, RetrieveRequest, RetrieveResponse
from embspace.errors import InvalidInputError
from embspace.store import Collection

pytest.importorskip("sentence_transformers")
pytest.importorskip("bm25s")


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(tiny_model(tmp_path_factory.mktemp("tiny")))


@pytest.fixture(scope="module")
def corpus(model: str, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(the documents folder, a collection ingested from it); tests must not change either."""
    root = tmp_path_factory.mktemp("rag")
    docs = write_docs(root / "docs")
    ingest(docs, root / "coll", encoder=model, progress=False)
    return docs, root / "coll"


# ------------------------------------------------------------------------------------------ fusion
def test_reciprocal_rank_fusion_on_hand_made_rankings() -> None:
    fused = reciprocal_rank_fusion([["a", "b", "c"], ["c", "a", "d"]], k=60)
    scores = dict(fused)
    assert scores["a"] == pytest.approx(1 / 61 + 1 / 62)
    assert scores["c"] == pytest.approx(1 / 63 + 1 / 61)
    assert scores["b"] == pytest.approx(1 / 62) and scores["d"] == pytest.approx(1 / 63)
    assert [k for k, _ in fused] == ["a", "c", "b", "d"]
    # found by both at middling ranks beats first place in one ranking only
    assert reciprocal_rank_fusion([["x", "y"], ["z", "y"]], k=1)[0][0] == "y"
    # ties keep the order of first appearance; a repeated key counts at its best rank
    assert reciprocal_rank_fusion([["p", "q"], ["q", "p"]])[0][0] == "p"
    assert dict(reciprocal_rank_fusion([["p", "p", "q"]]))["p"] == pytest.approx(1 / 61)
    weighted = reciprocal_rank_fusion([["a"], ["b"]], weights=[1.0, 2.0])
    assert weighted[0] == ("b", pytest.approx(2 / 61))
    assert reciprocal_rank_fusion([]) == [] and reciprocal_rank_fusion([[], ["a"]]) == [("a", pytest.approx(1 / 61))]
    with pytest.raises(InvalidInputError):
        reciprocal_rank_fusion(["abc"])
    with pytest.raises(InvalidInputError):
        reciprocal_rank_fusion([["a"]], k=0)
    with pytest.raises(InvalidInputError):
        reciprocal_rank_fusion([["a"]], weights=[1.0, 1.0])


# ------------------------------------------------------------------------------------------ retrieval
def test_passages_cite_their_source_with_exact_offsets(corpus: tuple[Path, Path]) -> None:
    docs, coll = corpus
    with Retriever(coll) as r:
        for mode in ("vector", "bm25", "hybrid"):
            passages = r.retrieve("the cat sat on the mat", k=4, mode=mode)
            assert passages and len(passages) <= 4 and all(isinstance(p, Passage) for p in passages)
            assert [p.score for p in passages] == sorted((p.score for p in passages), reverse=True)
            for p in passages:
                text = read_document(docs / p.source, source=p.source).text
                assert text[p.start:p.end] == p.text and p.key == f"{p.source}#{p.chunk}"
                assert p.title and "doc_hash" in p.metadata and "text" not in p.metadata
        assert r.retrieve("the cat sat on the mat", k=1, mode="bm25")[0].source == "animals/cat.md"


def test_vector_passages_come_with_the_search_and_hybrid_reads_only_the_final_ones(
        corpus: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 21: no "search, then fetch metadata" copy: vector mode takes each passage's metadata from the
    search itself (include metadata and text); hybrid reads the metadata of the final k passages only."""
    _, coll = corpus
    with Retriever(coll) as r:
        want = {mode: r.retrieve("the cat sat on the mat", k=3, mode=mode) for mode in ("vector", "hybrid")}
        reads: list[list[str]] = []
        searches: list[object] = []
        get, search = r.collection.get, r.collection.search

        def counting_get(keys: list[str], **kw: object) -> object:
            reads.append(list(keys))
            return get(keys, **kw)

        def counting_search(*args: object, **kw: object) -> object:
            searches.append(kw.get("include"))
            return search(*args, **kw)

        monkeypatch.setattr(r.collection, "get", counting_get)
        monkeypatch.setattr(r.collection, "search", counting_search)
        assert r.retrieve("the cat sat on the mat", k=3, mode="vector") == want["vector"]
        assert reads == [] and searches == [("metadata", "text")]  # the text column comes with the search too
        assert r.retrieve("the cat sat on the mat", k=3, mode="hybrid") == want["hybrid"]
        assert len(reads) == 1 and len(reads[0]) <= 3 and searches[-1] == ()


def test_bm25_finds_a_rare_exact_term_that_vector_search_misses(corpus: tuple[Path, Path]) -> None:
    _, coll = corpus
    with Retriever(coll) as r:
        vector = r.retrieve(RARE, k=3, mode="vector")
        bm25 = r.retrieve(RARE, k=3, mode="bm25")
        hybrid = r.retrieve(RARE, k=3, mode="hybrid")
        every = [p.key for p in r.retrieve(RARE, k=100, mode="vector")]  # hybrid fuses the top 100 of each
    # the tiny model knows the word only as [UNK]: the all-unknown document looks closest to it
    assert vector[0].source == "unknown.txt" and vector[0].source != "rare.txt"
    assert [p.source for p in bm25] == ["rare.txt"]  # BM25 returns only texts sharing a term
    rare = next(p for p in hybrid if p.source == "rare.txt")
    assert hybrid.index(rare) <= 1
    assert rare.score == pytest.approx(1 / 61 + 1 / (60 + every.index(rare.key) + 1))  # RRF: BM25 rank 1 + vector's


def test_where_filters_every_mode(corpus: tuple[Path, Path]) -> None:
    _, coll = corpus
    with Retriever(coll) as r:
        for mode in ("vector", "bm25", "hybrid"):
            only_dog = r.retrieve("the river", k=10, mode=mode, where={"source": "animals/dog.txt"})
            assert only_dog and {p.source for p in only_dog} == {"animals/dog.txt"}
            without = r.retrieve(RARE, k=5, mode=mode, where="source != 'rare.txt'")
            assert all(p.source != "rare.txt" for p in without)
            assert (without == []) == (mode == "bm25")  # no other text holds the word
            assert r.retrieve("the river", k=3, mode=mode, where={"source": "nope"}) == []
            html = r.retrieve("bank money", k=10, mode=mode, where="kind = 'html'")
            assert {p.source for p in html} == {"money.html"}
        with pytest.raises(InvalidInputError):
            r.retrieve("x", mode="bm25", where="source ===")


def test_stale_bm25_index_is_rebuilt_after_add_and_delete(model: str, tmp_path: Path) -> None:
    docs = write_docs(tmp_path / "docs")
    coll = tmp_path / "coll"
    ingest(docs, coll, encoder=model, progress=False)
    with Retriever(coll) as r:
        assert r.refresh() is True and r.refresh() is False  # loaded once, then current
        assert [p.source for p in r.retrieve(RARE, mode="bm25")] == ["rare.txt"]
        with Collection.open(coll) as writer:  # another connection writes
            writer.delete(where={"source": "rare.txt"})
        assert r.retrieve(RARE, mode="bm25") == []
        write_docs(docs, {"new.md": "# New\n\nzebra99 in the river"})
        ingest(docs, coll, progress=False)
        assert [p.source for p in r.retrieve("zebra99", mode="bm25")] == ["new.md"]
        assert [p.source for p in r.retrieve("zebra99", mode="hybrid", k=1)] == ["new.md"]
        covers = json.loads((coll / "bm25" / "covers.json").read_text())
        assert covers["version"] == r.collection.version  # saved with the version it covers


def test_a_fresh_retriever_loads_the_saved_index_and_a_corrupt_one_is_rebuilt(corpus: tuple[Path, Path],
                                                                             tmp_path: Path,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil

    _, coll = corpus
    copy = tmp_path / "coll"
    shutil.copytree(coll, copy)
    builds: list[int] = []
    real = bm25_module.Bm25Index.build

    def counting(*a: object, **kw: object) -> bm25_module.Bm25Index:
        builds.append(1)
        return real(*a, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(bm25_module.Bm25Index, "build", staticmethod(counting))
    with Retriever(copy) as r:
        assert [p.source for p in r.retrieve(RARE, mode="bm25")] == ["rare.txt"]
    assert builds == []  # ingest saved it: loaded, not rebuilt
    (copy / "bm25" / "keys.json").write_text("[1, 2")
    with pytest.warns(RuntimeWarning, match="unreadable BM25 index"), Retriever(copy) as r:
        assert [p.source for p in r.retrieve(RARE, mode="bm25")] == ["rare.txt"]
    assert builds == [1]
    shutil.rmtree(copy / "bm25")
    with Retriever(copy) as r:
        assert [p.source for p in r.retrieve(RARE, mode="bm25")] == ["rare.txt"]
    assert builds == [1, 1] and (copy / "bm25" / "covers.json").is_file()


def test_concurrent_queries_build_a_stale_index_once(corpus: tuple[Path, Path], tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil

    _, coll = corpus
    copy = tmp_path / "coll"
    shutil.copytree(coll, copy)
    shutil.rmtree(copy / "bm25")
    builds: list[int] = []
    real = bm25_module.Bm25Index.build

    def slow_build(*a: object, **kw: object) -> bm25_module.Bm25Index:
        builds.append(1)
        threading.Event().wait(0.2)  # let the other threads arrive while it builds
        return real(*a, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(bm25_module.Bm25Index, "build", staticmethod(slow_build))
    results: list[list[str]] = []
    errors: list[BaseException] = []
    with Retriever(copy) as r:
        def work() -> None:
            try:
                results.append([p.key for p in r.retrieve(RARE + " cat", k=3, mode="hybrid")])
            except BaseException as e:
                errors.append(e)

        threads = [threading.Thread(target=work) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert not errors and len(builds) == 1
    assert len(results) == 6 and all(res == results[0] for res in results)


# ------------------------------------------------------------------------------------------ re-ranking
def test_reranker_hook_decides_the_order(corpus: tuple[Path, Path]) -> None:
    _, coll = corpus
    seen: list[tuple[str, list[str]]] = []

    def by_dogs(query: str, texts: list[str]) -> list[float]:
        seen.append((query, list(texts)))
        return [t.count("dog") - 0.001 * i for i, t in enumerate(texts)]

    with Retriever(coll, reranker=by_dogs, rerank_depth=50) as r:
        ranked = r.retrieve("the cat sat on the mat", k=3)
        assert len(seen) == 1 and seen[0][0] == "the cat sat on the mat" and len(seen[0][1]) > 3
        assert any(t.startswith("dog\na dog") for t in seen[0][1])  # chunks go with their title in front
        assert ranked[0].source == "animals/dog.txt"
        assert ranked[0].score == pytest.approx(max(t.count("dog") for t in seen[0][1]), abs=0.1)
        assert [p.score for p in ranked] == sorted((p.score for p in ranked), reverse=True)
        plain = r.retrieve("the cat sat on the mat", k=3, rerank=False)
        assert plain[0].source == "animals/cat.md" and len(seen) == 1
        response = r.run(RetrieveRequest(query="the cat sat on the mat", k=2))  # the API's default: no re-ranking
        assert len(seen) == 1 and [p.key for p in response.passages] == [p.key for p in plain[:2]]
        r.run(RetrieveRequest(query="the cat", k=2, rerank=True))
        assert len(seen) == 2
    with Retriever(coll) as r, pytest.raises(InvalidInputError, match="no re-ranker"):
        r.retrieve("cat", rerank=True)
    with Retriever(coll, reranker=lambda q, t: [1.0]) as r, pytest.raises(InvalidInputError, match="scores for"):
        r.retrieve("the cat sat", k=3)
    with Retriever(coll, reranker=lambda q, t: [float("nan")] * len(t)) as r, pytest.raises(InvalidInputError):
        r.retrieve("the cat sat", k=3)


def test_cross_encoder_reranker_scores_pairs_with_a_local_model(corpus: tuple[Path, Path], tmp_path: Path) -> None:
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    path = tiny_cross_encoder(tmp_path / "ce")
    reranker = CrossEncoderReranker(path, device="cpu")
    texts = ["the cat sat on the mat", "money in the bank", "a dog"]
    scores = reranker("the cat", texts)
    assert scores.dtype == np.float32 and scores.shape == (3,)
    tok = AutoTokenizer.from_pretrained(path)
    net = AutoModelForSequenceClassification.from_pretrained(path).eval()
    with torch.no_grad():
        logits = net(**tok(["the cat"] * 3, texts, padding=True, return_tensors="pt")).logits[:, 0]
    assert np.allclose(scores, torch.sigmoid(logits).numpy(), atol=1e-5)  # one label: sigmoid of the logit
    assert reranker("the cat", []).shape == (0,)
    _, coll = corpus
    with Retriever(coll, reranker=reranker) as r:
        passages = r.retrieve("the cat sat", k=3)
    assert [p.score for p in passages] == sorted((p.score for p in passages), reverse=True)
    assert all(0.0 < p.score < 1.0 for p in passages)
    with pytest.raises(TypeError):
        reranker("q", "one text")  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------ inputs
def test_bad_inputs_are_refused_clearly(corpus: tuple[Path, Path]) -> None:
    _, coll = corpus
    with Retriever(coll) as r:
        for bad in ("", "   \n"):
            with pytest.raises(InvalidInputError, match="empty"):
                r.retrieve(bad)
        for k in (0, -1, MAX_K + 1, True, 2.5):
            with pytest.raises(InvalidInputError, match="k must be"):
                r.retrieve("cat", k=k)  # type: ignore[arg-type]
        with pytest.raises(InvalidInputError, match="unknown mode"):
            r.retrieve("cat", mode="sparse")
        with pytest.raises(InvalidInputError, match="candidates"):
            r.retrieve("cat", candidates=0)
        with pytest.raises(InvalidInputError, match="string"):
            r.retrieve(None)  # type: ignore[arg-type]
        assert len(r.retrieve("cat", k=MAX_K)) == r.collection.count()  # k beyond the collection: all of it
        response = r.run(RetrieveRequest(query="the dog", k=2, mode="bm25", where={"kind": "text"}))
        assert isinstance(response, RetrieveResponse) and response.mode == "bm25"
        assert [p.source for p in response.passages] == ["animals/dog.txt"] * len(response.passages)
    with pytest.raises(InvalidInputError):
        Retriever(coll, reranker="not callable")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="no collection"):
        Retriever(coll.parent / "missing")


def test_collections_without_text_or_encoder(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    with Collection.create(tmp_path / "v", dim=4) as col:
        col.add(["a", "b"], rng.standard_normal((2, 4)).astype(np.float32), [{"text": "hello world"}, {}])
        with Retriever(col) as r:
            assert [p.key for p in r.retrieve("hello", mode="bm25")] == ["a"]
            p = r.retrieve("hello", mode="bm25")[0]
            assert (p.source, p.start, p.end, p.text) == ("a", 0, 11, "hello world")  # fallbacks: not from ingest
            with pytest.raises(InvalidInputError, match="no encoder"):
                r.retrieve("hello", mode="vector")
        assert col.count() == 2  # a retriever given an open collection leaves it open


def test_milvus_collections_retrieve_by_vector_only(model: str, tmp_path: Path) -> None:
    pytest.importorskip("pymilvus")
    pytest.importorskip("milvus_lite")
    uri = f"milvus-lite:{tmp_path / 'm.db'}#rag"
    try:
        Collection.create(uri, encoder=model).close()
    except Exception as e:  # a sandbox may forbid what Milvus Lite needs
        pytest.skip(f"Milvus Lite cannot start here: {e}")
    docs = write_docs(tmp_path / "docs", {"a.md": "# A\n\nthe cat sat on the mat", "b.txt": "a dog in the river"})
    assert ingest(docs, uri, progress=False).documents == 2
    with Retriever(uri) as r:
        passages = r.retrieve("the cat sat", k=2, mode="vector")
        assert {p.source for p in passages} == {"a.md", "b.txt"} and passages[0].text
        assert [p.source for p in r.retrieve("the cat", k=2, mode="vector", where={"source": "b.txt"})] == ["b.txt"]
        for mode in ("bm25", "hybrid"):
            with pytest.raises(InvalidInputError, match="mode='vector'"):
                r.retrieve("the cat", mode=mode)


@pytest.mark.filterwarnings("ignore:.*index.*:RuntimeWarning")  # the vector index is rebuilt too (as it should)
def test_a_restored_database_or_a_foreign_sidecar_is_not_answered_from_the_stale_bm25_index(tmp_path: Path) -> None:
    """Issue 23: the BM25 sidecar records the table's identity (uid, version, token), not the version alone: an
    older collection.sqlite restored and written up to the same version, or a sidecar copied from another
    collection at that version, is rebuilt — the answers are those of a fresh build."""
    import os
    import shutil
    import sqlite3
    from contextlib import closing

    rng = np.random.default_rng(0)

    def vecs(n: int) -> np.ndarray:
        return rng.normal(size=(n, 4)).astype(np.float32)

    def answers(path: Path) -> list[list[tuple[str, float]]]:
        with Collection.open(path) as col, Retriever(col) as r:
            return [[(p.key, round(p.score, 5)) for p in r.retrieve(q, mode="bm25")] for q in ("zebra99", "cat")]

    coll, other = tmp_path / "coll", tmp_path / "other"
    with Collection.create(coll, dim=4) as col:
        col.add(["a", "b"], vecs(2), texts=["the cat sat", "the dog ran"])
    backup = tmp_path / "backup.sqlite"
    with closing(sqlite3.connect(coll / "collection.sqlite")) as src, closing(sqlite3.connect(backup)) as dst:
        src.backup(dst)
    with Collection.open(coll) as col:
        col.add(["z1", "z2"], vecs(2), texts=["zebra99 crossed the river", "another zebra99"])
        version = col.version
    assert {k for k, _ in answers(coll)[0]} == {"z1", "z2"}
    assert json.loads((coll / "bm25" / "covers.json").read_text())["version"] == version  # the sidecar is saved
    for suffix in ("-wal", "-shm"):
        (coll / f"collection.sqlite{suffix}").unlink(missing_ok=True)
    os.replace(backup, coll / "collection.sqlite")  # the older database restored; bm25/ (and index/) kept
    with Collection.open(coll) as col:
        col.add(["c1", "c2"], vecs(2), texts=["a cat naps", "cats purr"])
        assert col.version == version  # the sidecar's version, other items
    restored = answers(coll)
    assert restored[0] == []  # no zebra99 in this table any more
    shutil.rmtree(coll / "bm25")
    assert restored == answers(coll)  # == a fresh build
    # a sidecar of another collection at the same version
    with Collection.create(other, dim=4) as col:
        col.add(["o1", "o2"], vecs(2), texts=["zebra99 one", "zebra99 two"])
        col.add(["o3", "o4"], vecs(2), texts=["cat three", "cat four"])
        assert col.version == version
    assert [k for k, _ in answers(other)[0]]  # its sidecar is built
    fresh = answers(coll)
    shutil.rmtree(coll / "bm25")
    shutil.copytree(other / "bm25", coll / "bm25")
    assert answers(coll) == fresh
