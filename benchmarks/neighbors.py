"""Exact k nearest neighbours: embspace vs gensim KeyedVectors vs FAISS IndexFlatIP.

One process, the same seeded data (``n`` random unit float32 vectors of dimension ``dim``), the same
query keys and the same thread count for every system:

- embspace: ``EmbeddingSpace(keys, X, metric="cosine")``, then ONE batched
  ``space.neighbors(query_keys, k)`` (queries by key; the key itself is excluded, as gensim does);
- gensim: ``KeyedVectors.most_similar(key, topn=k)`` once per query key in a Python loop, the way
  users call it (norms are filled before timing);
- FAISS: ``IndexFlatIP`` over the same unit vectors, one batched ``index.search(Q, k + 1)``, the
  query's own row dropped from each result (the last hit when the own row is absent).

Every system is warmed up once, then ``--runs`` timed runs are interleaved (embspace, gensim,
faiss, embspace, ...). The top-k keys of every query are compared across the three systems; a
disagreement is reported with its scores, never hidden. Results go to a JSON file and, for a full
run, to the "Exact neighbours (issue 2)" section of BENCHMARKS.md.

Usage::

    python benchmarks/neighbors.py                 # n=200000, dim=300, 1000 queries, k=10, 5 runs, 2 threads
    python benchmarks/neighbors.py --quick         # smoke test: n=20000, 100 queries, 2 runs
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shlex
import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from _report import (
    busy_sentence,
    cpu_snapshot,
    measured_sentence,
    other_cpu,
    publish_section,
    say,
    set_threads,
    write_json,
)

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_JSON = ROOT / "benchmarks" / "results" / "neighbors.json"
DEFAULT_MARKDOWN = ROOT / "BENCHMARKS.md"
SECTION = "## Exact neighbours (issue 2)"



def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--n", type=int, default=None, help="rows in the space (default 200000; --quick 20000)")
    p.add_argument("--dim", type=int, default=300, help="dimension")
    p.add_argument("--queries", type=int, default=None, help="query keys (default 1000; --quick 100)")
    p.add_argument("--k", type=int, default=10, help="neighbours per query")
    p.add_argument("--runs", type=int, default=None, help="timed runs per system (default 5; --quick 2)")
    p.add_argument("--threads", type=int, default=2, help="BLAS/OpenMP threads for every system")
    p.add_argument("--seed", type=int, default=0, help="seed of the data and of the query keys")
    p.add_argument("--quick", action="store_true", help="smoke test: n=20000, 100 queries, 2 runs")
    p.add_argument("--json", type=Path, default=None,
                   help=f"results file (default {DEFAULT_JSON.relative_to(ROOT)}; "
                        "--quick: neighbors-quick.json beside it)")
    p.add_argument("--markdown", type=Path, default=None,
                   help=f"Markdown file whose section is refreshed (default {DEFAULT_MARKDOWN.name} for a "
                        "full run; --quick writes none unless given)")
    p.add_argument("--no-markdown", action="store_true", help="do not write the Markdown section")
    p.add_argument("--render-only", action="store_true",
                   help="measure nothing: print the table of the --json results and refresh the Markdown")
    p.add_argument("--faiss-blas", choices=("match", "default"), default="match",
                   help="'match': if the OpenBLAS bundled with faiss-cpu picks another (e.g. generic "
                        "'Prescott') kernel than numpy's, rerun with OPENBLAS_CORETYPE = numpy's kernel, so "
                        "FAISS gets the same optimised BLAS; 'default': leave FAISS' BLAS as it loads")
    args = p.parse_args(argv)
    quick = args.quick
    args.n = args.n if args.n is not None else (20_000 if quick else 200_000)
    args.queries = args.queries if args.queries is not None else (100 if quick else 1000)
    args.runs = args.runs if args.runs is not None else (2 if quick else 5)
    if args.json is None:
        args.json = DEFAULT_JSON.with_name("neighbors-quick.json") if quick else DEFAULT_JSON
    if args.no_markdown:
        args.markdown = None
    elif args.markdown is None and not quick:
        args.markdown = DEFAULT_MARKDOWN
    for name in ("n", "dim", "queries", "k", "runs", "threads"):
        if getattr(args, name) < 1:
            p.error(f"--{name} must be a positive integer")
    if args.queries > args.n:
        p.error("--queries cannot exceed --n (queries are distinct keys of the space)")
    if args.k + 1 > args.n:
        p.error("--k must be smaller than --n")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.render_only:
        report = json.loads(args.json.read_text(encoding="utf-8"))
        publish(report, args.json, args.markdown)
        return 0
    # Thread control BEFORE numpy (and its BLAS) is loaded; threadpoolctl and faiss below as well.
    set_threads(args.threads)

    import faiss
    import gensim
    import numpy as np
    from gensim.models import KeyedVectors
    from threadpoolctl import threadpool_info, threadpool_limits

    import embspace
    from embspace import EmbeddingSpace

    blas_cores = {info.get("version"): info.get("architecture") for info in threadpool_info()
                  if info.get("internal_api") == "openblas"}
    numpy_core = np_blas_core(threadpool_info, np)
    if (args.faiss_blas == "match" and "OPENBLAS_CORETYPE" not in os.environ and numpy_core
            and any(core != numpy_core for core in blas_cores.values())):
        say(f"OpenBLAS kernels differ {blas_cores}; rerunning with OPENBLAS_CORETYPE={numpy_core}")
        os.environ["OPENBLAS_CORETYPE"] = numpy_core
        os.execv(sys.executable, [sys.executable, str(Path(__file__).resolve()), *sys.argv[1:]])

    faiss.omp_set_num_threads(args.threads)
    n, dim, nq, k = args.n, args.dim, args.queries, args.k

    with threadpool_limits(limits=args.threads):
        pools = [{key: info.get(key) for key in ("user_api", "internal_api", "num_threads", "version",
                                                 "architecture", "filepath")}
                 for info in threadpool_info()]
        say(f"data: n={n:,} dim={dim} queries={nq:,} k={k} runs={args.runs} threads={args.threads} "
            f"seed={args.seed}")
        rng = np.random.default_rng(args.seed)
        X = rng.standard_normal((n, dim), dtype=np.float32)
        X /= np.linalg.norm(X, axis=1, keepdims=True)
        keys = [f"w{i}" for i in range(n)]
        qrows = np.sort(rng.choice(n, size=nq, replace=False))
        qkeys = [keys[i] for i in qrows.tolist()]

        build: dict[str, float] = {}
        t0 = time.perf_counter()
        space = EmbeddingSpace(keys, X, metric="cosine")
        build["embspace"] = time.perf_counter() - t0
        if not space.is_normalized:
            raise SystemExit("embspace did not detect unit rows; the benchmark data is wrong")

        t0 = time.perf_counter()
        kv = KeyedVectors(dim, count=0, dtype=np.float32)
        kv.add_vectors(keys, X)
        kv.fill_norms()  # computed once, outside the timed runs
        build["gensim"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        index = faiss.IndexFlatIP(dim)
        index.add(X)
        build["faiss"] = time.perf_counter() - t0
        say("built: " + ", ".join(f"{s} {t:.2f}s" for s, t in build.items()))

        faiss_search_times: list[float] = []

        def run_embspace() -> list[list[str]]:
            res = space.neighbors(qkeys, k=k)
            return res.keys  # type: ignore[return-value]

        def run_gensim() -> list[list[str]]:
            return [[key for key, _ in kv.most_similar(q, topn=k)] for q in qkeys]

        def run_faiss() -> list[list[str]]:
            # Same output as the others: keys, own row excluded. The gather of the query rows and the
            # post-processing are timed too; the search alone is recorded separately.
            Q = X[qrows]
            s0 = time.perf_counter()
            _, ids = index.search(Q, k + 1)
            faiss_search_times.append(time.perf_counter() - s0)
            own = ids == qrows[:, None]
            drop = np.where(own.any(axis=1), own.argmax(axis=1), k)
            keep = np.ones_like(own)
            keep[np.arange(nq), drop] = False
            kept = ids[keep].reshape(nq, k)
            return [[keys[i] for i in row] for row in kept.tolist()]

        systems = {"embspace": run_embspace, "gensim": run_gensim, "faiss": run_faiss}
        results: dict[str, list[list[str]]] = {}
        for name, fn in systems.items():
            t0 = time.perf_counter()
            results[name] = fn()
            say(f"warm-up {name}: {time.perf_counter() - t0:.3f}s")
        faiss_search_times.clear()

        load_before = os.getloadavg()
        cpu_before = cpu_snapshot()
        times: dict[str, list[float]] = {name: [] for name in systems}
        for r in range(args.runs):
            for name, fn in systems.items():
                t0 = time.perf_counter()
                out = fn()
                times[name].append(time.perf_counter() - t0)
                if out != results[name]:
                    raise SystemExit(f"{name} returned different neighbours in run {r + 1}")
            say(f"run {r + 1}/{args.runs}: " + ", ".join(f"{s} {t[-1]:.3f}s" for s, t in times.items()))
        load_after = os.getloadavg()
        contention = other_cpu(cpu_before, cpu_snapshot())

        agreement = compare(results, qkeys, space, k)

    medians = {name: statistics.median(t) for name, t in times.items()}
    report: dict[str, Any] = {
        "benchmark": "exact neighbours (issue 2)",
        "command": command_line(args),
        "config": {
            "n": n, "dim": dim, "queries": nq, "k": k, "threads": args.threads, "runs": args.runs,
            "seed": args.seed, "quick": args.quick, "metric": "cosine", "data": "standard normal rows, "
            "L2-normalised, float32",
            "versions": {"python": platform.python_version(), "numpy": np.__version__,
                         "gensim": gensim.__version__, "faiss": faiss.__version__,
                         "embspace": embspace.__version__},
            "cpu_count": os.cpu_count(),
            "cpu_affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
            "processor": platform.processor() or platform.machine(),
            "threadpools": pools,
            "openblas_coretype": os.environ.get("OPENBLAS_CORETYPE"),
            "loadavg_before": list(load_before), "loadavg_after": list(load_after),
            "other_processes": contention,
            "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        },
        "build_seconds": build,
        "systems": {
            name: {
                "call": CALLS[name].format(k=k, k1=k + 1),
                "runs_s": times[name],
                "median_s": medians[name],
                "queries_per_s": nq / medians[name],
                "embspace_speedup": medians[name] / medians["embspace"],
            }
            for name in systems
        },
        "agreement": agreement,
    }
    report["systems"]["faiss"]["search_only_runs_s"] = faiss_search_times
    report["systems"]["faiss"]["search_only_median_s"] = statistics.median(faiss_search_times)

    write_json(args.json, report)
    publish(report, args.json, args.markdown)
    return 0


def publish(report: dict[str, Any], json_path: Path, markdown: Path | None) -> None:
    print_table(report)
    say(f"results: {json_path}")
    publish_section(markdown, SECTION, markdown_section(report, markdown_table(report)))


CALLS = {
    "embspace": "space.neighbors(query_keys, k={k}) — one batched call",
    "gensim": "kv.most_similar(key, topn={k}) — one call per query key",
    "faiss": "IndexFlatIP.search(Q, {k1}) — one batched call, own row dropped",
}


def np_blas_core(threadpool_info: Any, np: Any) -> str | None:
    """The OpenBLAS kernel ("SkylakeX", "Haswell", ...) that numpy's own BLAS selected, if OpenBLAS."""
    np_dirs = (Path(np.__file__).resolve().parent, Path(np.__file__).resolve().parent.with_name("numpy.libs"))
    for info in threadpool_info():
        path = Path(str(info.get("filepath") or "")).resolve()
        if info.get("internal_api") == "openblas" and any(d in path.parents for d in np_dirs):
            return str(info.get("architecture")) if info.get("architecture") else None
    return None


