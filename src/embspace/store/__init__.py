"""Collections: SQLite-backed stores of keys, vectors and metadata, searchable under metadata filters.

SQLite (WAL) holds the truth; the vector index (:mod:`embspace.index`) is derived data, brought up
to date from the change log and rebuilt when missing. See docs/collections.md and docs/filters.md.
"""

from ._filter import CompiledFilter, Filter, compile_filter, matches, parse_filter
from .collection import Collection

__all__ = ["Collection", "CompiledFilter", "Filter", "compile_filter", "matches", "parse_filter"]
