"""The central noun: EmbeddingSpace, its search results, provenance, vectors and file formats."""

from .embedding_space import EmbeddingSpace
from .io import FORMATS, detect_format, load, save
from .provenance import Provenance
from .search_result import SearchResult
from .subword_space import SubwordSpace
from .vector import EmbeddingVector

__all__ = ["FORMATS", "EmbeddingSpace", "EmbeddingVector", "Provenance", "SearchResult", "SubwordSpace",
           "detect_format", "load", "save"]
