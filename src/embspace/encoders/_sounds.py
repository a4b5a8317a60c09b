"""What every audio encoder shares: input checks, batching with progress, and keys for ``encode_space``.

Audio inputs are file paths (WAV, FLAC, OGG, MP3, ...: see :mod:`embspace._audio`), 1-D NumPy waveforms at
the model's sample rate, or ``(waveform, sample_rate)`` tuples (resampled). One path, one 1-D waveform or one
tuple is ONE clip (``encode`` gives a ``(dim,)`` vector); a list of them, or a 2-D ``(n, samples)`` array,
is a batch.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import numpy.typing as npt

from .._audio import check_audio, load_audio
from ..errors import InvalidInputError
from ._images import batched
from .encoder import BaseEncoder, Modality, item_digest, l2_normalize

__all__ = ["AudioEncoderBase"]


def _digest(item: Any) -> str:
    """A stable text form of a clip for the space's data hash: a path by its name, a waveform by its bytes."""
    if isinstance(item, str | os.PathLike):
        return os.fspath(item)
    if isinstance(item, tuple):
        return f"rate={int(item[1])}:" + item_digest(np.ascontiguousarray(item[0]))
    return item_digest(np.ascontiguousarray(item))


class AudioEncoderBase(BaseEncoder):
    """An encoder of audio clips. Subclasses set the identity, ``sample_rate`` and ``batch_size``, and
    implement :meth:`_embed_audio`: a batch of float32 mono waveforms at ``sample_rate`` (any lengths) in,
    float32 ``(n, dim)`` features (not normalised) out."""

    modality: Modality = "audio"
    batch_size: int
    sample_rate: int

    def _is_single(self, items: object) -> bool:
        if isinstance(items, str | os.PathLike | tuple):
            return True
        return isinstance(items, np.ndarray) and items.ndim == 1

    def _check_items(self, items: Any) -> list[Any]:
        if isinstance(items, np.ndarray):
            if items.ndim != 2:
                raise InvalidInputError(f"an array of clips must be (n, samples), got shape {items.shape}; one clip "
                                        "is a 1-D array")
            items = list(items)
        return check_audio(items)

    def _embed_audio(self, waves: list[npt.NDArray[np.float32]]) -> npt.NDArray[np.float32]:
        raise NotImplementedError

    def _encode(self, items: list[Any], *, batch_size: int | None, normalize: bool,
                progress: bool) -> npt.NDArray[np.float32]:
        out = np.empty((len(items), self.dim), np.float32)
        size = self.batch_size if batch_size is None else batch_size
        for start, batch in batched(items, size, description=f"encoding {self.name}", unit="clips",
                                    progress=progress):
            out[start:start + len(batch)] = self._embed_audio(load_audio(batch, self.sample_rate, start=start))
        return l2_normalize(out) if normalize else out

    def _default_keys(self, checked: list[Any]) -> list[str]:
        """:meth:`encode_space`'s keys default to the files' paths; clips given in memory need ``keys``."""
        if not all(isinstance(i, str | os.PathLike) for i in checked):
            raise InvalidInputError("clips given in memory have no name to use as their key; pass keys=[...] "
                                    "(one per clip)")
        return [os.fspath(i) for i in checked]

    def _digest(self, item: Any) -> str:
        return _digest(item)
