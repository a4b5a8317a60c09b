"""The floor under binary + rescore single-query search: FAISS alone, no embspace, 100,000 MiniLM vectors.

Issue 24 asks a binary index with rescoring to reach recall@10 >= 0.95 at single-query speed >= 1.0x float
HNSW32 at its own recall-0.95 point. This script measures what the two cost with nothing of embspace in the
way (no id maps, no checks, no memory-mapped files): FAISS's ``IndexHNSWFlat`` (inner product, M=32,
efConstruction 40, as embspace builds it) over an ``efSearch`` sweep, against FAISS's ``IndexBinaryFlat`` /
``IndexBinaryHNSW`` over the sign bits (codes padded to 64 bytes, counting selection: embspace's fastest
settings) followed by an exact re-ranking of the candidates with NumPy (one gather, one product, one sort).
One thread, one query at a time, medians of ``--runs`` passes over ``--queries`` queries; recall@10 against
exact float search. If the binary rows cannot beat the float row at recall 0.95 here, no embspace code can.

    python benchmarks/binary_floor.py            # about 3 minutes on 2 cores

Writes ``benchmarks/results/binary_floor.json`` and prints a table.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--queries", type=int, default=500)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--json", type=Path, default=HERE / "results" / "binary_floor.json")
    args = ap.parse_args(argv)
    import faiss

    from _wiki_vectors import wiki_minilm

    faiss.omp_set_num_threads(1)
    _, x = wiki_minilm(args.n, progress=False)
    _, q = wiki_minilm(args.queries, start=100_000, progress=False)
    truth = np.argsort(-(q @ x.T), axis=1)[:, :10]

    def timed(fn: Callable[[int], Any]) -> tuple[float, list[Any]]:
        per: list[float] = []
        out: list[Any] = []
        for _ in range(args.runs):
            t0 = time.perf_counter()
            out = [fn(i) for i in range(len(q))]
            per.append((time.perf_counter() - t0) / len(q) * 1e6)
        return statistics.median(per), out

    def recall(out: list[Any]) -> float:
        hits = [len(set(np.asarray(o).tolist()) & set(t.tolist())) for o, t in zip(out, truth, strict=True)]
        return float(np.mean(hits)) / 10

    rows: list[dict[str, Any]] = []
    hnsw = faiss.IndexHNSWFlat(x.shape[1], 32, faiss.METRIC_INNER_PRODUCT)
    hnsw.hnsw.efConstruction = 40
    hnsw.add(x)
    for ef in (32, 48, 64, 96):
        hnsw.hnsw.efSearch = ef
        us, out = timed(lambda i: hnsw.search(q[i : i + 1], 10)[1][0])
        rows.append({"first stage": f"float HNSW32 efSearch={ef}", "recall": recall(out), "us": us, "faiss_us": us})
    nbytes = 64  # 384 bits padded to 64 bytes: FAISS's unrolled Hamming distance (see index/binary_index.py)

    def pad(bits: np.ndarray) -> np.ndarray:
        out = np.zeros((len(bits), nbytes), np.uint8)
        out[:, : bits.shape[1]] = bits
        return out

    codes, qcodes = pad(np.packbits(x > 0, axis=1)), pad(np.packbits(q > 0, axis=1))

    def rescored(index: Any, i: int, m: int) -> np.ndarray:
        cand = index.search(qcodes[i : i + 1], 10 * m)[1][0]
        return cand[np.argsort(-(x[cand] @ q[i]))[:10]]

    flat = faiss.IndexBinaryFlat(8 * nbytes)
    flat.add(codes)
    flat.use_heap = False
    for m in (20, 30, 40):
        us, out = timed(lambda i, m=m: rescored(flat, i, m))
        alone, _ = timed(lambda i, m=m: flat.search(qcodes[i : i + 1], 10 * m))
        rows.append({"first stage": f"BinaryFlat + rescore x{m}", "recall": recall(out), "us": us, "faiss_us": alone})
    graph = faiss.IndexBinaryHNSW(8 * nbytes, 32)
    graph.add(codes)
    for ef, m in ((200, 20), (400, 40)):
        graph.hnsw.efSearch = ef
        us, out = timed(lambda i, m=m: rescored(graph, i, m))
        alone, _ = timed(lambda i, m=m: graph.search(qcodes[i : i + 1], 10 * m))
        rows.append({"first stage": f"BinaryHNSW32 efSearch={ef} + rescore x{m}", "recall": recall(out), "us": us,
                     "faiss_us": alone})
    ref = next((r for r in rows if r["first stage"].startswith("float") and r["recall"] >= 0.95), rows[-1])
    print(f"| first stage ({args.n:,} x {x.shape[1]}, 1 thread) | recall@10 | us/query | of which FAISS | "
          "speed vs float at recall 0.95 |")
    print("|---|---|---|---|---|")
    for r in rows:
        r["vs_float_095"] = ref["us"] / r["us"]
        print(f"| {r['first stage']} | {r['recall']:.4f} | {r['us']:.0f} | {r['faiss_us']:.0f} | "
              f"{r['vs_float_095']:.2f}x |")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"n": args.n, "queries": len(q), "runs": args.runs, "reference": ref["first stage"],
                                     "rows": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
