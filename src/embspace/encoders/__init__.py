"""Pretrained encoders: sentence, contextual token, image, CLIP, CLAP (audio) and static (mean/SIF) embeddings.

``get_encoder("minilm")`` is the default text encoder (all-MiniLM-L6-v2, offline). Heavy libraries
(torch, transformers, OpenVINO, Pillow) load only when an encoder is built. ``encode("one text")``
returns one vector ``(dim,)``; a list returns ``(n, dim)``. ``get_encoder("minilm", dim=128)`` truncates
the vectors (Matryoshka); :func:`matryoshka_dims` says which sizes a model was trained for.

``DistilledEncoder`` is a static encoder distilled from a transformer by the ``Distiller`` learner (train layer)
(100x+ faster on a CPU); ``get_encoder(path)`` loads a saved one.

``TwoTowerClip`` and ``finetune`` are learners: they moved to :mod:`embspace.train`. Their old names
here still work for one release with a ``DeprecationWarning``; :func:`__getattr__` imports
``embspace.train`` lazily, so ``encoders`` does not depend on ``train``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .encoder import BaseEncoder, Encoder, Modality
from .matryoshka import DimensionTruncationWarning, matryoshka_dims
from .registry import get_encoder, register_encoder
from .sentence_encoder import DEFAULT_MODEL

if TYPE_CHECKING:
    from .clap_encoder import ClapEncoder
    from .clip_encoder import ClipEncoder, ZeroShotResult
    from .distilled_encoder import DistilledEncoder
    from .image_encoder import ImageEncoder
    from .sentence_encoder import SentenceEncoder
    from .static_encoder import OOVReport, OOVWarning, StaticEncoder
    from .text_encoder import Chunk, TextEncoder, TokenEmbeddings, TruncationWarning, token_space

_LAZY = {
    "SentenceEncoder": "sentence_encoder", "TextEncoder": "text_encoder", "TokenEmbeddings": "text_encoder",
    "Chunk": "text_encoder", "TruncationWarning": "text_encoder", "ImageEncoder": "image_encoder",
    "ClipEncoder": "clip_encoder", "ZeroShotResult": "clip_encoder", "StaticEncoder": "static_encoder",
    "OOVReport": "static_encoder", "OOVWarning": "static_encoder", "DistilledEncoder": "distilled_encoder",
    "token_space": "text_encoder", "ClapEncoder": "clap_encoder",
}
#: Learners that lived here; they moved to embspace.train (deprecated aliases for one release).
_MOVED = {"TwoTowerClip": "embspace.train.two_tower_clip", "finetune": "embspace.train.finetune"}

__all__ = ["DEFAULT_MODEL", "BaseEncoder", "Chunk", "ClapEncoder", "ClipEncoder", "DimensionTruncationWarning",
           "DistilledEncoder", "Encoder",
           "ImageEncoder", "Modality", "OOVReport", "OOVWarning", "SentenceEncoder", "StaticEncoder", "TextEncoder",
           "TokenEmbeddings", "TruncationWarning", "ZeroShotResult", "get_encoder", "matryoshka_dims",
           "register_encoder", "token_space"]


def __getattr__(name: str) -> Any:
    import importlib

    moved = _MOVED.get(name)
    if moved is not None:  # a lazy import of train: the deprecated alias, not a dependency of encoders
        import warnings

        warnings.warn(f"embspace.encoders.{name} moved to embspace.train.{name}; the old name will be removed in "
                      "the next release", DeprecationWarning, stacklevel=2)
        return getattr(importlib.import_module(moved), name)
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'embspace.encoders' has no attribute {name!r}")
    return getattr(importlib.import_module(f".{module}", __name__), name)
