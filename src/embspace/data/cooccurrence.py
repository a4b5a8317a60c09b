"""Cooccurrence: word-word co-occurrence counts built in bounded memory, spilled to disk and shuffled.

Counting follows Stanford GloVe's ``cooccur`` with a symmetric window: two words ``d`` positions
apart in a sentence add ``1/d``; windows do not cross sentence boundaries. Each unordered pair is
stored once (``row <= col``). The most frequent words' pairs go to a dense table, the rest to an
open-addressing hash table; when the table fills its share of the memory budget it is sorted and
spilled to disk, and the sorted runs are merged in blocks at the end. The final records are
written in random order (an external bucket shuffle), ready for SGD, so no step ever holds more
than the budget: corpora whose co-occurrence table is larger than memory work.
"""

from __future__ import annotations

import resource
import shutil
import tempfile
import time
import weakref
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import numpy.typing as npt

from .._memory import release_free_memory
from ..errors import InvalidInputError
from . import _cooc_kernels as K
from .encoded_corpus import EncodedCorpus
from .vocab import Vocab

RECORD = np.dtype([("row", "<i4"), ("col", "<i4"), ("val", "<f4")])
_ENTRY_BYTES = 16  # int64 key + float64 value in the hash table and the runs (sums stay accurate)
_MIN_TABLE = 1 << 16
_MAX_TABLE = 1 << 30
_DENSE_SHARE = 0.25  # of a worker's memory share, for the most frequent words' pairs
_MAX_DENSE_WORDS = 4096
_CHUNK_TOKENS = 1 << 20

Progress = Callable[[str, int, int], None]
"""``progress(stage, done, total)``."""