def compare(results: dict[str, list[list[str]]], qkeys: list[str], space: Any, k: int) -> dict[str, Any]:
    """Per query, whether the ordered top-k keys agree across systems; details of any disagreement."""
    import numpy as np

    names = list(results)
    ref = names[0]
    identical = 0
    same_set = 0
    pairwise = {f"{ref}=={other}": 0 for other in names[1:]}
    diffs: list[dict[str, Any]] = []
    for i, q in enumerate(qkeys):
        lists = [results[name][i] for name in names]
        for other in names[1:]:
            pairwise[f"{ref}=={other}"] += results[other][i] == results[ref][i]
        if all(lst == lists[0] for lst in lists):
            identical += 1
            same_set += 1
            continue
        if all(set(lst) == set(lists[0]) for lst in lists):
            same_set += 1
        # Exact (float64) cosines of every key any system returned: shows whether it is a near tie.
        cand = sorted({key for lst in lists for key in lst})
        qv = np.asarray(space[q], dtype=np.float64)
        cv = np.asarray(space[cand], dtype=np.float64)
        cos = cv @ qv / (np.linalg.norm(cv, axis=1) * np.linalg.norm(qv))
        diffs.append({"query": q, **{name: results[name][i] for name in names},
                      "float64_cosines": {key: float(c) for key, c in zip(cand, cos, strict=True)}})
    return {"queries": len(qkeys), "k": k, "identical_ordered": identical, "identical_as_sets": same_set,
            "pairwise_ordered": pairwise, "disagreements": diffs}


