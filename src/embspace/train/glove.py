"""GloVe: global vectors from weighted least squares on log co-occurrence counts (Pennington et al. 2014)."""

from __future__ import annotations

import os
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import numpy.typing as npt

from .._memory import huge_empty, release_free_memory
from ..data.cooccurrence import RECORD, Cooccurrence, parse_memory, rss_peak_bytes
from ..errors import InvalidInputError
from ..space.embedding_space import EmbeddingSpace
from ..space.provenance import Provenance
from ._device import resolve_engine
from ._learner import CorpusLearner, CorpusLike
from ._progress import TrainingProgress

_GRAD_CLIP = 100.0  # as Stanford's glove.c
_DEFAULT_MEMORY = 4 * 2**30


def _default_memory() -> int:
    """Half the machine's memory, at most 4 GiB."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - not POSIX
        return _DEFAULT_MEMORY
    return int(min(_DEFAULT_MEMORY, total // 2))


class GloVe(CorpusLearner):
    """GloVe (Pennington, Socher & Manning 2014), as Stanford's tool computes it.

    Co-occurrences are counted in a symmetric window with 1/distance weighting, in bounded memory
    (see :class:`~embspace.data.cooccurrence.Cooccurrence`); then the weighted least-squares
    objective ``f(X_ij) (w_i . w~_j + b_i + b~_j - log X_ij)^2`` with ``f(x) = min(1, (x/x_max)^alpha)``
    is minimised by AdaGrad over the records, hogwild across ``workers`` threads, in a fresh seeded
    order every epoch. The vectors are ``W + W~`` (word plus context vectors).

    Parameters
    ----------
    dim, window, min_count
        Vector size, co-occurrence window (each side), vocabulary threshold.
    x_max, alpha
        The weighting function's cut-off and exponent (use ``x_max=100`` on large corpora).
    epochs, learning_rate
        AdaGrad passes over the co-occurrence records and initial step size.
    workers, seed, device, progress
        Threads, seed, ``"auto"``/``"cpu"``/``"cuda"``, progress bar.
    max_memory
        Bound on the memory of co-occurrence counting and training (bytes or ``"1GB"``); default
        half the machine's memory, at most 4 GiB. Counting spills to disk beyond it; training
        streams the records from disk when they do not fit.
    max_vocab_size
        Keep at most this many words.

    Attributes
    ----------
    space_, vocab_, loss_history_
        The vectors, the vocabulary, the mean weighted squared error of each epoch.
    cooccurrence_nnz_ : int
        Non-zeros of the symmetric co-occurrence matrix.
    peak_memory_ : int
        The process's peak resident memory (bytes) at the end of ``fit``.
    timings_ : dict[str, float]
        Seconds spent on vocabulary, counting and training.
    """

    def __init__(self, *, dim: int = 100, window: int = 10, min_count: int = 5, x_max: float = 10.0,
                 alpha: float = 0.75, epochs: int = 15, learning_rate: float = 0.05, workers: int | None = None,
                 seed: int = 1, device: str = "auto", progress: bool = True, max_memory: int | str | None = None,
                 max_vocab_size: int | None = None) -> None:
        self.dim = dim
        self.window = window
        self.min_count = min_count
        self.x_max = x_max
        self.alpha = alpha
        self.epochs = epochs
        self.learning_rate = learning_rate
        self.workers = workers
        self.seed = seed
        self.device = device
        self.progress = progress
        self.max_memory = max_memory
        self.max_vocab_size = max_vocab_size

    @property
    def cooccurrence_nnz_(self) -> int:
        return self._fitted("_nnz")  # type: ignore[no-any-return]

    @property
    def peak_memory_(self) -> int:
        return self._fitted("_peak")  # type: ignore[no-any-return]

    @property
    def timings_(self) -> dict[str, float]:
        return self._fitted("_timings")  # type: ignore[no-any-return]

    def fit(self, corpus: CorpusLike) -> GloVe:
        """Count co-occurrences in ``corpus`` and learn the vectors."""
        self._check_positive("dim", "window", "min_count", "epochs")
        if self.x_max <= 0 or self.learning_rate <= 0 or self.alpha < 0:
            raise InvalidInputError("x_max and learning_rate must be positive and alpha non-negative")
        budget = parse_memory(self.max_memory, _default_memory())
        engine = resolve_engine(self.device)
        t0 = time.perf_counter()
        encoded = self._encode(corpus)
        vocab = encoded.vocab
        n_rows = 2 * len(vocab)
        # weights and AdaGrad sums (biases included), and the vocabulary's Python objects (~200 bytes a word)
        model_bytes = n_rows * (self.dim + 1) * (4 + 8) + len(vocab) * 200
        if model_bytes + 16 * 2**20 > budget:
            raise InvalidInputError(
                f"max_memory={budget / 2**20:.0f} MiB cannot hold the model ({model_bytes / 2**20:.0f} MiB for "
                f"{len(vocab)} words x {self.dim} dims) plus buffers; raise max_memory or lower dim/max_vocab_size")
        release_free_memory()
        t1 = time.perf_counter()
        try:
            cooc = Cooccurrence.build(encoded, window=self.window, max_memory=budget - model_bytes,
                                      workers=self._n_workers(), seed=self.seed, progress=self._stage_progress())
        finally:
            encoded.close()
        release_free_memory()
        t2 = time.perf_counter()
        try:
            w, _bias = self._train(cooc, budget - model_bytes, engine.kind, engine.device)
        finally:
            cooc.close()
        t3 = time.perf_counter()
        self._vocab = vocab
        self._nnz = cooc.nnz_both_directions
        self._timings = {"vocabulary": t1 - t0, "cooccurrence": t2 - t1, "training": t3 - t2, "total": t3 - t0}
        vectors = w[: len(vocab)] + w[len(vocab):]
        config = {**self._config(), "engine": engine.kind, "run_id": uuid.uuid4().hex[:12],
                  "vocab_size": len(vocab), "corpus_tokens": vocab.raw_token_count, "vectors": "W + W~"}
        self._space = EmbeddingSpace(vocab.words, vectors, metric="cosine", counts=vocab.counts, copy=False,
                                     provenance=Provenance(model="embspace.glove", config=config,
                                                           data_hash=vocab.fingerprint()))
        self._peak = rss_peak_bytes()
        return self

    def _stage_progress(self) -> Any:
        if not self.progress:
            return None
        from rich.console import Console

        console = Console(stderr=True)
        last: dict[str, float] = {}

        def report(stage: str, done: int, total: int) -> None:
            now = time.monotonic()
            if now - last.get(stage, 0.0) > 2.0 or done >= total:
                last[stage] = now
                console.print(f"glove {stage}: {done:,}/{total:,}", highlight=False)

        return report

    def _train(self, cooc: Cooccurrence, budget: int, kind: str, device: str) -> tuple[npt.NDArray[np.float32],
                                                                                        npt.NDArray[np.float32]]:
        rng = np.random.default_rng(self.seed)
        n_rows = 2 * len(cooc.vocab)
        w = huge_empty((n_rows, self.dim), np.float32)
        for r0 in range(0, n_rows, 65536):  # uniform in (-0.5, 0.5) / dim, as glove.c; no full-size temporaries
            part = w[r0 : r0 + 65536]
            rng.random(out=part, dtype=np.float32)
            part -= 0.5
            part /= self.dim
        bias = ((rng.random(n_rows, dtype=np.float32) - 0.5) / self.dim).astype(np.float32)
        # AdaGrad sums in float64, as glove.c: increments of ~1e-9 vanish against 1.0 in float32, which
        # would keep rare words' steps large for the whole run.
        gradsq = huge_empty((n_rows, self.dim), np.float64)
        gradsq.fill(1.0)
        gradsq_b = np.ones(n_rows, np.float64)
        records_budget = self._records_budget(budget)
        in_memory = cooc.nnz * RECORD.itemsize <= records_budget
        block = cooc.nnz if in_memory else max(1, records_budget // (RECORD.itemsize * 4))  # two blocks in flight
        records = cooc.load() if in_memory else None
        self._loss_history: list[float] = []
        # The counting step shuffled the records once (as Stanford's shuffle tool does); unlike glove.c,
        # which then reads that one order in every epoch, each later epoch takes a fresh seeded order, and
        # the kernel applies a record's two directions n/(2 x workers) records apart. On wiki17 with 2
        # workers the analogy accuracy went from 34.3-35.0% (five runs, fixed order, directions back to
        # back) to 36.3-36.5% (three runs; Stanford's glove.c 36.1-36.4% side by side, BENCHMARKS.md).
        order_rng = np.random.default_rng([self.seed, 0x6C0E])
        updates = 2 * cooc.nnz - cooc.diagonal
        if kind == "torch":
            from ._glove_torch import TorchGloVe

            trainer: Any = TorchGloVe(w, bias, gradsq, gradsq_b, device, self.x_max, self.alpha, self.learning_rate,
                                      _GRAD_CLIP, len(cooc.vocab))
        else:
            trainer = None
        workers = 1 if trainer is not None else self._n_workers()
        with TrainingProgress(updates * self.epochs, "glove training", unit="updates", enabled=self.progress) as bar, \
                ThreadPoolExecutor(workers) as pool:
            for epoch in range(self.epochs):
                cost, count = 0.0, 0
                blocks = [records] if records is not None else cooc.blocks(block)
                for rec in blocks:
                    assert rec is not None
                    if epoch > 0:  # in place: a fresh order of the whole table, or within each block read
                        order_rng.shuffle(rec)
                    if trainer is not None:
                        c, k = trainer.run(rec)
                    else:
                        c, k = self._cpu_block(pool, workers, rec, w, gradsq, bias, gradsq_b, len(cooc.vocab))
                    cost += c
                    count += k
                    bar.advance(k, loss=cost / max(count, 1), description=f"glove epoch {epoch + 1}/{self.epochs}")
                self._loss_history.append(cost / max(count, 1))
        if trainer is not None:
            trainer.sync()
        return w, bias

    def _records_budget(self, budget: int) -> int:
        """Bytes of co-occurrence records held in memory at once during training."""
        return budget

    def _cpu_block(self, pool: ThreadPoolExecutor, workers: int, rec: npt.NDArray[np.void], w: Any, gradsq: Any,
                   bias: Any, gradsq_b: Any, vocab_size: int) -> tuple[float, int]:
        from ._glove_kernels import glove_epoch

        rows, cols, vals = rec["row"], rec["col"], rec["val"]
        cuts = np.linspace(0, len(rec), workers + 1).astype(int)

        # a record's second direction is applied half a worker's range after its first: by the same
        # thread later, or by the previous thread earlier, never by two threads at the same step
        shift = len(rec) // (2 * workers)

        def run(p: int) -> tuple[float, int]:
            c, k = glove_epoch(rows, cols, vals, int(cuts[p]), int(cuts[p + 1]), shift, w, gradsq, bias, gradsq_b,
                               vocab_size, float(self.x_max), float(self.alpha), float(self.learning_rate), _GRAD_CLIP)
            return float(c), int(k)

        parts = list(pool.map(run, range(workers)))
        return sum(p[0] for p in parts), sum(p[1] for p in parts)
