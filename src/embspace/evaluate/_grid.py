"""The metric x cutoff grid shown by the ranking results (retrieval, recommendation)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from .. import _html


def grid_lines(metrics: Mapping[str, float], families: Sequence[str], k_values: Sequence[int]) -> list[str]:
    """One header line (``@k`` per column) and one line per metric family, as plain text; a value
    missing from ``metrics`` shows as ``n/a``."""
    heads = [f"@{k}" for k in k_values]
    width = max(7, *(len(h) for h in heads))
    lines = ["metric    " + "".join(h.rjust(width + 1) for h in heads)]
    for fam in families:
        cells = [metrics.get(f"{fam}@{k}") for k in k_values]
        lines.append(f"{fam:<10}" + "".join(("n/a" if v is None else f"{v:.4f}").rjust(width + 1) for v in cells))
    return lines


def grid_html(metrics: Mapping[str, float], families: Sequence[str], k_values: Sequence[int]) -> str:
    """The same grid as an HTML table."""
    return _html.table(((fam, *(metrics.get(f"{fam}@{k}") for k in k_values)) for fam in families),
                       ["metric", *(f"@{k}" for k in k_values)])
