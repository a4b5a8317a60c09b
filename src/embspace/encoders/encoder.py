"""The Encoder protocol, and the base class every embspace encoder shares.

An encoder maps items (texts, images) to float32 vectors of one coordinate system. ``encode``
returns an array tagged with the encoder's ``space_id`` (an :class:`~embspace.space.EmbeddingVector`),
so a query encoded by one model can never silently search vectors of another: one item (a ``str``,
an image path, a Pillow image) gives a ``(dim,)`` vector, a list of items an ``(n, dim)`` matrix, as
in sentence-transformers. ``encode_space`` wraps the vectors of a list in an
:class:`~embspace.space.EmbeddingSpace` whose provenance names the model and its revision.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeAlias, runtime_checkable

import numpy as np
import numpy.typing as npt

from ..errors import InvalidInputError
from ..space import _linalg
from ..space.embedding_space import EmbeddingSpace
from ..space.provenance import Provenance
from ..space.vector import EmbeddingVector

if TYPE_CHECKING:
    from PIL.Image import Image as PILImage

Modality = Literal["text", "image", "audio"]
#: One image: a file path, a Pillow image, or an ``(h, w)``/``(h, w, c)`` array.
ImageItem: TypeAlias = "str | os.PathLike[str] | PILImage | npt.NDArray[Any]"
#: One audio clip: a file path, a 1-D waveform at the model's rate, or a ``(waveform, sample_rate)`` tuple.
AudioItem: TypeAlias = "str | os.PathLike[str] | npt.NDArray[Any] | tuple[npt.NDArray[Any], int]"
#: One item of a text or image encoder: a text, or an image (audio encoders take :data:`AudioItem`).
Item: TypeAlias = "str | ImageItem"
#: What ``encode`` takes: one item (a ``(dim,)`` result) or a sequence of items (``(n, dim)``).
EncodeInput: TypeAlias = ("str | os.PathLike[str] | PILImage | Sequence[Item] | npt.NDArray[Any] "
                          "| tuple[npt.NDArray[Any], int] | Sequence[AudioItem]")

__all__ = ["AudioItem", "BaseEncoder", "EncodeInput", "Encoder", "ImageItem", "Item", "Modality", "resolve_device"]


@runtime_checkable
class Encoder(Protocol):
    """A pretrained model that maps items to float32 vectors of one coordinate system."""

    name: str
    dim: int
    modality: Modality

    @property
    def provenance(self) -> Provenance: ...

    @property
    def space_id(self) -> str: ...

    def encode(self, items: EncodeInput, *, batch_size: int | None = None, normalize: bool = True,
               progress: bool = True) -> EmbeddingVector:
        """One item -> ``(dim,)``; a sequence of items -> ``(n, dim)``."""
        ...

    def encode_space(self, items: Sequence[Item], keys: Sequence[str] | None = None, *,
                     batch_size: int | None = None, normalize: bool = True,
                     progress: bool = True) -> EmbeddingSpace: ...


def resolve_device(device: str) -> str:
    """``"auto"`` -> ``"cuda"`` when a CUDA GPU is visible, else ``"mps"`` on Apple silicon, else ``"cpu"``."""
    if device != "auto":
        return device
    import torch

    if torch.cuda.is_available():
        return "cuda"
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return "mps"
    return "cpu"


def item_digest(item: Any) -> str:
    """A stable text form of an item for hashing: texts as they are, files and arrays by their bytes."""
    if isinstance(item, str):
        return item
    if isinstance(item, np.ndarray):
        return "array:" + hashlib.sha256(np.ascontiguousarray(item).tobytes()).hexdigest()
    if isinstance(item, Path) and item.is_file():
        h = hashlib.sha256()
        with open(item, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        return "file:" + h.hexdigest()
    return repr(item)


class BaseEncoder:
    """What every encoder shares: identity (name, revision, provenance), input checks, tagging.

    Subclasses set ``name``, ``dim``, ``modality`` and ``revision``, call :meth:`_set_provenance`
    with the settings that define their coordinate system, and implement :meth:`_encode`, which gets
    a non-empty list of checked items and returns a float32 ``(n, dim)`` array.
    """

    name: str
    dim: int
    modality: Modality
    revision: str
    _provenance: Provenance

    def _set_provenance(self, **config: Any) -> None:
        self._provenance = Provenance(model=self.name, config={"revision": self.revision, **config})

    @property
    def provenance(self) -> Provenance:
        return self._provenance

    @property
    def space_id(self) -> str:
        return self._provenance.space_id

    def _is_single(self, items: object) -> bool:
        """Whether ``items`` is ONE item (a text, an image path or a Pillow image), not a sequence of them.

        An array is always a sequence of images (its first axis); one array image goes in a list.
        """
        if isinstance(items, str | os.PathLike):
            return True
        return self.modality == "image" and type(items).__module__.startswith("PIL.")

    def _check_items(self, items: Sequence[Any]) -> list[Any]:
        """A list of the items; a clear TypeError for a bare string or an item of the wrong kind."""
        if isinstance(items, str):
            raise TypeError("a list of items is needed here; wrap a single text in a list")
        out = list(items)
        if self.modality == "text":
            for i, t in enumerate(out):
                if not isinstance(t, str):
                    raise TypeError(f"item #{i} is {type(t).__name__}, expected str")
        return out

    def _tag(self, arr: npt.NDArray[np.float32]) -> EmbeddingVector:
        return EmbeddingVector(np.ascontiguousarray(arr, dtype=np.float32), self.space_id,
                               self._provenance.describe())

    def encode(self, items: EncodeInput, *, batch_size: int | None = None, normalize: bool = True,
               progress: bool = True) -> EmbeddingVector:
        """Encode items to float32 vectors tagged with this model's space.

        One item (a ``str``; for images a path or a Pillow image) gives a ``(dim,)`` vector; a
        sequence of items gives an ``(n, dim)`` matrix (``(0, dim)`` for an empty one).
        """
        single = self._is_single(items)
        checked = self._check_items([items] if single else items)  # type: ignore[arg-type]
        if not checked:
            return self._tag(np.zeros((0, self.dim), np.float32))
        out = self._encode(checked, batch_size=batch_size, normalize=normalize, progress=progress)
        return self._tag(out[0] if single else out)

    def _encode(self, items: list[Any], *, batch_size: int | None, normalize: bool,
                progress: bool) -> npt.NDArray[np.float32]:
        raise NotImplementedError

    def _default_keys(self, checked: list[Any]) -> list[str]:
        """The keys of :meth:`encode_space` when none are given (hook): the items as text."""
        return [str(i) for i in checked]

    def _digest(self, item: Any) -> str:
        """A checked item's stable text form for the space's data hash (hook)."""
        return item_digest(item)

    def encode_space(self, items: Sequence[Item], keys: Sequence[str] | None = None, *,
                     batch_size: int | None = None, normalize: bool = True,
                     progress: bool = True) -> EmbeddingSpace:
        """Encode a list of items into an EmbeddingSpace (keys default to the items themselves, as text)."""
        checked = self._check_items(items)
        key_list = [str(k) for k in keys] if keys is not None else self._default_keys(checked)
        if len(key_list) != len(checked):
            raise InvalidInputError(f"{len(key_list)} keys for {len(checked)} items")
        vectors = self.encode(checked, batch_size=batch_size, normalize=normalize, progress=progress)
        data_hash = hashlib.sha256(json.dumps([self._digest(i) for i in checked]).encode()).hexdigest()
        prov = Provenance(model=self._provenance.model, config=dict(self._provenance.config), data_hash=data_hash)
        return EmbeddingSpace(key_list, np.asarray(vectors), metric="cosine", provenance=prov, copy=False,
                              is_normalized=True if normalize else None)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, dim={self.dim})"


def layer_space(keys: Sequence[str], arr: npt.NDArray[np.float32], base: Provenance, data_hash: str, *,
                normalize: bool, **config: Any) -> EmbeddingSpace:
    """One layer's vectors as an :class:`~embspace.space.EmbeddingSpace` (the text and image encoders' ``layers=``
    and ``encode_tokens``): the layer's provenance ``base`` (its own space_id) with the data's hash and any extra
    ``config``, the rows unit-normalised when ``normalize``."""
    arr = l2_normalize(arr) if normalize else arr
    prov = Provenance(model=base.model, config={**base.config, **config}, data_hash=data_hash)
    return EmbeddingSpace(list(keys), arr, metric="cosine", provenance=prov, copy=False,
                          is_normalized=True if normalize and len(arr) else None)


def l2_normalize(arr: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """Rows scaled to unit length in place (zero rows stay zero: :func:`embspace.space._linalg.unit_rows`)."""
    arr[...] = _linalg.unit_rows(arr)
    return arr
