"""Word2Vec: skip-gram and CBOW with negative sampling, learned from raw text."""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from .._memory import huge_copy, huge_empty
from .._types import FloatArray
from ..data.encoded_corpus import EncodedCorpus
from ..data.vocab import Vocab
from ..errors import CorruptDataError, InvalidInputError
from ..space.embedding_space import EmbeddingSpace
from ..space.provenance import Provenance
from . import _checkpoint
from ._device import Engine, resolve_engine
from ._learner import CorpusLearner, CorpusLike
from ._progress import TrainingProgress
from ._sampling import alias_table

Architecture = Literal["skipgram", "cbow"]
_JOB_WORDS = 10000


class Word2Vec(CorpusLearner):
    """word2vec (Mikolov et al. 2013): skip-gram or CBOW with negative sampling.

    Configured here (no I/O); learns in :meth:`fit`. On the CPU a compiled hogwild kernel (numba)
    trains with ``workers`` threads; skip-gram shares each centre word's negative samples across
    its context words (HogBatch), which keeps the hot vectors in cache. On CUDA/MPS a PyTorch
    engine trains the same model. ``device="auto"`` picks CUDA when present.

    Parameters
    ----------
    dim
        Vector dimension.
    window
        Maximum distance between a word and its context; each centre word draws a shrunk
        window uniformly in ``1..window`` (dynamic windows), as word2vec does.
    min_count
        Words rarer than this are dropped before training.
    architecture
        ``"skipgram"`` (predict the centre from each context word) or ``"cbow"`` (predict the
        centre from the mean of its context).
    negative
        Negative samples per prediction, drawn from unigram counts ** ``ns_exponent``.
    ns_exponent
        Exponent of the noise distribution (0.75 as in the paper).
    sample
        Frequent-word subsampling threshold (word2vec's formula); 0 disables it.
    epochs
        Passes over the corpus.
    alpha
        Initial learning rate (default 0.025 for skip-gram, 0.05 for CBOW); decays linearly to
        ``min_alpha`` over all epochs.
    min_alpha
        Final learning rate.
    workers
        Threads (default: all cores). With ``workers=1`` and a fixed ``seed`` training is exactly
        repeatable.
    seed
        Seeds initialisation, windows, subsampling and negatives.
    device
        ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"mps"``.
    progress
        Show a progress bar with words/s, loss and ETA.
    max_vocab_size
        Keep at most this many words (the most frequent).

    Attributes
    ----------
    space_ : EmbeddingSpace
        The learned word vectors, most frequent word first, with counts and provenance.
    vocab_ : Vocab
        The vocabulary.
    loss_history_ : list[float]
        Mean negative-sampling loss of each epoch (estimated on every 16th prediction).
    words_per_second_ : float
        Corpus words (before subsampling) x epochs per second of the last training call.
    """

    def __init__(self, *, dim: int = 100, window: int = 5, min_count: int = 5, architecture: Architecture = "skipgram",
                 negative: int = 5, ns_exponent: float = 0.75, sample: float = 1e-3, epochs: int = 5,
                 alpha: float | None = None, min_alpha: float = 1e-4, workers: int | None = None, seed: int = 1,
                 device: str = "auto", progress: bool = True, max_vocab_size: int | None = None) -> None:
        self.dim = dim
        self.window = window
        self.min_count = min_count
        self.architecture = architecture
        self.negative = negative
        self.ns_exponent = ns_exponent
        self.sample = sample
        self.epochs = epochs
        self.alpha = alpha
        self.min_alpha = min_alpha
        self.workers = workers
        self.seed = seed
        self.device = device
        self.progress = progress
        self.max_vocab_size = max_vocab_size

    # ------------------------------------------------------------------ config
    def _check(self) -> None:
        if self.architecture not in ("skipgram", "cbow"):
            raise InvalidInputError(f"architecture must be 'skipgram' or 'cbow', got {self.architecture!r}")
        self._check_positive("dim", "window", "min_count", "epochs", "negative")
        if self.sample < 0 or (self.alpha is not None and self.alpha <= 0) or self.min_alpha < 0:
            raise InvalidInputError("sample, alpha and min_alpha must be non-negative (alpha positive)")

    @property
    def _alpha0(self) -> float:
        return self.alpha if self.alpha is not None else (0.025 if self.architecture == "skipgram" else 0.05)

    @property
    def words_per_second_(self) -> float:
        """Corpus words (before subsampling) x epochs per second of the last training call."""
        return self._fitted("_wps")  # type: ignore[no-any-return]

    # ------------------------------------------------------------------ training
    def fit(self, corpus: CorpusLike, *, checkpoint: str | Path | None = None,
            checkpoint_every: float = 300.0) -> Word2Vec:
        """Build the vocabulary and train on ``corpus`` from scratch.

        Parameters
        ----------
        corpus
            A path (file, directory, archive), a :class:`TextCorpus`, or an iterable of token lists.
        checkpoint
            A directory: the state is saved there after every epoch, every ``checkpoint_every``
            seconds, and when training is interrupted; a later ``fit`` with the same settings and
            corpus resumes from it.
        """
        self._check()
        t0 = time.perf_counter()
        encoded = self._encode(corpus, None)
        vocab = encoded.vocab
        self._prepare(vocab)
        state = _checkpoint.load(checkpoint, self._fingerprint(vocab)) if checkpoint else None
        if state is not None:
            syn0, syn1 = huge_copy(state.arrays["syn0"]), huge_copy(state.arrays["syn1"])
            start = (state.epoch, state.job)
            self._loss_history = list(state.loss_history)
        else:
            syn0 = self._init_input(np.random.default_rng(self.seed), vocab)
            syn1 = huge_empty((len(vocab), self.dim), np.float32)
            syn1.fill(0.0)
            start = (0, 0)
            self._loss_history = []
        self._vocab = vocab
        self._syn0, self._syn1 = syn0, syn1
        self._run_id = uuid.uuid4().hex[:12]
        try:
            self._train(encoded, self.epochs, start, checkpoint, checkpoint_every, t0)
        finally:
            encoded.close()
        return self

    def partial_fit(self, corpus: CorpusLike, *, epochs: int | None = None) -> Word2Vec:
        """Continue training on new text: new frequent words join the vocabulary (their vectors
        start random), known words keep learning; the learning rate decays again from ``alpha``.
        On an unfitted model this is :meth:`fit`."""
        if "_syn0" not in self.__dict__:
            return self.fit(corpus)
        self._check()
        t0 = time.perf_counter()
        encoded = self._encode(corpus, self._vocab)
        grow = len(encoded.vocab) - len(self._vocab)
        if grow:
            rng = np.random.default_rng([self.seed, len(self._loss_history)])
            new0 = ((rng.random((grow, self.dim), dtype=np.float32) - 0.5) / self.dim).astype(np.float32)
            self._syn0 = huge_copy(np.concatenate([self._syn0, new0]))
            self._syn1 = huge_copy(np.concatenate([self._syn1, np.zeros((grow, self.dim), np.float32)]))
        self._vocab = encoded.vocab
        try:
            self._train(encoded, epochs or self.epochs, (0, 0), None, 0.0, t0)
        finally:
            encoded.close()
        return self

    def _fingerprint(self, vocab: Vocab) -> str:
        params = json.dumps(self._config(), sort_keys=True)
        return hashlib.sha256((params + vocab.fingerprint()).encode()).hexdigest()

    def _train(self, encoded: EncodedCorpus, epochs: int, start: tuple[int, int], checkpoint: str | Path | None,
               checkpoint_every: float, t0: float) -> None:
        vocab = encoded.vocab
        if len(encoded) == 0:
            raise InvalidInputError("no tokens left to train on after dropping rare words")
        engine = self._engine()
        keep = vocab.keep_probabilities(self.sample)
        a0, a1 = self._alpha0, self.min_alpha
        jobs = encoded.jobs(_JOB_WORDS)
        n = len(encoded)
        total = n * epochs
        raw_per_kept = encoded.raw_token_count / n
        first_epoch, first_job = start
        stats_epoch = np.zeros(3)
        last_ckpt = time.monotonic()

        run, sync = self._runner(engine, vocab, keep)

        def save(epoch: int, job: int) -> None:
            if checkpoint is not None:
                sync()
                _checkpoint.save(checkpoint, self._fingerprint(vocab), epoch, job, self._loss_history,
                                 {"syn0": self._syn0, "syn1": self._syn1})

        def submit(pool: ThreadPoolExecutor, epoch: int, j: int) -> Future[FloatArray]:
            ts, te, s0, s1 = jobs[j]
            f0 = (epoch * n + ts) / total
            f1 = (epoch * n + te) / total
            seed = (((self.seed * 1_000_003 + epoch) * 1_000_003 + j) * 2_654_435_761) & 0x7FFF_FFFF_FFFF_FFFF
            tok = encoded.read(ts, te)
            return pool.submit(run, tok, encoded.sentence_lengths[s0:s1], a0 - (a0 - a1) * f0,
                               a0 - (a0 - a1) * f1, seed)

        name = f"{type(self).__name__.lower()} {self.architecture}"  # word2vec, fasttext
        done_words = (first_epoch * n + (jobs[first_job][0] if first_job < len(jobs) else n))
        workers = 1 if engine.kind == "torch" else self._n_workers()
        with TrainingProgress(int(total * raw_per_kept), name, enabled=self.progress) as bar, \
                ThreadPoolExecutor(workers) as pool:
            bar.advance(int(done_words * raw_per_kept))
            for epoch in range(first_epoch, epochs):
                stats_epoch[:] = 0
                inflight: deque[tuple[int, Future[FloatArray]]] = deque()
                j_next = done_job = first_job if epoch == first_epoch else 0

                def land(j: int, fut: Future[FloatArray]) -> int:
                    """Account for finished job ``j``; returns the number of jobs done in order."""
                    stats_epoch[...] += fut.result()
                    bar.advance(int((jobs[j][1] - jobs[j][0]) * raw_per_kept),
                                loss=stats_epoch[1] / max(stats_epoch[2], 1),
                                description=f"{name} epoch {epoch + 1}/{epochs}")  # noqa: B023
                    return j + 1

                try:
                    while done_job < len(jobs):
                        while j_next < len(jobs) and len(inflight) < 2 * workers:
                            inflight.append((j_next, submit(pool, epoch, j_next)))
                            j_next += 1
                        done_job = land(*inflight.popleft())
                        if checkpoint is not None and time.monotonic() - last_ckpt > checkpoint_every:
                            while inflight:  # let in-flight jobs land, then save a consistent state
                                done_job = land(*inflight.popleft())
                            j_next = done_job
                            save(epoch, done_job)
                            last_ckpt = time.monotonic()
                except BaseException:
                    for _, f in inflight:  # jobs not started yet are dropped; running ones land
                        f.cancel()
                    while inflight and not inflight[0][1].cancelled():
                        done_job = land(*inflight.popleft())
                    save(epoch, done_job)
                    raise
                self._loss_history.append(float(stats_epoch[1] / max(stats_epoch[2], 1)))
                save(epoch + 1, 0)
        sync()
        wall = time.perf_counter() - t0
        self._wps = encoded.raw_token_count * (epochs - first_epoch) / max(wall, 1e-9)
        self._space = self._make_space()

    # ------------------------------------------------------------------ hooks (FastText overrides them)
    def _engine(self) -> Engine:
        return resolve_engine(self.device)

    def _prepare(self, vocab: Vocab) -> None:
        """Derive what training needs beyond the vocabulary (nothing for word2vec)."""

    def _init_input(self, rng: np.random.Generator, vocab: Vocab) -> FloatArray:
        """The initial input matrix: uniform in +-0.5 / dim, as word2vec.c."""
        return huge_copy((rng.random((len(vocab), self.dim), dtype=np.float32) - 0.5) / self.dim, np.float32)

    def _runner(self, engine: Engine, vocab: Vocab, keep: FloatArray) -> tuple[Any, Any]:
        """``(run(tokens, lens, alpha0, alpha1, seed) -> stats, sync())`` for the engine."""
        if engine.kind == "torch":
            from ._w2v_torch import TorchWord2Vec

            trainer: Any = TorchWord2Vec(self._syn0, self._syn1, engine.device, self.architecture, self.window,
                                         self.negative, vocab.noise_distribution(self.ns_exponent), keep)
            return trainer.run_job, trainer.sync
        from ._w2v_kernels import train_cbow, train_sg

        kernel = train_sg if self.architecture == "skipgram" else train_cbow
        prob, alias = alias_table(vocab.noise_distribution(self.ns_exponent))
        syn0, syn1 = self._syn0, self._syn1

        def run(tokens: npt.NDArray[np.int32], lens: npt.NDArray[np.int64], al0: float, al1: float,
                seed: int) -> npt.NDArray[np.float64]:
            st = np.zeros(3)
            kernel(tokens, lens, syn0, syn1, keep, prob, alias, self.window, self.negative, al0, al1, seed, st)
            return st

        return run, lambda: None  # (the torch engine's sync copies its weights back)

    def _make_space(self) -> EmbeddingSpace:
        vocab = self._vocab
        config = {**self._config(), "engine": resolve_engine(self.device).kind, "run_id": self._run_id,
                  "vocab_size": len(vocab), "corpus_tokens": vocab.raw_token_count}
        prov = Provenance(model="embspace.word2vec", config=config, data_hash=vocab.fingerprint())
        return EmbeddingSpace(vocab.words, self._syn0, metric="cosine", counts=vocab.counts, provenance=prov)

    # ------------------------------------------------------------------ persistence of the learner
    def save(self, path: str | Path) -> Path:
        """Save the learner (both weight matrices, vocabulary, settings) to continue training later."""
        self._fitted("_syn0")
        p = Path(path)
        _checkpoint.save(p, self._fingerprint(self._vocab), self.epochs, 0, self._loss_history,
                         {"syn0": self._syn0, "syn1": self._syn1}, vocab=self._vocab, params=self._config())
        return p

    @classmethod
    def load(cls, path: str | Path) -> Word2Vec:
        """A learner saved by :meth:`save`, ready for :meth:`partial_fit`."""
        state = _checkpoint.load_any(Path(path))
        if state.vocab is None or state.params is None:
            raise CorruptDataError(path, "not a saved Word2Vec learner (no vocabulary or settings)")
        model = cls(**state.params)
        model._vocab = state.vocab
        model._prepare(state.vocab)
        model._syn0, model._syn1 = state.arrays["syn0"], state.arrays["syn1"]
        model._loss_history = list(state.loss_history)
        model._run_id = uuid.uuid4().hex[:12]
        model._wps = 0.0
        model._space = model._make_space()
        return model
