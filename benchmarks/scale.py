"""Scale test: an on-disk IVF collection of N synthetic clustered vectors (issue 29), Milvus Lite as the peer.

Data: ``--n`` vectors of ``--dim`` dimensions around 1,000 seeded Gaussian centres (spread along a fixed
24-dimensional latent map, plus a little isotropic noise: clustered, with a low intrinsic dimension as real
embeddings have; isotropic noise in 128 dimensions makes every neighbour nearly equidistant), generated batch by batch
(batch ``b`` from ``default_rng(seed + 1 + b)``: never all in memory), metadata ``{"bucket": row % 100}``;
``--queries`` queries near the centres; ground truth by exact L2 search, streamed over the batches (a running
top-10 per query), unfiltered and at 1% selectivity (``bucket = 0``).

embspace: ``Collection.create(dir, dim, metric="l2", index=--index, on_disk=True, rescore=--rescore)``; ingest =
``add()`` in ``--batch`` rows; build = the first search (trained on a seeded sample, lists filled shard by shard);
peak RSS of the build (``VmHWM`` after resetting it through ``/proc/self/clear_refs``); size on disk (SQLite + index);
recall@10 and single-query QPS at each ``--nprobe``; filtered recall@10 and QPS at 1% selectivity.

Peer: Milvus Lite (``milvus-lite:FILE.db#scale``, IVF_FLAT with the same nlist) for ingest and single-query QPS on
the first ``--milvus-n`` vectors (0 skips it).

Usage::

    python benchmarks/scale.py                            # 10M x 128 (75 minutes on 2 cores; 13 GB of disk)
    nice -n 19 python benchmarks/scale.py --n 200000 --nlist 256 --milvus-n 20000   # a smoke run (minutes)

Writes ``benchmarks/results/scale.json`` (``--out``), prints a Markdown table, and (at 10M vectors, or with
``--markdown``) refreshes the "Scale (issue 29)" section of BENCHMARKS.md; ``--render-only`` renders the JSON.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import acceptance_table, publish_section

K = 10
CENTRES = 1_000
LATENT = 24  # intrinsic dimension of the spread around each centre (real embeddings have a low one too)


class Model:
    """The data set's generator: centres, and a fixed map of the latent spread into ``dim`` dimensions."""

    def __init__(self, dim: int, seed: int) -> None:
        rng = np.random.default_rng(seed)
        self.centres = rng.standard_normal((CENTRES, dim)).astype(np.float32) * 2.0
        self.w = (rng.standard_normal((LATENT, dim)) / np.sqrt(LATENT)).astype(np.float32)

    def sample(self, rng: np.random.Generator, m: int) -> np.ndarray:
        dim = self.centres.shape[1]
        z = rng.standard_normal((m, LATENT)).astype(np.float32)
        noise = 0.1 * rng.standard_normal((m, dim)).astype(np.float32)
        return (self.centres[rng.integers(0, CENTRES, m)] + z @ self.w + noise).astype(np.float32)


def batch(b: int, size: int, n: int, centres: Model, seed: int) -> np.ndarray:
    """Rows ``b * size`` .. of the data set (the same every call)."""
    return centres.sample(np.random.default_rng(seed + 1 + b), min(size, n - b * size))


def _merge_topk(best_d: np.ndarray, best_i: np.ndarray, d: np.ndarray, ids: np.ndarray) -> None:
    """Fold the distances ``d`` (nq, m) of rows ``ids`` into the running top-K (in place)."""
    if d.shape[1] == 0:
        return
    kk = min(K, d.shape[1])
    part = np.argpartition(d, kk - 1, axis=1)[:, :kk]
    cand_d = np.concatenate([best_d, np.take_along_axis(d, part, 1)], axis=1)
    cand_i = np.concatenate([best_i, ids[part]], axis=1)
    order = np.argsort(cand_d, axis=1, kind="stable")[:, :K]
    best_d[:] = np.take_along_axis(cand_d, order, 1)
    best_i[:] = np.take_along_axis(cand_i, order, 1)


