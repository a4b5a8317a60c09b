"""The options of every command that reads a space file, defined once: how a legacy vector file's keys are
decoded (``--encoding``, ``--unicode-errors``) and how many of its vectors are read (``--limit``), as the
library's :func:`embspace.space.io.load` takes them."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

EncodingOpt = Annotated[str, typer.Option(
    "--encoding", help="Encoding of a legacy vector file's keys (word2vec, GloVe, fastText), e.g. latin-1.")]
UnicodeErrorsOpt = Annotated[str, typer.Option(
    "--unicode-errors", help="What to do with bytes that do not decode: strict (an error naming the line), "
                             "replace or ignore (as gensim's unicode_errors).")]
LimitOpt = Annotated[int | None, typer.Option(
    "--limit", min=1, help="Read only the first N vectors of a legacy vector file (the rest is not read).")]


def load_space(path: Path, fmt: str | None = None, *, encoding: str = "utf-8", unicode_errors: str = "strict",
               limit: int | None = None) -> Any:
    """The space at ``path``, read with the command's --format, --encoding, --unicode-errors and --limit."""
    from ..space.io import load

    return load(path, format=fmt, encoding=encoding, unicode_errors=unicode_errors, limit=limit)


__all__ = ["EncodingOpt", "LimitOpt", "UnicodeErrorsOpt", "load_space"]
