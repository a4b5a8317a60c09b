"""DistilledEncoder: a static text encoder distilled from a transformer (one vector per token of its vocabulary).

A distilled model is the teacher's tokenizer, a ``(vocab, dims)`` matrix of token vectors and one weight
per token. A text is tokenised (no special tokens) and encoded as the weighted mean of the rows of its
tokens, ``sum_i w[t_i] E[t_i] / sum_i w[t_i]``. No transformer runs at encode time, so it is two to three
orders of magnitude faster than its teacher on a CPU. The ``Distiller`` learner (train layer) makes one;
``get_encoder(path)`` loads a saved one.

Speed: the texts of a batch are tokenised at once by the ``tokenizers`` library (Rust, multi-threaded),
and the pooling of a batch is one sparse matrix product (SciPy's compiled kernel, which releases the
interpreter lock) split over ``threads`` worker threads. ``encode`` of a long list streams through
batches with a progress bar (texts/s, ETA).

A saved model is a directory::

    embspace.json   kind "model", model_type "distilled-static", format_version 1
    tokenizer.json  the teacher's tokenizer (Hugging Face ``tokenizers`` format), with any corpus words added
    vectors.npy     float32 (vocab, dims): the token vectors (rows of tokens never used are zero)
    weights.npy     float32 (vocab,): the token weights (0 for tokens that are skipped: special tokens)
    distill.json    provenance: teacher, teacher revision, corpus hash, settings
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from .._artifact import check_format_version, read_header, write_header
from ..errors import CorruptDataError, InvalidInputError, MissingDependencyError, ModelNotFoundError
from ..space.vector import EmbeddingVector
from .encoder import BaseEncoder, EncodeInput, Modality, l2_normalize

__all__ = ["MODEL_TYPE", "DistilledEncoder", "is_distilled_dir"]

MODEL_TYPE = "distilled-static"
FORMAT_VERSION = 1
_DEFAULT_BATCH = 8192  # texts tokenised at once: bounds the memory of the token ids
_MIN_CHUNK = 512  # rows per worker thread of the sparse product: below it, threads cost more than they save


def is_distilled_dir(path: Path) -> bool:
    """Whether ``path`` is a directory a :class:`DistilledEncoder` was saved to."""
    header = read_header(path) if (path / "embspace.json").is_file() else None
    return header is not None and header.kind == "model" and header.extra.get("model_type") == MODEL_TYPE


def _tokenizer_from(source: Any) -> Any:
    """A ``tokenizers.Tokenizer`` from a Tokenizer, a transformers fast tokenizer, or a JSON string/path."""
    try:
        from tokenizers import Tokenizer
    except ImportError:
        raise MissingDependencyError("tokenizers", "encoders", "Distilled static encoders") from None
    if isinstance(source, Tokenizer):
        tok = Tokenizer.from_str(source.to_str())
    elif hasattr(source, "backend_tokenizer"):
        tok = Tokenizer.from_str(source.backend_tokenizer.to_str())
    elif isinstance(source, str | os.PathLike):
        tok = Tokenizer.from_file(str(source))
    else:
        raise TypeError(f"tokenizer must be a tokenizers.Tokenizer or a fast transformers tokenizer, "
                        f"got {type(source).__name__}")
    tok.no_truncation()
    tok.no_padding()
    return tok


class DistilledEncoder(BaseEncoder):
    """A static text encoder: the weighted mean of token vectors distilled from a transformer.

    Parameters
    ----------
    tokenizer
        The teacher's tokenizer: a ``tokenizers.Tokenizer``, a fast ``transformers`` tokenizer, or the
        path of a ``tokenizer.json``. Texts are tokenised without special tokens and without truncation.
    vectors
        float32 ``(vocab, dims)``: row ``i`` is the vector of token id ``i``.
    weights
        ``(vocab,)`` non-negative token weights (SIF weights); a token of weight 0 is skipped.
    name
        The model's name (provenance); by default ``distilled(<teacher>)``.
    info
        What made it (teacher, teacher revision, corpus hash, settings): saved with the model and part of
        the provenance, so two distillations with other settings have other ``space_id`` values.
    normalize
        Whether :meth:`encode` L2-normalises the vectors when its ``normalize`` is not given.
    threads
        Worker threads of the pooling product (default: the CPU count, at most 8). The tokenizer's own
        threads follow ``RAYON_NUM_THREADS`` (the ``tokenizers`` library's setting).
    batch_size
        Texts tokenised and pooled at once (default 8192).

    Examples
    --------
    >>> enc = DistilledEncoder.load(path)          # doctest: +SKIP
    >>> enc.encode(["a short text", "another"]).shape   # doctest: +SKIP
    (2, 256)
    """

    modality: Modality = "text"

    def __init__(self, tokenizer: Any, vectors: npt.ArrayLike, weights: npt.ArrayLike, *, name: str | None = None,
                 info: dict[str, Any] | None = None, normalize: bool = True, threads: int | None = None,
                 batch_size: int = _DEFAULT_BATCH) -> None:
        self._tok = _tokenizer_from(tokenizer)
        vec = np.ascontiguousarray(vectors, dtype=np.float32)
        w = np.ascontiguousarray(weights, dtype=np.float32)
        if vec.ndim != 2 or vec.shape[0] == 0 or vec.shape[1] == 0:
            raise InvalidInputError(f"vectors must be a non-empty (vocab, dims) matrix, got shape {vec.shape}")
        if w.shape != (vec.shape[0],):
            raise InvalidInputError(f"weights must have one value per row of vectors ({vec.shape[0]}), "
                                    f"got shape {w.shape}")
        if not (np.all(np.isfinite(w)) and np.all(w >= 0)) or not np.all(np.isfinite(vec)):
            raise InvalidInputError("vectors and weights must be finite and weights non-negative")
        vocab = int(self._tok.get_vocab_size(with_added_tokens=True))
        if vocab > vec.shape[0]:
            raise InvalidInputError(f"the tokenizer has {vocab} tokens but vectors only {vec.shape[0]} rows; "
                                    "give one row per token id")
        if threads is not None and threads < 1:
            raise InvalidInputError(f"threads must be positive, got {threads}")
        if batch_size < 1:
            raise InvalidInputError(f"batch_size must be positive, got {batch_size}")
        self.vectors = vec
        self.weights = w
        self.info: dict[str, Any] = dict(info or {})
        self.normalize = bool(normalize)
        self.dim = int(vec.shape[1])
        self.name = name or f"distilled({self.info.get('teacher', '?')})"
        self.threads = int(threads or min(os.cpu_count() or 1, 8))
        self.batch_size = int(batch_size)
        self._weighted = vec * w[:, None]  # rows pre-scaled by their weight: one product gives the weighted sum
        digest = hashlib.sha256()
        digest.update(vec.astype("<f4").tobytes())
        digest.update(w.astype("<f4").tobytes())
        digest.update(self._tok.to_str().encode())
        self.revision = digest.hexdigest()[:16]
        self._set_provenance(kind=MODEL_TYPE, **{k: v for k, v in self.info.items() if k != "name"})

    # -- encoding ---------------------------------------------------------------------------------------
    def tokenize(self, texts: Sequence[str]) -> list[list[int]]:
        """The token ids of each text (no special tokens), as the encoder pools them."""
        return [e.ids for e in self._tok.encode_batch(list(texts), add_special_tokens=False)]

    def _pool(self, texts: list[str], pool: ThreadPoolExecutor | None) -> npt.NDArray[np.float32]:
        from scipy import sparse

        encodings = self._tok.encode_batch(texts, add_special_tokens=False)
        lengths = np.fromiter((len(e.ids) for e in encodings), dtype=np.int64, count=len(encodings))
        indptr = np.zeros(len(texts) + 1, dtype=np.int64)
        np.cumsum(lengths, out=indptr[1:])
        ids = np.fromiter((i for e in encodings for i in e.ids), dtype=np.int64, count=int(indptr[-1]))
        data = np.ones(len(ids), dtype=np.float32)
        counts = sparse.csr_matrix((data, ids, indptr), shape=(len(texts), self._weighted.shape[0]))
        wsum = counts @ self.weights.astype(np.float64)
        out = np.empty((len(texts), self.dim), dtype=np.float32)

        def product(lo: int, hi: int) -> None:
            out[lo:hi] = counts[lo:hi] @ self._weighted

        n = len(texts)
        if pool is None or n < 2 * _MIN_CHUNK:
            product(0, n)
        else:
            step = max(_MIN_CHUNK, -(-n // self.threads))
            list(pool.map(lambda lo: product(lo, min(lo + step, n)), range(0, n, step)))
        nz = wsum > 0
        out[nz] /= wsum[nz, None].astype(np.float32)
        out[~nz] = 0.0
        return out

    def encode(self, items: EncodeInput, *, batch_size: int | None = None, normalize: bool | None = None,
               progress: bool = True) -> EmbeddingVector:
        """One text -> ``(dim,)``; a list of texts -> ``(n, dim)`` (streamed in batches, with progress when long).

        ``normalize=None`` follows the model's setting (:attr:`normalize`); a text without any known token
        gets a zero vector.
        """
        return super().encode(items, batch_size=batch_size, normalize=self.normalize if normalize is None
                              else normalize, progress=progress)

    def _encode(self, items: list[Any], *, batch_size: int | None, normalize: bool,
                progress: bool) -> npt.NDArray[np.float32]:
        from .._progress import TrainingProgress

        size = self.batch_size if batch_size is None else int(batch_size)
        if size < 1:
            raise InvalidInputError(f"batch_size must be positive, got {batch_size}")
        out = np.empty((len(items), self.dim), dtype=np.float32)
        show = progress and len(items) > size
        pool = ThreadPoolExecutor(self.threads) if self.threads > 1 and len(items) >= 2 * _MIN_CHUNK else None
        try:
            with TrainingProgress(len(items), f"encoding with {self.name}", unit="texts", enabled=show) as bar:
                for lo in range(0, len(items), size):
                    hi = min(lo + size, len(items))
                    out[lo:hi] = self._pool(items[lo:hi], pool)
                    bar.advance(hi - lo)
        finally:
            if pool is not None:
                pool.shutdown()
        return l2_normalize(out) if normalize else out

    def encode_iter(self, texts: Sequence[str] | Iterator[str], *, batch_size: int | None = None,
                    normalize: bool = True) -> Iterator[npt.NDArray[np.float32]]:
        """Encode a stream of texts (any iterable) batch by batch: yields float32 ``(batch, dim)`` arrays.

        Memory stays bounded by one batch whatever the stream's length.
        """
        size = self.batch_size if batch_size is None else int(batch_size)
        if size < 1:
            raise InvalidInputError(f"batch_size must be positive, got {batch_size}")
        batch: list[str] = []
        for text in texts:
            if not isinstance(text, str):
                raise TypeError(f"expected str items, got {type(text).__name__}")
            batch.append(text)
            if len(batch) == size:
                yield np.asarray(self.encode(batch, normalize=normalize, progress=False))
                batch = []
        if batch:
            yield np.asarray(self.encode(batch, normalize=normalize, progress=False))

    # -- persistence ------------------------------------------------------------------------------------
    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the model directory (see the module docs); ``get_encoder(path)`` loads it. Returns the path."""
        import shutil

        target = Path(path)
        if target.exists() and not (target.is_dir() and (not any(target.iterdir()) or is_distilled_dir(target))):
            raise InvalidInputError(f"{target} exists and is not a distilled model directory; choose a new path")
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
        try:
            np.save(tmp / "vectors.npy", self.vectors, allow_pickle=False)
            np.save(tmp / "weights.npy", self.weights, allow_pickle=False)
            self._tok.save(str(tmp / "tokenizer.json"))
            (tmp / "distill.json").write_text(json.dumps({"name": self.name, "normalize": self.normalize,
                                                          **self.info}, indent=2,
                                                         ensure_ascii=False) + "\n", encoding="utf-8")
            write_header(tmp, "model", FORMAT_VERSION, model_type=MODEL_TYPE, dim=self.dim,
                         vocab=int(self.vectors.shape[0]))
            if target.exists():
                shutil.rmtree(target)
            os.replace(tmp, target)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return target

    @classmethod
    def load(cls, path: str | os.PathLike[str], **kwargs: Any) -> DistilledEncoder:
        """Load a directory written by :meth:`save` (``threads=``, ``batch_size=`` as in the constructor)."""
        p = Path(path)
        if not p.is_dir():
            raise ModelNotFoundError(f"{p} is not a directory; give the directory a distilled model was saved to")
        if not is_distilled_dir(p):
            raise InvalidInputError(f"{p} is not a distilled model directory (its embspace.json does not say "
                                    f"model_type {MODEL_TYPE!r}); make one with the Distiller learner")
        check_format_version(p, "model", FORMAT_VERSION)
        try:
            vectors = np.load(p / "vectors.npy", allow_pickle=False)
            weights = np.load(p / "weights.npy", allow_pickle=False)
            info = json.loads((p / "distill.json").read_text("utf-8"))
        except (OSError, ValueError) as e:
            raise CorruptDataError(p, f"a file of the distilled model is missing or unreadable ({e})") from None
        if not isinstance(info, dict):
            raise CorruptDataError(p / "distill.json", "expected a JSON object")
        name = info.pop("name", None)
        kwargs.setdefault("normalize", bool(info.pop("normalize", True)))
        info.pop("normalize", None)
        return cls(p / "tokenizer.json", vectors, weights, name=name, info=info, **kwargs)

    def __repr__(self) -> str:
        return f"DistilledEncoder({self.name!r}, dim={self.dim}, vocab={self.vectors.shape[0]})"
