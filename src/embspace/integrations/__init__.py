"""Adapters for the frameworks RAG applications are written in, over embspace's encoders and collections.

- :mod:`embspace.integrations.langchain`: ``EmbspaceEmbeddings`` (LangChain ``Embeddings``) and
  ``EmbspaceVectorStore`` (a LangChain ``VectorStore`` over a collection); ``pip install "embspace[langchain]"``.
- :mod:`embspace.integrations.llama_index`: ``EmbspaceEmbedding`` (LlamaIndex ``BaseEmbedding``) and
  ``EmbspaceVectorStore`` (a LlamaIndex vector store over a collection); ``pip install "embspace[llama-index]"``.

Each module imports its framework, so import the one you use; nothing here is imported by the rest of
embspace. See docs/integrations.md.
"""

from ._filters import langchain_filter, llama_index_filter
from ._mmr import maximal_marginal_relevance

__all__ = ["langchain_filter", "llama_index_filter", "maximal_marginal_relevance"]
