"""SubwordSpace: a vocabulary space that also embeds words it never saw, from their character n-grams."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from .._types import FloatArray, IntArray, Metric
from ..errors import DimensionMismatchError, InvalidInputError
from ._subwords import ngram_strings, subword_buckets
from .embedding_space import EmbeddingSpace
from .provenance import Provenance
from .vector import EmbeddingVector

__all__ = ["SubwordSpace"]

#: fastText's default arguments, used for what a space does not know when it is written as ``.bin``.
FASTTEXT_ARGS: dict[str, float] = {"ws": 5, "epoch": 5, "minCount": 5, "neg": 5, "wordNgrams": 1, "loss": 2,
                                   "model": 2, "lrUpdateRate": 100, "t": 1e-4}


@dataclasses.dataclass(frozen=True)
class _Subwords:
    minn: int
    maxn: int
    bucket: int
    ngram_vectors: FloatArray  # (r, dim): the rows of the n-gram buckets that are stored
    bucket_ids: IntArray | None  # (r,) sorted bucket of each row; None: row b is bucket b (r == bucket)
    word_rows: FloatArray | None  # (n, dim) each word's own input row (None: derived when written)
    output_vectors: FloatArray | None  # (n, dim) the output matrix of a trained model, when kept
    encoding: str
    args: Mapping[str, float]


class SubwordSpace(EmbeddingSpace):
    """An :class:`EmbeddingSpace` of a vocabulary whose words are sums of character n-grams (fastText).

    The rows are the vocabulary's vectors, as fastText's ``getWordVector`` returns them: the mean of the
    word's own input row and of the rows of its n-grams. A word outside the vocabulary gets the mean of
    its n-grams' rows (:meth:`oov_vector`; an n-gram bucket with no stored row counts as a zero vector,
    as in a fastText ``.bin`` where it was never trained). :meth:`vector` answers any word, and queries
    (:meth:`neighbors`, :meth:`similarity`) accept unknown words; ``space["word"]`` and ``"word" in space``
    stay about the vocabulary. The provenance's config says ``subwords`` (``minn``, ``maxn``, ``bucket``).

    Made by :class:`embspace.train.FastText`, :class:`embspace.train.SubwordFiller`, or read from a fastText
    ``.bin`` (``embspace.load("model.bin")``); written back as one by ``space.save(path, format="fasttext")``,
    or as an embspace directory (``space.save("dir")``, n-gram rows in ``ngrams.npy``). The other formats keep
    the vocabulary only; derived spaces (``normalize``, ``subset``...) are plain :class:`EmbeddingSpace` objects.

    Parameters
    ----------
    keys, vectors
        The vocabulary and its ``(n, dim)`` vectors.
    ngram_vectors
        ``(r, dim)`` float32 rows of the n-gram buckets.
    bucket_ids
        ``(r,)`` the bucket of each row of ``ngram_vectors`` (unique); ``None`` when ``ngram_vectors``
        holds every bucket in order (``r == bucket``).
    minn, maxn, bucket
        n-gram lengths in characters (of ``<word>``) and the number of hash buckets.
    word_rows
        ``(n, dim)`` each word's own input row, when known (a trained model or a ``.bin``); used only to
        write a ``.bin`` (otherwise derived from ``vectors`` so that fastText reproduces them).
    output_vectors
        ``(n, dim)`` the output matrix of a trained model, written to a ``.bin`` (zeros otherwise).
    encoding
        How words become the bytes that are hashed (fastText: UTF-8).
    args
        fastText arguments written to a ``.bin`` (``ws``, ``epoch``, ``neg``, ``model``...).
    **kwargs
        As for :class:`EmbeddingSpace` (``metric``, ``counts``, ``provenance``, ``copy``).
    """

    __slots__ = ("_sub",)
    _sub: _Subwords

    def __init__(self, keys: Iterable[str | int], vectors: npt.ArrayLike | Any, *, ngram_vectors: npt.ArrayLike,
                 bucket_ids: npt.ArrayLike | None = None, minn: int = 3, maxn: int = 6, bucket: int = 2_000_000,
                 word_rows: npt.ArrayLike | None = None, output_vectors: npt.ArrayLike | None = None,
                 encoding: str = "utf-8", args: Mapping[str, float] | None = None,
                 metric: Metric = "cosine", counts: npt.ArrayLike | Mapping[str, int] | None = None,
                 provenance: Provenance | None = None, copy: bool = True) -> None:
        super().__init__(keys, vectors, metric=metric, counts=counts, provenance=provenance, copy=copy)
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (minn, maxn, bucket)) \
                or minn < 1 or maxn < minn or bucket < 1:
            raise InvalidInputError(f"need 1 <= minn <= maxn and bucket >= 1, got minn={minn!r}, maxn={maxn!r}, "
                                    f"bucket={bucket!r}")
        grams = _matrix(ngram_vectors, "ngram_vectors", self.dim, copy)
        ids: IntArray | None = None
        if bucket_ids is None:
            if len(grams) != bucket:
                raise InvalidInputError(f"ngram_vectors has {len(grams)} rows but bucket={bucket}; give one row "
                                        "per bucket, or bucket_ids= saying which bucket each row is")
        else:
            ids = np.asarray(bucket_ids, np.int64).reshape(-1)
            if ids.shape != (len(grams),):
                raise InvalidInputError(f"{len(ids)} bucket_ids for {len(grams)} rows of ngram_vectors; give one "
                                        "bucket per row")
            if len(ids) and (ids.min() < 0 or ids.max() >= bucket):
                raise InvalidInputError(f"bucket_ids must lie in 0..{bucket - 1} (bucket={bucket})")
            order = np.argsort(ids, kind="stable")
            ids = ids[order]
            if len(ids) > 1 and (ids[1:] == ids[:-1]).any():
                raise InvalidInputError("bucket_ids contain duplicates; give each bucket one row")
            if not np.array_equal(order, np.arange(len(order))):
                grams = np.ascontiguousarray(grams[order])
            ids.flags.writeable = False
        wr = None if word_rows is None else _matrix(word_rows, "word_rows", self.dim, copy, len(self))
        out = None if output_vectors is None else _matrix(output_vectors, "output_vectors", self.dim, copy, len(self))
        self._sub = _Subwords(minn, maxn, bucket, grams, ids, wr, out, encoding,
                              {**FASTTEXT_ARGS, **(args or {})})
        self._provenance = _with_subwords(self._provenance, minn, maxn, bucket)

    @classmethod
    def _from_parts(cls, space: EmbeddingSpace, sub: _Subwords, **info: Any) -> SubwordSpace:
        """Wrap a validated space and its n-gram part without copying (loaders and learners); ``info`` joins
        the provenance's ``subwords`` entry."""
        self = cls.__new__(cls)
        prov = _with_subwords(space.provenance, sub.minn, sub.maxn, sub.bucket, **info)
        self._init(space.keys, space.vectors, metric=space.metric, normalized=space.is_normalized,
                   counts=space.counts, provenance=prov)
        self._sub = sub
        return self

    # ----------------------------------------------------------------- the subword part
    @property
    def minn(self) -> int:
        """Shortest n-gram, in characters of ``<word>``."""
        return self._sub.minn

    @property
    def maxn(self) -> int:
        """Longest n-gram, in characters of ``<word>``."""
        return self._sub.maxn

    @property
    def bucket(self) -> int:
        """Number of hash buckets n-grams fall into."""
        return self._sub.bucket

    @property
    def ngram_vectors(self) -> FloatArray:
        """The ``(r, dim)`` rows of the stored n-gram buckets (see :attr:`bucket_ids`)."""
        return self._sub.ngram_vectors

    @property
    def bucket_ids(self) -> IntArray:
        """The bucket of each row of :attr:`ngram_vectors`, sorted."""
        ids = self._sub.bucket_ids
        return np.arange(self._sub.bucket, dtype=np.int64) if ids is None else ids

    @property
    def ngram_nbytes(self) -> int:
        """Bytes held by the n-gram rows (a memory-mapped ``.bin`` counts its whole bucket matrix)."""
        return int(self._sub.ngram_vectors.nbytes)

    def ngrams(self, word: str) -> list[str]:
        """The character n-grams of ``word`` that its vector averages (``<`` and ``>`` mark the ends)."""
        return ngram_strings(word, self._sub.minn, self._sub.maxn)

    def _encode_words(self, words: Sequence[str]) -> list[bytes]:
        try:
            return [w.encode(self._sub.encoding) for w in words]
        except UnicodeEncodeError as e:
            raise InvalidInputError(f"word {e.object!r} cannot be encoded as {self._sub.encoding} (the encoding "
                                    "this space hashes n-grams in)") from None

    def _oov_matrix(self, words: Sequence[str]) -> tuple[FloatArray, npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """``(vectors (n, dim), n-grams per word, stored n-gram rows per word)``, from the n-grams alone."""
        sub = self._sub
        ptr, ids = subword_buckets(self._encode_words(words), sub.minn, sub.maxn, sub.bucket)
        per_word = np.diff(ptr)
        if sub.bucket_ids is None:
            rows, present = ids, np.ones(len(ids), bool)
        else:
            pos = np.searchsorted(sub.bucket_ids, ids)
            present = pos < len(sub.bucket_ids)
            present[present] = sub.bucket_ids[pos[present]] == ids[present]
            rows = np.where(present, pos, 0)
        out = np.zeros((len(words), self.dim), np.float32)
        word_of = np.repeat(np.arange(len(words)), per_word)
        if present.any():
            np.add.at(out, word_of[present], np.asarray(sub.ngram_vectors[rows[present]], np.float32))
        out /= np.maximum(per_word, 1)[:, None].astype(np.float32)
        stored = np.bincount(word_of[present], minlength=len(words)).astype(np.int64)
        return out, per_word, stored

    def oov_vector(self, word: str | Sequence[str]) -> EmbeddingVector:
        """The vector of ``word`` built from its n-grams alone, as fastText builds it for an unknown word.

        Known words too (their vocabulary vector also has their own row). A word without n-grams (the
        empty string) gets the zero vector, as in fastText. A list of words gives a ``(n, dim)`` matrix.
        """
        words = [word] if isinstance(word, str) else list(word)
        out, _, _ = self._oov_matrix(words)
        return EmbeddingVector(out[0] if isinstance(word, str) else out, self.space_id, self._provenance.describe())

    def vector(self, word: str | Sequence[str]) -> EmbeddingVector:
        """The vector of any word: the vocabulary's when known, else :meth:`oov_vector` (a list: ``(n, dim)``)."""
        words = [word] if isinstance(word, str) else list(word)
        out = self._any_vectors(words)
        return EmbeddingVector(out[0] if isinstance(word, str) else out, self.space_id, self._provenance.describe())

    def _any_vectors(self, words: Sequence[str]) -> FloatArray:
        index = self._key_index()
        unknown = [i for i, w in enumerate(words) if w not in index]
        out = np.empty((len(words), self.dim), np.float32)
        known = [i for i in range(len(words)) if words[i] in index]
        if known:
            out[known] = self._vectors[[index[words[i]] for i in known]]
        if unknown:
            out[unknown] = self._oov_matrix([words[i] for i in unknown])[0]
        return out

    def can_embed(self, word: str) -> bool:
        """Whether ``word`` gets a vector with content: it is known, or one of its n-grams has a stored row."""
        if word in self:
            return True
        return bool(self._oov_matrix([word])[2][0] > 0)

    # ----------------------------------------------------------------- queries take unknown words too
    def _queries(self, query: Any) -> tuple[FloatArray, IntArray, bool]:
        if isinstance(query, str) and query not in self:
            return self._any_vectors([query]), np.array([-1]), False
        if isinstance(query, list | tuple) and any(isinstance(q, str) and q not in self for q in query):
            query = [self._any_vectors([q])[0] if isinstance(q, str) and q not in self else q for q in query]
        return super()._queries(query)

    def _analogy_terms(self, keys: Sequence[str]) -> tuple[FloatArray, IntArray]:
        """Analogy questions may name unknown words too (vectors from their n-grams, row ``-1``)."""
        index = self._key_index()
        if all(k in index for k in keys):
            return super()._analogy_terms(keys)
        rows = np.array([index.get(k, -1) for k in keys], np.int64)
        return self._any_vectors(list(keys)), rows

    def __repr__(self) -> str:
        return (f"SubwordSpace(n={len(self)}, dim={self.dim}, metric={self._metric!r}, n-grams "
                f"{self.minn}-{self.maxn} in {self.bucket:,} buckets ({len(self._sub.ngram_vectors):,} stored), "
                f"model={self._provenance.describe()!r})")


def _matrix(x: npt.ArrayLike, what: str, dim: int, copy: bool, rows: int | None = None) -> FloatArray:
    arr = np.array(x, np.float32, copy=True) if copy else np.ascontiguousarray(x, np.float32)
    if arr.ndim != 2:
        raise InvalidInputError(f"{what} must be a 2-D (rows, dim) array, got shape {arr.shape}")
    if arr.shape[1] != dim:
        raise DimensionMismatchError(arr.shape[1], dim, what)
    if rows is not None and arr.shape[0] != rows:
        raise InvalidInputError(f"{what} has {arr.shape[0]} rows; expected one per key ({rows})")
    if arr.flags.writeable:
        arr.flags.writeable = False
    return arr


def _with_subwords(prov: Provenance, minn: int, maxn: int, bucket: int, **extra: Any) -> Provenance:
    """The provenance, saying that the space embeds unknown words from fastText n-grams.

    ``config["subwords"]`` is informational (:data:`~embspace.space.provenance.INFORMATIONAL`): it leaves the
    space id alone, so a space given n-grams stays comparable with the space it was made from.
    """
    info = {"minn": minn, "maxn": maxn, "bucket": bucket, "hash": "fasttext-fnv1a", **extra}
    if prov.config.get("subwords") == info:
        return prov
    return dataclasses.replace(prov, config={**prov.config, "subwords": info})

