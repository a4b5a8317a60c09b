"""The HTTP API (FastAPI): collections, search, RAG retrieval, neighbours, analogies, similarity,
recommendation, dedup, zero-shot classification and geometry summaries, over the library's own models.

``embspace serve [PATH...]`` runs it; :func:`create_app` builds the app for tests or another ASGI
server; :class:`ServeConfig` holds what a server serves and how, and its validators are the serving
safety rules. See docs/serve.md.
"""

from __future__ import annotations

from typing import Any

from ._guard import deprecated_guard
from ._resources import ConflictError, NotFoundError, ReadOnlyError, Resources, default_data_dir
from .app import DEFAULT_MAX_BODY, ERROR_CODES, create_app
from .config import ServeConfig

__all__ = ["DEFAULT_MAX_BODY", "ERROR_CODES", "ConflictError", "NotFoundError", "ReadOnlyError", "Resources",
           "ServeConfig", "create_app", "default_data_dir"]


def __getattr__(name: str) -> Any:
    return deprecated_guard(__name__, name)
