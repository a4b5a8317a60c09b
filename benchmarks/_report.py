"""Shared output helpers of the benchmark scripts: progress lines, JSON, and BENCHMARKS.md sections."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

MD_HEADER = """# Benchmarks

Every figure here is measured by a script in `benchmarks/`, in ONE process that runs embspace and
its peers on the same seeded data with the same thread count, interleaving their timed runs.
Only the ratios between systems measured in the same run are meaningful; absolute times depend on
the machine (and on whatever else it was doing). Each section gives the exact command to rerun it;
the machine-readable results are written to `benchmarks/results/`.
"""


def say(msg: str) -> None:
    """A progress line on stderr (stdout carries the table)."""
    print(msg, file=sys.stderr, flush=True)


def write_json(path: Path, report: dict[str, Any]) -> None:
    """Write ``report`` atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def write_markdown(path: Path, heading: str, section: str) -> None:
    """Put ``section`` (starting with ``heading``) into BENCHMARKS.md, replacing an older one in place."""
    text = path.read_text(encoding="utf-8") if path.exists() else MD_HEADER
    lines = text.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if line.rstrip() == heading), None)
    if start is None:
        new = text.rstrip("\n") + "\n\n" + section
    else:
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
        tail = "".join(lines[end:])
        new = "".join(lines[:start]) + section + ("\n" + tail if tail else "")
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(new, encoding="utf-8")
    os.replace(tmp, path)


def publish_section(markdown: Path | None, heading: str, section: str) -> None:
    """Refresh the ``heading`` section of BENCHMARKS.md (or another Markdown file) and say so; None: skip."""
    if markdown is not None:
        write_markdown(markdown, heading, section)
        say(f"markdown: {markdown} ({heading[3:]})")