def command_line(args: argparse.Namespace) -> str:
    parts = ["python", "benchmarks/neighbors.py"]
    if args.quick:
        parts.append("--quick")
    else:
        for name in ("n", "dim", "queries", "k", "runs", "threads"):
            parts += [f"--{name}", str(getattr(args, name))]
        if args.seed:
            parts += ["--seed", str(args.seed)]
    return shlex.join(parts)


def _rows(report: dict[str, Any]) -> list[list[str]]:
    agr = report["agreement"]
    nq = report["config"]["queries"]
    rows = []
    for name, s in report["systems"].items():
        if name == "embspace":
            agree = f"reference; {agr['identical_ordered']}/{nq} identical in all three"
        else:
            agree = f"{agr['pairwise_ordered'][f'embspace=={name}']}/{nq} identical"
        speed = "1.00x" if name == "embspace" else f"{s['embspace_speedup']:.2f}x"
        rows.append([name, s["call"], f"{s['median_s']:.3f}", f"{s['queries_per_s']:,.0f}", speed, agree])
    return rows


HEADERS = ["system", "call", "median s / {nq:,} queries", "queries/s", "embspace speed-up",
           "top-{k} keys vs embspace"]


def markdown_table(report: dict[str, Any]) -> str:
    cfg = report["config"]
    heads = [h.format(nq=cfg["queries"], k=cfg["k"]) for h in HEADERS]
    lines = ["| " + " | ".join(heads) + " |", "|" + "|".join(["---"] * len(heads)) + "|"]
    for row in _rows(report):
        row[1] = f"`{row[1].split(' — ')[0]}` ({row[1].split(' — ')[1]})"
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def print_table(report: dict[str, Any]) -> None:
    cfg = report["config"]
    title = (f"Exact neighbours: n={cfg['n']:,} dim={cfg['dim']} queries={cfg['queries']:,} k={cfg['k']} "
             f"threads={cfg['threads']} runs={cfg['runs']}")
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:  # pragma: no cover - rich is a dependency of embspace
        print(title)
        print(markdown_table(report))
    else:
        table = Table(title=title)
        heads = [h.format(nq=cfg["queries"], k=cfg["k"]) for h in HEADERS]
        for i, h in enumerate(heads):
            if i != 1:  # the call column is in the Markdown table and the JSON
                table.add_column(h, justify="left" if i in (0, 5) else "right")
        for row in _rows(report):
            table.add_row(*(cell for i, cell in enumerate(row) if i != 1))
        Console(width=max(100, shutil.get_terminal_size().columns)).print(table)
    for name, s in report["systems"].items():
        print(f"  {name}: runs " + ", ".join(f"{t:.3f}" for t in s["runs_s"]) + " s")
    agr = report["agreement"]
    for d in agr["disagreements"][:5]:
        print(f"  disagreement on {d['query']}: " + json.dumps({k: v for k, v in d.items() if k != "query"}))


