"""The Encoder protocol: anything that turns items (texts, images) into vectors of one space."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal, Protocol, runtime_checkable

from ..space.embedding_space import EmbeddingSpace
from ..space.provenance import Provenance
from ..space.vector import EmbeddingVector

Modality = Literal["text", "image"]


@runtime_checkable
class Encoder(Protocol):
    """A pretrained model that maps items to float32 vectors of one coordinate system.

    ``encode`` returns an ``(n, dim)`` float32 array tagged with the encoder's ``space_id`` (an
    :class:`~embspace.space.EmbeddingVector`), so a query encoded by one model can never silently
    search vectors of another.
    """

    name: str
    dim: int
    modality: Modality

    @property
    def provenance(self) -> Provenance: ...

    def encode(self, items: Sequence[Any], *, batch_size: int | None = None, normalize: bool = True,
               progress: bool = True) -> EmbeddingVector: ...

    def encode_space(self, items: Sequence[Any], keys: Sequence[str] | None = None, *,
                     batch_size: int | None = None, normalize: bool = True,
                     progress: bool = True) -> EmbeddingSpace: ...
