"""Shared output helpers of the benchmark scripts: progress lines, JSON, and BENCHMARKS.md sections."""

from __future__ import annotations

import json
import os
import sys
import time
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


def acceptance_table(rows: list[dict[str, Any]]) -> list[str]:
    """The Markdown lines of an acceptance table: one row per ``{"target", "required", "measured", "holds"}``."""
    lines = ["| acceptance | required | measured | holds |", "|---|---|---|---|"]
    lines += [f"| {a['target']} | {a['required']} | {a['measured']} | {'yes' if a['holds'] else 'NO'} |" for a in rows]
    return lines


# ---------------------------------------------------------------------------------------------- the machine
THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "VECLIB_MAXIMUM_THREADS",
               "NUMEXPR_NUM_THREADS", "NUMBA_NUM_THREADS")


def set_threads(n: int) -> None:
    """Pin every BLAS/OpenMP/numba thread pool to ``n`` threads; call it before numpy loads (it says
    so when numpy came first: then only threadpoolctl can still limit BLAS)."""
    for var in THREAD_VARS:
        os.environ[var] = str(n)
    if "numpy" in sys.modules:
        say("warning: numpy was imported before the thread variables were set; relying on threadpoolctl")


def version(dist: str) -> str | None:
    """The installed version of a distribution, or None."""
    from importlib import metadata

    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def measured_sentence(date: str, cpu_count: int | None, load: tuple[float, float], busy: str,
                      versions: dict[str, str | None], extra: str = "") -> str:
    """"Measured <date> on <n> CPU(s), load average <a> before / <b> after.<busy> <versions>. Rerun with:"."""
    libs = ", ".join(f"{'Python' if name == 'python' else name} {v}" for name, v in versions.items())
    return (f"Measured {date} on {cpu_count} CPU(s), load average {load[0]:.2f} before / {load[1]:.2f} after"
            f"{extra}.{busy} {libs}. Rerun with:")


def busy_sentence(other: dict[str, Any] | None, *, noisy_at: float = 0.1) -> str:
    """" Other processes used <n> CPU-seconds meanwhile (<p>% of the machine)." from :func:`other_cpu`'s
    figures, saying the timings are noisy when that share exceeds ``noisy_at``; "" when unknown."""
    if other is None or other.get("other_cpu_s") is None:
        return ""
    share = other.get("other_share") or 0.0
    return (f" Other processes used {other['other_cpu_s']:.0f} CPU-seconds meanwhile ({share:.0%} of the machine)"
            + (", so the timings are noisy." if share > noisy_at else "."))


def cpu_snapshot() -> tuple[float | None, float, float]:
    """(busy CPU-seconds of the whole machine — None off Linux —, of this process and its finished
    children, wall clock). Two snapshots give the CPU time OTHER processes took in between
    (:func:`other_cpu`); load averages would count the benchmark itself."""
    try:
        with open("/proc/stat", encoding="ascii") as fh:
            f = [int(v) for v in fh.readline().split()[1:9]]
        busy: float | None = (f[0] + f[1] + f[2] + f[5] + f[6] + f[7]) / os.sysconf("SC_CLK_TCK")  # no idle/iowait
    except (OSError, ValueError, IndexError):
        busy = None
    t = os.times()
    return busy, t.user + t.system + t.children_user + t.children_system, time.monotonic()


def other_cpu(start: tuple[float | None, float, float], end: tuple[float | None, float, float]) -> dict[str, Any]:
    """CPU-seconds of this process and of the others between two :func:`cpu_snapshot` s (others: None
    off Linux), the wall time, and the others' share of the machine."""
    own, wall = end[1] - start[1], end[2] - start[2]
    other = None if start[0] is None or end[0] is None else max(0.0, (end[0] - start[0]) - own)
    share = None if other is None else other / (max(wall, 1e-9) * (os.cpu_count() or 1))
    return {"own_cpu_s": own, "other_cpu_s": other, "wall_s": wall, "other_share": share}
