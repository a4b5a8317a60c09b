"""The artifact header: one ``embspace.json`` in every artifact directory embspace writes.

Every directory the library writes (a saved space, a collection, an index, a recommender, a map,
a fixed space, a trained model, a checkpoint) carries a small JSON header::

    {"kind": "space", "format_version": 1, "embspace_version": "0.1.0", ...}

``kind`` says which object the directory holds, so :func:`embspace.open` (and the server) can open
it without sniffing file names; ``format_version`` is that kind's layout version, so a reader can
refuse a newer layout by name instead of failing on a missing file. Extra keys are free per kind.

This module is the lowest layer (it imports nothing of ours but ``errors`` and ``_version``): every
layer writes its header through :func:`write_header` and reads it through :func:`read_header`.
Readers keep accepting the layouts written before the header existed (see ``LEGACY_MARKERS``).

>>> import tempfile, pathlib
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> write_header(d, "space", 1, dim=3)
>>> h = read_header(d)
>>> (h.kind, h.format_version, h.extra["dim"])
('space', 1, 3)
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Literal

from ._version import __version__
from .errors import CorruptDataError

HEADER: Final = "embspace.json"

ArtifactKind = Literal["space", "collection", "index", "recommender", "map", "fixed-space", "model", "checkpoint",
                       "quantized-space"]
KINDS: Final[tuple[str, ...]] = ("space", "collection", "index", "recommender", "map", "fixed-space", "model",
                                 "checkpoint", "quantized-space")

#: Files that marked each kind before the header existed (the first match wins, in this order).
LEGACY_MARKERS: Final[tuple[tuple[str, str], ...]] = (
    ("collection.sqlite", "collection"),
    ("model.json", "recommender"),
    ("map.json", "map"),
    ("two_tower_clip.json", "model"),
    ("state.json", "checkpoint"),
    ("index.json", "index"),
    ("meta.json", "space"),
)


@dataclass(frozen=True)
class ArtifactHeader:
    """What ``embspace.json`` says: the kind, its layout version, and the kind's own extra keys."""

    kind: str
    format_version: int
    embspace_version: str = ""
    extra: dict[str, object] = field(default_factory=dict)


def write_header(directory: Path | str, kind: ArtifactKind, format_version: int, **extra: object) -> None:
    """Write ``embspace.json`` into ``directory`` (which exists; usually the temporary of an atomic write).

    ``extra`` values must be JSON-serialisable; ``kind``, ``format_version`` and ``embspace_version``
    are reserved.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown artifact kind {kind!r}; expected one of {', '.join(KINDS)}")
    reserved = {"kind", "format_version", "embspace_version"} & extra.keys()
    if reserved:
        raise ValueError(f"reserved header keys given as extra: {sorted(reserved)}")
    body = {"kind": kind, "format_version": int(format_version), "embspace_version": __version__, **extra}
    path = Path(directory) / HEADER
    tmp = path.with_name(HEADER + ".tmp")
    tmp.write_text(json.dumps(body, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def read_header(directory: Path | str) -> ArtifactHeader | None:
    """The header of ``directory``, or ``None`` where it has none (a layout older than the header).

    Raises
    ------
    CorruptDataError
        The header exists but is not a JSON object with a known ``kind`` and an integer ``format_version``.
    """
    path = Path(directory) / HEADER
    if not path.is_file():
        return None
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CorruptDataError(path, f"invalid JSON: {e}") from None
    if not isinstance(body, dict):
        raise CorruptDataError(path, "expected a JSON object")
    kind, version = body.pop("kind", None), body.pop("format_version", None)
    if kind not in KINDS:
        raise CorruptDataError(path, f"unknown artifact kind {kind!r}; expected one of {', '.join(KINDS)}")
    if not isinstance(version, int) or isinstance(version, bool):
        raise CorruptDataError(path, f"format_version must be an integer, got {version!r}")
    return ArtifactHeader(kind=str(kind), format_version=version,
                          embspace_version=str(body.pop("embspace_version", "")), extra=body)


def artifact_kind(directory: Path | str) -> str | None:
    """The kind of artifact in ``directory``: from its header, else from the files older layouts wrote.

    ``None`` when the path is not a directory embspace wrote.
    """
    p = Path(directory)
    if not p.is_dir():
        return None
    header = read_header(p)
    if header is not None:
        return header.kind
    for marker, kind in LEGACY_MARKERS:
        if (p / marker).is_file():
            return kind
    return None


def kind_phrase(kind: str) -> str:
    """The kind for a message, with its article: ``"an index"``, ``"a fixed space"``."""
    words = kind.replace("-", " ")
    return ("an " if words[:1] in "aeiou" else "a ") + words


def check_format_version(directory: Path | str, kind: str | tuple[str, ...], supported: int
                         ) -> ArtifactHeader | None:
    """Read the header and refuse another kind or a layout newer than ``supported``, by name.

    ``kind`` may be a tuple of the kinds the caller reads (a fixed space is also a space).
    Returns the header (``None`` for a legacy layout, which the caller reads as before).

    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> check_format_version(d, "space", 1) is None  # no header: a layout older than the header
    True
    >>> write_header(d, "map", 2)
    >>> check_format_version(d, "map", 1)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    embspace.errors.CorruptDataError: ...: map format version 2 is newer than this embspace ... upgrade embspace
    """
    header = read_header(directory)
    if header is None:
        return None
    path = Path(directory) / HEADER
    kinds = (kind,) if isinstance(kind, str) else kind
    if header.kind not in kinds:
        raise CorruptDataError(path, f"this directory holds {kind_phrase(header.kind)}, not "
                                     f"{' or '.join(kind_phrase(k) for k in kinds)}; open it with embspace.open()")
    if header.format_version > supported:
        raise CorruptDataError(path, f"{header.kind} format version {header.format_version} is newer than this "
                                     f"embspace ({__version__}) reads (up to {supported}); upgrade embspace")
    return header