def ground_truth(q: np.ndarray, args: argparse.Namespace, centres: Model) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-K rows (unfiltered, and among rows with ``row % 100 == 0``), streamed over the batches."""
    nq = len(q)
    qn = (q.astype(np.float64) ** 2).sum(1)[:, None]
    all_d, all_i = np.full((nq, K), np.inf), np.full((nq, K), -1, np.int64)
    f_d, f_i = np.full((nq, K), np.inf), np.full((nq, K), -1, np.int64)
    for b in range(-(-args.n // args.batch)):
        x = batch(b, args.batch, args.n, centres, args.seed)
        rows = np.arange(b * args.batch, b * args.batch + len(x))
        d = qn - 2.0 * (q @ x.T) + (x.astype(np.float64) ** 2).sum(1)[None, :]
        _merge_topk(all_d, all_i, d, rows)
        keep = rows % 100 == 0
        _merge_topk(f_d, f_i, d[:, keep], rows[keep])
    return all_i, f_i


def _recall(found: list[list[int]], truth: np.ndarray) -> float:
    return float(np.mean([len(set(f) & set(t.tolist())) / K for f, t in zip(found, truth, strict=True)]))


def _rss_peak_reset() -> None:
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def _rss_peak_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _du(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def run_embspace(args: argparse.Namespace, q: np.ndarray, truth: np.ndarray, ftruth: np.ndarray,
                 centres: Model, work: Path) -> dict[str, Any]:
    from embspace.store import Collection

    path = work / "collection"
    index = args.index or f"IVF{args.nlist},PQ{args.pq}"
    col = Collection.create(path, dim=args.dim, metric="l2", index=index, on_disk=True, rescore=args.rescore)
    t0 = time.perf_counter()
    for b in range(-(-args.n // args.batch)):
        x = batch(b, args.batch, args.n, centres, args.seed)
        start = b * args.batch
        col.add([str(i) for i in range(start, start + len(x))], x, [{"bucket": i % 100} for i in
                                                                    range(start, start + len(x))])
        if not args.quiet:
            print(f"\r  ingest {start + len(x):,}/{args.n:,}", end="", file=sys.stderr, flush=True)
    ingest_s = time.perf_counter() - t0
    if not args.quiet:
        print(file=sys.stderr)
    _rss_peak_reset()
    rss0 = _rss_peak_mb()
    t0 = time.perf_counter()
    col.search(q[0], k=K)  # builds the index
    build_s = time.perf_counter() - t0
    build_peak = _rss_peak_mb()
    col.close()
    col = Collection.open(path)  # searched as a user reopening it: the index loaded, its lists mapped
    out: dict[str, Any] = {"index": index, "rescore": args.rescore, "ingest_s": ingest_s,
                           "ingest_per_s": args.n / ingest_s, "build_s": build_s, "build_peak_rss_mb": build_peak,
                           "rss_before_build_mb": rss0, "disk_bytes": _du(path), "sweep": []}
    for nprobe in args.nprobe:
        col.search(q[0], k=K, nprobe=nprobe)
        found: list[list[int]] = []
        t0 = time.perf_counter()
        for v in q:
            found.append([int(k) for k in col.search(v, k=K, nprobe=nprobe).keys])
        dt = time.perf_counter() - t0
        out["sweep"].append({"nprobe": nprobe, "recall_at_10": _recall(found, truth), "qps": len(q) / dt})
    nprobe = args.nprobe[len(args.nprobe) // 2]
    found = []
    fq = q[: args.filtered_queries]
    col.search(fq[0], k=K, nprobe=nprobe, where={"bucket": 0})  # the filter's matching ids, read once and kept
    t0 = time.perf_counter()
    for v in fq:
        found.append([int(k) for k in col.search(v, k=K, nprobe=nprobe, where={"bucket": 0}).keys])
    dt = time.perf_counter() - t0
    out["filtered"] = {"selectivity": 0.01, "nprobe": nprobe, "queries": len(fq),
                       "recall_at_10": _recall(found, ftruth[: len(fq)]), "qps": len(fq) / dt}
    out["info"] = col.info()
    col.close()
    return out


def run_milvus(args: argparse.Namespace, q: np.ndarray, centres: Model, work: Path) -> dict[str, Any] | None:
    if args.milvus_n <= 0:
        return None
    try:
        import milvus_lite  # noqa: F401
        import pymilvus  # noqa: F401
    except ImportError:
        return {"skipped": "pymilvus / milvus-lite are not installed"}
    from embspace.store import Collection

    n = min(args.milvus_n, args.n)
    col = Collection.create(f"milvus-lite:{work / 'milvus.db'}#scale", dim=args.dim, metric="l2",
                            index=f"IVF{args.nlist},Flat")
    t0 = time.perf_counter()
    for b in range(-(-n // args.batch)):
        x = batch(b, args.batch, n, centres, args.seed)
        start = b * args.batch
        col.add([str(i) for i in range(start, start + len(x))], x, [{"bucket": i % 100} for i in
                                                                    range(start, start + len(x))])
    ingest_s = time.perf_counter() - t0
    nprobe = args.nprobe[len(args.nprobe) // 2]
    col.search(q[0], k=K, nprobe=nprobe)
    t0 = time.perf_counter()
    for v in q:
        col.search(v, k=K, nprobe=nprobe)
    qps = len(q) / (time.perf_counter() - t0)
    col.close()
    return {"n": n, "index": f"IVF{args.nlist},Flat (IVF_FLAT)", "ingest_s": ingest_s, "ingest_per_s": n / ingest_s,
            "nprobe": nprobe, "qps": qps}


SECTION = "## Scale (issue 29)"
ROOT = Path(__file__).resolve().parents[1]


def markdown(r: dict[str, Any]) -> str:
    """The BENCHMARKS.md section of a result, with the acceptance table of issue 29."""
    emb, mil = r["embspace"], r.get("milvus_lite")
    lines = [SECTION, "", f"`python benchmarks/scale.py` ({r['n']:,} x {r['dim']} synthetic clustered vectors, "
             f"{r['queries']:,} queries, ground truth by exact L2 search; {r.get('cpus')} CPUs, "
             f"{r.get('date', '')}): `Collection.create(dir, dim, metric='l2', index='{emb['index']}', "
             f"on_disk=True, rescore={emb['rescore']})`.", "",
             f"Ingest {emb['ingest_per_s']:,.0f} vectors/s ({emb['ingest_s']:,.0f} s); build {emb['build_s']:,.0f} s "
             f"with a peak RSS of {emb['build_peak_rss_mb']:,.0f} MB ({emb['rss_before_build_mb']:,.0f} MB before); "
             f"{emb['disk_bytes'] / 1e9:.2f} GB on disk (SQLite table with the float vectors and metadata, the "
             "lists file, the rescoring vectors).", "",
             "| nprobe | recall@10 | single-query QPS |", "|---:|---:|---:|"]
    lines += [f"| {w['nprobe']} | {w['recall_at_10']:.3f} | {w['qps']:,.0f} |" for w in emb["sweep"]]
    f = emb["filtered"]
    lines += ["", f"Filtered at 1% selectivity (`where={{'bucket': 0}}`, nprobe {f['nprobe']} raised by 1 / "
              f"selectivity, {f.get('queries', r['queries'])} queries): recall@10 {f['recall_at_10']:.3f}, "
              f"{f['qps']:,.1f} QPS."]
    if mil and "qps" in mil:
        lines += ["", f"Peer, Milvus Lite ({mil['n']:,} vectors, {mil['index']}, through embspace's Milvus backend: "
                  f"`Collection.create('milvus-lite:FILE.db#scale', ...)`, consistency level Strong): ingest "
                  f"{mil['ingest_per_s']:,.0f} vectors/s, {mil['qps']:,.2f} single-query QPS at nprobe "
                  f"{mil['nprobe']}. "
                  "Milvus Lite is the embedded single-file server, made for prototypes; a Milvus standalone or "
                  "cluster server is what serves this size (docs/scale.md)."]
    elif mil:
        lines += ["", f"Peer, Milvus Lite: {mil.get('skipped')}."]
    ok = [w for w in emb["sweep"] if w["recall_at_10"] >= 0.90 and w["qps"] >= 200]
    best = max(ok, key=lambda w: w["qps"]) if ok else max(emb["sweep"], key=lambda w: w["recall_at_10"])
    rows = [{"target": "peak RSS during build", "required": "<= 4 GB",
             "measured": f"{emb['build_peak_rss_mb'] / 1024:.2f} GB", "holds": emb["build_peak_rss_mb"] <= 4096},
            {"target": "recall@10 with >= 200 single-query QPS", "required": ">= 0.90",
             "measured": f"{best['recall_at_10']:.3f} at {best['qps']:,.0f} QPS (nprobe {best['nprobe']})",
             "holds": bool(ok)},
            {"target": "filtered recall@10 at 1% selectivity", "required": ">= 0.90",
             "measured": f"{f['recall_at_10']:.3f}", "holds": f["recall_at_10"] >= 0.90}]
    return "\n".join([*lines, "", *acceptance_table(rows), "",
                      "Each QPS figure is one pass of the queries (not a median of several). Rerun: "
                      "`python benchmarks/scale.py` (75 minutes on 2 cores, the Milvus Lite peer's searches 27 of "
                      "them; 13 GB of disk); "
                      "`--render-only` refreshes this section from benchmarks/results/scale.json.", ""])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, default=10_000_000, help="vectors (default 10,000,000)")
    p.add_argument("--dim", type=int, default=128)
    p.add_argument("--queries", type=int, default=1_000)
    p.add_argument("--nlist", type=int, default=4_096)
    p.add_argument("--pq", type=int, default=32, help="PQ sub-quantisers of the default index IVF<nlist>,PQ<pq>")
    p.add_argument("--index", default=None, help="factory string (default IVF<nlist>,PQ<pq>)")
    p.add_argument("--rescore", type=int, default=4)
    p.add_argument("--nprobe", type=lambda s: [int(v) for v in s.split(",")], default=[8, 16, 32, 64, 128])
    p.add_argument("--filtered-queries", type=int, default=200,
                   help="queries of the filtered search (the first ones; a selective filter raises nprobe by "
                        "1 / selectivity, so each visits most lists)")
    p.add_argument("--batch", type=int, default=100_000)
    p.add_argument("--milvus-n", type=int, default=1_000_000, help="vectors for the Milvus Lite peer (0: skip)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--dir", type=Path, default=None, help="where the collections go (default: a temporary directory)")
    p.add_argument("--keep", action="store_true", help="keep the collections")
    p.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "scale.json")
    p.add_argument("--quiet", action="store_true")
    p.add_argument("--markdown", type=Path, default=None,
                   help="refresh the 'Scale (issue 29)' section of this file (default: BENCHMARKS.md at 10M vectors)")
    p.add_argument("--render-only", action="store_true", help="measure nothing: render the --out results")
    args = p.parse_args(argv)
    md = args.markdown or (ROOT / "BENCHMARKS.md" if args.n >= 10_000_000 else None)
    if args.render_only:
        result = json.loads(args.out.read_text())
        publish_section(md or ROOT / "BENCHMARKS.md", SECTION, markdown(result))
        print(markdown(result))
        return 0

    work = Path(tempfile.mkdtemp(prefix="embspace-scale-", dir=args.dir))
    try:
        centres = Model(args.dim, args.seed)
        q = centres.sample(np.random.default_rng(args.seed + 10**9), args.queries)
        t0 = time.perf_counter()
        truth, ftruth = ground_truth(q, args, centres)
        truth_s = time.perf_counter() - t0
        emb = run_embspace(args, q, truth, ftruth, centres, work)
        milvus = run_milvus(args, q, centres, work)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    result = {"n": args.n, "dim": args.dim, "queries": args.queries, "cpus": os.cpu_count(), "truth_s": truth_s,
              "date": time.strftime("%Y-%m-%d"),
              "embspace": emb, "milvus_lite": milvus}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, default=str) + "\n")
    print(f"\n{args.n:,} x {args.dim}, {emb['index']} on disk, rescore={emb['rescore']}: ingest "
          f"{emb['ingest_per_s']:,.0f}/s, build {emb['build_s']:.1f} s (peak RSS {emb['build_peak_rss_mb']:,.0f} MB), "
          f"{emb['disk_bytes'] / 1e9:.2f} GB on disk\n")
    print("| nprobe | recall@10 | single-query QPS |\n|---:|---:|---:|")
    for row in emb["sweep"]:
        print(f"| {row['nprobe']} | {row['recall_at_10']:.3f} | {row['qps']:,.0f} |")
    f = emb["filtered"]
    print(f"\nfiltered (1% selectivity, nprobe {f['nprobe']}, {f['queries']} queries): recall@10 "
          f"{f['recall_at_10']:.3f}, {f['qps']:,.0f} QPS")
    if milvus and "qps" in milvus:
        print(f"Milvus Lite ({milvus['n']:,} vectors, {milvus['index']}): ingest {milvus['ingest_per_s']:,.0f}/s, "
              f"{milvus['qps']:,.0f} QPS at nprobe {milvus['nprobe']}")
    print(f"\nwrote {args.out}")
    publish_section(md, SECTION, markdown(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
