"""Write fastText ``.bin`` files byte by byte (the layout of fastText's ``saveModel``), for the reader's tests."""

from __future__ import annotations

import struct
from collections.abc import Sequence
from pathlib import Path

import numpy as np

MAGIC = 793712314


def write_fasttext_bin(path: Path, words: Sequence[bytes], matrix: np.ndarray, *, counts: Sequence[int] = (),
                       labels: Sequence[bytes] = (), minn: int = 3, maxn: int = 6, bucket: int | None = None,
                       version: int = 12, old_format: bool = False, quantized: bool = False,
                       model: int = 2, pruneidx: Sequence[tuple[int, int]] = ()) -> Path:
    """``matrix`` is the input matrix: ``len(words) + bucket`` rows (``bucket`` defaults to fit it)."""
    nwords = len(words)
    bucket = matrix.shape[0] - nwords if bucket is None else bucket
    dim = matrix.shape[1]
    out = bytearray()
    if not old_format:
        out += struct.pack("<2i", MAGIC, version)
    # dim, ws, epoch, minCount, neg, wordNgrams, loss (ns), model, bucket, minn, maxn, lrUpdateRate, t
    out += struct.pack("<12id", dim, 5, 5, 1, 5, 1, 2, model, bucket, minn, maxn, 100, 1e-4)
    entries = [(w, 0) for w in words] + [(lab, 1) for lab in labels]
    counts = list(counts) or [nwords - i for i in range(nwords)]
    out += struct.pack("<3iq", len(entries), nwords, len(labels), 1000)
    if not old_format:
        out += struct.pack("<q", len(pruneidx) if pruneidx else -1)
    for i, (w, kind) in enumerate(entries):
        out += w + b"\0" + struct.pack("<qb", counts[i] if kind == 0 else 1, kind)
    for a, b in pruneidx:
        out += struct.pack("<2i", a, b)
    if not old_format:
        out += b"\1" if quantized else b"\0"
    out += struct.pack("<2q", *matrix.shape) + np.ascontiguousarray(matrix, "<f4").tobytes()
    if not old_format:
        out += b"\0"  # qout
    out += struct.pack("<2q", 1, dim) + np.zeros(dim, "<f4").tobytes()  # a stand-in output matrix
    path.write_bytes(bytes(out))
    return path
