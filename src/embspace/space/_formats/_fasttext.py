"""fastText's native ``.bin`` model (what ``fasttext skipgram|cbow|supervised`` and ``save_model`` write).

Read without fastText or gensim: the header (magic 793712314, version <= 12), the arguments, the
dictionary and the input matrix; the output matrix is never read. The vector of each vocabulary
word is what fastText's ``getWordVector`` returns: the mean of the input rows of the word itself
and of its character n-gram buckets (``minn``..``maxn`` characters of ``<word>``, hashed with
fastText's FNV-1a on signed chars, modulo ``bucket``). A model with n-grams becomes a
:class:`~embspace.space.subword_space.SubwordSpace` that keeps the bucket rows (memory-mapped) and so
answers words outside the vocabulary as fastText does; :func:`write_fasttext_bin` writes one back.

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
    bool qout; int64 m, int64 n; m x n float32         the output matrix (not read)
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ..._types import FloatArray
from ...errors import CorruptDataError, InvalidInputError, UnknownFormatError
from .._subwords import ngram_rows
from ..embedding_space import EmbeddingSpace
from ..subword_space import SubwordSpace, _Subwords
from ._common import COMPRESSED, ByteStream, decode_advice, encoding_label, imported_space, reading

MAGIC = 793712314
VERSION = 12  # the newest layout this reader knows (fastText 0.9)
MAGIC_BYTES = struct.pack("<i", MAGIC)
_ARGS = struct.Struct("<12id")
_SUPERVISED = 3  # args.model: cbow = 1, sg = 2, sup = 3
_WORDS_PER_BLOCK = 1024  # words whose n-grams are hashed and averaged at once
_WRITE_ROWS = 65536  # rows written at once


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
    space = imported_space(path, keys, vectors, counts=counts, unit="word", unicode_errors=unicode_errors,
                           **options)
    if maxn == 0 or pruneidx:  # no n-grams (or a pruned index, which only quantized models have)
        return space
    names = ("dim", "ws", "epoch", "minCount", "neg", "wordNgrams", "loss", "model", "bucket", "minn", "maxn",
             "lrUpdateRate", "t")
    kept_args = {k: v for k, v in zip(names, args, strict=True) if k not in ("dim", "bucket", "minn", "maxn")}
    # The bucket rows stay memory-mapped from an uncompressed file: an unknown word reads only its rows.
    sub = _Subwords(max(minn, 1), maxn, bucket, matrix[nwords:], None, matrix[:keep], None, encoding, kept_args)
    return SubwordSpace._from_parts(space, sub)


def write_fasttext_bin(space: EmbeddingSpace, path: Path) -> None:
    """Write a :class:`SubwordSpace` as fastText's native ``.bin`` (``Fasttext::saveModel``, version 12).

    The input matrix holds every bucket (``nwords + bucket`` rows, as fastText and gensim require); buckets
    without a stored row are written as zeros, which is what the space answers for them. Written in
    blocks, so memory stays at one block beyond the space. The output matrix is the trained one when the
    space kept it, zeros otherwise (the vectors are complete; fastText could not continue training).
    """
    if not isinstance(space, SubwordSpace):
        raise InvalidInputError(
            f"{path.name}: a fastText .bin model needs character n-gram vectors, and this {type(space).__name__} "
            "has none; give it n-grams with embspace.train.SubwordFiller().fit(space).space_, train with "
            "embspace.train.FastText, or save the vectors as fastText text (a .vec path)")
    sub = space._sub
    nwords, dim = len(space), space.dim
    words = [k.encode(sub.encoding) if isinstance(k, str) else k for k in space.keys]
    for w in words:
        if b"\0" in w or not w:
            raise InvalidInputError(f"{path.name}: key {w!r} cannot be written to a fastText .bin (empty, or "
                                    "holding a NUL byte, which ends a word there)")
    counts = space.counts if space.counts is not None else np.arange(nwords, 0, -1, dtype=np.int64)
    a = sub.args
    with open(path, "wb") as f:
        f.write(struct.pack("<2i", MAGIC, VERSION))
        f.write(_ARGS.pack(dim, int(a["ws"]), int(a["epoch"]), int(a["minCount"]), int(a["neg"]),
                           int(a["wordNgrams"]), int(a["loss"]), int(a["model"]), sub.bucket, sub.minn, sub.maxn,
                           int(a["lrUpdateRate"]), float(a["t"])))
        f.write(struct.pack("<3iqq", nwords, nwords, 0, int(np.sum(counts)), -1))
        f.write(b"".join(w + b"\0" + struct.pack("<qb", int(c), 0) for w, c in zip(words, counts, strict=True)))
        f.write(b"\0")  # quant_input
        f.write(struct.pack("<2q", nwords + sub.bucket, dim))
        own = sub.word_rows if sub.word_rows is not None else _own_rows(space)
        for r0 in range(0, nwords, _WRITE_ROWS):
            f.write(np.ascontiguousarray(own[r0 : r0 + _WRITE_ROWS], "<f4").tobytes())
        ids = sub.bucket_ids
        for b0 in range(0, sub.bucket, _WRITE_ROWS):
            b1 = min(b0 + _WRITE_ROWS, sub.bucket)
            if ids is None:
                block = np.ascontiguousarray(sub.ngram_vectors[b0:b1], "<f4")
            else:
                block = np.zeros((b1 - b0, dim), "<f4")
                lo, hi = np.searchsorted(ids, [b0, b1])
                block[ids[lo:hi] - b0] = sub.ngram_vectors[lo:hi]
            f.write(block.tobytes())
        f.write(b"\0")  # qout
        f.write(struct.pack("<2q", nwords, dim))
        for r0 in range(0, nwords, _WRITE_ROWS):
            r1 = min(r0 + _WRITE_ROWS, nwords)
            out = (np.zeros((r1 - r0, dim), "<f4") if sub.output_vectors is None
                   else np.ascontiguousarray(sub.output_vectors[r0:r1], "<f4"))
            f.write(out.tobytes())


def _own_rows(space: SubwordSpace) -> FloatArray:
    """Each word's own input row such that fastText's mean with its n-gram rows gives the space's vector."""
    oov, per_word, _ = space._oov_matrix(list(space.keys))
    k = per_word[:, None].astype(np.float64)
    own = (k + 1) * space.vectors.astype(np.float64) - k * oov.astype(np.float64)
    return own.astype(np.float32)


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
