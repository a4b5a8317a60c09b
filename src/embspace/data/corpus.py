"""TextCorpus: stream sentences (token lists) from files, directories, archives or iterables."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import re
import zipfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from ..errors import InvalidInputError

Tokenizer = Callable[[str], list[str]]
#: The ``"words"`` tokenizer: runs of letters and digits, joined by an inner apostrophe or hyphen
#: (``don't``, ``well-known``); punctuation and symbols are dropped, so ``war,`` and ``war.`` are ``war``.
WORD_PATTERN = r"[^\W_]+(?:['\u2019\-][^\W_]+)*"
#: Names :func:`make_tokenizer` knows (anything else is read as a regular expression matching one token).
TOKENIZERS = ("words", "whitespace")


class RegexTokenizer:
    """``str -> list[str]``: every match of ``pattern`` is a token (picklable, so worker processes can use it)."""

    def __init__(self, pattern: str) -> None:
        try:
            self._re = re.compile(pattern)
        except re.error as e:
            raise InvalidInputError(f"the tokenizer {pattern!r} is not a valid regular expression ({e}); give "
                                    f"'words', 'whitespace', or a regular expression matching one token") from None
        if self._re.match(""):
            raise InvalidInputError(f"the tokenizer {pattern!r} matches the empty string; it must match one token "
                                    "(at least one character), e.g. '\\w+'")
        self.pattern = pattern

    def __call__(self, text: str) -> list[str]:
        return [m.group(0) for m in self._re.finditer(text)]

    def __reduce__(self) -> tuple[Any, ...]:
        return (RegexTokenizer, (self.pattern,))

    def __repr__(self) -> str:
        return f"RegexTokenizer({self.pattern!r})"


def make_tokenizer(spec: str | Tokenizer | None) -> Tokenizer | None:
    """The tokenizer named by ``spec``: ``"words"`` (:data:`WORD_PATTERN`), ``"whitespace"`` (split on
    whitespace, the word2vec convention: returns None, :class:`TextCorpus`'s default), a regular
    expression matching one token, or a callable (returned as it is)."""
    if spec is None or callable(spec):
        return spec
    if spec == "whitespace":
        return None
    if spec == "words":
        return RegexTokenizer(WORD_PATTERN)
    return RegexTokenizer(spec)
_BLOCK = 1 << 20  # characters read at once: a corpus that is one enormous line still streams
_OPENERS: dict[str, Callable[..., Any]] = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}


class TextCorpus:
    """Sentences from text, streamed: one line is one sentence, split into tokens.

    Parameters
    ----------
    paths
        A file, a directory (its files, recursively, in sorted order), a list of those, or a plain
        iterable of token lists (which is used as it is). ``.gz``, ``.bz2`` and ``.xz`` files are
        decompressed on the fly; the members of a ``.zip`` are iterated in order.
    lowercase
        Lower-case the text before tokenising.
    tokenizer
        ``str -> list[str]``, or a name for :func:`make_tokenizer`: ``"words"`` (letters and digits,
        punctuation dropped), ``"whitespace"``, or a regular expression matching one token; default:
        split on whitespace (the word2vec convention).
    max_sentence_length
        Longer lines are cut into sentences of at most this many tokens (a corpus that is one
        enormous line, like text8, is read in blocks and never held in memory whole).
    encoding_errors
        How undecodable bytes are handled; the default ``"replace"`` keeps going.

    Iterating yields ``list[str]`` sentences; the corpus can be iterated many times.
    """

    def __init__(
        self,
        paths: str | Path | Iterable[str | Path] | Iterable[list[str]],
        *,
        lowercase: bool = True,
        tokenizer: Tokenizer | str | None = None,
        max_sentence_length: int = 10000,
        encoding_errors: str = "replace",
    ) -> None:
        if max_sentence_length < 1:
            raise InvalidInputError(f"max_sentence_length must be >= 1, got {max_sentence_length}")
        self.lowercase = lowercase
        self.tokenizer = make_tokenizer(tokenizer)
        self.max_sentence_length = max_sentence_length
        self.encoding_errors = encoding_errors
        self._files: list[Path] | None = None
        self._iterable: Iterable[list[str]] | None = None
        if isinstance(paths, str | Path):
            self._files = self._expand([Path(paths)])
        else:
            items = paths if isinstance(paths, list | tuple) else None
            if items is not None and all(isinstance(p, str | Path) for p in items):
                self._files = self._expand([Path(p) for p in items])
            else:
                self._iterable = paths  # type: ignore[assignment]

    @staticmethod
    def _expand(paths: list[Path]) -> list[Path]:
        files: list[Path] = []
        for p in paths:
            if p.is_dir():
                files.extend(sorted(f for f in p.rglob("*") if f.is_file() and not f.name.startswith(".")))
            elif p.is_file():
                files.append(p)
            else:
                raise FileNotFoundError(f"no such file or directory: {p}")
        return files

    @property
    def files(self) -> list[Path]:
        """The files this corpus reads (empty for an in-memory iterable)."""
        return list(self._files or [])

    def _tokenize(self, text: str) -> list[str]:
        if self.lowercase:
            text = text.lower()
        return self.tokenizer(text) if self.tokenizer is not None else text.split()

    def _cut(self, tokens: list[str]) -> Iterator[list[str]]:
        n = self.max_sentence_length
        for i in range(0, len(tokens), n):
            yield tokens[i : i + n]

    def _streams(self) -> Iterator[IO[str]]:
        for f in self._files or []:
            suffix = f.suffix.lower()
            if suffix == ".zip":
                with zipfile.ZipFile(f) as z:
                    for name in sorted(z.namelist()):
                        if name.endswith("/"):
                            continue
                        with z.open(name) as raw:
                            yield io.TextIOWrapper(raw, encoding="utf-8", errors=self.encoding_errors)
            else:
                opener = _OPENERS.get(suffix, open)
                with opener(f, "rt", encoding="utf-8", errors=self.encoding_errors) as fh:
                    yield fh

    def _read(self, fh: IO[str]) -> Iterator[list[str]]:
        """Sentences of one text stream, read in blocks so no line needs to fit in memory."""
        n = self.max_sentence_length
        carry = ""
        pending: list[str] = []  # tokens of a line longer than a block, not yet emitted
        while True:
            block = fh.read(_BLOCK)
            if not block:
                break
            lines = (carry + block).split("\n")
            carry = lines.pop()
            for line in lines:
                tokens = self._tokenize(line)
                if pending:
                    tokens, pending = pending + tokens, []
                if tokens:
                    yield from self._cut(tokens)
            if len(carry) > _BLOCK:  # one enormous line: tokenise up to its last complete token
                cut = max(carry.rfind(" "), carry.rfind("\t"))
                if cut > 0:
                    pending.extend(self._tokenize(carry[:cut]))
                    carry = carry[cut:]
                    full = len(pending) - len(pending) % n
                    if full:
                        yield from self._cut(pending[:full])
                        pending = pending[full:]
        tokens = pending + self._tokenize(carry)
        if tokens:
            yield from self._cut(tokens)

    def __iter__(self) -> Iterator[list[str]]:
        if self._iterable is not None:
            for i, sentence in enumerate(self._iterable):
                if not isinstance(sentence, list | tuple):  # a str is neither
                    raise InvalidInputError(f"sentence #{i} is {type(sentence).__name__}; an iterable corpus must "
                                            "yield lists of tokens (use TextCorpus(path) for text files)")
                toks = [t.lower() for t in sentence] if self.lowercase else list(sentence)
                if toks:
                    yield from self._cut(toks)
            return
        for fh in self._streams():
            yield from self._read(fh)

    def __repr__(self) -> str:
        src = f"{len(self._files)} file(s)" if self._files is not None else "an iterable"
        return f"TextCorpus({src}, lowercase={self.lowercase})"
