"""Compact HTML for notebooks: the one table builder behind every ``_repr_html_``.

Every user-provided string (keys, model names, metadata, paths, explanations) goes through
:func:`html.escape`; long texts and long lists are cut (``MAX_TEXT`` characters, ``MAX_ROWS`` rows
with an "… n more" line), so a repr stays small whatever the size of the object. Callers pass
only the rows they mean to show (a slice or a bounded iterator), never a whole space.
"""

from __future__ import annotations

import base64
import dataclasses
import html
import itertools
import math
from collections.abc import Iterable, Mapping, Sequence
from numbers import Number
from typing import Any

import numpy as np

__all__ = [
    "MAX_ITEMS",
    "MAX_ROWS",
    "MAX_TEXT",
    "Html",
    "cell",
    "dataclass_html",
    "esc",
    "fmt",
    "frame",
    "image",
    "kv_table",
    "note",
    "short_list",
    "table",
    "text",
    "truncate",
]

MAX_ROWS = 10  # rows of a table shown before "… n more"
MAX_TEXT = 80  # characters of a cell before "…"
MAX_ITEMS = 5  # items of a list shown inside one cell
MAX_NOTE = 600  # characters of an explanation paragraph

CSS = (".embspace-repr{font-size:12px;line-height:1.35}"
       ".embspace-repr table{border-collapse:collapse;margin:2px 0 6px 0}"
       ".embspace-repr th,.embspace-repr td{border:1px solid #ddd;padding:1px 6px;text-align:left;"
       "vertical-align:top}"
       ".embspace-repr thead th{background:#f4f4f4}"
       ".embspace-repr tbody th{background:#fafafa;font-weight:normal;color:#555}"
       ".embspace-repr td.n{text-align:right;font-variant-numeric:tabular-nums}"
       ".embspace-repr td.more{color:#888;font-style:italic}"
       ".embspace-repr .es-note{color:#444;margin:2px 0 6px 0;max-width:60em}"
       ".embspace-repr .es-sub{color:#666}")


class Html(str):
    """A string of trusted markup: :func:`cell` and :func:`table` insert it as it is, not escaped."""

    __slots__ = ()


def esc(value: object) -> str:
    """``html.escape(str(value))`` (quotes too)."""
    return html.escape(str(value), quote=True)


def truncate(text: str, limit: int = MAX_TEXT) -> str:
    """``text`` cut to ``limit`` characters, the last one an ellipsis when cut."""
    return text if len(text) <= limit else text[: max(limit - 1, 0)] + "…"


def _number(v: Any) -> str:
    if isinstance(v, bool | np.bool_):
        return str(bool(v))
    if isinstance(v, int | np.integer):
        return f"{int(v):,}"
    f = float(v)
    if math.isnan(f) or math.isinf(f):
        return str(f)
    return f"{f:.4g}"


def short_list(items: Iterable[Any], limit: int = MAX_ITEMS, total: int | None = None) -> str:
    """``"a, b, c, … 7 more"``: the first ``limit`` items formatted by :func:`fmt` (plain text)."""
    if total is None and isinstance(items, Sequence | Mapping):
        total = len(items)
    shown = [fmt(x) for x in itertools.islice(items, limit)]
    out = ", ".join(shown)
    if total is not None and total > len(shown):
        out += f", … {total - len(shown):,} more"
    return out


def fmt(value: Any) -> str:
    """Plain text of a value for a table cell (not escaped): numbers to 4 significant digits, ints with
    thousands separators, ``None`` as a dash, long strings, lists and dicts shortened."""
    if value is None or (isinstance(value, list | tuple | set | frozenset | Mapping) and not value):
        return "—"
    if isinstance(value, str):
        return truncate(value)
    if isinstance(value, bool | np.bool_ | int | float | np.integer | np.floating):
        return _number(value)
    if isinstance(value, np.ndarray):
        return f"array{tuple(value.shape)} {value.dtype}"
    if isinstance(value, Mapping):
        items = (f"{truncate(str(k), 30)}: {fmt(v)}" for k, v in value.items())
        return truncate(short_list(items, total=len(value)), 2 * MAX_TEXT)
    if isinstance(value, tuple) and len(value) == 2 and isinstance(value[1], Number):
        return f"{fmt(value[0])} ({fmt(value[1])})"  # (key, score) pairs: "king (0.81)"
    if isinstance(value, list | tuple | set | frozenset):
        return truncate(short_list(value if isinstance(value, list | tuple) else sorted(value, key=str)),
                        2 * MAX_TEXT)
    return truncate(repr(value))