def markdown_section(report: dict[str, Any], table: str) -> str:
    cfg = report["config"]
    v = cfg["versions"]
    agr = report["agreement"]
    fs = report["systems"]["faiss"]
    core = cfg.get("openblas_coretype")
    blas_note = "" if not core else (
        f" The OpenBLAS bundled with faiss-cpu picked a generic kernel on this CPU, so the run set "
        f"`OPENBLAS_CORETYPE={core}` (the kernel numpy's OpenBLAS picks itself): FAISS gets the same "
        "optimised BLAS as numpy (`--faiss-blas default` measures FAISS as it loads).")
    runs = "; ".join(f"{name} " + ", ".join(f"{t:.3f}" for t in s["runs_s"])
                     for name, s in report["systems"].items())
    if agr["identical_ordered"] == agr["queries"]:
        agree = (f"The ordered top-{cfg['k']} keys are identical across the three systems for all "
                 f"{agr['queries']:,} queries.")
    else:
        agree = (f"The ordered top-{cfg['k']} keys are identical across the three systems for "
                 f"{agr['identical_ordered']:,} of {agr['queries']:,} queries "
                 f"({agr['identical_as_sets']:,} identical as sets); the disagreements, with the float64 "
                 "cosines of the keys involved, are listed in the JSON results.")
    load = cfg["loadavg_before"][0], cfg["loadavg_after"][0]
    busy = busy_sentence(cfg.get("other_processes"))  # load averages alone would count the benchmark itself
    paragraphs = [
        SECTION,
        f"Exact cosine k-nearest neighbours of {cfg['queries']:,} query keys (each key excluded from "
        f"its own results) in a space of {cfg['n']:,} random unit vectors of dimension {cfg['dim']} "
        f"(float32, seed {cfg['seed']}), {cfg['threads']} thread(s) for every system, median of "
        f"{cfg['runs']} interleaved runs after one warm-up each. Speed-up = the system's median time / "
        "embspace's median time (above 1: embspace is faster).",
        table,
        f"{agree} FAISS times include gathering the query rows, dropping each query's own row and "
        f"mapping ids to keys; its search call alone took a median {fs['search_only_median_s']:.3f} s. "
        f"Index/space construction (and gensim's norms) is not timed.{blas_note}",
        f"All runs (s): {runs}.",
        measured_sentence(cfg["date"], cfg["cpu_count"], load, busy, v),
        f"```\n{report['command']}\n```",
    ]
    return "\n\n".join(paragraphs) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
