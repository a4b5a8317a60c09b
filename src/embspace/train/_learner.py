"""What the corpus learners (Word2Vec, GloVe) share: corpus handling, the vocabulary, common checks.

The learner contract itself (settings, ``check_is_fitted``) is :class:`._base.Learner`."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from ..data.corpus import TextCorpus
from ..data.encoded_corpus import EncodedCorpus
from ..data.vocab import Vocab
from ..errors import InvalidInputError
from ..space.embedding_space import EmbeddingSpace
from ._base import Learner
from ._progress import TrainingProgress

CorpusLike = str | Path | TextCorpus | Iterable[Sequence[str]]


def as_corpus(corpus: CorpusLike) -> Iterable[Sequence[str]]:
    """A path (or a list of paths) becomes a streamed :class:`TextCorpus`; sentences pass through.

    A list of strings is always a list of paths (a sentence is a list of tokens), so a missing
    file is a ``FileNotFoundError``, never a corpus made of file names.
    """
    if isinstance(corpus, str | Path):
        return TextCorpus(corpus)
    if isinstance(corpus, list | tuple) and corpus and all(isinstance(p, str | Path) for p in corpus):
        return TextCorpus(list(corpus))
    return corpus


class CorpusLearner(Learner):
    """Base of the learners of a text corpus: settings in ``__init__`` (no I/O), learned state ending in ``_``."""

    min_count: int
    max_vocab_size: int | None
    progress: bool
    workers: int | None

    def _n_workers(self) -> int:
        return self.workers or os.cpu_count() or 1

    def _check_positive(self, *names: str) -> None:
        for name in names:
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise InvalidInputError(f"{name} must be a positive integer, got {v!r}")
        if self.workers is not None and (not isinstance(self.workers, int) or self.workers < 1):
            raise InvalidInputError(f"workers must be a positive integer, got {self.workers!r}")

    @property
    def space_(self) -> EmbeddingSpace:
        """The learned vectors, most frequent key first, with counts and provenance."""
        return self._fitted("_space")  # type: ignore[no-any-return]

    @property
    def vocab_(self) -> Vocab:
        return self._fitted("_vocab")  # type: ignore[no-any-return]

    @property
    def loss_history_(self) -> list[float]:
        """Mean training loss of each epoch."""
        return self._fitted("_loss_history")  # type: ignore[no-any-return]

    def _encode(self, corpus: CorpusLike, base: Vocab | None = None) -> EncodedCorpus:
        src = as_corpus(corpus)
        if not self.progress:
            return EncodedCorpus.encode(src, min_count=self.min_count, max_vocab_size=self.max_vocab_size,
                                        base_vocab=base)
        with TrainingProgress(0, "vocabulary", unit="tokens") as p:
            def report(tokens: int, sentences: int) -> None:
                p.advance(tokens - p.done, description=f"vocabulary ({sentences:,} sentences)")

            return EncodedCorpus.encode(src, min_count=self.min_count, max_vocab_size=self.max_vocab_size,
                                        base_vocab=base, progress=report)