def parse_memory(value: int | str | None, default: int) -> int:
    """Bytes from ``1GB``, ``512MB``, ``2G``, ``300000000`` (``None``: the default)."""
    if value is None:
        return default
    if isinstance(value, int):
        return value
    s = value.strip().upper().replace(" ", "").removesuffix("B").removesuffix("I")
    units = {"K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}
    try:
        if s and s[-1] in units:
            return int(float(s[:-1]) * units[s[-1]])
        return int(float(s))
    except ValueError:
        raise InvalidInputError(f"cannot read a memory size from {value!r}; write e.g. '1GB' or '512MB'") from None


def rss_peak_bytes() -> int:
    """The process's peak resident memory so far (Linux reports KiB)."""
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024


class Cooccurrence:
    """Canonical co-occurrence records ``(row <= col, value)`` on disk, in random order.

    Attributes
    ----------
    vocab
        The vocabulary whose ids the records use.
    nnz
        Number of records (unordered pairs with a non-zero count).
    diagonal
        How many of them pair a word with itself.
    path
        The records file (``RECORD`` dtype: int32 row, int32 col, float32 value).
    window
        The window the counts were made with.
    """

    def __init__(self, path: Path, nnz: int, vocab: Vocab, window: int, workdir: Path | None,
                 diagonal: int = 0) -> None:
        self.path = path
        self.nnz = nnz
        self.diagonal = diagonal
        self.vocab = vocab
        self.window = window
        self.workdir = workdir
        if workdir is not None:
            self._finalizer = weakref.finalize(self, shutil.rmtree, str(workdir), True)

    @property
    def nnz_both_directions(self) -> int:
        """Non-zeros of the full symmetric matrix (what Stanford GloVe's ``cooccur`` writes)."""
        return 2 * self.nnz - self.diagonal

    @classmethod
    def build(cls, corpus: EncodedCorpus, *, window: int = 10, max_memory: int = 2**30, workers: int = 1,
              seed: int = 1, workdir: str | Path | None = None, progress: Progress | None = None) -> Cooccurrence:
        """Count co-occurrences of ``corpus`` within ``window`` using at most ``max_memory`` bytes of buffers."""
        if window < 1:
            raise InvalidInputError(f"window must be >= 1, got {window}")
        if max_memory < 16 * 2**20:
            raise InvalidInputError(f"max_memory of {max_memory} bytes is too small; give at least 16MB")
        own = workdir is None
        wd = Path(tempfile.mkdtemp(prefix="embspace-cooc-")) if workdir is None else Path(workdir)
        wd.mkdir(parents=True, exist_ok=True)
        try:
            return cls._build(corpus, window, max_memory, max(1, workers), seed, wd, own, progress)
        except BaseException:
            if own:
                shutil.rmtree(wd, ignore_errors=True)
            raise

    @classmethod
    def _build(cls, corpus: EncodedCorpus, window: int, budget: int, workers: int, seed: int, wd: Path, own: bool,
               progress: Progress | None) -> Cooccurrence:
        vocab_size = len(corpus.vocab)
        per_worker = budget // workers
        dense_words = int(min(vocab_size, _MAX_DENSE_WORDS, np.sqrt(per_worker * _DENSE_SHARE / 8)))  # float64 cells
        # The table never needs more slots than the pairs a worker can see (tokens x window), with room.
        need = (len(corpus) // workers + 1) * window // 2
        table = _MIN_TABLE
        # A slot costs 16 bytes in the table and up to 32 more while a full table is sorted and spilled.
        fixed = dense_words**2 * 8 + _CHUNK_TOKENS * 4
        while table < min(_MAX_TABLE, need) and (table * 2) * _ENTRY_BYTES * 3 + fixed <= per_worker:
            table *= 2
        longest = int(corpus.sentence_lengths.max()) if len(corpus.sentence_lengths) else 0
        max_fill = int(table * 0.7) - longest * window
        if max_fill < table // 4:
            raise InvalidInputError(
                f"max_memory is too small for sentences of {longest} tokens with window {window}; raise max_memory "
                "or cut sentences shorter (TextCorpus(max_sentence_length=...))")
        chunks = corpus.jobs(_CHUNK_TOKENS)  # read a chunk at a time: the corpus is never resident whole
        runs: list[Path] = []
        done = [0]
        t_last = [0.0]

        def work(w: int) -> npt.NDArray[np.float64]:
            dense = np.zeros(dense_words * dense_words, np.float64)
            keys = np.full(table, -1, np.int64)
            vals = np.zeros(table, np.float64)
            fill = spilled = 0
            mine = chunks[w::workers]
            for c, (t0, t1, s0, s1) in enumerate(mine):
                tokens = corpus.read(t0, t1)
                lens = corpus.sentence_lengths[s0:s1]
                s, pos = 0, 0
                while s < len(lens):
                    s_next, pos_next, fill = K.count(tokens, lens, s, len(lens), pos, window, vocab_size, dense,
                                                     dense_words, keys, vals, fill, max_fill)
                    done[0] += pos_next - pos
                    s, pos = s_next, pos_next
                    last = c == len(mine) - 1 and s >= len(lens)
                    if fill and (fill >= max_fill or last):
                        runs.append(_spill(keys, vals, wd / f"run-{w}-{spilled}.bin"))
                        spilled += 1
                        keys.fill(-1)
                        fill = 0
                if progress is not None and time.monotonic() - t_last[0] > 0.5:
                    progress("counting", done[0], len(corpus))
                    t_last[0] = time.monotonic()
            return dense

        with ThreadPoolExecutor(workers) as pool:
            denses = list(pool.map(work, range(workers)))
        dense = denses[0]
        for d in denses[1:]:
            dense += d
        del denses
        dense_run = _dense_run(dense.reshape(dense_words, dense_words), vocab_size, wd / "run-dense.bin")
        del dense
        release_free_memory()
        if dense_run is not None:
            runs.append(dense_run)
        if progress is not None:
            progress("counting", len(corpus), len(corpus))
        out = wd / "records.bin"
        nnz, diagonal = _merge_shuffle(runs, vocab_size, budget, seed, out, wd, progress)
        for r in runs:
            r.unlink(missing_ok=True)
            r.with_suffix(".n").unlink(missing_ok=True)
        return cls(out, nnz, corpus.vocab, window, wd if own else None, diagonal)

    def blocks(self, records: int) -> Iterator[npt.NDArray[np.void]]:
        """The records in file order, ``records`` at a time (read, not memory-mapped)."""
        with open(self.path, "rb") as f:
            while True:
                block = np.fromfile(f, dtype=RECORD, count=records)
                if not len(block):
                    return
                yield block

    def load(self) -> npt.NDArray[np.void]:
        """All records in memory."""
        return np.fromfile(self.path, dtype=RECORD)

    def to_dense(self) -> npt.NDArray[np.float64]:
        """The full symmetric matrix (small vocabularies only; for tests and inspection)."""
        v = len(self.vocab)
        m = np.zeros((v, v))
        rec = self.load()
        np.add.at(m, (rec["row"], rec["col"]), rec["val"])
        off = rec["row"] != rec["col"]
        np.add.at(m, (rec["col"][off], rec["row"][off]), rec["val"][off])
        return m

    def close(self) -> None:
        if self.workdir is not None:
            self._finalizer()

    def __repr__(self) -> str:
        return f"Cooccurrence({self.nnz} pairs over {len(self.vocab)} words, window={self.window})"


def _spill(keys: npt.NDArray[np.int64], vals: npt.NDArray[np.float64], path: Path) -> Path:
    used = keys >= 0
    k, v = keys[used], vals[used]
    order = np.argsort(k, kind="stable")
    with open(path, "wb") as f:
        k[order].tofile(f)
        v[order].tofile(f)
    (path.with_suffix(".n")).write_text(str(len(k)))
    return path


def _dense_run(dense: npt.NDArray[np.float64], vocab_size: int, path: Path) -> Path | None:
    a, b = np.nonzero(np.triu(dense))
    if not len(a):
        return None
    keys = a.astype(np.int64) * vocab_size + b  # row-major nonzero order is sorted by key
    with open(path, "wb") as f:
        keys.tofile(f)
        dense[a, b].astype(np.float64).tofile(f)
    path.with_suffix(".n").write_text(str(len(keys)))
    return path


class _Run:
    """A sorted run on disk (keys then values), read block by block."""

    def __init__(self, path: Path, block: int) -> None:
        self.n = int(path.with_suffix(".n").read_text())
        self.path = path
        self.block = block
        self.pos = 0
        self.keys = np.zeros(0, np.int64)
        self.vals = np.zeros(0, np.float64)
        self.refill()

    def refill(self) -> None:
        if self.pos >= self.n or len(self.keys) >= self.block // 2:
            return
        take = min(self.block - len(self.keys), self.n - self.pos)
        with open(self.path, "rb") as f:
            f.seek(self.pos * 8)
            k = np.fromfile(f, dtype=np.int64, count=take)
            f.seek(self.n * 8 + self.pos * 8)
            v = np.fromfile(f, dtype=np.float64, count=take)
        self.pos += take
        self.keys = np.concatenate([self.keys, k])
        self.vals = np.concatenate([self.vals, v])

    @property
    def done(self) -> bool:
        return self.pos >= self.n and not len(self.keys)


def _merge_shuffle(runs: list[Path], vocab_size: int, budget: int, seed: int, out: Path, wd: Path,
                   progress: Progress | None) -> tuple[int, int]:
    """k-way merge of sorted runs (summing equal keys) into shuffled records; returns (nnz, diagonal)."""
    rng = np.random.default_rng(seed)
    block = max(1024, budget // (max(len(runs), 1) * _ENTRY_BYTES * 16))
    readers = [_Run(p, block) for p in runs]
    total_in = sum(r.n for r in readers)
    # Buckets for the external shuffle: each must fit in the budget when read back.
    n_buckets = max(1, int(np.ceil(total_in * RECORD.itemsize * 6 / budget)))
    bucket_paths = [wd / f"bucket-{i}.bin" for i in range(n_buckets)]
    bucket_files = [open(p, "wb") for p in bucket_paths]  # noqa: SIM115 - closed below
    nnz = diagonal = 0
    merged_in = 0
    try:
        while any(not r.done for r in readers):
            live = [r for r in readers if len(r.keys)]
            # Keys up to the smallest "last key in buffer" are complete in every run.
            safe = min(int(r.keys[-1]) for r in live if r.pos < r.n) if any(r.pos < r.n for r in live) else None
            ks, vs = [], []
            for r in live:
                cut = len(r.keys) if safe is None else int(np.searchsorted(r.keys, safe, side="right"))
                ks.append(r.keys[:cut])
                vs.append(r.vals[:cut])
                r.keys, r.vals = r.keys[cut:], r.vals[cut:]
            keys = np.concatenate(ks)
            vals = np.concatenate(vs)
            merged_in += len(keys)
            if len(keys):
                order = np.argsort(keys, kind="stable")
                keys, vals = keys[order], vals[order]
                m = K.reduce_sorted(keys, vals)
                keys, vals = keys[:m], vals[:m]
                rec = np.empty(m, RECORD)
                rec["row"] = keys // vocab_size
                rec["col"] = keys % vocab_size
                rec["val"] = vals
                diagonal += int((rec["row"] == rec["col"]).sum())
                nnz += m
                which = rng.integers(n_buckets, size=m)
                order = np.argsort(which, kind="stable")
                bounds = np.concatenate([[0], np.cumsum(np.bincount(which, minlength=n_buckets))])
                rec = rec[order]
                for b in range(n_buckets):
                    rec[bounds[b] : bounds[b + 1]].tofile(bucket_files[b])
            for r in readers:
                r.refill()
            if progress is not None:
                progress("merging", merged_in, total_in)
    finally:
        for f in bucket_files:
            f.close()
    release_free_memory()
    with open(out, "wb") as f:
        for i, p in enumerate(bucket_paths):
            rec = np.fromfile(p, dtype=RECORD)
            rec[rng.permutation(len(rec))].tofile(f)
            p.unlink()
            if progress is not None:
                progress("shuffling", i + 1, n_buckets)
    return nnz, diagonal
