"""Formatting for the CLI: rich tables for people, JSON for machines, one-line errors."""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")


def error(message: str) -> None:
    err_console.print(f"[bold red]error:[/] {message}", markup=True, soft_wrap=True)


def warning(message: str) -> None:
    """One line on stderr (no file:line, no source line), for a warning the command raised."""
    err_console.print(f"[bold yellow]warning:[/] {escape(message)}", markup=True, soft_wrap=True)


def note(message: str) -> None:
    """One informative line on stderr."""
    err_console.print(escape(message), markup=True, soft_wrap=True)


def print_hits(title: str, hits: Sequence[tuple[str, float]], key_header: str = "key", *,
               cells: Mapping[str, str] | None = None, to: Console | None = None) -> None:
    """A ranked table of (key, score). ``cells`` gives a key's cell as rich markup (the key itself,
    escaped, otherwise); ``to`` is the console (the CLI's standard output by default)."""
    table = Table(title=escape(title), title_justify="left", show_edge=False)
    table.add_column("#", justify="right", style="dim")
    table.add_column(key_header, overflow="fold")
    table.add_column("score", justify="right")
    for i, (key, score) in enumerate(hits, 1):
        table.add_row(str(i), cells[key] if cells and key in cells else escape(key), f"{score:.4f}")
    (to or console).print(table)


def print_text_hits(title: str, hits: Sequence[tuple[str, float, str]], *, width: int = 160) -> None:
    """A ranked table of (key, score, text): each text on one line, cut to ``width`` characters."""
    table = Table(title=escape(title), title_justify="left", show_edge=False)
    table.add_column("#", justify="right", style="dim")
    table.add_column("key", overflow="fold")
    table.add_column("score", justify="right")
    table.add_column("text", overflow="fold")
    for i, (key, score, text) in enumerate(hits, 1):
        flat = " ".join(text.split())
        cut = flat if len(flat) <= width else flat[: width - 1] + "…"
        table.add_row(str(i), escape(key), f"{score:.4f}", escape(cut))
    console.print(table)


def print_info(data: dict[str, Any]) -> None:
    table = Table(show_header=False, show_edge=False)
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    prov = data["provenance"]
    rows = [
        ("path", data["path"]), ("format", data["format"]), ("vectors", f"{data['n']} x {data['dim']}"),
        ("metric", data["metric"]), ("normalized", str(data["normalized"])),
        ("counts", "yes" if data["has_counts"] else "no"), ("model", prov["model"]),
        ("space id", data["space_id"]), ("config", json.dumps(prov["config"])),
        ("data hash", str(prov.get("data_hash"))), ("created", prov["created"]),
        ("embspace", prov["embspace_version"]), ("first keys", ", ".join(data["first_keys"])),
    ]
    sub = data.get("subwords")
    if sub:
        rows.insert(3, ("unknown words", f"from character n-grams {sub['minn']}-{sub['maxn']} in {sub['bucket']:,} "
                                         f"buckets ({sub['stored_ngram_rows']:,} stored)"))
    for k, v in rows:
        table.add_row(k, v)
    console.print(table)


def print_fields(data: dict[str, Any]) -> None:
    """A two-column table of a flat dict (values as text)."""
    table = Table(show_header=False, show_edge=False)
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    for k, v in data.items():
        table.add_row(str(k).replace("_", " "), "—" if v is None else str(v))
    console.print(table)
