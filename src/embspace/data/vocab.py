"""Vocab: the words of a corpus with their counts, most frequent first."""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import numpy.typing as npt

from ..errors import InvalidInputError, UnknownKeyError


class Vocab:
    """Words sorted by decreasing count (ties in order of first appearance), with their counts.

    Parameters
    ----------
    words
        The words, one id each (the position).
    counts
        Their counts, aligned with ``words``.
    min_count
        The threshold that was applied (kept for provenance).
    raw_token_count
        Tokens in the corpus before the threshold (``total`` counts only the kept words).
    """

    def __init__(self, words: Sequence[str], counts: npt.ArrayLike, *, min_count: int = 1,
                 raw_token_count: int | None = None) -> None:
        self.words: tuple[str, ...] = tuple(words)
        self.counts = np.asarray(counts, dtype=np.int64)
        if self.counts.shape != (len(self.words),):
            raise InvalidInputError(f"{len(self.words)} words but {self.counts.shape} counts")
        self.index = {w: i for i, w in enumerate(self.words)}
        if len(self.index) != len(self.words):
            raise InvalidInputError("vocabulary words must be unique")
        self.min_count = min_count
        self.total = int(self.counts.sum())
        self.raw_token_count = int(raw_token_count if raw_token_count is not None else self.total)

    @classmethod
    def from_counts(cls, counts: Mapping[str, int], *, min_count: int = 5, max_size: int | None = None,
                    raw_token_count: int | None = None) -> Vocab:
        """Keep words with ``count >= min_count``, most frequent first, at most ``max_size``."""
        if min_count < 1:
            raise InvalidInputError(f"min_count must be >= 1, got {min_count}")
        raw = int(sum(counts.values())) if raw_token_count is None else raw_token_count
        if raw == 0:
            raise InvalidInputError("the corpus is empty: no tokens were found")
        kept = [(w, c) for w, c in counts.items() if c >= min_count]
        if not kept:
            top_word, top_count = max(counts.items(), key=lambda wc: wc[1])
            raise InvalidInputError(f"no word occurs at least min_count={min_count} times (the most frequent, "
                                    f"{top_word!r}, occurs {top_count} times); lower min_count or add text")
        order = sorted(range(len(kept)), key=lambda i: -kept[i][1])  # stable: first appearance breaks ties
        if max_size is not None:
            order = order[:max_size]
        return cls([kept[i][0] for i in order], [kept[i][1] for i in order], min_count=min_count,
                   raw_token_count=raw)

    @classmethod
    def build(cls, sentences: Iterable[Sequence[str]], *, min_count: int = 5,
              max_size: int | None = None) -> Vocab:
        """Count the words of ``sentences`` (one pass) and keep the frequent ones."""
        counter: Counter[str] = Counter()
        for s in sentences:
            counter.update(s)
        return cls.from_counts(counter, min_count=min_count, max_size=max_size)

    def __len__(self) -> int:
        return len(self.words)

    def __contains__(self, word: object) -> bool:
        return word in self.index

    def __getitem__(self, word: str) -> int:
        try:
            return self.index[word]
        except KeyError:
            from ..space._suggest import suggest

            raise UnknownKeyError(word, suggest(word, self.words), where="the vocabulary") from None

    def fingerprint(self) -> str:
        """sha256 of the words and their counts: identifies the corpus a model was trained on."""
        h = hashlib.sha256("\n".join(self.words).encode())
        h.update(self.counts.tobytes())
        return h.hexdigest()

    def keep_probabilities(self, sample: float) -> npt.NDArray[np.float32]:
        """Probability of keeping each word under frequent-word subsampling (word2vec's formula).

        ``p(w) = (sqrt(c(w) / t) + 1) * t / c(w)`` with ``t = sample * total``, capped at 1;
        ``sample <= 0`` keeps everything.
        """
        if sample <= 0:
            return np.ones(len(self), np.float32)
        c = np.maximum(self.counts.astype(np.float64), 1.0)
        t = sample * self.total
        return np.minimum((np.sqrt(c / t) + 1.0) * t / c, 1.0).astype(np.float32)

    def noise_distribution(self, exponent: float = 0.75) -> npt.NDArray[np.float64]:
        """The negative-sampling distribution, proportional to ``count ** exponent``."""
        p: npt.NDArray[np.float64] = np.power(self.counts.astype(np.float64), exponent)
        p /= p.sum()
        return p

    def extended(self, counts: Mapping[str, int], *, min_count: int | None = None) -> Vocab:
        """This vocabulary with ``counts`` added: old words keep their ids (their counts grow), new
        words with at least ``min_count`` occurrences are appended, most frequent first."""
        mc = self.min_count if min_count is None else min_count
        new_counts = self.counts.copy()
        fresh: list[tuple[str, int]] = []
        for w, c in counts.items():
            i = self.index.get(w)
            if i is not None:
                new_counts[i] += c
            elif c >= mc:
                fresh.append((w, c))
        fresh.sort(key=lambda wc: -wc[1])
        return Vocab(self.words + tuple(w for w, _ in fresh),
                     np.concatenate([new_counts, np.array([c for _, c in fresh], np.int64)]),
                     min_count=mc, raw_token_count=self.raw_token_count + int(sum(counts.values())))

    def __repr__(self) -> str:
        return f"Vocab({len(self)} words, {self.total} tokens, min_count={self.min_count})"
