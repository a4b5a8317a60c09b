"""Collections: SQLite-backed stores of keys, vectors and metadata, with metadata filters."""
