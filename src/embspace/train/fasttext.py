"""FastText: word2vec whose input side is the sum of character n-grams, so that unknown words get vectors."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from .._memory import huge_copy
from .._types import FloatArray
from ..data.vocab import Vocab
from ..errors import InvalidInputError
from ..space._subwords import subword_buckets
from ..space.embedding_space import EmbeddingSpace
from ..space.provenance import Provenance
from ..space.subword_space import SubwordSpace, _Subwords
from ._device import Engine
from ._learner import CorpusLike
from ._sampling import alias_table
from .word2vec import Architecture, Word2Vec

__all__ = ["FastText"]

_FT_LOSS_NS, _FT_MODEL = 2, {"cbow": 1, "skipgram": 2}  # fastText's args.loss / args.model codes


class FastText(Word2Vec):
    """fastText (Bojanowski et al. 2017): word2vec where a word is its own vector plus those of its
    character n-grams, so that words never seen (typos, rare inflections, new names) get vectors.

    The n-grams are the ``minn``..``maxn`` characters of ``<word>`` (``<`` and ``>`` mark the ends), hashed
    into ``buckets`` with fastText's FNV-1a, exactly as fastText does (models are exchanged through its
    ``.bin`` format: ``space_.save(path, format="fasttext")``). Only the buckets the vocabulary's n-grams
    fall into get rows (``memory_`` says how many); the others stay zero, and count as zero vectors for an
    unknown word, as untrained buckets would in a ``.bin``.

    The compiled CPU engine of :class:`Word2Vec` trains it, with one change that makes n-grams cheap: each
    position of a sentence computes its input vector (the mean of its rows) once and collects the gradient of
    every centre word it is a context of, then adds it to its rows once (fastText and gensim do both for
    every (centre, context) pair). Settings as :class:`Word2Vec`, plus:

    Parameters
    ----------
    minn, maxn
        Shortest and longest n-gram, in characters of ``<word>`` (fastText: 3 and 6). ``maxn=0``: no
        n-grams (plain word2vec, with fastText's initialisation).
    buckets
        Hash buckets for the n-grams (fastText's ``-bucket``, 2,000,000).

    Attributes
    ----------
    space_ : SubwordSpace
        The vocabulary's vectors (fastText's ``getWordVector``: the mean of the word's rows), which also
        answers unknown words from their n-grams (``space_.vector("disc0unt")``).
    memory_ : dict
        ``ngram_rows`` (buckets used), ``buckets``, and the bytes of the input and output matrices
        (``input_bytes``, ``output_bytes``) next to those of a fully allocated bucket matrix
        (``dense_input_bytes``, what fastText and gensim allocate).

    Notes
    -----
    On CUDA/MPS (``device="auto"`` with a GPU) the PyTorch engine of :class:`Word2Vec` trains it, each word's
    input being the mean of its rows (gathered per (centre, context) pair, in batches). :meth:`partial_fit` is
    not offered (new words bring new n-gram rows).
    """

    def __init__(self, *, dim: int = 100, window: int = 5, min_count: int = 5, architecture: Architecture = "skipgram",
                 negative: int = 5, ns_exponent: float = 0.75, sample: float = 1e-3, epochs: int = 5,
                 alpha: float | None = None, min_alpha: float = 1e-4, minn: int = 3, maxn: int = 6,
                 buckets: int = 2_000_000, workers: int | None = None, seed: int = 1, device: str = "auto",
                 progress: bool = True, max_vocab_size: int | None = None) -> None:
        super().__init__(dim=dim, window=window, min_count=min_count, architecture=architecture, negative=negative,
                         ns_exponent=ns_exponent, sample=sample, epochs=epochs, alpha=alpha, min_alpha=min_alpha,
                         workers=workers, seed=seed, device=device, progress=progress,
                         max_vocab_size=max_vocab_size)
        self.minn = minn
        self.maxn = maxn
        self.buckets = buckets

    def _check(self) -> None:
        super()._check()
        for name in ("minn", "maxn", "buckets"):
            v = getattr(self, name)
            if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                raise InvalidInputError(f"{name} must be a non-negative integer, got {v!r}")
        if self.maxn and not 1 <= self.minn <= self.maxn:
            raise InvalidInputError(f"need 1 <= minn <= maxn for n-grams, got minn={self.minn}, maxn={self.maxn}; "
                                    "maxn=0 turns n-grams off")
        if self.maxn and self.buckets < 1:
            raise InvalidInputError("buckets must be at least 1 when n-grams are on (maxn > 0)")

    @property
    def memory_(self) -> dict[str, int]:
        """Buckets used and bytes held (see the class docstring)."""
        self._fitted("_syn0")
        nwords, used = len(self._vocab), len(self._bucket_ids)
        row = 4 * self.dim
        return {"ngram_rows": used, "buckets": self.buckets if self.maxn else 0,
                "input_bytes": int(self._syn0.nbytes), "output_bytes": int(self._syn1.nbytes),
                "index_bytes": int(self._ptr.nbytes + self._rows.nbytes),
                "dense_input_bytes": row * (nwords + (self.buckets if self.maxn else 0))}

    # ------------------------------------------------------------------ hooks of Word2Vec
    def _prepare(self, vocab: Vocab) -> None:
        """Each word's input rows: its own, then its n-grams' (buckets renumbered densely after the words)."""
        nwords = len(vocab)
        if self.maxn:
            ptr, buckets = subword_buckets([w.encode("utf-8") for w in vocab.words], self.minn, self.maxn,
                                           self.buckets)
        else:
            ptr, buckets = np.zeros(nwords + 1, np.int64), np.zeros(0, np.int64)
        used, dense = np.unique(buckets, return_inverse=True)
        per_word = np.diff(ptr) + 1
        out_ptr = np.zeros(nwords + 1, np.int64)
        np.cumsum(per_word, out=out_ptr[1:])
        rows = np.empty(int(out_ptr[-1]), np.int32)
        rows[out_ptr[:-1]] = np.arange(nwords, dtype=np.int32)
        grams = np.ones(len(rows), bool)
        grams[out_ptr[:-1]] = False
        rows[grams] = nwords + dense.reshape(-1).astype(np.int32)
        self._bucket_ids = used.astype(np.int64)
        self._ptr, self._rows = out_ptr, rows

    def _init_input(self, rng: np.random.Generator, vocab: Vocab) -> FloatArray:
        """Uniform in +-1 / dim for words and the n-gram rows in use, as fastText initialises its input matrix."""
        n = len(vocab) + len(self._bucket_ids)
        return huge_copy(((rng.random((n, self.dim), dtype=np.float32) * 2 - 1) / self.dim).astype(np.float32))

    def _runner(self, engine: Engine, vocab: Vocab, keep: FloatArray) -> tuple[Any, Any]:
        if engine.kind == "torch":
            from ._w2v_torch import TorchFastText

            trainer: Any = TorchFastText(self._syn0, self._syn1, engine.device, self.architecture, self.window,
                                         self.negative, vocab.noise_distribution(self.ns_exponent), keep, self._ptr,
                                         self._rows)
            return trainer.run_job, trainer.sync
        from ._ft_kernels import train_ft_cbow, train_ft_sg

        kernel = train_ft_sg if self.architecture == "skipgram" else train_ft_cbow
        prob, alias = alias_table(vocab.noise_distribution(self.ns_exponent))
        syn0, syn1, ptr, rows = self._syn0, self._syn1, self._ptr, self._rows

        def run(tokens: npt.NDArray[np.int32], lens: npt.NDArray[np.int64], al0: float, al1: float,
                seed: int) -> npt.NDArray[np.float64]:
            st = np.zeros(3)
            kernel(tokens, lens, syn0, syn1, ptr, rows, keep, prob, alias, self.window, self.negative, al0, al1,
                   seed, st)
            return st

        return run, lambda: None

    def partial_fit(self, corpus: CorpusLike, *, epochs: int | None = None) -> FastText:
        """Not offered for FastText (new words bring new n-gram rows); call :meth:`fit` on all the text."""
        raise InvalidInputError("FastText.partial_fit is not supported: fit the model on the whole corpus instead")

    def _word_vectors(self) -> FloatArray:
        """fastText's ``getWordVector`` for every word: the mean of its input rows."""
        nwords = len(self._vocab)
        out = np.empty((nwords, self.dim), np.float32)
        ptr, rows, syn0 = self._ptr, self._rows, self._syn0
        per_word = np.diff(ptr)
        for w0 in range(0, nwords, 8192):
            w1 = min(nwords, w0 + 8192)
            seg = rows[ptr[w0] : ptr[w1]]
            sums = np.add.reduceat(syn0[seg], ptr[w0:w1] - ptr[w0], axis=0)
            out[w0:w1] = sums / per_word[w0:w1, None]
        return out

    def _make_space(self) -> EmbeddingSpace:
        vocab = self._vocab
        nwords = len(vocab)
        config = {**self._config(), "engine": self._engine().kind, "run_id": self._run_id,
                  "vocab_size": nwords, "corpus_tokens": vocab.raw_token_count}
        prov = Provenance(model="embspace.fasttext", config=config, data_hash=vocab.fingerprint())
        base = EmbeddingSpace(vocab.words, self._word_vectors(), metric="cosine", counts=vocab.counts,
                              provenance=prov, copy=False)
        if not self.maxn:
            return base
        grams, own = self._syn0[nwords:], self._syn0[:nwords]
        grams.flags.writeable = own.flags.writeable = False  # read-only views: the learner keeps the matrix
        args = {"ws": self.window, "epoch": self.epochs, "minCount": self.min_count, "neg": self.negative,
                "loss": _FT_LOSS_NS, "model": _FT_MODEL[self.architecture], "t": self.sample}
        out = self._syn1.view()
        out.flags.writeable = False
        sub = _Subwords(self.minn, self.maxn, self.buckets, grams, self._bucket_ids, own, out, "utf-8",
                        {**_default_args(), **args})
        return SubwordSpace._from_parts(base, sub)


def _default_args() -> dict[str, float]:
    from ..space.subword_space import FASTTEXT_ARGS

    return dict(FASTTEXT_ARGS)
