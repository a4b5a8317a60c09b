"""Re-ranking retrieved passages with a cross-encoder.

A bi-encoder (the collection's encoder) embeds the query and each passage apart; a cross-encoder
reads the query and a passage together and scores their relevance — slower (one forward pass per
pair), usually more accurate, so it re-orders the few best candidates of a first-stage retrieval.
:class:`~embspace.apps.Retriever` takes any callable ``(query, texts) -> scores`` as its re-ranker;
:class:`CrossEncoderReranker` wraps a sentence-transformers ``CrossEncoder``
(e.g. ``cross-encoder/ms-marco-MiniLM-L6-v2``, from a local directory or the local hub cache).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ..errors import InvalidInputError, MissingDependencyError, ModelNotFoundError

#: What a re-ranker is: scores (higher is more relevant) for each text given the query.
Reranker = Callable[[str, Sequence[str]], Sequence[float] | npt.NDArray[Any]]

__all__ = ["CrossEncoderReranker", "Reranker"]


class CrossEncoderReranker:
    """Relevance scores of (query, passage) pairs from a sentence-transformers cross-encoder.

    Parameters
    ----------
    model
        A local cross-encoder directory, or a hub id already in the local Hugging Face cache (it is
        downloaded only when the hub may be used: ``HF_HUB_OFFLINE`` unset).
    batch_size
        Pairs per forward pass.
    max_length
        Tokens per pair (query + passage; longer pairs are truncated); default the model's own.
    device
        ``"cpu"``, ``"cuda"``, ``"mps"`` or ``"auto"``.

    Calling it, ``reranker(query, texts)``, returns one float per text (float32 ``(n,)``): the
    model's relevance score (for a one-label model, its logit through the model's activation,
    usually a sigmoid).
    """

    def __init__(self, model: str | Path, *, batch_size: int = 32, max_length: int | None = None,
                 device: str = "auto") -> None:
        try:
            from sentence_transformers import CrossEncoder
        except ImportError:
            raise MissingDependencyError("sentence-transformers", "encoders", "Cross-encoder re-ranking") from None
        from ..encoders.encoder import resolve_device
        from ..encoders.text_encoder import _not_found, quiet_loading, resolve_model

        if batch_size < 1:
            raise InvalidInputError(f"batch_size must be positive, got {batch_size}")
        source, name, revision = resolve_model(model)
        try:
            with quiet_loading():
                self.model = CrossEncoder(str(source), device=resolve_device(device), max_length=max_length)
        except (OSError, ValueError) as e:
            raise ModelNotFoundError(_not_found(model, e)) from e
        labels = int(getattr(self.model.config, "num_labels", 1) or 1)
        if labels != 1:
            raise InvalidInputError(f"{name} scores {labels} labels per pair; a re-ranker needs a model with one "
                                    "relevance score (num_labels=1)")
        self.name = name
        self.revision = revision
        self.batch_size = batch_size
        self._lock = threading.Lock()  # one forward pass at a time (a server calls it from many threads)

    def __call__(self, query: str, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """Scores of ``texts`` for ``query`` (float32 ``(len(texts),)``, higher is more relevant)."""
        if isinstance(texts, str):
            raise TypeError("texts must be a list of strings; wrap a single text in a list")
        texts = list(texts)
        if not texts:
            return np.zeros(0, np.float32)
        with self._lock:
            scores = self.model.predict([(query, t) for t in texts], batch_size=self.batch_size,
                                        show_progress_bar=False, convert_to_numpy=True)
        return np.asarray(scores, dtype=np.float32).reshape(len(texts))

    def __repr__(self) -> str:
        return f"CrossEncoderReranker({self.name!r})"
