"""Collections: SQLite-backed stores of keys, vectors, metadata and document texts, searchable under metadata filters.

SQLite (WAL) holds the truth; the vector index (:mod:`embspace.index`) is derived data, brought up
to date from the change log and rebuilt when missing. The same API runs over Milvus
(:class:`MilvusCollection`, ``milvus://`` and ``milvus-lite:`` addresses). See docs/collections.md and
docs/filters.md.
"""

from ._base import AddReport, BaseCollection
from ._filter import CompiledFilter, Filter, FilterLike, compile_filter, matches, parse_filter
from .collection import Collection, Page
from .collection_result import CollectionResult, Include
from .get_result import GetResult
from .milvus import MilvusCollection, milvus_filter

__all__ = ["AddReport", "BaseCollection", "Collection", "CollectionResult", "CompiledFilter", "Filter", "FilterLike",
           "GetResult", "Include", "MilvusCollection", "Page", "compile_filter", "matches", "milvus_filter",
           "parse_filter"]
