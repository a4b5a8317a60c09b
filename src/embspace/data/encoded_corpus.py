"""EncodedCorpus: a corpus as int32 word ids in a memory-mapped file, built in one streaming pass."""

from __future__ import annotations

import shutil
import tempfile
import time
import weakref
from array import array
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt

from ..errors import InvalidInputError
from .vocab import Vocab

_FLUSH = 1 << 20  # ids buffered (as C ints, 4 bytes each) before a write
_REMAP_BLOCK = 1 << 19

Progress = Callable[[int, int], None]
"""``progress(tokens_read, sentences_read)``, called now and then during the pass."""


class EncodedCorpus:
    """A tokenised corpus reduced to the ids of a :class:`Vocab`, on disk, memory-mapped.

    Words below the vocabulary threshold are dropped (as word2vec and gensim do: they do not count
    in window distances); sentences left empty are dropped. Peak memory is the vocabulary
    dictionary plus fixed-size buffers, whatever the size of the corpus.

    Attributes
    ----------
    tokens
        int32 ids of the kept tokens, in corpus order (a read-only memory map).
    sentence_lengths
        int64 lengths of the kept sentences; they sum to ``len(tokens)``.
    vocab
        The vocabulary the ids refer to.
    raw_token_count
        Tokens read, before dropping rare words.
    """

    tokens: npt.NDArray[np.int32]
    sentence_lengths: npt.NDArray[np.int64]

    def __init__(self, tokens: npt.NDArray[np.int32], sentence_lengths: npt.NDArray[np.int64], vocab: Vocab,
                 raw_token_count: int, workdir: Path | None = None, path: Path | None = None) -> None:
        self.tokens = tokens
        self.path = path
        self.sentence_lengths = sentence_lengths
        self.vocab = vocab
        self.raw_token_count = raw_token_count
        self.workdir = workdir
        if workdir is not None:
            self._finalizer = weakref.finalize(self, shutil.rmtree, str(workdir), True)

    @classmethod
    def encode(cls, sentences: Iterable[Sequence[str]], *, min_count: int = 5, max_vocab_size: int | None = None,
               base_vocab: Vocab | None = None, workdir: str | Path | None = None,
               progress: Progress | None = None) -> EncodedCorpus:
        """Count and encode ``sentences`` in one pass.

        With ``base_vocab`` (continued training), its words keep their ids and new frequent words
        are appended.
        """
        own_dir = workdir is None
        wd = Path(tempfile.mkdtemp(prefix="embspace-corpus-")) if workdir is None else Path(workdir)
        wd.mkdir(parents=True, exist_ok=True)
        try:
            return cls._encode(sentences, wd, min_count, max_vocab_size, base_vocab, progress, own_dir)
        except BaseException:
            if own_dir:
                shutil.rmtree(wd, ignore_errors=True)
            raise

    @classmethod
    def _encode(cls, sentences: Iterable[Sequence[str]], wd: Path, min_count: int, max_vocab_size: int | None,
                base_vocab: Vocab | None, progress: Progress | None, own_dir: bool) -> EncodedCorpus:
        ids: dict[str, int] = {w: i for i, w in enumerate(base_vocab.words)} if base_vocab else {}
        lens = array("i")  # one int32 per sentence (at most max_sentence_length tokens each)
        buf = array("i")
        n_tokens = 0
        raw_path = wd / "provisional.i32"
        last = time.monotonic()
        with open(raw_path, "wb") as f:
            sd = ids.setdefault
            for sent in sentences:
                buf.extend([sd(t, len(ids)) for t in sent])
                lens.append(len(sent))
                if len(buf) >= _FLUSH:
                    buf.tofile(f)
                    n_tokens += len(buf)
                    buf = array("i")
                    if progress is not None and time.monotonic() - last > 0.5:
                        progress(n_tokens, len(lens))
                        last = time.monotonic()
            buf.tofile(f)
            n_tokens += len(buf)
        if progress is not None:
            progress(n_tokens, len(lens))
        if n_tokens == 0:
            raise InvalidInputError("the corpus is empty: no tokens were found")
        counts = np.zeros(len(ids), np.int64)
        with open(raw_path, "rb") as f:  # read, not memory-mapped: resident memory stays bounded
            while len(block := np.fromfile(f, dtype=np.int32, count=_REMAP_BLOCK)):
                counts += np.bincount(block, minlength=len(ids))
        words = list(ids)
        if base_vocab is None:
            vocab = Vocab.from_counts(dict(zip(words, counts.tolist(), strict=True)), min_count=min_count,
                                      max_size=max_vocab_size, raw_token_count=n_tokens)
        else:
            vocab = base_vocab.extended(dict(zip(words, counts.tolist(), strict=True)), min_count=min_count)
        remap = np.full(len(ids), -1, np.int32)
        final = vocab.index
        for w, prov in ids.items():
            j = final.get(w)
            if j is not None:
                remap[prov] = j
        del ids
        # Rewrite the ids without the rare words, about _REMAP_BLOCK tokens at a time, and the
        # sentences' new lengths (empty sentences dropped) to a file: no array of sentence offsets
        # is ever built, so memory per sentence stays at the 4 bytes of ``lens``.
        sent_lens = np.frombuffer(lens, dtype=np.int32) if len(lens) else np.zeros(0, np.int32)
        out_path, lens_path = wd / "tokens.i32", wd / "lengths.i32"
        total = 0
        with open(out_path, "wb") as f, open(lens_path, "wb") as lf, open(raw_path, "rb") as src:
            s0 = 0
            while s0 < len(sent_lens):
                window = np.cumsum(sent_lens[s0:s0 + _REMAP_BLOCK], dtype=np.int64)
                k = min(max(int(np.searchsorted(window, _REMAP_BLOCK, side="right")), 1), len(window))
                s1 = s0 + k
                block = remap[np.fromfile(src, dtype=np.int32, count=int(window[k - 1]))]
                keep = block >= 0
                sid = np.repeat(np.arange(k, dtype=np.int32), sent_lens[s0:s1])
                kept = np.bincount(sid[keep], minlength=k).astype(np.int32)
                kept[kept > 0].tofile(lf)
                block[keep].tofile(f)
                total += int(keep.sum())
                s0 = s1
        raw_path.unlink()
        del sent_lens, lens
        new_lens = np.fromfile(lens_path, dtype=np.int32).astype(np.int64)
        lens_path.unlink()
        tokens = (np.memmap(out_path, dtype=np.int32, mode="r") if total else np.zeros(0, np.int32))
        return cls(tokens, new_lens, vocab, n_tokens, wd if own_dir else None, path=out_path if total else None)

    def __len__(self) -> int:
        return int(self.tokens.shape[0])

    def read(self, start: int, end: int) -> npt.NDArray[np.int32]:
        """Tokens ``start:end`` as a private array, read from the file (thread-safe).

        Hot loops read through this rather than slicing the memory map, so pages of a corpus
        larger than memory do not pile up in the process's resident set.
        """
        if self.path is None:
            return np.array(self.tokens[start:end])
        with open(self.path, "rb") as f:
            f.seek(start * 4)
            return np.fromfile(f, dtype=np.int32, count=end - start)

    def jobs(self, words_per_job: int = 10000) -> list[tuple[int, int, int, int]]:
        """Split into jobs of whole sentences, about ``words_per_job`` tokens each:
        ``(token_start, token_end, sentence_start, sentence_end)``."""
        bounds = np.zeros(len(self.sentence_lengths) + 1, np.int64)
        np.cumsum(self.sentence_lengths, out=bounds[1:])
        out: list[tuple[int, int, int, int]] = []
        s0 = 0
        n = len(self.sentence_lengths)
        while s0 < n:
            s1 = int(np.searchsorted(bounds, bounds[s0] + words_per_job, side="left"))
            s1 = min(max(s1, s0 + 1), n)
            out.append((int(bounds[s0]), int(bounds[s1]), s0, s1))
            s0 = s1
        return out

    def close(self) -> None:
        """Delete the temporary files now (otherwise when the object is collected)."""
        if self.workdir is not None:
            self.tokens = np.zeros(0, np.int32)
            self._finalizer()

    def __repr__(self) -> str:
        return (f"EncodedCorpus({len(self)} tokens in {len(self.sentence_lengths)} sentences, "
                f"{len(self.vocab)} words)")
