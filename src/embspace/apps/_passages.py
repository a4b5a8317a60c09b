"""What ingestion stores per chunk and how retrieval turns it back into a Passage."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .schemas import Passage

#: Metadata fields every chunk carries; the others go to ``Passage.metadata``.
CITATION_FIELDS = ("text", "source", "title", "start", "end", "chunk")


def with_title(title: Any, text: str) -> str:
    """The text a chunk is embedded and indexed as: its document's title in front, unless the chunk
    already starts with it (the first chunk of a document with a heading). A passage from the middle
    of a document keeps what it is about."""
    if not isinstance(title, str) or not title.strip():
        return text
    head = text.lstrip().lstrip("#").lstrip()
    if head.startswith(title.strip()):
        return text
    return f"{title.strip()}\n{text}"


def _int(value: Any, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else default


def passage_from(key: str, score: float, meta: Mapping[str, Any]) -> Passage:
    """A :class:`Passage` from a chunk's key, score and metadata (items not written by ingest get
    fallbacks: the key as source, the whole text as the span)."""
    text = meta.get("text")
    text = text if isinstance(text, str) else ""
    source = meta.get("source")
    title = meta.get("title")
    start = _int(meta.get("start"), 0)
    end = _int(meta.get("end"), start + len(text))
    return Passage(key=key, text=text, source=source if isinstance(source, str) else key,
                   title=title if isinstance(title, str) else None, start=start, end=max(end, start),
                   chunk=_int(meta.get("chunk"), 0), score=float(score),
                   metadata={k: v for k, v in meta.items() if k not in CITATION_FIELDS})
