"""OpenAI-compatible endpoints: ``POST /v1/embeddings``, ``GET /v1/models`` and ``GET /v1/models/{id}`` (an id
with its organisation too: ``GET /v1/models/sentence-transformers/all-MiniLM-L6-v2``).

What the ``openai`` client, LangChain's ``OpenAIEmbeddings``, LlamaIndex's ``OpenAIEmbedding`` and most RAG
tools speak, served by the server's own text encoders (the very instances ``/encode`` and the collections
use: :meth:`~embspace.serve.Resources.encoder`, one per model, loaded once). A request's ``model`` is one of
them, by its name or its Hugging Face id with or without the organisation (``minilm``,
``all-MiniLM-L6-v2``, ``sentence-transformers/all-MiniLM-L6-v2``); a client never makes the server load
another model. Errors on these routes take OpenAI's shape (:mod:`.._errors`).

Departures from OpenAI, each stated where a client meets it: token arrays are refused (send the text);
texts longer than the model's maximum are truncated (OpenAI refuses them), said in the
``X-Embspace-Warning`` header, as is ``dimensions`` on a model not trained for truncation (Matryoshka).
"""

from __future__ import annotations

import base64
import difflib
import functools
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from fastapi import APIRouter, Response

from ...encoders.matryoshka import KNOWN_MATRYOSHKA_DIMS, matryoshka_dims, truncation_warning
from .._errors import OPENAI_ERROR_RESPONSES, OpenAIRequestError
from .._json import JSONRoute
from .._resources import Resources
from ..schemas import (
    OpenAIEmbedding,
    OpenAIEmbeddingsRequest,
    OpenAIEmbeddingsResponse,
    OpenAIErrorResponse,
    OpenAIModel,
    OpenAIModelList,
    OpenAIUsage,
)
from ._common import ResourcesDep

__all__ = ["MATRYOSHKA_MODELS", "WARNING_HEADER", "create_embeddings", "list_models", "resolve_model",
           "retrieve_hub_model", "retrieve_model", "router"]

router = APIRouter(prefix="/v1", tags=["openai"], responses=OPENAI_ERROR_RESPONSES,
                   route_class=JSONRoute)

#: The response header carrying what the client should know about its answer (truncation, dimensions).
WARNING_HEADER = "X-Embspace-Warning"

#: Published models trained for truncated use (Matryoshka representation learning), lower-case hub ids: the keys
#: of :data:`embspace.encoders.matryoshka.KNOWN_MATRYOSHKA_DIMS`. Whether a served model was trained for a size is
#: :func:`embspace.encoders.matryoshka_dims`'s answer (these names, what ``embspace finetune --matryoshka`` records,
#: a model card naming a Matryoshka loss), the one the encoders' ``dim=`` asks too.
MATRYOSHKA_MODELS = frozenset(KNOWN_MATRYOSHKA_DIMS)

#: ``created`` of every model: when this server (process) started.
_STARTED = int(time.time())


def _names_of(model: str, specs: Sequence[str]) -> list[str]:
    """The names a client may give for the model called ``model`` (asked for by ``specs``): the model's name,
    its last path part (the Hugging Face id without the organisation), the specs that are names (not paths),
    the directory names of those that are paths, and the library's aliases of it ("minilm")."""
    from ...encoders.sentence_encoder import ALIASES

    names = [model, model.rsplit("/", 1)[-1]]
    for spec in specs:
        path = Path(spec).expanduser()
        names.append(path.name if ("/" in spec and path.is_dir()) else spec)
    names += [alias for alias, target in ALIASES.items() if target.lower() == model.lower()]
    return list(dict.fromkeys(n for n in names if n))


def resolve_model(resources: Resources, model: str) -> tuple[str, str]:
    """(the encoder spec to ask ``resources`` for, the model's name) of a request's ``model``; an OpenAI
    ``model_not_found`` error (404) with a one-line "did you mean" when the server offers no such model."""
    want = model.strip().lower()
    offered = resources.models()
    for name, specs in offered.items():
        if want in {n.lower() for n in _names_of(name, specs)} or want in {s.lower() for s in specs}:
            return specs[0], name
    every = [n for name, specs in offered.items() for n in _names_of(name, specs)]
    by_lower: dict[str, str] = {}
    for n in every:  # each name as the model spells it first (not as the lower-case aliases do)
        by_lower.setdefault(n.lower(), n)
    close = difflib.get_close_matches(want, list(by_lower), n=1, cutoff=0.6)
    hint = f"; did you mean {by_lower[close[0]]!r}?" if close else ""
    raise OpenAIRequestError(f"the model {model!r} is not served here (this server has {', '.join(offered)}; "
                             f"GET /v1/models){hint}", status=404, param="model", code="model_not_found")


@functools.lru_cache(maxsize=64)
def _trained_dims(model: str, specs: tuple[str, ...]) -> tuple[int, ...] | None:
    """The sizes ``model`` (served for ``specs``) was trained to be truncated to: :func:`matryoshka_dims` of
    the first spec that says (a model directory, a name), else of the model's name."""
    for spec in specs:
        found = matryoshka_dims(spec)
        if found is not None:
            return found
    return matryoshka_dims(model)


def _token_counts(enc: Any, texts: list[str]) -> tuple[list[int], int | None]:
    """The tokens each text has (the model's tokenizer, special tokens included; the words of an encoder
    without one) and the most the model reads (None: no limit)."""
    count = getattr(enc, "count_tokens", None)
    limit = getattr(enc, "max_length", None)
    counts = [int(c) for c in count(texts)] if callable(count) else [len(t.split()) for t in texts]
    return counts, (int(limit) if isinstance(limit, int) and limit > 0 else None)


