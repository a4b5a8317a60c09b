"""embspace's own directory format: ``vectors.npy`` (memory-mappable), ``keys.json``, ``meta.json``.

Optionally ``counts.npy``; a SubwordSpace adds ``ngrams.npy`` (its n-gram rows, memory-mapped on open) and,
when only some buckets have rows, ``buckets.npy`` (``meta.json`` key ``subwords``: minn, maxn, bucket); the
``embspace.json`` artifact header (kind ``space``, or ``fixed-space`` for a fixed space, which adds its
transform) since the header exists; directories without it (written before) read as before. Written to a
temporary sibling and renamed into place, so a failed write never leaves a half-written space behind.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ..._artifact import ArtifactKind, check_format_version, write_header
from ..._atomic import atomic_path
from ..._types import METRICS
from ...errors import CorruptDataError, InvalidInputError
from ..embedding_space import EmbeddingSpace
from ..provenance import Provenance

FORMAT_TAG = "embspace.space"
FORMAT_VERSION = 1
#: The artifact kinds whose directories hold a space in this layout (a fixed space adds its transform).
KINDS = ("space", "fixed-space")
STORAGE = ("float32", "float16", "int8")


def is_own_dir(path: Path) -> bool:
    return path.is_dir() and (path / "meta.json").is_file()


def read_own(path: Path, *, mmap: bool = True) -> EmbeddingSpace:
    """Open a space directory; with ``mmap=True`` (default) vectors are memory-mapped, read-only."""
    if not path.is_dir():
        if not path.exists():
            raise FileNotFoundError(f"no such space directory: {path}")
        raise CorruptDataError(path, "not an embspace space directory (a file, not a directory)")
    check_format_version(path, KINDS, FORMAT_VERSION)
    meta_path = path / "meta.json"
    try:
        meta: Any = json.loads(meta_path.read_text("utf-8"))
    except FileNotFoundError:
        raise CorruptDataError(path, "not an embspace space directory (no meta.json)") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CorruptDataError(meta_path, f"invalid JSON: {e}") from None
    if not isinstance(meta, dict):
        raise CorruptDataError(meta_path, f"expected a JSON object, found {type(meta).__name__}")
    if meta.get("format") != FORMAT_TAG:
        raise CorruptDataError(meta_path, f"format is {meta.get('format')!r}, expected {FORMAT_TAG!r}")
    try:
        version = int(meta.get("format_version", 0))
        n, dim, metric = int(meta["n"]), int(meta["dim"]), meta["metric"]
        provenance = Provenance.from_dict(meta["provenance"])
    except (KeyError, TypeError, ValueError) as e:
        raise CorruptDataError(meta_path, f"missing or invalid field: {e}") from None
    if version > FORMAT_VERSION:
        raise CorruptDataError(meta_path, f"format version {version} is newer than this "
                                          f"embspace reads ({FORMAT_VERSION}); upgrade embspace")
    if metric not in METRICS:
        raise CorruptDataError(meta_path, f"unknown metric {metric!r}")
    try:
        vectors = np.load(path / "vectors.npy", mmap_mode="r" if mmap else None, allow_pickle=False)
    except FileNotFoundError:
        raise CorruptDataError(path, "vectors.npy is missing") from None
    except ValueError as e:
        raise CorruptDataError(path / "vectors.npy", f"not a readable .npy file: {e}") from None
    storage = meta.get("storage", "float32")
    if storage not in STORAGE or vectors.dtype != np.dtype(storage) or vectors.shape != (n, dim) \
            or not vectors.flags.c_contiguous:
        raise CorruptDataError(path / "vectors.npy", f"holds {vectors.dtype} {vectors.shape}, "
                                                     f"meta.json promises {storage} ({n}, {dim})")
    normalized = bool(meta.get("normalized"))
    if storage != "float32":
        vectors = _dequantize(path, vectors, storage, n)
        normalized = False  # rounding moved the rows off the unit sphere
    try:
        keys = json.loads((path / "keys.json").read_text("utf-8"))
    except FileNotFoundError:
        raise CorruptDataError(path, "keys.json is missing") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CorruptDataError(path / "keys.json", f"invalid JSON: {e}") from None
    if not isinstance(keys, list) or len(keys) != n or not all(isinstance(k, str) for k in keys):
        raise CorruptDataError(path / "keys.json", f"expected a list of {n} strings")
    if len(set(keys)) != n:
        first: dict[str, int] = {}
        for i, k in enumerate(keys):
            if k in first:
                raise CorruptDataError(path / "keys.json", f"duplicate key {k!r} at entries {first[k] + 1} "
                                                           f"and {i + 1}")
            first[k] = i
    counts = None
    if meta.get("has_counts"):
        try:
            counts = np.load(path / "counts.npy", allow_pickle=False)
        except (FileNotFoundError, ValueError) as e:
            raise CorruptDataError(path / "counts.npy", f"unreadable: {e}") from None
        if counts.shape != (n,) or counts.dtype.kind not in "iu" or (counts < 0).any():
            raise CorruptDataError(path / "counts.npy", f"expected {n} integers, found {counts.dtype} "
                                                        f"{counts.shape}")
        counts = counts.astype(np.int64)
        counts.flags.writeable = False
    if not mmap:
        vectors.flags.writeable = False
    space = EmbeddingSpace._trusted(tuple(keys), vectors, metric=metric, normalized=normalized, counts=counts,
                                    provenance=provenance)
    if isinstance(meta.get("subwords"), dict):
        return _read_subwords(path, space, meta["subwords"], mmap)
    return space


def _read_subwords(path: Path, space: EmbeddingSpace, info: dict[str, Any], mmap: bool) -> EmbeddingSpace:
    """The n-gram part of a SubwordSpace directory: ``ngrams.npy`` (+ ``buckets.npy`` when sparse)."""
    from ..subword_space import FASTTEXT_ARGS, SubwordSpace, _Subwords

    try:
        minn, maxn, bucket = int(info["minn"]), int(info["maxn"]), int(info["bucket"])
        grams = np.load(path / "ngrams.npy", mmap_mode="r" if mmap else None, allow_pickle=False)
        ids = np.load(path / "buckets.npy", allow_pickle=False) if info.get("sparse") else None
    except (KeyError, TypeError, ValueError, FileNotFoundError) as e:
        raise CorruptDataError(path, f"the n-gram part of this subword space is unreadable: {e}") from None
    rows = grams.shape[0] if grams.ndim == 2 else -1
    bad_ids = ids is not None and (ids.shape != (rows,) or ids.dtype.kind != "i")
    if grams.dtype != np.float32 or grams.ndim != 2 or grams.shape[1] != space.dim or not 1 <= minn <= maxn \
            or (ids is None and rows != bucket) or bad_ids:
        raise CorruptDataError(path / "ngrams.npy", f"holds {grams.dtype} {grams.shape}, meta.json promises "
                                                    f"float32 rows of {space.dim} for {bucket} buckets")
    if ids is not None:
        ids = ids.astype(np.int64)
        ids.flags.writeable = False
    if not mmap:
        grams.flags.writeable = False
    args = {**FASTTEXT_ARGS, **{k: float(v) for k, v in dict(info.get("args") or {}).items()}}
    sub = _Subwords(minn, maxn, bucket, grams, ids, None, None, str(info.get("encoding", "utf-8")), args)
    return SubwordSpace._from_parts(space, sub)


def _dequantize(path: Path, stored: npt.NDArray[Any], storage: str, n: int) -> npt.NDArray[np.float32]:
    out = np.asarray(stored, dtype=np.float32)
    if storage == "int8":
        try:
            scales = np.load(path / "scales.npy", allow_pickle=False)
        except (FileNotFoundError, ValueError) as e:
            raise CorruptDataError(path / "scales.npy", f"unreadable: {e}") from None
        if scales.shape != (n,) or scales.dtype != np.float32 or not np.isfinite(scales).all():
            raise CorruptDataError(path / "scales.npy", f"expected {n} finite float32 scales")
        out *= scales[:, None]
    out.flags.writeable = False
    return out


def _quantize(vectors: npt.NDArray[np.float32], storage: str
              ) -> tuple[npt.NDArray[Any], npt.NDArray[np.float32] | None]:
    if storage == "float32":
        return np.ascontiguousarray(vectors, dtype=np.float32), None
    if storage == "float16":
        if np.abs(vectors).max(initial=0.0) > np.finfo(np.float16).max:
            raise InvalidInputError("values exceed the float16 range; store as float32 or int8")
        return vectors.astype(np.float16), None
    scales = (np.abs(vectors).max(axis=1) / 127.0).astype(np.float32)
    safe = np.where(scales > 0, scales, 1.0).astype(np.float32)
    return np.rint(vectors / safe[:, None]).astype(np.int8), scales


def _write_subwords(space: EmbeddingSpace, work: Path) -> dict[str, Any] | None:
    """A SubwordSpace's n-gram rows (``ngrams.npy``, float32) and, when sparse, their buckets (``buckets.npy``)."""
    from ..subword_space import SubwordSpace

    if not isinstance(space, SubwordSpace):
        return None
    sub = space._sub
    np.save(work / "ngrams.npy", np.ascontiguousarray(sub.ngram_vectors, dtype=np.float32))
    if sub.bucket_ids is not None:
        np.save(work / "buckets.npy", sub.bucket_ids)
    return {"minn": sub.minn, "maxn": sub.maxn, "bucket": sub.bucket, "sparse": sub.bucket_ids is not None,
            "encoding": sub.encoding, "args": dict(sub.args)}


