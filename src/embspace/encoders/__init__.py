"""Pretrained encoders: sentence, contextual token, image, CLIP and static (mean/SIF) embeddings.

``get_encoder("minilm")`` is the default text encoder (all-MiniLM-L6-v2, offline). Heavy libraries
(torch, transformers, OpenVINO, Pillow) load only when an encoder is built.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .encoder import BaseEncoder, Encoder, Modality
from .registry import get_encoder, register_encoder
from .sentence_encoder import DEFAULT_MODEL

if TYPE_CHECKING:
    from ._finetune import finetune
    from .clip_encoder import ClipEncoder, ZeroShotResult
    from .image_encoder import ImageEncoder
    from .sentence_encoder import SentenceEncoder
    from .static_encoder import OOVReport, OOVWarning, StaticEncoder
    from .text_encoder import Chunk, TextEncoder, TokenEmbeddings, TruncationWarning
    from .two_tower_clip import TwoTowerClip

_LAZY = {
    "SentenceEncoder": "sentence_encoder", "TextEncoder": "text_encoder", "TokenEmbeddings": "text_encoder",
    "Chunk": "text_encoder", "TruncationWarning": "text_encoder", "ImageEncoder": "image_encoder",
    "ClipEncoder": "clip_encoder", "ZeroShotResult": "clip_encoder", "StaticEncoder": "static_encoder",
    "OOVReport": "static_encoder", "OOVWarning": "static_encoder", "TwoTowerClip": "two_tower_clip",
    "finetune": "_finetune",
}

__all__ = ["DEFAULT_MODEL", "BaseEncoder", "Chunk", "ClipEncoder", "Encoder", "ImageEncoder", "Modality",
           "OOVReport", "OOVWarning", "SentenceEncoder", "StaticEncoder", "TextEncoder", "TokenEmbeddings",
           "TruncationWarning", "TwoTowerClip", "ZeroShotResult", "finetune", "get_encoder",
           "register_encoder"]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'embspace.encoders' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f".{module}", __name__), name)