def _texts(req: OpenAIEmbeddingsRequest) -> list[str]:
    """The request's texts; token arrays refused."""
    given = req.input
    if isinstance(given, str):
        return [given]
    if all(isinstance(x, str) for x in given):
        return [str(x) for x in given]
    raise OpenAIRequestError(
        "input holds token ids; this server encodes text with its own tokenizer: send the texts (a string or a "
        "list of strings). LangChain's OpenAIEmbeddings sends token ids unless you give it "
        "check_embedding_ctx_length=False", param="input", code="tokens_not_supported")


def _truncate(vecs: npt.NDArray[np.float32], dim: int, model: str) -> npt.NDArray[np.float32]:
    """The first ``dim`` components of each vector, re-normalised to unit length."""
    if dim > vecs.shape[1]:
        raise OpenAIRequestError(f"dimensions={dim}, but {model} makes {vecs.shape[1]}-dimensional vectors; ask for "
                                 f"at most {vecs.shape[1]}", param="dimensions", code="invalid_dimensions")
    cut = np.ascontiguousarray(vecs[:, :dim])
    norms = np.linalg.norm(cut, axis=1, keepdims=True)
    return (cut / np.where(norms > 0, norms, 1)).astype(np.float32)


def _b64(vec: npt.NDArray[np.float32]) -> str:
    """OpenAI's base64 encoding: the vector's little-endian float32 bytes."""
    return base64.b64encode(np.ascontiguousarray(vec, "<f4").tobytes()).decode("ascii")


@router.post("/embeddings", response_model=OpenAIEmbeddingsResponse, responses={503: {
    "model": OpenAIErrorResponse, "description": "as many encodes running as the server takes (see Retry-After)"}})
def create_embeddings(req: OpenAIEmbeddingsRequest, resources: ResourcesDep) -> Response:
    """OpenAI's embeddings: unit-length vectors of texts from one of the server's encoders.

    ``dimensions`` keeps the first components and re-normalises them; texts longer than the model reads are
    truncated. Both are said in the ``X-Embspace-Warning`` header when they cost quality. Token arrays are
    refused (send the text). At most ``max_encode_chars`` characters per request (413) and ``max_encodes``
    encodes at once (503 with ``Retry-After``)."""
    texts = _texts(req)
    spec, name = resolve_model(resources, req.model)
    resources.encode_gate.check(texts, field="input")  # before the model loads (the first load takes seconds)
    enc = resources.encoder(spec)  # the server's one instance of that model (loaded on first use)
    name = str(enc.name)
    gate = resources.encode_gate
    # at most max_encode_chars (413) and max_encodes at once (503 with Retry-After); each text cut to what the
    # model reads
    with gate.slot():  # checked above
        texts = gate.cut(texts, enc)
        vecs = np.asarray(enc.encode(texts, normalize=True, progress=False), np.float32)
        counts, limit = _token_counts(enc, texts)
    warnings: list[str] = []
    if limit is not None and (over := sum(c > limit for c in counts)):
        warnings.append(f"{over} of {len(texts)} inputs have more than the {limit} tokens {name} reads and were "
                        "truncated; split them (OpenAI refuses such inputs)")
    if req.dimensions is not None and req.dimensions != vecs.shape[1]:
        full = vecs.shape[1]
        vecs = _truncate(vecs, req.dimensions, name)
        trained = matryoshka_dims(enc)  # what the loaded encoder read from its directory and name
        if trained is None:
            trained = _trained_dims(name, tuple(resources.models().get(name, [spec])))
        advice = truncation_warning(name, trained, req.dimensions, full)
        if advice is not None:
            warnings.append(advice)
    # header values are Latin-1: the model's name may not be
    headers = {WARNING_HEADER: " | ".join(warnings).encode("ascii", "replace").decode("ascii")} if warnings else None
    tokens = sum(min(c, limit) if limit is not None else c for c in counts)
    # built from values of known types and serialised once (2,048 vectors of 384 floats: validating them as
    # the response model, then again as the framework does, took longer than serialising them)
    data = [OpenAIEmbedding.model_construct(index=i, embedding=_b64(v) if req.encoding_format == "base64"
                                            else v.tolist()) for i, v in enumerate(vecs)]
    answer = OpenAIEmbeddingsResponse.model_construct(data=data, model=name, usage=OpenAIUsage(
        prompt_tokens=tokens, total_tokens=tokens))
    return Response(answer.model_dump_json(), media_type="application/json", headers=headers)


@router.get("/models")
def list_models(resources: ResourcesDep) -> OpenAIModelList:
    """The server's text encoders, in OpenAI's model list (each by its model name; /v1/embeddings also takes
    the names listed by GET /health and the Hugging Face id without the organisation)."""
    return OpenAIModelList(data=[OpenAIModel(id=name, created=_STARTED) for name in resources.models()])


@router.get("/models/{model_id}")
def retrieve_model(model_id: str, resources: ResourcesDep) -> OpenAIModel:
    """One of the server's text encoders, by any name /v1/embeddings takes for it."""
    _, name = resolve_model(resources, model_id)
    return OpenAIModel(id=name, created=_STARTED)


@router.get("/models/{organization}/{model_id}")
def retrieve_hub_model(organization: str, model_id: str, resources: ResourcesDep) -> OpenAIModel:
    """One of the server's text encoders by its Hugging Face id (``sentence-transformers/all-MiniLM-L6-v2``)."""
    return retrieve_model(f"{organization}/{model_id}", resources)
