"""Data: corpora and small built-in datasets available offline."""

from .builtin import python_help_sentences

__all__ = ["python_help_sentences"]
