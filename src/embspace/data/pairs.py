"""load_pairs, load_labels: two-column text files — (anchor, positive) pairs for contrastive fine-tuning,
key<TAB>label lines for metric learning and cluster scoring."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from ..errors import CorruptDataError

__all__ = ["load_labels", "load_pairs"]

_KEYS = (("anchor", "positive"), ("query", "positive"), ("query", "document"), ("text1", "text2"))


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, line) of the non-empty lines, the newline removed."""
    with path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if line.strip():
                yield n, line.rstrip("\n").rstrip("\r")


def _tab_pairs(path: Path) -> Iterator[tuple[str, str]]:
    for n, line in _lines(path):
        parts = line.split("\t")
        if len(parts) != 2 or not parts[0].strip() or not parts[1].strip():
            raise CorruptDataError(path, f"expected 2 tab-separated non-empty columns (key<TAB>label, "
                                         f"anchor<TAB>positive), got {len(parts)}", n)
        yield parts[0], parts[1]


def _json_pairs(path: Path) -> Iterator[tuple[str, str]]:
    for n, line in _lines(path):
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise CorruptDataError(path, f"invalid JSON: {e}", n) from None
        keys = next((k for k in _KEYS if isinstance(obj, dict) and k[0] in obj and k[1] in obj), None)
        if keys is None:
            raise CorruptDataError(path, f"expected the fields {' / '.join('+'.join(k) for k in _KEYS)}", n)
        a, b = obj[keys[0]], obj[keys[1]]
        if not isinstance(a, str) or not isinstance(b, str) or not a.strip() or not b.strip():
            raise CorruptDataError(path, "both texts of a pair must be non-empty strings", n)
        yield a, b


def load_pairs(path: str | Path) -> list[tuple[str, str]]:
    """Read text pairs: ``.jsonl`` with one object a line holding ``anchor``/``positive`` (or
    ``query``/``positive``, ``query``/``document``, ``text1``/``text2``), or ``.tsv``/``.txt`` with two
    tab-separated columns a line (no header). Empty lines are skipped.

    Raises
    ------
    CorruptDataError
        A line that is not a pair, naming the file and line.
    """
    p = Path(path)
    return list(_json_pairs(p) if p.suffix.lower() in (".jsonl", ".json") else _tab_pairs(p))


def load_labels(path: str | Path) -> dict[str, str]:
    """``{key: label}`` from ``key<TAB>label`` lines (empty lines skipped; a later line for a key wins).

    Raises
    ------
    CorruptDataError
        A line that is not ``key<TAB>label``, naming the file and line.
    """
    return dict(_tab_pairs(Path(path)))
