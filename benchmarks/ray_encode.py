"""Encoding on Ray vs in one process (issue 29): Wikipedia paragraphs, MiniLM, a local 2-CPU Ray cluster.

Data: the first ``--n`` body paragraphs of ``../shared/data/corpus/wiki/wiki.txt.xz`` (as
``benchmarks/_wiki_vectors.py`` reads them: 20+ words, article titles skipped), written as JSONL
(``id``, ``text``), then ``--append`` more paragraphs appended to the same file.

Systems, on the same file, each with a fresh content-hash cache (both write to it, as users' runs do):

- ``local``: ``encode_file(docs.jsonl, out, model="minilm")`` in this process (torch on every core);
- ``ray``: ``encode_file(..., engine="ray")`` on a local Ray cluster of ``--cpus`` CPUs that is already
  running (``ray.init(num_cpus=...)`` before the clock starts, as a cluster is before a job is sent to
  it): Ray Data reads and hashes, one MiniLM actor per CPU (one torch thread each) encodes.

Each figure is the whole ``encode_file`` call (reading, model or actor start-up, encoding, writing the
space), so Ray's overhead on one machine is in it. Then the two spaces are compared row by row (cosine:
not bit-exact, other batches and thread counts round differently), and the Ray job is re-run after
``--append`` paragraphs were appended: it must encode exactly those.

Usage::

    python benchmarks/ray_encode.py                  # 20,000 paragraphs (about 20 minutes on 2 cores)
    nice -n 19 python benchmarks/ray_encode.py --n 300 --no-markdown    # a smoke run

Writes ``benchmarks/results/ray_encode.json`` (``--out``), prints a Markdown table, and (full runs)
refreshes the "Ray encoding (issue 29)" section of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shlex
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _report import acceptance_table, busy_sentence, cpu_snapshot, other_cpu, say, version, write_json, write_markdown

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_JSON = ROOT / "benchmarks" / "results" / "ray_encode.json"
DEFAULT_MARKDOWN = ROOT / "BENCHMARKS.md"
SECTION = "## Ray encoding (issue 29)"
FULL_N = 20_000


def _jsonl(path: Path, texts: list[str]) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for i, t in enumerate(texts):
            f.write(json.dumps({"id": f"p{i}", "text": t}, ensure_ascii=False) + "\n")


def _timed(fn: Any) -> tuple[Any, float]:
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def run(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    import numpy as np
    import ray

    import embspace
    from embspace.encoders.file_encoding import encode_file

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _wiki_vectors import paragraphs

    texts = paragraphs(args.n + args.append)
    docs = work / "docs.jsonl"
    _jsonl(docs, texts[:args.n])
    common: dict[str, Any] = {"model": args.model, "id_field": "id", "progress": False,
                              "encoder_options": {"device": "cpu"}}

    say(f"local: encoding {args.n:,} paragraphs in this process")
    local, t_local = _timed(lambda: encode_file(docs, work / "local", cache_dir=work / "cache-local", **common))
    say(f"  {t_local:.1f} s ({args.n / t_local:,.1f}/s)")

    say(f"ray: starting a local cluster of {args.cpus} CPUs")
    (_, t_start) = _timed(lambda: ray.init(num_cpus=args.cpus, include_dashboard=False, log_to_driver=False))
    try:
        say(f"ray: encoding {args.n:,} paragraphs")
        first, t_ray = _timed(lambda: encode_file(docs, work / "ray", engine="ray", cache_dir=work / "cache-ray",
                                                  **common))
        say(f"  {t_ray:.1f} s ({args.n / t_ray:,.1f}/s)")
        a, b = embspace.load(work / "local"), embspace.load(work / "ray")
        if a.keys != b.keys:
            raise SystemExit("the Ray space's keys differ from the local one's")
        cos = np.sum(a.vectors * b.vectors, axis=1)
        _jsonl(docs, texts)  # --append paragraphs appended
        say(f"ray: re-run after appending {args.append} paragraphs")
        second, t_rerun = _timed(lambda: encode_file(docs, work / "ray2", engine="ray",
                                                     cache_dir=work / "cache-ray", **common))
        say(f"  {t_rerun:.1f} s, encoded {second.n_encoded:,}, from cache {second.n_cached:,}")
    finally:
        ray.shutdown()
    return {
        "n": args.n, "append": args.append, "model": args.model, "cpus": args.cpus,
        "local": {"seconds": t_local, "per_second": args.n / t_local, "encoded": local.n_encoded},
        "ray": {"seconds": t_ray, "per_second": args.n / t_ray, "encoded": first.n_encoded,
                "cluster_start_seconds": t_start},
        "ratio": t_local / t_ray,
        "cosine_min": float(cos.min()), "cosine_mean": float(cos.mean()),
        "rerun": {"seconds": t_rerun, "items": second.n_items, "encoded": second.n_encoded,
                  "cached": second.n_cached},
    }


def table(r: dict[str, Any]) -> list[str]:
    lines = [f"| system | {r['n']:,} paragraphs: seconds | paragraphs/s | ratio to local |", "|---|---|---|---|",
             f"| local (one process, torch on every core) | {r['local']['seconds']:.1f} | "
             f"{r['local']['per_second']:,.1f} | 1.00x |",
             f"| Ray, local cluster of {r['cpus']} CPUs ({r['cpus']} actors) | {r['ray']['seconds']:.1f} | "
             f"{r['ray']['per_second']:,.1f} | {r['ratio']:.2f}x |", "",
             f"Cosine, Ray vs local, row by row: min {r['cosine_min']:.6f}, mean {r['cosine_mean']:.6f}. "
             f"Re-run after appending {r['append']} paragraphs: {r['rerun']['encoded']:,} encoded, "
             f"{r['rerun']['cached']:,} from the cache, {r['rerun']['seconds']:.1f} s. "
             f"Starting the cluster (not in the figures): {r['ray']['cluster_start_seconds']:.1f} s.", ""]
    lines += acceptance_table([
        {"target": "cosine, Ray vs local", "required": ">= 0.9999", "measured": f"{r['cosine_min']:.6f}",
         "holds": r["cosine_min"] >= 0.9999},
        {"target": "Ray throughput / local", "required": ">= 0.8x", "measured": f"{r['ratio']:.2f}x",
         "holds": r["ratio"] >= 0.8},
        {"target": f"re-run after appending {r['append']}: encoded", "required": f"{r['append']}",
         "measured": f"{r['rerun']['encoded']:,}", "holds": r["rerun"]["encoded"] == r["append"]},
    ])
    return lines


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=FULL_N, help=f"paragraphs (default {FULL_N:,})")
    p.add_argument("--append", type=int, default=200, help="paragraphs appended before the re-run")
    p.add_argument("--cpus", type=int, default=2, help="CPUs of the local Ray cluster (one actor each)")
    p.add_argument("--model", default="minilm")
    p.add_argument("--dir", type=Path, default=None, help="work directory (default: a temporary one, removed)")
    p.add_argument("--out", type=Path, default=DEFAULT_JSON)
    p.add_argument("--markdown", type=Path, default=None, help="Markdown file whose section is refreshed")
    p.add_argument("--no-markdown", action="store_true")
    args = p.parse_args(argv)
    if args.no_markdown:
        args.markdown = None
    elif args.markdown is None and args.n >= FULL_N:
        args.markdown = DEFAULT_MARKDOWN
    work = args.dir or Path(tempfile.mkdtemp(prefix="ray-encode-"))
    work.mkdir(parents=True, exist_ok=True)
    load0 = os.getloadavg()[0]
    snap = cpu_snapshot()
    try:
        result = run(args, work)
    finally:
        if args.dir is None:
            shutil.rmtree(work, ignore_errors=True)
    busy = other_cpu(snap, cpu_snapshot())
    result["machine"] = {"date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"), "cpus": os.cpu_count(),
                         "load_before": load0, "load_after": os.getloadavg()[0], "platform": platform.platform(),
                         **busy}
    result["versions"] = {name: version(name) for name in ("embspace", "ray", "torch", "sentence-transformers")}
    write_json(args.out, result)
    lines = table(result)
    print("\n".join(lines))
    if args.markdown is not None:
        m = result["machine"]
        libs = ", ".join(f"{k} {v}" for k, v in result["versions"].items())
        section = "\n".join([
            SECTION, "",
            f"Measured {m['date']} on {m['cpus']} CPU(s), load average {m['load_before']:.2f} before / "
            f"{m['load_after']:.2f} after.{busy_sentence(busy)} {libs}. Rerun with:", "",
            f"    python benchmarks/ray_encode.py {shlex.join(argv or sys.argv[1:])}".rstrip(), "", *lines])
        write_markdown(args.markdown, SECTION, section + "\n")
        say(f"markdown: {args.markdown} ({SECTION[3:]})")
    say(f"json: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
