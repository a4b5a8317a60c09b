"""fastText's native ``.bin`` model (what ``fasttext skipgram|cbow|supervised`` and ``save_model`` write).

Read without fastText or gensim: the header (magic 793712314, version <= 12), the arguments, the
dictionary and the input matrix; the output matrix is never read. The vector of each vocabulary
word is what fastText's ``getWordVector`` returns: the mean of the input rows of the word itself
and of its character n-gram buckets (``minn``..``maxn`` characters of ``<word>``, hashed with
fastText's FNV-1a on signed chars, modulo ``bucket``). Vectors of words outside the vocabulary
(built from their n-grams alone) are not offered: only the vocabulary becomes a space.

The layout, from fastText's ``src/fasttext.cc`` (``saveModel``), ``args.cc`` (``Args::save``),
``dictionary.cc`` (``Dictionary::save``) and ``densematrix.cc`` (``DenseMatrix::save``), all
little-endian::

    int32 magic, int32 version                        (absent in files before fastText 0.1)
    int32 dim, ws, epoch, minCount, neg, wordNgrams, loss, model, bucket, minn, maxn, lrUpdateRate
    float64 t
    int32 size, nwords, nlabels; int64 ntokens; int64 pruneidx_size (absent before 0.1)
    size x (bytes word, '\\0', int64 count, int8 type)    words first, then labels
    pruneidx_size x (int32, int32)
    bool quant_input (absent before 0.1)                 a quantized (.ftz) model is refused
    int64 m, int64 n; m x n float32                      the input matrix: nwords + bucket rows
    ... the output matrix (not read)
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ..._types import FloatArray
from ...errors import CorruptDataError, UnknownFormatError
from ..embedding_space import EmbeddingSpace
from ._common import COMPRESSED, ByteStream, decode_advice, encoding_label, imported_space, reading

MAGIC = 793712314
VERSION = 12  # the newest layout this reader knows (fastText 0.9)
MAGIC_BYTES = struct.pack("<i", MAGIC)
_ARGS = struct.Struct("<12id")
_SUPERVISED = 3  # args.model: cbow = 1, sg = 2, sup = 3
_EOS = b"</s>"  # fastText gives the end-of-sentence token no n-grams
_FNV_OFFSET = 2166136261
_FNV_PRIME = 16777619
_WORDS_PER_BLOCK = 1024  # words whose n-grams are hashed and averaged at once


def looks_like_old_fasttext(head: bytes) -> bool:
    """Whether ``head`` starts like a fastText model written before the magic number (fastText < 0.1).

    Such files start with the arguments; each must be in its range, which the ASCII header of a
    word2vec binary file (``"3000000 300\\n"``) never is.
    """
    if len(head) < _ARGS.size + 12:
        return False
    dim, ws, epoch, min_count, neg, word_ngrams, loss, model, bucket, minn, maxn, lr_rate, t = \
        _ARGS.unpack_from(head)
    size, nwords, nlabels = struct.unpack_from("<3i", head, _ARGS.size)
    return bool(0 < dim <= 100_000 and 0 < ws <= 10_000 and 0 < epoch <= 1_000_000 and min_count >= 0
            and 0 <= neg <= 10_000 and 0 < word_ngrams <= 100 and 1 <= loss <= 4 and 1 <= model <= 3
            and 0 <= bucket <= 1 << 31 and 0 <= minn <= maxn <= 1000 and lr_rate > 0 and 0.0 <= t <= 1.0
            and 0 < nwords <= size and nlabels >= 0 and nwords + nlabels == size)


def read_fasttext_bin(path: Path, *, encoding: str = "utf-8", unicode_errors: str = "strict",
                      limit: int | None = None, **options: Any) -> EmbeddingSpace:
    """Read the vocabulary of a fastText ``.bin`` model as a space (counts from the dictionary).

    ``encoding``/``unicode_errors`` decode the words (the n-grams are hashed on the file's own bytes,
    as fastText does); ``limit`` keeps the first ``limit`` words (fastText sorts them by count).
    """
    with reading(path) as f:
        return _read(path, ByteStream(path, f), encoding, unicode_errors, limit, options)


def _take(path: Path, stream: ByteStream, n: int, what: str) -> bytes:
    data = stream.read(n)
    if data is None:
        raise CorruptDataError(path, f"truncated in the {what} (byte offset {stream.offset})")
    return data


def _read(path: Path, stream: ByteStream, encoding: str, unicode_errors: str, limit: int | None,
          options: dict[str, Any]) -> EmbeddingSpace:
    first = _take(path, stream, 8, "header")
    magic, version = struct.unpack("<2i", first)
    new_format = magic == MAGIC
    if new_format:
        if version > VERSION:
            raise CorruptDataError(path, f"fastText model version {version}; this reader knows versions up "
                                         f"to {VERSION}: save the vectors as .vec text with fastText instead")
        args = _ARGS.unpack(_take(path, stream, _ARGS.size, "arguments"))
    else:  # before fastText 0.1: no magic and no version, the arguments come first
        args = _ARGS.unpack(first + _take(path, stream, _ARGS.size - 8, "arguments"))
        version = 0
    dim, model, bucket, minn, maxn = args[0], args[7], args[8], args[9], args[10]
    if new_format and version == 11 and model == _SUPERVISED:
        maxn = 0  # fasttext.cc loadModel: supervised models of version 11 had no character n-grams
    if dim <= 0 or bucket < 0 or minn < 0 or maxn < 0:
        raise CorruptDataError(path, f"fastText arguments out of range (dim {dim}, bucket {bucket}, minn {minn}, "
                                     f"maxn {maxn})")

    size, nwords, nlabels = struct.unpack("<3i", _take(path, stream, 12, "dictionary header"))
    _take(path, stream, 8, "dictionary header")  # ntokens
    pruneidx_size = -1
    if new_format:
        (pruneidx_size,) = struct.unpack("<q", _take(path, stream, 8, "dictionary header"))
    if not (0 <= nwords <= size and nlabels >= 0 and nwords + nlabels == size):
        raise CorruptDataError(path, f"fastText dictionary of {size} entries with {nwords} words and "
                                     f"{nlabels} labels does not add up")
    keep = nwords if limit is None else min(nwords, limit)
    words: list[bytes] = []
    counts = np.empty(keep, np.int64)
    for i in range(size):
        pos = stream.offset
        raw = stream.read_until(b"\0")
        tail = stream.read(9) if raw is not None else None
        if raw is None or tail is None:
            raise CorruptDataError(path, f"truncated in the dictionary at entry {i + 1} of {size} "
                                         f"(byte offset {pos})")
        if i < keep:
            words.append(raw)
            counts[i] = struct.unpack_from("<q", tail)[0]
    pruneidx: dict[int, int] = {}
    if pruneidx_size > 0:
        pairs = np.frombuffer(_take(path, stream, 8 * pruneidx_size, "pruned n-gram index"), "<i4")
        pruneidx = dict(zip(pairs[0::2].tolist(), pairs[1::2].tolist(), strict=True))
    if new_format and _take(path, stream, 1, "matrix header") != b"\0":
        raise UnknownFormatError(
            f"{path} is a quantized fastText model (.ftz, written by 'fasttext quantize'); embspace reads "
            "only dense .bin models: load the .bin it was quantized from, or write the vectors as .vec text "
            "with fastText ('fasttext print-word-vectors', or the .vec that training writes)")
    m, n = struct.unpack("<2q", _take(path, stream, 16, "matrix header"))
    if n != dim or m != nwords + bucket:
        raise CorruptDataError(path, f"input matrix of shape ({m}, {n}); the arguments promise "
                                     f"({nwords} words + {bucket} buckets, {dim})")
    matrix = _input_matrix(path, stream, m, n)
    keys = _decode_words(path, words, encoding, unicode_errors)
    if bucket == 0 or maxn == 0 or pruneidx_size == 0:
        minn, maxn = 1, 0  # no n-grams: each word is its own row
    vectors = _word_vectors(words, matrix, nwords, bucket, minn, maxn, pruneidx)
    return imported_space(path, keys, vectors, counts=counts, unit="word", unicode_errors=unicode_errors,
                          **options)


def _input_matrix(path: Path, stream: ByteStream, m: int, n: int) -> npt.NDArray[np.float32]:
    """The input matrix, memory-mapped from an uncompressed file (only the rows used are read)."""
    nbytes = 4 * m * n
    if path.suffix.lower() not in COMPRESSED:
        start = stream.offset
        if path.stat().st_size < start + nbytes:
            raise CorruptDataError(path, f"truncated in the input matrix ({m} x {n} float32 from byte "
                                         f"offset {start}; the file has {path.stat().st_size} bytes)")
        return np.memmap(path, dtype="<f4", mode="r", offset=start, shape=(m, n))
    data = _take(path, stream, nbytes, "input matrix")
    return np.frombuffer(data, dtype="<f4").reshape(m, n)


def _decode_words(path: Path, words: list[bytes], encoding: str, errors: str) -> list[str]:
    keys: list[str] = []
    for i, raw in enumerate(words):
        try:
            keys.append(raw.decode(encoding, errors))
        except UnicodeDecodeError as e:
            raise CorruptDataError(path, f"word {i + 1}: not valid {encoding_label(encoding)} (byte "
                                         f"0x{raw[e.start]:02x} of {raw!r}); {decode_advice(encoding)}") from None
    return keys


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


def _word_vectors(words: list[bytes], matrix: npt.NDArray[np.float32], nwords: int, bucket: int,
                  minn: int, maxn: int, pruneidx: dict[int, int]) -> FloatArray:
    """The mean of each word's input rows (fastText's ``getWordVector``), in blocks of similar length."""
    out = np.empty((len(words), matrix.shape[1]), np.float32)
    order = np.argsort([len(w) for w in words], kind="stable")  # similar lengths: small padded grids
    for b0 in range(0, len(order), _WORDS_PER_BLOCK):
        ids = order[b0 : b0 + _WORDS_PER_BLOCK]
        rows, mask = ngram_rows([words[i] for i in ids], nwords, bucket, minn, maxn, pruneidx)
        rows[:, 0] = ids  # the own row is the word's index in the vocabulary
        flat = rows[mask]
        per_word = mask.sum(axis=1)
        offsets = np.concatenate([[0], np.cumsum(per_word)[:-1]])
        sums = np.add.reduceat(np.asarray(matrix[flat]), offsets, axis=0)  # in float32, as fastText adds
        out[ids] = (sums / per_word[:, None]).astype(np.float32)
    return out
