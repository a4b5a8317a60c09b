"""The HTTP API (FastAPI): collections, search, RAG retrieval, neighbours, analogies, similarity,
recommendation, dedup, zero-shot classification and geometry summaries, over the library's own models.

``embspace serve [PATH...]`` runs it; :func:`create_app` builds the app for tests or another ASGI
server. See docs/serve.md.
"""

from ._resources import ConflictError, NotFoundError, ReadOnlyError, Resources, default_data_dir
from .app import DEFAULT_MAX_BODY, ERROR_CODES, Guard, create_app

__all__ = ["DEFAULT_MAX_BODY", "ERROR_CODES", "ConflictError", "Guard", "NotFoundError", "ReadOnlyError", "Resources",
           "create_app", "default_data_dir"]
