"""Pretrained encoders: the Encoder protocol and sentence-transformers models (default: MiniLM, offline)."""

from .encoder import Encoder
from .sentence_encoder import DEFAULT_MODEL, SentenceEncoder, get_encoder

__all__ = ["DEFAULT_MODEL", "Encoder", "SentenceEncoder", "get_encoder"]
