"""MovieLens loaders: 100K (``u.data`` and its predefined splits) and ``ml-latest-small`` (``ratings.csv``).

Each takes the published ``.zip``, the folder it unpacks to, or the folder that holds that folder;
nothing is downloaded.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import overload

from ..errors import CorruptDataError, InvalidInputError
from .interactions import Interactions, _from_table, _read_text

__all__ = ["MOVIELENS_100K_SPLITS", "load_movielens_100k", "load_movielens_latest_small"]

MOVIELENS_100K_SPLITS: tuple[str, ...] = ("u1", "u2", "u3", "u4", "u5", "ua", "ub")
"""The predefined splits of MovieLens 100K: ``u1``-``u5`` are the 5 folds of a 80/20 cross-validation
(disjoint test sets), ``ua``/``ub`` hold out exactly 10 ratings per user."""
_U_DATA_COLUMNS = ("user", "item", "rating", "timestamp")


def _read_member(path: str | Path, folder: str, name: str) -> tuple[bytes, str]:
    """The bytes of ``folder/name`` from a zip, the unpacked folder or its parent; and where it was found."""
    p = Path(path)
    if p.is_file():
        try:
            with zipfile.ZipFile(p) as zf:
                wanted = (f"{folder}/{name}", name)
                member = next((m for m in zf.namelist() if m in wanted), None)
                if member is None:
                    raise InvalidInputError(f"{p} has no {folder}/{name}; is it the {folder} archive?")
                return zf.read(member), f"{p}!{member}"
        except zipfile.BadZipFile as exc:
            raise CorruptDataError(p, f"not a zip archive ({exc})") from exc
    for candidate in (p / name, p / folder / name):
        if candidate.is_file():
            return candidate.read_bytes(), str(candidate)
    raise InvalidInputError(f"no {name} in {str(p)!r}: give the {folder}.zip archive, the {folder}/ folder it "
                            "unpacks to, or the folder that holds it")


@overload
def load_movielens_100k(path: str | Path, split: None) -> Interactions: ...
@overload
def load_movielens_100k(path: str | Path, split: str = "u1") -> tuple[Interactions, Interactions]: ...
def load_movielens_100k(path: str | Path, split: str | None = "u1") -> Interactions | tuple[Interactions, Interactions]:
    """MovieLens 100K: ``(train, test)`` of a predefined split, or all 100,000 ratings with ``split=None``.

    Parameters
    ----------
    path
        ``ml-100k.zip``, the ``ml-100k/`` folder, or the folder that holds it.
    split
        ``"u1"``..``"u5"`` (``uN.base`` / ``uN.test``), ``"ua"``/``"ub"`` (10 test ratings per
        user), or ``None`` for ``u.data``.

    Returns
    -------
    Interactions, or (train, test)
        Columns ``user``, ``item``, ``rating`` (1-5) and ``timestamp`` (Unix seconds); ids are the
        files' numbers as text (``"196"``).
    """
    if split is None:
        return _load_u_file(path, "u.data")
    if split not in MOVIELENS_100K_SPLITS:
        raise InvalidInputError(f"unknown MovieLens 100K split {split!r}; the splits are "
                                f"{list(MOVIELENS_100K_SPLITS)}, or None for all of u.data")
    return _load_u_file(path, f"{split}.base"), _load_u_file(path, f"{split}.test")


def _load_u_file(path: str | Path, name: str) -> Interactions:
    raw, where = _read_member(path, "ml-100k", name)
    table = _read_text(io.BytesIO(raw), "\t", _U_DATA_COLUMNS, None, name=where)
    return _from_table(table, None, where)


def load_movielens_latest_small(path: str | Path) -> Interactions:
    """MovieLens ``ml-latest-small``: 100,836 ratings (0.5-5 stars) of 610 users on 9,742 movies.

    ``path`` is ``ml-latest-small.zip``, the ``ml-latest-small/`` folder, or the folder that holds it.
    ``ratings.csv``'s ``userId``/``movieId`` become the ``user``/``item`` ids (as text); ``rating`` and
    ``timestamp`` (Unix seconds) are kept. Use :func:`embspace.data.leave_last_out` to split it.
    """
    columns = {"user": "userId", "item": "movieId"}
    raw, where = _read_member(path, "ml-latest-small", "ratings.csv")
    table = _read_text(io.BytesIO(raw), ",", None, columns, name=where)
    return _from_table(table, columns, where)