def cell(value: Any, tag: str = "td") -> str:
    """One escaped ``<td>`` (numbers right-aligned; :class:`Html` inserted as it is)."""
    if isinstance(value, Html):
        return f"<{tag}>{value}</{tag}>"
    numeric = isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool | np.bool_)
    cls = ' class="n"' if numeric and tag == "td" else ""
    return f"<{tag}{cls}>{esc(fmt(value))}</{tag}>"


def table(rows: Iterable[Sequence[Any]], header: Sequence[str] | None = None, *, total: int | None = None,
          limit: int = MAX_ROWS, more: str = "more") -> Html:
    """A compact table of at most ``limit`` rows, then "… n more" when ``total`` (or ``len(rows)``) is larger.

    ``rows`` may be a generator: only ``limit`` rows are taken from it. A row's first cell is a plain
    cell; give an :class:`Html` value to insert markup.
    """
    if total is None and isinstance(rows, Sequence):
        total = len(rows)
    shown = list(itertools.islice(rows, limit))
    ncol = max([len(header or ())] + [len(r) for r in shown] + [1])
    out = ["<table>"]
    if header:
        out.append("<thead><tr>" + "".join(f"<th>{esc(h)}</th>" for h in header) + "</tr></thead>")
    out.append("<tbody>")
    out += ["<tr>" + "".join(cell(v) for v in row) + "</tr>" for row in shown]
    if total is not None and total > len(shown):
        out.append(f'<tr><td class="more" colspan="{ncol}">… {total - len(shown):,} {esc(more)}</td></tr>')
    out.append("</tbody></table>")
    return Html("".join(out))


def kv_table(pairs: Iterable[tuple[str, Any]]) -> Html:
    """A two-column table: a name (``<th>``) and its value per row; every pair is shown."""
    body = "".join(f"<tr><th>{esc(name)}</th>{cell(value)}</tr>" for name, value in pairs)
    return Html(f"<table><tbody>{body}</tbody></table>")


def text(value: str, limit: int = MAX_NOTE) -> Html:
    """A longer text for one cell (a sentence): escaped, cut to ``limit`` characters."""
    return Html(esc(truncate(value, limit)))


def note(text: str, limit: int = MAX_NOTE) -> Html:
    """An escaped paragraph (an explanation), cut to ``limit`` characters."""
    return Html(f'<p class="es-note">{esc(truncate(text, limit))}</p>') if text else Html("")


def image(png: bytes, alt: str, width: int | None = None) -> Html:
    """An ``<img>`` with the PNG inlined as base64 data."""
    w = f' width="{int(width)}"' if width else ""
    return Html(f'<img alt="{esc(alt)}"{w} src="data:image/png;base64,{base64.b64encode(png).decode("ascii")}">')


def frame(title: str, *parts: str, subtitle: str = "") -> Html:
    """The box every repr is drawn in: the title (and a subtitle), then ``parts`` (already HTML)."""
    sub = f' <span class="es-sub">{esc(subtitle)}</span>' if subtitle else ""
    return Html(f'<div class="embspace-repr"><style>{CSS}</style><div><b>{esc(title)}</b>{sub}</div>'
                + "".join(parts) + "</div>")


def dataclass_html(obj: Any, *, title: str | None = None, subtitle: str = "", skip: Iterable[str] = (),
                   extra: Iterable[tuple[str, Any]] = (), after: Iterable[str] = ()) -> Html:
    """The repr of a result dataclass: its shown fields (``repr=True``, not in ``skip``) in a two-column
    table, ``extra`` (name, value) rows after them, the ``explanation`` field as a paragraph, then
    ``after`` (more HTML, e.g. a table)."""
    skipped = {"explanation", *skip}
    pairs = [(f.name.replace("_", " "), getattr(obj, f.name)) for f in dataclasses.fields(obj)
             if f.repr and f.name not in skipped]
    text = getattr(obj, "explanation", "")
    return frame(title or type(obj).__name__, kv_table([*pairs, *extra]),
                 note(text if isinstance(text, str) else ""), *after, subtitle=subtitle)
