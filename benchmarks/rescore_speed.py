"""Single-query QPS of quantised collections with rescoring against float HNSW32, for two source trees.

Builds (once, into ``--workdir``) float HNSW32, BinaryHNSW32, BinaryFlat and HNSW32,SQ8 collections over
the cached Wikipedia MiniLM vectors (``_wiki_vectors.wiki_minilm``), then times ``Collection.search(v, k=10,
...)`` one query at a time (as ``analysis.budget`` does: ``params=`` for the HNSW efSearch settings,
``rescore=`` for quantised ones) in child processes that import embspace from each ``--src`` tree in turn,
interleaved, ``--runs`` times; prints the medians of the QPS (wall clock: noisy on a busy machine) and
of the median CPU microseconds per query (the searching thread's CPU time). FAISS runs with ``--threads`` threads.

    python benchmarks/rescore_speed.py --src /work/main/src --src src --runs 5
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
# (name, collection, params, rescore): the configurations timed
CONFIGS = [
    ("float HNSW32 ef=16", "float", {"efSearch": 16}, 0),
    ("float HNSW32 ef=24", "float", {"efSearch": 24}, 0),
    ("float HNSW32 ef=32", "float", {"efSearch": 32}, 0),
    ("binary HNSW32 + rescore x10", "binhnsw", None, 10),
    ("binary HNSW32 + rescore x20", "binhnsw", None, 20),
    ("BinaryFlat + rescore x10", "binflat", None, 10),
    ("BinaryFlat + rescore x20", "binflat", None, 20),
    ("int8 HNSW32,SQ8 ef=64 + rescore x2", "sq8", {"efSearch": 64}, 2),
    ("int8 HNSW32,SQ8 ef=64 + rescore x4", "sq8", {"efSearch": 64}, 4),
]
BUILDS = {"float": ("HNSW32", None), "binhnsw": ("BinaryHNSW32", 20), "binflat": ("BinaryFlat", 20),
          "sq8": ("HNSW32,SQ8", 4)}


def build(workdir: Path, n: int) -> None:
    import numpy as np

    sys.path.insert(0, str(HERE))
    from _wiki_vectors import wiki_minilm
    from embspace.store import Collection

    _, x = wiki_minilm(n, progress=False)
    _, q = wiki_minilm(1000, start=100_000, progress=False)
    workdir.mkdir(parents=True, exist_ok=True)
    np.save(workdir / "q.npy", q)
    xs = x / np.linalg.norm(x, axis=1, keepdims=True)
    qs = q / np.linalg.norm(q, axis=1, keepdims=True)
    np.save(workdir / "truth.npy", np.argsort(-(qs @ xs.T), axis=1)[:, :10])
    keys = [str(i) for i in range(len(x))]
    for name, (factory, rescore) in BUILDS.items():
        if (workdir / name).exists():
            continue
        col = Collection.create(workdir / name, dim=x.shape[1], metric="cosine", index=factory, rescore=rescore)
        col.add(keys, x)
        col.rebuild_index()
        col.close()


def measure(workdir: Path, threads: int, n_timed: int) -> dict[str, list[float]]:
    """{config: [single-query QPS, recall@10, median CPU microseconds of one query]} with the embspace found
    on sys.path (the CPU time of the searching thread: robust to a busy machine, unlike the QPS)."""
    import faiss
    import numpy as np

    from embspace.store import Collection

    faiss.omp_set_num_threads(threads)
    q = np.load(workdir / "q.npy")
    truth = np.load(workdir / "truth.npy")
    out: dict[str, list[float]] = {}
    cols = {name: Collection.open(workdir / name, readonly=True) for name in BUILDS}
    for label, name, params, rescore in CONFIGS:
        col = cols[name]
        kw = {"params": params, "rescore": rescore}
        col.search(q[0], k=10, **kw)  # warm-up
        hits = sum(len({int(k) for k in col.search(v, k=10, **kw).keys} & set(t.tolist()))
                   for v, t in zip(q, truth, strict=True))
        timed = q[:n_timed]
        cpu = []
        t0 = time.perf_counter()
        for v in timed:
            c0 = time.thread_time()
            col.search(v, k=10, **kw)
            cpu.append(time.thread_time() - c0)
        wall = time.perf_counter() - t0
        out[label] = [len(timed) / wall, hits / (10 * len(q)), 1e6 * statistics.median(cpu)]
    for col in cols.values():
        col.close()
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--src", action="append", default=[], help="a source tree to import embspace from (repeat)")
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--n", type=int, default=10_000, help="corpus vectors (cached wiki_minilm(n))")
    p.add_argument("--timed", type=int, default=300, help="single queries timed per configuration and run")
    p.add_argument("--workdir", type=Path, default=Path("/tmp/embspace-rescore-speed"))
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.child:
        print(json.dumps(measure(a.workdir, a.threads, a.timed)))
        return
    srcs = a.src or [str(HERE.parent / "src")]
    build(a.workdir, a.n)  # with the embspace this process imports (the files are the same for every tree)
    runs: dict[str, list[dict[str, list[float]]]] = {s: [] for s in srcs}
    for r in range(a.runs):
        for s in srcs:  # interleaved: every run times every tree
            cmd = [sys.executable, str(Path(__file__).resolve()), "--child", "--threads", str(a.threads),
                   "--timed", str(a.timed), "--workdir", str(a.workdir)]
            env = {"PYTHONPATH": s, "PATH": "/usr/bin:/bin", "HOME": str(Path.home()),
                   "OMP_NUM_THREADS": str(a.threads)}
            got = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True)
            runs[s].append(json.loads(got.stdout.strip().splitlines()[-1]))
            print(f"run {r + 1}/{a.runs} {s} done", file=sys.stderr, flush=True)
    head = ("| configuration | recall@10 | " + " | ".join(f"QPS {s}" for s in srcs) + " | "
            + " | ".join(f"CPU us/query {s}" for s in srcs) + " |")
    print(head)
    print("|" + "---|" * (2 + 2 * len(srcs)))
    for label, *_ in CONFIGS:
        rec = runs[srcs[-1]][0][label][1]
        qps = [statistics.median(run[label][0] for run in runs[s]) for s in srcs]
        us = [statistics.median(run[label][2] for run in runs[s]) for s in srcs]
        print(f"| {label} | {rec:.4f} | " + " | ".join(f"{v:,.0f}" for v in qps) + " | "
              + " | ".join(f"{v:,.0f}" for v in us) + " |")


if __name__ == "__main__":
    main()
