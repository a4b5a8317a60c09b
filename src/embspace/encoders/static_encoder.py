"""StaticEncoder: sentence vectors as the mean or the SIF average of the word vectors of a space.

Texts are split with the tokeniser of :class:`~embspace.data.TextCorpus` (the one embspace trains
word vectors with), words are looked up in a word :class:`~embspace.space.EmbeddingSpace`, and the
vectors of the known words are averaged: plainly (``"mean"``), or with the smooth inverse frequency
weights of Arora, Liang and Ma (2017) followed by the removal of the first principal component
(``"sif"``). Unknown words are dropped and reported in :attr:`StaticEncoder.last_report_`.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import re
import warnings
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from ..data.corpus import TextCorpus, Tokenizer
from ..errors import InvalidInputError, MissingDependencyError, NotFittedError
from ..space.embedding_space import EmbeddingSpace
from ..space.vector import EmbeddingVector
from .encoder import BaseEncoder, Modality, l2_normalize

__all__ = ["OOVReport", "OOVWarning", "StaticEncoder"]

StaticMethod = Literal["mean", "sif"]
Float64Array = npt.NDArray[np.float64]
_METHODS: tuple[StaticMethod, ...] = ("mean", "sif")
_DEFAULT_BATCH = 16384  # texts tokenised and averaged at once: bounds the memory of the token arrays
_TOP_OOV = 20
_OOV_WARN_RATE = 0.5


class OOVWarning(UserWarning):
    """Texts had no known word (zero vectors), or most of their tokens are not in the vocabulary."""


@dataclass(frozen=True)
class OOVReport:
    """Out-of-vocabulary statistics of the last :meth:`StaticEncoder.encode` (or ``fit``) call.

    Attributes
    ----------
    n_items
        Number of texts.
    n_tokens
        Number of tokens after tokenisation, known or not.
    n_oov_tokens
        Tokens not in the word space (dropped from the averages).
    oov_rate
        ``n_oov_tokens / n_tokens`` (0.0 when there are no tokens).
    empty_items
        Indices of the texts with no known token; their vectors are all zeros.
    top_oov
        The most common unknown tokens with their counts, most common first (at most 20).
    """

    n_items: int
    n_tokens: int
    n_oov_tokens: int
    oov_rate: float
    empty_items: tuple[int, ...]
    top_oov: tuple[tuple[str, int], ...]

    def __str__(self) -> str:
        top = ", ".join(f"{w!r} ({c})" for w, c in self.top_oov[:5])
        return (f"{self.n_items} texts, {self.n_tokens} tokens, {self.n_oov_tokens} unknown "
                f"({self.oov_rate:.1%}), {len(self.empty_items)} texts without a known word"
                + (f"; most common unknown: {top}" if top else ""))


class _Stats:
    """Running OOV counts over the batches of one call."""

    def __init__(self) -> None:
        self.n_items = 0
        self.n_tokens = 0
        self.n_oov = 0
        self.empty: list[int] = []
        self.oov: Counter[str] = Counter()

    def report(self) -> OOVReport:
        return OOVReport(
            n_items=self.n_items, n_tokens=self.n_tokens, n_oov_tokens=self.n_oov,
            oov_rate=self.n_oov / self.n_tokens if self.n_tokens else 0.0,
            empty_items=tuple(self.empty),
            top_oov=tuple(self.oov.most_common(_TOP_OOV)),
        )


def _describe_tokenizer(tokenizer: Tokenizer | None) -> str:
    """A stable name for the tokeniser, recorded in the provenance."""
    if tokenizer is None:
        return "whitespace"
    owner = getattr(tokenizer, "__self__", None)
    if isinstance(owner, re.Pattern):  # re.compile(r"[a-z]+").findall
        return f"re:{owner.pattern!r}:{getattr(tokenizer, '__name__', '?')}"
    module = getattr(tokenizer, "__module__", None) or "?"
    return f"{module}.{getattr(tokenizer, '__qualname__', type(tokenizer).__qualname__)}"


def _digest(arr: npt.NDArray[Any]) -> str:
    return hashlib.sha256(np.ascontiguousarray(arr, dtype="<f4").tobytes()).hexdigest()[:16]


class StaticEncoder(BaseEncoder):
    """Sentence vectors from the word vectors of an :class:`~embspace.space.EmbeddingSpace`.

    Parameters
    ----------
    space
        The word space (keys are words). Its raw vectors are averaged (not unit-normalised first, as
        in the SIF paper); its :attr:`~embspace.space.EmbeddingSpace.counts` give the word
        frequencies of ``"sif"``.
    method
        ``"mean"``: the average of the vectors of the known tokens of a text (a repeated word counts
        each time). ``"sif"``: the average weighted by ``sif_a / (sif_a + p(w))``, with ``p(w)`` the
        relative frequency of the word (``counts / counts.sum()``), minus its projection on the
        first principal component of the weighted averages (the first right singular vector of
        their matrix, not centred, as in the paper). Without counts, ``p(w)`` is estimated from the
        row order by Zipf's law, ``p(rank r) = 1 / (r * H_n)``, which assumes rows sorted by
        descending frequency; a warning says so.
    sif_a
        The SIF smoothing constant ``a`` (the paper uses 1e-3 to 1e-4); ignored by ``"mean"``.
    lowercase
        Lower-case texts before tokenising (as :class:`~embspace.data.TextCorpus`).
    tokenizer
        ``str -> list[str]``; default: split on whitespace. Use the tokeniser the word vectors were
        trained with (the shipped :func:`~embspace.data.demo_words` used
        ``re.compile(r"[a-z]+").findall``), or punctuation glued to words makes them unknown.

    Notes
    -----
    The principal component of ``"sif"`` is part of the coordinate system, so it is fixed once
    learned: :meth:`fit` learns it from a sample of texts; when :meth:`encode` is called first, the
    component is learned from that call's texts (at least two with a known word are needed, else
    :class:`~embspace.errors.NotFittedError` asks for :meth:`fit`) and kept for every later call, so
    documents and queries encoded later live in the same space. The component's hash is part of
    :attr:`provenance`: after a refit on other texts the :attr:`space_id` changes, and vectors
    encoded before and after cannot be mixed by mistake. Refitting on the same texts gives the
    same component and the same ``space_id``.

    Words are dropped when unknown; a text without any known word gets a zero vector. Every
    :meth:`encode` (and :meth:`fit`) records an :class:`OOVReport` in :attr:`last_report_` and
    warns (:class:`OOVWarning`) when a text has no known word or more than half the tokens are
    unknown. ``normalize=True`` L2-normalises the outputs; zero rows stay zero. Encoding is
    vectorised (one sparse matrix product per batch); no progress is shown, as it is fast.

    Examples
    --------
    >>> import embspace
    >>> words = embspace.EmbeddingSpace.from_dict({"cat": [1, 0], "dog": [0, 1]})
    >>> enc = StaticEncoder(words)
    >>> enc.encode(["cat dog", "the cat"], normalize=False).tolist()
    [[0.5, 0.5], [1.0, 0.0]]
    >>> enc.last_report_.n_oov_tokens
    1
    """

    modality: Modality = "text"

    def __init__(self, space: EmbeddingSpace, *, method: StaticMethod = "mean", sif_a: float = 1e-3,
                 lowercase: bool = True, tokenizer: Tokenizer | None = None) -> None:
        if not isinstance(space, EmbeddingSpace):
            raise TypeError(f"space must be an EmbeddingSpace of word vectors, got {type(space).__name__}")
        if len(space) == 0:
            raise InvalidInputError("the word space is empty; give a space with at least one word")
        if method not in _METHODS:
            raise InvalidInputError(f"unknown method {method!r}; expected one of {', '.join(_METHODS)}")
        if isinstance(sif_a, bool) or not isinstance(sif_a, int | float) or not math.isfinite(sif_a) \
                or sif_a <= 0:
            raise InvalidInputError(f"sif_a must be a positive number (the paper uses 1e-3 to 1e-4), got {sif_a!r}")
        if tokenizer is not None and not callable(tokenizer):
            raise TypeError(f"tokenizer must be a callable str -> list[str], got {type(tokenizer).__name__}")
        self.space = space
        self.method: StaticMethod = method
        self.sif_a = float(sif_a)
        self.lowercase = bool(lowercase)
        self.tokenizer = tokenizer
        self.name = f"static-{method}({space.provenance.model})"
        self.dim = space.dim
        self.revision = space.space_id
        # The very tokenisation the corpus reader applies when word vectors are trained.
        self._tokenize_text = TextCorpus((), lowercase=self.lowercase, tokenizer=tokenizer)._tokenize
        self._index: dict[str, int] = {k: i for i, k in enumerate(space.keys)}
        self._weights: Float64Array | None = None
        self._frequencies: str | None = None
        if method == "sif":
            self._weights, self._frequencies = self._sif_weights()
        self._component: Float64Array | None = None
        self._report: OOVReport | None = None
        self._update_provenance()

    # ----------------------------------------------------------------- state
    def _sif_weights(self) -> tuple[Float64Array, str]:
        counts = self.space.counts
        if counts is not None and counts.sum() > 0:
            p = counts.astype(np.float64) / float(counts.sum())
            source = "counts"
        else:
            warnings.warn(
                f"the word space {self.space.provenance.describe()} has no word counts, so SIF estimates word "
                "frequencies from the row order with Zipf's law (p ∝ 1/rank), assuming rows are sorted by "
                "descending frequency; give the space counts for exact SIF weights",
                UserWarning, stacklevel=3,
            )
            ranks = np.arange(1, len(self.space) + 1, dtype=np.float64)
            p = 1.0 / ranks / float(np.sum(1.0 / ranks))
            source = "zipf"
        return self.sif_a / (self.sif_a + p), source

    def _update_provenance(self) -> None:
        settings: dict[str, Any] = {
            "method": self.method, "lowercase": self.lowercase, "tokenizer": _describe_tokenizer(self.tokenizer),
        }
        if self.method == "sif":
            assert self._weights is not None
            settings.update(sif_a=self.sif_a, frequencies=self._frequencies, weights=_digest(self._weights),
                            principal_component=None if self._component is None else _digest(self._component))
        else:
            settings["sif_a"] = None  # does not affect the mean
        self._set_provenance(**settings)

    @property
    def component_(self) -> npt.NDArray[np.float32]:
        """The removed principal component (unit, ``(dim,)``) of a fitted ``"sif"`` encoder."""
        if self.method != "sif":
            raise NotFittedError("method='mean' removes no principal component; only method='sif' has one")
        if self._component is None:
            raise NotFittedError("this SIF encoder has no principal component yet; call fit(texts) or encode first")
        return self._component.astype(np.float32)

    @property
    def is_fitted(self) -> bool:
        """Whether encoding needs no fitting: always for ``"mean"``, after the first fit for ``"sif"``."""
        return self.method == "mean" or self._component is not None

    @property
    def last_report_(self) -> OOVReport:
        """The :class:`OOVReport` of the last :meth:`encode` or :meth:`fit` call."""
        if self._report is None:
            raise NotFittedError("no text was encoded yet, so there is no OOV report; call encode first")
        return self._report

    # ----------------------------------------------------------------- public API
    def tokenize(self, text: str) -> list[str]:
        """The tokens of ``text`` as this encoder sees them (as ``TextCorpus`` splits a line)."""
        if not isinstance(text, str):
            raise TypeError(f"tokenize takes a str, got {type(text).__name__}")
        return self._tokens(text, 0)

    def fit(self, texts: Sequence[str], *, batch_size: int | None = None) -> StaticEncoder:
        """Learn the principal component that ``"sif"`` removes (a no-op for ``"mean"``).

        Parameters
        ----------
        texts
            A representative sample of the texts to encode (documents and queries); at least two
            must contain a known word.
        batch_size
            Texts processed at once (memory bound only; the result does not depend on it).

        Returns
        -------
        StaticEncoder
            ``self``, with a new :attr:`component_` and :attr:`space_id`.
        """
        items = self._check_items(texts)
        bs = self._batch_size(batch_size)
        if self.method == "mean":
            return self
        avgs, self._report = self._all_averages(items, bs)
        nonzero = self._count_nonzero(avgs)
        if nonzero < 2:
            raise InvalidInputError(
                f"fit needs at least two texts with a word in the vocabulary to find the principal "
                f"component; {nonzero} of the {len(items)} given have one ({self._report})"
            )
        self._warn(self._report)
        self._set_component(avgs, bs)
        return self

    def encode(self, items: str | Sequence[str], *, batch_size: int | None = None,  # type: ignore[override]
               normalize: bool = True, progress: bool = True) -> EmbeddingVector:
        """Encode texts to a float32 ``(n, dim)`` matrix tagged with this encoder's space.

        Parameters
        ----------
        items
            The texts (a list of str), or one text (the result is then one ``(dim,)`` vector).
        batch_size
            Texts tokenised and averaged at once (memory bound only; default 16384).
        normalize
            L2-normalise every vector (zero vectors of texts without a known word stay zero).
        progress
            Accepted for the Encoder protocol; encoding is fast and shows no progress.

        Returns
        -------
        EmbeddingVector
            ``(n, dim)`` float32 (``(dim,)`` for one text). Also sets :attr:`last_report_`; an unfitted
            ``"sif"`` encoder first learns its principal component from these texts (see the class notes).
        """
        out = super().encode(items, batch_size=batch_size, normalize=normalize, progress=progress)
        if len(out) == 0:
            self._report = _Stats().report()
        else:
            assert self._report is not None
            self._warn(self._report)
        return out

    # ----------------------------------------------------------------- internals
    @staticmethod
    def _batch_size(batch_size: int | None) -> int:
        if batch_size is None:
            return _DEFAULT_BATCH
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise InvalidInputError(f"batch_size must be a positive integer, got {batch_size!r}")
        return batch_size

    def _tokens(self, text: str, i: int) -> list[str]:
        tokens: object = self._tokenize_text(text)
        if isinstance(tokens, list):
            return tokens
        if isinstance(tokens, tuple):
            return list(tokens)
        raise TypeError(f"the tokenizer returned {type(tokens).__name__} for text #{i}; it must return a list of str")

    def _averages(self, texts: list[str], offset: int, stats: _Stats) -> Float64Array:
        """(weighted) averages of the known word vectors, ``(len(texts), dim)`` float64; updates stats."""
        try:
            import scipy.sparse as sp
        except ImportError:  # pragma: no cover - scipy comes with the encoders extra
            raise MissingDependencyError("scipy", "encoders", "StaticEncoder") from None

        n = len(texts)
        token_lists = [self._tokens(t, offset + i) for i, t in enumerate(texts)]
        lengths = np.fromiter(map(len, token_lists), np.int64, count=n)
        flat = list(itertools.chain.from_iterable(token_lists))
        try:
            ids = np.fromiter(map(self._index.get, flat, itertools.repeat(-1)), np.int64, count=len(flat))
        except TypeError:
            raise TypeError("the tokenizer returned an unhashable token; it must return a list of str") from None
        item_of = np.repeat(np.arange(n, dtype=np.int64), lengths)
        known = ids >= 0
        oov_pos = np.flatnonzero(~known)
        stats.n_items += n
        stats.n_tokens += len(flat)
        stats.n_oov += len(oov_pos)
        stats.oov.update(flat[j] for j in oov_pos.tolist())
        kid, kitem = ids[known], item_of[known]
        n_known = np.bincount(kitem, minlength=n)
        stats.empty.extend((np.flatnonzero(n_known == 0) + offset).tolist())
        if not len(kid):
            return np.zeros((n, self.dim), np.float64)
        uniq, col = np.unique(kid, return_inverse=True)
        weight = np.ones(len(kid)) if self._weights is None else self._weights[kid]
        mat = sp.csr_matrix((weight / n_known[kitem], (kitem, col.reshape(-1))), shape=(n, len(uniq)))
        return np.asarray(mat @ self.space.vectors[uniq].astype(np.float64), dtype=np.float64)

    def _all_averages(self, items: list[str], bs: int) -> tuple[npt.NDArray[np.float32], OOVReport]:
        """(weighted) averages of every text, float32 ``(n, dim)``, and the OOV report."""
        stats = _Stats()
        out = np.empty((len(items), self.dim), np.float32)
        for start in range(0, len(items), bs):
            out[start : start + bs] = self._averages(items[start : start + bs], start, stats)
        return out, stats.report()

    @staticmethod
    def _count_nonzero(avgs: npt.NDArray[np.float32]) -> int:
        return int(np.count_nonzero(np.any(avgs != 0, axis=1)))

    def _set_component(self, avgs: npt.NDArray[np.float32], bs: int) -> None:
        """The first right singular vector of ``avgs`` (top eigenvector of ``X^T X``), sign made canonical."""
        # BLAS calls are made back to back (not between tokenising batches), so its threads stay awake.
        gram = np.zeros((self.dim, self.dim), np.float64)
        for start in range(0, len(avgs), bs):
            chunk = avgs[start : start + bs].astype(np.float64)
            gram += chunk.T @ chunk
        _, vecs = np.linalg.eigh(gram)
        u = np.ascontiguousarray(vecs[:, -1], dtype=np.float64)
        u /= np.linalg.norm(u)
        if u[int(np.argmax(np.abs(u)))] < 0:
            u = -u
        self._component = u
        self._update_provenance()

    def _remove_component(self, avgs: npt.NDArray[np.float32], bs: int) -> None:
        """``avgs -= (avgs @ u) u^T`` in place, computed in float64."""
        assert self._component is not None
        u = self._component
        for start in range(0, len(avgs), bs):
            chunk = avgs[start : start + bs].astype(np.float64)
            chunk -= np.outer(chunk @ u, u)
            avgs[start : start + bs] = chunk

    def _encode(self, items: list[Any], *, batch_size: int | None, normalize: bool,
                progress: bool) -> npt.NDArray[np.float32]:
        bs = self._batch_size(batch_size)
        out, self._report = self._all_averages(items, bs)
        if self.method == "sif":
            if self._component is None:
                nonzero = self._count_nonzero(out)
                if nonzero < 2:
                    raise NotFittedError(
                        f"this SIF encoder has no principal component yet and cannot learn it from {len(items)} "
                        f"text(s), of which {nonzero} contain a known word (at least two are needed; "
                        f"{self._report}); call encoder.fit(texts) on a representative sample of your texts first"
                    )
                self._set_component(out, bs)
            self._remove_component(out, bs)
        if normalize:
            l2_normalize(out)
        return out

    def _warn(self, report: OOVReport) -> None:
        if report.empty_items:
            shown = ", ".join(map(str, report.empty_items[:10])) + (", ..." if len(report.empty_items) > 10 else "")
            warnings.warn(
                f"{len(report.empty_items)} of {report.n_items} texts have no word in the vocabulary of "
                f"{self.space.provenance.describe()}; their vectors are all zeros (texts {shown})",
                OOVWarning, stacklevel=3,
            )
        if report.oov_rate > _OOV_WARN_RATE:
            top = ", ".join(repr(w) for w, _ in report.top_oov[:5])
            warnings.warn(
                f"{report.oov_rate:.0%} of the {report.n_tokens} tokens are not in the vocabulary (most common: "
                f"{top}); check that lowercase and tokenizer match how the word vectors were trained",
                OOVWarning, stacklevel=3,
            )

    def __repr__(self) -> str:
        return f"StaticEncoder({self.name!r}, dim={self.dim}, method={self.method!r})"
