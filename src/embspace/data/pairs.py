"""load_pairs: (anchor, positive) text pairs from a JSONL or TSV file, for contrastive fine-tuning."""

from __future__ import annotations

import json
from pathlib import Path

from ..errors import CorruptDataError

__all__ = ["load_pairs"]

_KEYS = (("anchor", "positive"), ("query", "positive"), ("query", "document"), ("text1", "text2"))


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
    out: list[tuple[str, str]] = []
    jsonl = p.suffix.lower() in (".jsonl", ".json")
    with p.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            if jsonl:
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError as e:
                    raise CorruptDataError(p, f"invalid JSON: {e}", n) from None
                keys = next((k for k in _KEYS if isinstance(obj, dict) and k[0] in obj and k[1] in obj), None)
                if keys is None:
                    raise CorruptDataError(p, f"expected the fields {' / '.join('+'.join(k) for k in _KEYS)}", n)
                a, b = obj[keys[0]], obj[keys[1]]
            else:
                parts = line.rstrip("\n").split("\t")
                if len(parts) != 2:
                    raise CorruptDataError(p, f"expected 2 tab-separated columns, got {len(parts)}", n)
                a, b = parts
            if not isinstance(a, str) or not isinstance(b, str) or not a.strip() or not b.strip():
                raise CorruptDataError(p, "both texts of a pair must be non-empty strings", n)
            out.append((a, b))
    return out
