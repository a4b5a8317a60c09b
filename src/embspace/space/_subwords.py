"""fastText's character n-grams: which input rows a word's vector averages (no numba: the space layer).

fastText represents a word as the mean of its own input row and of the rows of its character n-grams:
``minn``..``maxn`` characters of ``<word>`` (the boundary markers included), each hashed with FNV-1a
over its UTF-8 bytes *read as signed chars* and taken modulo ``bucket``. The functions here
reproduce ``Dictionary::computeSubwords`` exactly (checked against a line-by-line port and gensim's
``ft_hash_bytes`` in the tests), vectorised with NumPy over blocks of words.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

__all__ = ["EOS", "ngram_rows", "ngram_strings", "subword_buckets"]

_FNV_OFFSET = 2166136261
_FNV_PRIME = 16777619
EOS = b"</s>"  # fastText gives the end-of-sentence token no n-grams
_EOS = EOS
_WORDS_PER_BLOCK = 1024


def ngram_rows(words: list[bytes], nwords: int, bucket: int, minn: int, maxn: int,
               pruneidx: dict[int, int] | None = None) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
    """The input-matrix rows each word's vector averages, as fastText's ``Dictionary::initNgrams``.

    ``words[i]`` is the i-th vocabulary word (its bytes as stored). Returns ``rows`` and ``mask`` of
    shape ``(len(words), 1 + K * maxn)``: column 0 is the word's own row ``i``; the others are
    ``nwords + hash(ngram) % bucket`` for each n-gram of ``<word>`` that fastText's
    ``computeSubwords`` takes (starting at a UTF-8 character, ``minn``..``maxn`` characters, never
    the lone ``<`` or ``>``), in its order; ``mask`` says which are used.

    The hash is FNV-1a over the bytes read as *signed* chars (``h ^= uint32_t(int8_t(c))``), as
    ``Dictionary::hash`` computes it and gensim's ``ft_hash_bytes`` reproduces: bytes >= 0x80 are
    sign-extended to 32 bits before the xor.
    """
    c = len(words)
    ext = [b"<" + w + b">" for w in words]
    lens = np.array([len(e) for e in ext], np.int64)
    width = int(lens.max()) if c else 0
    grid = np.frombuffer(b"".join(e.ljust(width, b"\0") for e in ext), np.uint8).reshape(c, width)
    cols = np.arange(width)
    starts = ((grid & 0xC0) != 0x80) & (cols < lens[:, None])  # the first byte of each character
    nch = starts.sum(axis=1)
    k_max = int(nch.max()) if c else 0
    maxn = min(maxn, k_max)  # no n-gram is longer than the longest word
    # cs[r, k]: byte offset of the k-th character of row r; len(row) from the last character on.
    cs = np.repeat(lens[:, None], k_max + maxn + 1, axis=1)
    r_idx, c_idx = np.nonzero(starts)
    rank = np.arange(len(r_idx)) - np.repeat(np.cumsum(nch) - nch, nch)
    cs[r_idx, rank] = c_idx
    signed = (grid.astype(np.int8).astype(np.int64) & 0xFFFFFFFF).astype(np.uint64)
    k = np.arange(k_max)[None, :]
    h = np.full((c, k_max), _FNV_OFFSET, np.uint64)
    cur = cs[:, :k_max].copy()
    grams = np.zeros((c, k_max, max(maxn, 0)), np.int64)  # [word, start character, n - 1]
    used_grams = np.zeros(grams.shape, bool)
    is_eos = np.array([w == _EOS for w in words], bool)
    for n in range(1, maxn + 1):
        end = cs[:, n : n + k_max]
        while True:  # extend every n-gram by its n-th character (all its continuation bytes)
            active = cur < end
            if not active.any():
                break
            byte = np.take_along_axis(signed, np.minimum(cur, width - 1), axis=1)
            h = np.where(active, ((h ^ byte) * _FNV_PRIME) & 0xFFFFFFFF, h)
            cur = cur + active
        used = (k + n <= nch[:, None]) & (n >= minn) & ~is_eos[:, None]
        if n == 1:
            used &= (k != 0) & (k + 1 != nch[:, None])
        ids = (h % np.uint64(bucket)).astype(np.int64) if bucket else np.zeros_like(h, np.int64)
        if pruneidx:
            mapped = np.array([pruneidx.get(int(x), -1) for x in ids.ravel()], np.int64).reshape(ids.shape)
            used &= mapped >= 0
            ids = mapped
        grams[:, :, n - 1] = nwords + ids
        used_grams[:, :, n - 1] = used
    # fastText's order: by start character, then by length
    rows = np.concatenate([np.arange(c)[:, None], grams.reshape(c, -1)], axis=1)
    mask = np.concatenate([np.ones((c, 1), bool), used_grams.reshape(c, -1)], axis=1)
    return rows, mask


def subword_buckets(words: Sequence[bytes], minn: int, maxn: int, bucket: int
                    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """The n-gram buckets of every word, in fastText's order, as CSR: ``(ptr (n + 1,), ids)``.

    Word ``i``'s buckets are ``ids[ptr[i]:ptr[i + 1]]`` (each in ``0..bucket - 1``; repeated n-grams
    repeat, as fastText counts them). Words are processed in blocks of similar length.
    """
    n = len(words)
    counts = np.zeros(n, np.int64)
    parts: list[tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]] = []
    if n and bucket > 0 and maxn > 0:
        order = np.argsort([len(w) for w in words], kind="stable")
        for b0 in range(0, n, _WORDS_PER_BLOCK):
            ids = order[b0 : b0 + _WORDS_PER_BLOCK]
            rows, mask = ngram_rows([words[i] for i in ids], 0, bucket, minn, maxn)
            rows, mask = rows[:, 1:], mask[:, 1:]
            counts[ids] = mask.sum(axis=1)
            parts.append((ids, rows[mask]))  # row-major: word by word, fastText's order within a word
    ptr = np.zeros(n + 1, np.int64)
    np.cumsum(counts, out=ptr[1:])
    out = np.empty(int(ptr[-1]), np.int64)
    for ids, flat in parts:
        lens = counts[ids]
        starts = np.repeat(ptr[ids], lens)
        within = np.arange(len(flat)) - np.repeat(np.cumsum(lens) - lens, lens)
        out[starts + within] = flat
    return ptr, out


def ngram_strings(word: str, minn: int, maxn: int) -> list[str]:
    """The character n-grams fastText takes from ``<word>`` (for display; hashing works on bytes)."""
    if word.encode() == EOS:
        return []
    w = f"<{word}>"
    out = []
    for i in range(len(w)):
        for n in range(max(minn, 1), maxn + 1):
            if i + n > len(w):
                break
            if n == 1 and (i == 0 or i + 1 == len(w)):
                continue
            out.append(w[i : i + n])
    return out
