"""Data: corpora and small built-in datasets available offline."""

from .builtin import demo_words, python_help_sentences
from .corpus import TextCorpus
from .vocab import Vocab

__all__ = ["TextCorpus", "Vocab", "demo_words", "python_help_sentences"]
