"""``embspace.open(path)``: open whatever embspace wrote at ``path``, by the kind its header names.

Every artifact directory embspace writes carries an ``embspace.json`` header (see
:mod:`embspace._artifact`) whose ``kind`` says what it holds; :func:`open` reads it and hands the
directory to that kind's own loader. Directories written before the header existed are recognised
by the files they hold (``meta.json``, ``collection.sqlite``, ``model.json``, ``map.json``, ...), and
a plain file (word2vec ``.txt``/``.bin``, GloVe, fastText ``.vec``, ``.npy``, Parquet, Arrow) is a
space, read by :func:`embspace.load`.

This module sits with the top-level package, above every layer: it imports each loader lazily, so
opening a space never imports torch or FAISS.

>>> import tempfile, pathlib, numpy as np, embspace
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> space = embspace.EmbeddingSpace(["a", "b", "c"], np.eye(3, dtype=np.float32))
>>> _ = space.save(d / "words")
>>> opened = embspace.open(d / "words")
>>> type(opened).__name__, opened.keys
('EmbeddingSpace', ('a', 'b', 'c'))
>>> from embspace._artifact import artifact_kind
>>> artifact_kind(d / "words")
'space'
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ._artifact import HEADER, LEGACY_MARKERS, artifact_kind, read_header
from .errors import InvalidInputError, UnknownFormatError

__all__ = ["open"]

#: What each kind opens as (for the error message and the docs).
OPENS_AS: dict[str, str] = {
    "space": "EmbeddingSpace (embspace.load)",
    "fixed-space": "FixedSpace (embspace.analysis.FixedSpace.load)",
    "collection": "Collection (embspace.Collection.open)",
    "index": "ExactIndex or FaissIndex (embspace.index.load_index)",
    "recommender": "Recommender (embspace.train.Recommender.load)",
    "map": "SpaceMap (embspace.analysis.SpaceMap.load)",
    "model": "TwoTowerClip (embspace.train.TwoTowerClip.load)",
}
_LEGACY_TRANSFORM_SUFFIX = ".transform.npz"  # `embspace fix` wrote OUTPUT.transform.npz beside the space


def open(path: str | Path, **kwargs: Any) -> Any:  # embspace.open, like gzip.open (the builtin is unused here)
    """Open the artifact at ``path``: the right object for what it holds.

    ==============  ============================================================
    what is there   what comes back
    ==============  ============================================================
    space           :class:`~embspace.EmbeddingSpace` (a directory or any file format)
    fixed space     :class:`~embspace.analysis.FixedSpace` (with its transform and report)
    collection      :class:`~embspace.Collection` (also a ``milvus://`` address)
    index           :class:`~embspace.index.ExactIndex` or :class:`~embspace.index.FaissIndex`
    recommender     :class:`~embspace.train.Recommender`
    map             :class:`~embspace.analysis.SpaceMap`
    model           :class:`~embspace.train.TwoTowerClip` (the CLIP-style two-tower model), or
                    :class:`~embspace.encoders.DistilledEncoder` (a distilled static model)
    ==============  ============================================================

    Parameters
    ----------
    path
        A directory embspace wrote (with its ``embspace.json`` header, or an older layout without
        it), a space file, or a Milvus address.
    **kwargs
        Passed to the kind's loader: ``mmap`` (spaces), ``readonly``/``encoder``/``timeout``
        (collections; a collection opens for writing unless ``readonly=True``, as with
        ``Collection.open``), ``device`` (models); ``format`` and the reader options of
        :func:`embspace.load` for space files.

    Raises
    ------
    FileNotFoundError
        Nothing is at ``path``.
    UnknownFormatError
        A directory that embspace did not write; the message lists what is there.
    CorruptDataError
        The header (or the data) is unreadable, or the layout is newer than this embspace reads.
    """
    if isinstance(path, str) and path.startswith("milvus"):
        from .store.milvus import is_milvus_uri

        if is_milvus_uri(path):
            from .store.collection import Collection

            return Collection.open(path, **kwargs)
    p = Path(path).expanduser()
    if not p.exists():
        raise FileNotFoundError(f"nothing to open at {p}")
    if not p.is_dir():
        from .space.io import load

        return load(p, **kwargs)
    kind = artifact_kind(p)
    if kind == "space" and read_header(p) is None and p.with_name(p.name + _LEGACY_TRANSFORM_SUFFIX).is_file():
        kind = "fixed-space"  # a fixed space written by `embspace fix` before the header existed
    if kind == "space":
        from .space.io import load

        return load(p, format="embspace", **kwargs)
    if kind == "fixed-space":
        from .analysis.fixes import FixedSpace

        return FixedSpace.load(p, **kwargs)
    if kind == "collection":
        from .store.collection import Collection

        return Collection.open(p, **kwargs)
    if kind == "index":
        from .index.base import load_index

        return load_index(p, **kwargs)
    if kind == "recommender":
        from .train.recommender import Recommender

        return Recommender.load(p, **kwargs)
    if kind == "map":
        from .analysis.maps import SpaceMap

        return SpaceMap.load(p, **kwargs)
    if kind == "model":
        from .encoders.distilled_encoder import DistilledEncoder, is_distilled_dir

        if is_distilled_dir(p):
            return DistilledEncoder.load(p, **kwargs)
        from .train.two_tower_clip import TwoTowerClip

        return TwoTowerClip.load(p, **kwargs)
    if kind == "checkpoint":
        raise InvalidInputError(f"{p} is a training checkpoint, not a finished artifact; resume the training by "
                                "giving this directory as the learner's checkpoint (fit(..., checkpoint=PATH))")
    raise UnknownFormatError(_unknown(p))


def _unknown(p: Path) -> str:
    names = sorted(child.name + ("/" if child.is_dir() else "") for child in p.iterdir())
    found = "it is empty" if not names else "it holds " + ", ".join(names[:8]) + (
        f" and {len(names) - 8} more" if len(names) > 8 else "")
    markers = ", ".join(dict.fromkeys(m for m, _ in LEGACY_MARKERS))
    return (f"{p} is a directory that embspace did not write ({found}); expected an artifact directory with an "
            f"{HEADER} header (or, from older versions, one of {markers}), or a space file (.txt, .vec, .bin, "
            ".npy, .parquet, .arrow). To open a directory of several artifacts, open each one")
