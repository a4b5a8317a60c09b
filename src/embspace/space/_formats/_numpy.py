"""A ``.npy`` matrix with its keys in a sidecar text file (``name.keys.txt``, one key per line)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..._atomic import atomic_path
from ...errors import CorruptDataError, InvalidInputError
from ..embedding_space import EmbeddingSpace
from ._common import imported_space


def keys_path(path: Path) -> Path:
    return path.with_suffix(".keys.txt")


def read_numpy(path: Path, *, keys: list[str] | None = None, **options: Any) -> EmbeddingSpace:
    try:
        vectors = np.load(path, allow_pickle=False)
    except ValueError as e:  # pickled object arrays and malformed headers land here
        raise CorruptDataError(path, f"not a readable .npy array (pickles are never loaded): {e}") from None
    except EOFError:
        raise CorruptDataError(path, "empty or truncated .npy file") from None
    if not isinstance(vectors, np.ndarray) or vectors.ndim != 2 or vectors.dtype.kind not in "fiu":
        raise CorruptDataError(path, f"expected a 2-D numeric array, found {getattr(vectors, 'dtype', '?')} "
                                     f"{getattr(vectors, 'shape', '?')}")
    if keys is None:
        kp = keys_path(path)
        try:
            raw = kp.read_bytes()
        except FileNotFoundError:
            raise CorruptDataError(path, f"no keys: expected {kp.name} beside it (one key per line), "
                                         "or pass keys=[...]") from None
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            line = raw[: e.start].count(b"\n") + 1
            raise CorruptDataError(kp, f"not valid UTF-8 (the keys of {path.name})", line=line) from None
        keys = text.split("\n")
        if keys and keys[-1] == "":
            keys.pop()
        if len(keys) != len(vectors):
            raise CorruptDataError(kp, f"{len(keys)} keys for {len(vectors)} vectors in {path.name}")
    elif len(keys) != len(vectors):
        raise CorruptDataError(path, f"{len(keys)} keys given for {len(vectors)} vectors")
    return imported_space(path, list(keys), np.ascontiguousarray(vectors, dtype=np.float32), **options)


def write_numpy(space: EmbeddingSpace, path: Path) -> None:
    for i, k in enumerate(space.keys):
        if "\n" in k or "\r" in k:
            raise InvalidInputError(f"key #{i} {k!r} contains a line break, which a keys file cannot store; "
                                    "use the embspace, parquet or arrow format")
    kp = keys_path(path)
    with atomic_path(kp) as tmp_keys:
        tmp_keys.write_text("".join(k + "\n" for k in space.keys), "utf-8")
        with atomic_path(path) as tmp, open(tmp, "wb") as f:
            np.save(f, np.ascontiguousarray(space.vectors, dtype=np.float32))