def write_own(space: EmbeddingSpace, path: Path, *, dtype: str = "float32", kind: ArtifactKind = "space",
              extra: Callable[[Path], Mapping[str, object]] | None = None) -> None:
    """Write a space directory; ``dtype="float16"`` or ``"int8"`` (per-row scale) makes it smaller.

    Quantised spaces load as float32 (dequantised, not memory-mapped); int8 keeps cosine
    similarities within about 0.01 of the original.

    ``kind`` and ``extra`` are for the layers above that save a space with more (a fixed space and
    its transform): ``extra(work)`` writes its files into the temporary directory, inside the same
    atomic write, and returns the extra keys of the ``embspace.json`` header.
    """
    if dtype not in STORAGE:
        raise InvalidInputError(f"unknown storage dtype {dtype!r}; expected one of {', '.join(STORAGE)}")
    if kind not in KINDS:
        raise InvalidInputError(f"a space directory is written as kind {' or '.join(KINDS)}, not {kind!r}")
    if path.exists() and not is_own_dir(path) and not (path.is_dir() and not any(path.iterdir())):
        raise InvalidInputError(
            f"{path} exists and is not an embspace space directory; refusing to replace it. "
            "Choose a new path, or give a suffix (.txt, .npy, .parquet...) for a file format"
        )
    with atomic_path(path, is_dir=True) as work:
        stored, scales = _quantize(np.asarray(space.vectors), dtype)
        np.save(work / "vectors.npy", stored)
        if scales is not None:
            np.save(work / "scales.npy", scales)
        (work / "keys.json").write_text(json.dumps(list(space.keys), ensure_ascii=False), "utf-8")
        if space.counts is not None:
            np.save(work / "counts.npy", np.asarray(space.counts, dtype=np.int64))
        subwords = _write_subwords(space, work)
        meta = {
            "format": FORMAT_TAG,
            "format_version": FORMAT_VERSION,
            "n": len(space),
            "dim": space.dim,
            "metric": space.metric,
            "normalized": space.is_normalized,
            "storage": dtype,
            "has_counts": space.counts is not None,
            "provenance": space.provenance.to_dict(),
            **({"subwords": subwords} if subwords else {}),
        }
        (work / "meta.json").write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n", "utf-8")
        more = dict(extra(work)) if extra is not None else {}
        write_header(work, kind, FORMAT_VERSION, n=len(space), dim=space.dim, metric=space.metric, **more)
