"""The budget of a space (issue 24): dimensions and precision with rescoring, against the peers, in one run.

(a) **100,000 Wikipedia paragraphs, MiniLM 384-d** (``_wiki_vectors.py``; queries: the 1,000 paragraphs
    that follow, as ``search.py``), recall@10 against exact float search, measured by
    :func:`embspace.analysis.budget` (one collection per index, searched through ``Collection.search``):

    - float ``HNSW32`` over an ``efSearch`` sweep (its recall-0.95 point is the reference);
    - ``HNSW32,SQ8`` (int8) + rescore, ``BinaryHNSW32`` and ``BinaryFlat`` + rescore 2/4/10 (the float
      vectors memory-mapped, the index holds the codes);
    - peers on the same vectors and queries: sentence-transformers' ``quantize_embeddings`` +
      ``semantic_search_faiss`` (``ubinary`` exact and HNSW, ``uint8`` with ranges from a calibration
      sample, ``rescore_multiplier`` 2/4/10, each single query one call with the index reused),
      Chroma (its default HNSW, cosine) and LanceDB (``IVF_HNSW_SQ``, defaults then more effort until
      recall 0.95, as ``search.py``).

(b) **SciFact test nDCG@10** with MiniLM and the two models fine-tuned on SciFact's TRAIN split by
    ``_scifact_models.py`` (plain, Matryoshka): float at 384/256/128/64 dims (first-k truncation,
    re-normalised) and binary + rescore, all through :func:`embspace.analysis.budget` with the qrels.

Same threads for everyone (``--threads``, default 2), single-query and batch QPS medians of ``--runs``
(default 3). Writes ``benchmarks/results/budget.json`` and the "Budget (issue 24)" section of BENCHMARKS.md.

Usage::

    python benchmarks/budget.py                 # both parts (peers: run it with .bench/bin/python)
    python benchmarks/budget.py --quick         # smoke test: 20k Wikipedia vectors, 200 queries, 1 run
    python benchmarks/budget.py --parts wiki    # or scifact
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import os
import shlex
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import (
    busy_sentence,
    cpu_snapshot,
    other_cpu,
    publish_section,
    say,
    set_threads,
    version,
    write_json,
)

ROOT = Path(__file__).resolve().parent.parent
SCIFACT = ROOT.parent / "shared" / "data" / "retrieval" / "scifact"
DEFAULT_JSON = ROOT / "benchmarks" / "results" / "budget.json"
DEFAULT_MARKDOWN = ROOT / "BENCHMARKS.md"
SECTION = "## Budget (issue 24)"
K = 10
EF_SWEEP = (16, 24, 32, 48, 64, 96, 128, 192, 256)
RESCORE = (0, 2, 4, 10)
BINARY_RESCORE = (0, 2, 4, 10, 20, 30, 40)  # MiniLM's sign bits need deep rescoring (100k: 0.935 at x20, 0.974 at x40)
SQ8_EF = (16, 64, 128, 256)  # at 100,000 the graph itself needs efSearch 256 for recall 0.99 (float: 0.9922)
NPROBE_SWEEP = (16, 64)
SCIFACT_DIMS = (384, 256, 128, 64)
NOTE_WIKI = (
    "How to read it: embspace's rows are `analysis.budget` candidates, each a collection searched through "
    "`Collection.search` (keys back, rescoring included); index RAM is the index's own memory "
    "(`info()['index_bytes']`, embspace's id map included): with rescoring the float32 vectors stay on disk "
    "(`index/rescore_vectors.npy`, 1,536 bytes a vector, memory-mapped, read only for the `k x rescore` "
    "candidates) and are not counted. sentence-transformers re-scores with the float query against its quantised "
    "corpus codes (it keeps no float corpus), hence its lower recall with rescoring; its index RAM is the "
    "serialised FAISS index. Chroma and LanceDB report no index memory (their disk use is given). A single-query "
    "binary search runs FAISS in one OpenMP thread (FAISS's binary indexes open a parallel region even for one "
    "query, which cost 8-79 ms per query on these busy cores against ~1 ms); batches use every thread."
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--parts", default="wiki,scifact", help="wiki, scifact or both (comma-separated)")
    p.add_argument("--wiki-n", type=int, default=100_000, help="Wikipedia paragraphs in the corpus")
    p.add_argument("--queries", type=int, default=1000, help="Wikipedia queries")
    p.add_argument("--query-start", type=int, default=None,
                   help="first paragraph of the queries (default: right after the corpus, as search.py)")
    p.add_argument("--timing-queries", type=int, default=300, help="single queries timed per configuration")
    p.add_argument("--runs", type=int, default=3, help="timed runs (medians)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--peers", default="st,chroma,lancedb", help="peers to run ('' for none)")
    p.add_argument("--quick", action="store_true", help="smoke test: 20k vectors, 200 queries, 1 run, no SciFact")
    p.add_argument("--train-models", action="store_true",
                   help="train the SciFact fine-tuned models when they are not cached (~20 minutes on 2 cores)")
    p.add_argument("--json", type=Path, default=DEFAULT_JSON)
    p.add_argument("--markdown", type=Path, default=DEFAULT_MARKDOWN)
    p.add_argument("--no-markdown", action="store_true")
    p.add_argument("--render-only", action="store_true", help="rewrite the section from the JSON, measuring nothing")
    a = p.parse_args(argv)
    if a.quick:
        a.wiki_n, a.queries, a.runs, a.timing_queries = 20_000, 200, 1, 100
        a.parts = "wiki" if a.parts == "wiki,scifact" else a.parts
    return a


def per_query(fn: Callable[[Any], Any], q: Any) -> float:
    t = time.perf_counter()
    for v in q:
        fn(v)
    return (time.perf_counter() - t) / len(q)


def recall(found: list[list[int]], truth: Any) -> float:
    return sum(len(set(f[:K]) & set(t[:K].tolist())) for f, t in zip(found, truth, strict=True)) / (len(truth) * K)


def dir_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 2**20


# ------------------------------------------------------------------------------------------------ (a) wiki


def load_wiki(args: argparse.Namespace) -> tuple[Any, Any]:
    import numpy as np

    from _wiki_vectors import cache_file, wiki_minilm

    if args.quick:  # the cached 100k: the first wiki_n as the corpus, the next paragraphs as queries
        full = cache_file(100_000)
        if not full.is_file():
            raise SystemExit(f"--quick reads {full}; compute it with python benchmarks/_wiki_vectors.py 100000")
        v = np.load(full)
        return v[: args.wiki_n], v[args.wiki_n : args.wiki_n + args.queries]
    start = args.wiki_n if args.query_start is None else args.query_start
    if start < args.wiki_n:
        raise SystemExit(f"--query-start {start} is inside the corpus (the first {args.wiki_n:,} paragraphs)")
    _, x = wiki_minilm(args.wiki_n)
    _, q = wiki_minilm(args.queries, start=start)
    return x, q


def run_embspace(x: Any, q: Any, args: argparse.Namespace) -> dict[str, Any]:
    from embspace import EmbeddingSpace
    from embspace.analysis import budget

    space = EmbeddingSpace([str(i) for i in range(len(x))], x, metric="cosine")
    common = {"queries": q, "k": K, "repeats": args.runs, "timing_queries": args.timing_queries,
              "threads": args.threads, "progress": False}
    say("  embspace: float HNSW32, efSearch sweep")
    r_float = budget(space, precisions=["float32"], indexes=["HNSW32"], ef_search=EF_SWEEP, **common)
    say("  embspace: HNSW32,SQ8 (efSearch sweep) / BinaryHNSW32 / BinaryFlat + rescore")
    r_sq8 = budget(space, precisions=["int8"], indexes=["HNSW32,SQ8"], rescore=RESCORE, ef_search=SQ8_EF, **common)
    r_quant = budget(space, precisions=["binary"], indexes=["BinaryHNSW32", "BinaryFlat"], rescore=BINARY_RESCORE,
                     **common)
    nlist = 1 << round(math.log2(4 * math.sqrt(len(x))))  # 1024 for 100k, as choose_index sizes IVF
    while nlist > 1 and nlist * 39 > len(x):  # FAISS wants 39 training points a list
        nlist //= 2
    say(f"  embspace: BinaryIVF{nlist} + rescore, nprobe sweep")
    r_ivf = budget(space, precisions=["binary"], indexes=[f"BinaryIVF{nlist}"], rescore=BINARY_RESCORE[3:],
                   nprobe=NPROBE_SWEEP, **common)
    merged = r_float.combined(r_sq8, r_quant, r_ivf)
    rows = [c.to_dict() for c in merged.candidates]
    for c in rows:
        say(f"    {c['name']}: recall {c['quality']:.4f}, {c['index_bytes'] / 2**20:.1f} MB, {c['qps']:,.0f} QPS, "
            f"batch {c['batch_qps']:,.0f}")
    return {"candidates": rows, "recommendation": merged.recommendation,
            "memory_front": [c.name for c in merged.memory_front], "speed_front": [c.name for c in merged.speed_front]}


def run_st(x: Any, q: Any, truth: Any, args: argparse.Namespace) -> list[dict[str, Any]]:
    """sentence-transformers' quantize_embeddings + semantic_search_faiss (its own rescoring)."""
    import numpy as np
    from sentence_transformers.util.quantization import quantize_embeddings, semantic_search_faiss

    rng = np.random.default_rng(0)
    calib = x[rng.choice(len(x), min(10_000, len(x)), replace=False)]
    ranges = np.vstack([calib.min(axis=0), calib.max(axis=0)])  # computed once, as its docs recommend
    out = []
    nq = min(args.timing_queries, len(q))
    for precision, exact in (("ubinary", True), ("ubinary", False), ("uint8", False)):
        t = time.perf_counter()
        corpus = quantize_embeddings(x, precision=precision, ranges=ranges if precision == "uint8" else None)
        _, _, index = semantic_search_faiss(q[:1], corpus_embeddings=corpus, corpus_precision=precision, top_k=K,
                                            ranges=ranges if precision == "uint8" else None, exact=exact,
                                            output_index=True, rescore=False)
        build = time.perf_counter() - t
        for mult in (1, *(m for m in RESCORE if m > 1)):
            kwargs: dict[str, Any] = {"corpus_index": index, "corpus_precision": precision, "top_k": K,
                                      "rescore": mult > 1, "rescore_multiplier": max(mult, 1),
                                      "ranges": ranges if precision == "uint8" else None}
            res, _ = semantic_search_faiss(q, **kwargs)[:2]
            found = [[int(h["corpus_id"]) for h in hits] for hits in res]
            r = recall(found, truth)
            single = statistics.median(per_query(lambda v, kw=kwargs: semantic_search_faiss(v[None], **kw), q[:nq])
                                       for _ in range(args.runs))
            batch = statistics.median(_timed(lambda kw=kwargs: semantic_search_faiss(q, **kw))
                                      for _ in range(args.runs))
            name = (f"st {precision} {'exact' if exact else 'HNSW16'}" + (f" + rescore x{mult}" if mult > 1 else ""))
            row = {"name": name, "precision": precision, "exact": exact, "rescore": mult if mult > 1 else 0,
                   "recall": r, "qps": 1 / single, "batch_qps": len(q) / batch, "build_s": build,
                   "index_bytes": _faiss_bytes(index)}
            say(f"    {name}: recall {r:.4f}, {row['qps']:,.0f} QPS")
            out.append(row)
    return out


def _timed(fn: Callable[[], Any]) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def _faiss_bytes(index: Any) -> int:
    import faiss

    try:
        return len(faiss.serialize_index_binary(index) if isinstance(index, faiss.IndexBinary)
                       else faiss.serialize_index(index))
    except Exception:
        return 0


def run_chroma(x: Any, q: Any, truth: Any, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    import chromadb

    path = work / "chroma"
    client = chromadb.PersistentClient(path=str(path))
    col = client.create_collection("vectors", metadata={"hnsw:space": "cosine"})
    step = min(5000, client.get_max_batch_size())
    t = time.perf_counter()
    for s in range(0, len(x), step):
        col.add(ids=[str(i) for i in range(s, min(len(x), s + step))], embeddings=x[s : s + step])
    build = time.perf_counter() - t

    def search(v: Any) -> list[int]:
        r = col.query(query_embeddings=[v], n_results=K, include=[])
        return [int(i) for i in r["ids"][0]]

    found = [search(v) for v in q]
    nq = min(args.timing_queries, len(q))
    qps = 1 / statistics.median(per_query(search, q[:nq]) for _ in range(args.runs))
    batch = statistics.median(_timed(lambda: col.query(query_embeddings=q, n_results=K, include=[]))
                              for _ in range(args.runs))
    return {"name": "chroma (HNSW, defaults)", "recall": recall(found, truth), "qps": qps,
            "batch_qps": len(q) / batch, "build_s": build, "disk_mb": dir_mb(path)}


def run_lancedb(x: Any, q: Any, truth: Any, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    import lancedb
    import numpy as np
    import pyarrow as pa

    db = lancedb.connect(str(work / "lancedb"))
    t = time.perf_counter()
    tbl = db.create_table("t", data=pa.table({"id": np.arange(len(x), dtype=np.int64),
                                              "vector": pa.FixedSizeListArray.from_arrays(pa.array(x.ravel()),
                                                                                          x.shape[1])}))
    tbl.create_index(metric="cosine", vector_column_name="vector", index_type="IVF_HNSW_SQ")
    build = time.perf_counter() - t
    config: dict[str, int] = {}

    def search(v: Any) -> list[int]:
        s = tbl.search(v).limit(K).select(["id"])
        for name, value in config.items():
            s = getattr(s, name)(value)
        return [int(i) for i in s.to_arrow()["id"].to_pylist()]

    ns = min(300, len(q))
    for config in ({}, {"ef": 64}, {"ef": 128}, {"ef": 256}, {"ef": 256, "refine_factor": 5}):
        r = recall([search(v) for v in q[:ns]], truth[:ns])
        say(f"    lancedb {config or 'defaults'}: recall {r:.4f}")
        if r >= 0.95:
            break
    found = [search(v) for v in q]
    nq = min(args.timing_queries, len(q))
    qps = 1 / statistics.median(per_query(search, q[:nq]) for _ in range(args.runs))

    def batch_search() -> None:
        s = tbl.search(q).limit(K).select(["id"])
        for name, value in config.items():
            s = getattr(s, name)(value)
        s.to_arrow()

    batch = statistics.median(_timed(batch_search) for _ in range(args.runs))
    return {"name": f"lancedb (IVF_HNSW_SQ {config or 'defaults'})", "recall": recall(found, truth), "qps": qps,
            "batch_qps": len(q) / batch, "build_s": build, "config": dict(config),
            "disk_mb": dir_mb(work / "lancedb")}


def acceptance_wiki(res: dict[str, Any]) -> dict[str, Any]:
    """The figures the issue's acceptance names, from the measured rows."""
    rows = res["embspace"]["candidates"]
    floats = sorted((c for c in rows if c["precision"] == "float32"), key=lambda c: c["params"].get("efSearch", 0))
    op = next((c for c in floats if c["quality"] >= 0.95), floats[-1] if floats else None)
    out: dict[str, Any] = {"float_op": op}
    if op is None:
        return out
    binary = [c for c in rows if c["precision"] == "binary" and c["rescore"] > 0 and c["quality"] >= 0.95]
    # the binary configuration for the acceptance: RAM within 1/16 of the float HNSW32 index, then the fastest
    small = [c for c in binary if c["index_bytes"] <= op["index_bytes"] / 16]
    best_bin = max(small or binary, key=lambda c: c["qps"], default=None)
    out["binary"] = best_bin
    top = max((c for c in rows if c["precision"] == "binary"), key=lambda c: (c["quality"], c["qps"]), default=None)
    if top is not None:
        out["binary_best_recall"] = {"name": top["name"], "recall": top["quality"],
                                     "ram_ratio": op["index_bytes"] / top["index_bytes"],
                                     "qps_ratio": top["qps"] / op["qps"]}
    if best_bin is not None:
        out["binary_ram_ratio"] = op["index_bytes"] / best_bin["index_bytes"]
        out["binary_qps_ratio"] = best_bin["qps"] / op["qps"]
        out["binary_pass"] = bool(best_bin["quality"] >= 0.95 and out["binary_ram_ratio"] >= 16
                                  and out["binary_qps_ratio"] >= 1.0)
    sq8 = [c for c in rows if c["precision"] == "int8" and c["rescore"] > 0]
    best_sq8 = max(sq8, key=lambda c: (c["quality"], c["qps"]), default=None)
    out["sq8"] = best_sq8
    out["sq8_pass"] = bool(best_sq8 is not None and best_sq8["quality"] >= 0.99)
    chroma = res.get("peers", {}).get("chroma")
    if chroma and "recall" in chroma:
        quant = [c for c in rows if c["precision"] != "float32"]
        level = [c for c in quant if c["quality"] >= chroma["recall"]]
        # at Chroma's recall or better; when no quantised configuration gets there, the most accurate one
        best = max(level, key=lambda c: c["qps"], default=None) if level else \
            max(quant, key=lambda c: (c["quality"], c["qps"]), default=None)
        out["vs_chroma"] = {"config": None if best is None else best["name"],
                            "recall": None if best is None else best["quality"],
                            "chroma_recall": chroma["recall"], "equal_or_better_recall": bool(level),
                            "ratio": None if best is None else best["qps"] / chroma["qps"]}
        floats = [c for c in rows if c["precision"] == "float32" and c["quality"] >= chroma["recall"]]
        fbest = max(floats, key=lambda c: c["qps"], default=None)
        if fbest is not None:
            out["vs_chroma"]["float_config"] = fbest["name"]
            out["vs_chroma"]["float_ratio"] = fbest["qps"] / chroma["qps"]
    return out


def part_wiki(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    import numpy as np

    from embspace.index import ExactIndex

    x, q = load_wiki(args)
    say(f"== wiki: {len(x):,} x {x.shape[1]}, {len(q)} queries")
    oracle = ExactIndex(x.shape[1], metric="cosine")
    oracle.add(x, np.arange(len(x)))
    truth = np.asarray(oracle.search(q, K).ids)
    start = args.wiki_n if args.query_start is None else args.query_start
    held_out = f"paragraphs {start:,}-{start + len(q):,}, held out" if not args.quick else "held-out paragraphs"
    res: dict[str, Any] = {"what": f"{len(x):,} Wikipedia paragraphs, MiniLM 384-d, cosine; queries: {held_out}",
                           "n": len(x),
                           "queries": len(q), "embspace": run_embspace(x, q, args), "peers": {}}
    peers = [p for p in args.peers.split(",") if p]
    xn = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
    qn = (q / np.linalg.norm(q, axis=1, keepdims=True)).astype(np.float32)
    for peer in peers:
        say(f"  {peer} ...")
        try:
            if peer == "st":
                res["peers"]["st"] = run_st(xn, qn, truth, args)
            elif peer == "chroma":
                res["peers"]["chroma"] = run_chroma(xn, qn, truth, args, work)
            elif peer == "lancedb":
                res["peers"]["lancedb"] = run_lancedb(xn, qn, truth, args, work)
        except ImportError as e:
            res["peers"][peer] = {"error": f"not installed ({e.name})"}
            say(f"  {peer}: not installed")
        p = res["peers"].get(peer)
        if isinstance(p, dict) and "recall" in p:
            say(f"  {peer}: recall {p['recall']:.4f}, {p['qps']:,.0f} QPS")
    res["acceptance"] = acceptance_wiki(res)
    return res


# --------------------------------------------------------------------------------------------- (b) SciFact


def _encode_cached(name: str, model: str, texts: list[str], tag: str) -> Any:
    """Full-dimension unit vectors of ``texts`` by ``model``, cached under the bench cache."""
    import hashlib

    import numpy as np

    from embspace.encoders import get_encoder
    from embspace.encoders._cache import cache_dir

    # a retrained model keeps its path: its training record (settings, seconds) is in the key too
    info = Path(model) / "scifact_train.json"
    trained = info.read_text("utf-8") if info.is_file() else ""
    digest = hashlib.sha256(("\n".join(t[:80] for t in texts) + model + trained).encode()).hexdigest()[:16]
    path = cache_dir() / "bench" / f"scifact-{name}-{tag}-{digest}.npy"
    if path.is_file():
        return np.load(path)
    vectors = np.asarray(get_encoder(model).encode(texts, normalize=True, progress=False), np.float32)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, vectors)
    return vectors


def part_scifact(args: argparse.Namespace, work: Path | None = None) -> dict[str, Any]:
    import json
    import warnings

    from embspace import EmbeddingSpace
    from embspace.analysis import budget
    from embspace.evaluate import load_beir

    ds = load_beir(SCIFACT, "test")
    models: dict[str, str] = {"minilm": "minilm"}
    training: dict[str, Any] = {}  # the fine-tuned models' training records
    try:
        from _scifact_models import INFO_FILE, SETTINGS_NOTE, model_dir, scifact_models
    except ImportError:
        say("  benchmarks/_scifact_models.py is missing: MiniLM only")
    else:
        if args.train_models or all((model_dir(kind) / INFO_FILE).is_file() for kind in ("plain", "matryoshka")):
            say("== scifact: the fine-tuned models (trained once, then cached)")
            got = scifact_models(progress=False)
            models.update({"fine-tuned": str(got["plain"]), "matryoshka": str(got["matryoshka"])})
            training = {kind: json.loads((path / INFO_FILE).read_text("utf-8")) for kind, path in got.items()}
        else:
            say("  the fine-tuned models are not cached: MiniLM only (python benchmarks/_scifact_models.py trains "
                "them, or pass --train-models)")
    out: dict[str, Any] = {"what": f"SciFact test, {ds.n_queries} queries, {ds.n_docs:,} documents", "models": {}}
    if training:
        out["training"] = {"models": training, "how_chosen": SETTINGS_NOTE}
    for name, model in models.items():
        say(f"  {name}: encoding {ds.n_docs:,} documents and {ds.n_queries} queries")
        docs = _encode_cached(name, model, list(ds.corpus_texts), "corpus")
        queries = _encode_cached(name, model, list(ds.query_texts), "queries")
        corpus = EmbeddingSpace(list(ds.corpus_ids), docs, metric="cosine")
        qspace = EmbeddingSpace(list(ds.query_ids), queries, metric="cosine")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            r = budget(corpus, queries=qspace, qrels={q: ds.qrels[q] for q in ds.query_ids}, dims=SCIFACT_DIMS,
                       precisions=["float32", "binary"], indexes=["Flat"], rescore=(0, 4, 10), k=K,
                       repeats=args.runs, timing_queries=args.timing_queries, threads=args.threads, progress=False)
        rows = [c.to_dict() for c in r.candidates]
        for c in rows:
            say(f"    {name} {c['name']} @ {c['dim']}: nDCG@10 {c['quality']:.4f}")
        out["models"][name] = {"model": model, "float_ndcg": r.float_quality, "candidates": rows,
                               "recommendation": r.recommendation}
    out["acceptance"] = acceptance_scifact(out)
    return out


def _ndcg(rows: list[dict[str, Any]], dim: int, precision: str = "float32", rescore: int = 0) -> float | None:
    return next((c["quality"] for c in rows if c["dim"] == dim and c["precision"] == precision
                 and c["rescore"] == rescore), None)


def acceptance_scifact(res: dict[str, Any]) -> dict[str, Any]:
    m = res["models"]
    out: dict[str, Any] = {}
    if "matryoshka" in m and "fine-tuned" in m:
        mat, plain = m["matryoshka"]["candidates"], m["fine-tuned"]["candidates"]
        m384, m128, p128 = _ndcg(mat, 384), _ndcg(mat, 128), _ndcg(plain, 128)
        if m384 and m128 is not None and p128 is not None:
            out["matryoshka_128_share"] = m128 / m384
            out["matryoshka_128_vs_plain_128"] = m128 - p128
            out["matryoshka_pass"] = bool(m128 / m384 >= 0.97 and m128 > p128)
    # the model we recommend: the best float nDCG@10 at full dimension
    best = max(m, key=lambda name: _ndcg(m[name]["candidates"], 384) or 0.0)
    rows = m[best]["candidates"]
    f = _ndcg(rows, 384) or 0.0
    b = max((c["quality"] for c in rows if c["dim"] == 384 and c["precision"] == "binary" and c["rescore"] > 0),
            default=0.0)
    out.update(recommended_model=best, binary_rescore_share=b / f if f else None,
               binary_pass=bool(f and b / f >= 0.95))
    return out


# ---------------------------------------------------------------------------------------------- report


def _mb(b: float) -> str:
    return f"{b / 2**20:.1f}"


def render(report: dict[str, Any]) -> str:
    lines = [SECTION, "", f"{report['measured']} `{report['command']}` (peers: "
             "`python -m venv --system-site-packages .bench && .bench/bin/pip install lancedb chromadb`, then run "
             "the script with `.bench/bin/python`). Threads: " + f"{report['threads']} for every system; QPS are "
             f"medians of {report['runs']} runs; recall@10 against exact float32 search of the same queries.", ""]
    w = report.get("wiki")
    if w:
        lines += [f"### (a) {w['what']} ({w['queries']} queries, measured {w.get('date', report['date'])})", ""]
        if w.get("command"):
            lines += [f"Measured with `{w['command']}`.", ""]
        if w.get("n") != 100_000:
            lines += [f"The issue's figures are for 100,000 paragraphs; this run has {w['n']:,} (the 100,000 "
                      "vectors of `_wiki_vectors.py` were not encoded yet on this machine). `python "
                      "benchmarks/budget.py --parts wiki` measures the 100,000.", ""]
        lines += [
                  "| configuration | recall@10 | index RAM MB | bytes/vector | single-query QPS | batch QPS "
                  "| build s |",
                  "|---|---|---|---|---|---|---|"]
        for c in w["embspace"]["candidates"]:
            lines.append(f"| embspace {c['name']} | {c['quality']:.4f} | {_mb(c['index_bytes'])} | "
                         f"{c['bytes_per_vector']:g} | {c['qps']:,.0f} | {c['batch_qps']:,.0f} | "
                         f"{c['build_seconds']:.1f} |")
        for row in w["peers"].get("st", []) if isinstance(w["peers"].get("st"), list) else []:
            lines.append(f"| {row['name']} | {row['recall']:.4f} | {_mb(row['index_bytes'])} | — | {row['qps']:,.0f} | "
                         f"{row['batch_qps']:,.0f} | {row['build_s']:.1f} |")
        for peer in ("chroma", "lancedb"):
            p = w["peers"].get(peer)
            if isinstance(p, dict) and "recall" in p:
                lines.append(f"| {p['name']} | {p['recall']:.4f} | — (disk {p['disk_mb']:.0f}) | — | {p['qps']:,.0f} | "
                             f"{p['batch_qps']:,.0f} | {p['build_s']:.1f} |")
            elif isinstance(p, dict):
                lines.append(f"| {peer} | {p.get('error')} | | | | | |")
        a = w["acceptance"] = acceptance_wiki(w)
        lines.append("")
        op = a.get("float_op")
        if op:
            lines.append(f"- Float HNSW32 reference (smallest efSearch reaching recall 0.95): {op['name']}, recall "
                         f"{op['quality']:.4f}, {_mb(op['index_bytes'])} MB, {op['qps']:,.0f} QPS.")
        b = a.get("binary")
        if b:
            lines.append(f"- Binary + rescore: {b['name']}: recall {b['quality']:.4f}, index RAM 1/"
                         f"{a['binary_ram_ratio']:.1f} of float HNSW32, single-query QPS {a['binary_qps_ratio']:.2f}x "
                         f"-> {'PASS' if a['binary_pass'] else 'NOT MET'} (goal: recall >= 0.95, RAM <= 1/16, "
                         "QPS >= 1.0x).")
        else:
            t = a.get("binary_best_recall")
            more = (f" (the best, {t['name']}: recall {t['recall']:.4f}, index RAM 1/{t['ram_ratio']:.1f} of float "
                    f"HNSW32, single-query QPS {t['qps_ratio']:.2f}x)") if t else ""
            lines.append(f"- Binary + rescore: no configuration reached recall 0.95{more} -> NOT MET.")
        s = a.get("sq8")
        if s:
            lines.append(f"- SQ8 + rescore: {s['name']}: recall {s['quality']:.4f} -> "
                         f"{'PASS' if a['sq8_pass'] else 'NOT MET'} (goal >= 0.99).")
        vc = a.get("vs_chroma")
        if vc and vc.get("ratio") is not None:
            if vc.get("equal_or_better_recall", True):
                lines.append(f"- Best quantised configuration at Chroma's recall or better ({vc['chroma_recall']:.4f}):"
                             f" {vc['config']} (recall {vc['recall']:.4f}), **{vc['ratio']:.1f}x** Chroma's "
                             "single-query QPS (goal 10x).")
            else:
                lines.append(f"- No quantised configuration reaches Chroma's recall ({vc['chroma_recall']:.4f}); the "
                             f"most accurate, {vc['config']} (recall {vc['recall']:.4f}), runs at "
                             f"**{vc['ratio']:.1f}x** Chroma's single-query QPS (goal 10x at equal recall: NOT MET).")
            if vc.get("float_config"):
                lines.append(f"- For comparison, {vc['float_config']} at Chroma's recall or better: "
                             f"{vc['float_ratio']:.1f}x Chroma's single-query QPS.")
        lines += ["", f"embspace's recommendation (analysis.budget, keep 95%): {w['embspace']['recommendation']}", "",
                  NOTE_WIKI, ""]
    s = report.get("scifact")
    if s:
        lines += [f"### (b) {s['what']}: nDCG@10 (measured {s.get('date', report['date'])})", "",
                  "| model | " + " | ".join(f"float {d}" for d in SCIFACT_DIMS)
                  + " | binary 384 | binary 384 + rescore x4 | binary 384 + rescore x10 |",
                  "|---|" + "---|" * (len(SCIFACT_DIMS) + 3)]
        for name, m in s["models"].items():
            rows = m["candidates"]
            cells = [_ndcg(rows, d) for d in SCIFACT_DIMS]
            cells += [_ndcg(rows, 384, "binary", r) for r in (0, 4, 10)]
            lines.append(f"| {name} | " + " | ".join("—" if v is None else f"{v:.4f}" for v in cells) + " |")
        if s.get("command"):
            lines += [f"Measured with `{s['command']}`.", ""]
        a = s["acceptance"] = acceptance_scifact(s)
        lines.append("")
        if "matryoshka_128_share" in a:
            lines.append(f"- Matryoshka model at 128 dims keeps {a['matryoshka_128_share']:.1%} of its 384-d nDCG@10 "
                         f"and is {a['matryoshka_128_vs_plain_128']:+.4f} vs the plain fine-tuned model at 128 -> "
                         f"{'PASS' if a['matryoshka_pass'] else 'NOT MET'} (goal: >= 97% and better).")
        t = s.get("training")
        if t and {"plain", "matryoshka"} <= set(t["models"]):
            pl, ma = t["models"]["plain"], t["models"]["matryoshka"]
            lines.append(f"- The fine-tuned models: MiniLM trained on SciFact's {pl['pairs']} train pairs, the same "
                         f"settings for both (only the loss differs): {pl['epochs']} epoch(s), batch {pl['batch_size']}"
                         f", learning rate {pl['learning_rate']}, {pl['max_length']} tokens, warm-up {pl['warmup']}, "
                         f"seed {pl['seed']}; Matryoshka dims {ma['matryoshka_dims']} (weights "
                         f"{ma.get('matryoshka_weights') or 'equal'}); trained in {pl['train_seconds']:.0f} s (plain) "
                         f"and {ma['train_seconds']:.0f} s (Matryoshka). Settings {t['how_chosen']}.")
        if a.get("binary_rescore_share") is not None:
            lines.append(f"- Binary + rescore keeps {a['binary_rescore_share']:.1%} of the float nDCG@10 for "
                         f"{a['recommended_model']} (the best at 384) -> {'PASS' if a['binary_pass'] else 'NOT MET'} "
                         "(goal >= 95%).")
        lines.append("")
    return "\n".join(lines)


def _previous(path: Path) -> dict[str, Any]:
    """The parts of an earlier run's JSON (a part run alone keeps the other's figures)."""
    import json

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {k: data[k] for k in ("wiki", "scifact") if isinstance(data.get(k), dict)}


def command_line(args: argparse.Namespace) -> str:
    parts = ["python", "benchmarks/budget.py"]
    if args.quick:
        parts.append("--quick")
    if args.parts != "wiki,scifact":
        parts += ["--parts", args.parts]
    if args.wiki_n != 100_000 and not args.quick:
        parts += ["--wiki-n", str(args.wiki_n)]
    if args.query_start is not None:
        parts += ["--query-start", str(args.query_start)]
    return shlex.join(parts)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.render_only:
        import json

        report = json.loads(args.json.read_text(encoding="utf-8"))
        text = render(report)
        write_json(args.json, report)
        print(text)
        if not args.no_markdown:
            publish_section(args.markdown, SECTION, text)
        return 0
    set_threads(args.threads)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("RUST_LOG", "error")
    os.environ.setdefault("LANCE_LOG", "error")
    os.environ["RAYON_NUM_THREADS"] = str(args.threads)
    import faiss
    import torch

    faiss.omp_set_num_threads(args.threads)
    torch.set_num_threads(args.threads)
    start = cpu_snapshot()
    load0 = os.getloadavg()[0]
    work = Path(tempfile.mkdtemp(prefix="embspace-budget-bench-"))
    report: dict[str, Any] = {"date": dt.date.today().isoformat(), "threads": args.threads, "runs": args.runs,
                              "k": K, "command": command_line(args)}
    parts = args.parts.split(",")
    previous = _previous(args.json) if not args.quick else {}
    try:
        for name, run in (("wiki", part_wiki), ("scifact", part_scifact)):
            if name in parts:
                report[name] = run(args, work)
                report[name]["date"] = report["date"]
                report[name]["command"] = report["command"]
            elif name in previous:  # a part not rerun keeps its last figures (and says when they were measured)
                report[name] = previous[name]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    busy = other_cpu(start, cpu_snapshot())
    versions = {"embspace": version("embspace"), "faiss": version("faiss-cpu"),
                "sentence-transformers": version("sentence-transformers"), "chromadb": version("chromadb"),
                "lancedb": version("lancedb")}
    report["versions"] = versions
    report["busy"] = busy
    report["measured"] = (f"Measured {report['date']} on {os.cpu_count()} CPU(s), load average {load0:.2f} before / "
                          f"{os.getloadavg()[0]:.2f} after.{busy_sentence(busy)} "
                          + ", ".join(f"{k} {v}" for k, v in versions.items() if v) + ". Rerun with:")
    write_json(args.json, report)
    text = render(report)
    print(text)
    if not args.no_markdown and not args.quick:
        publish_section(args.markdown, SECTION, text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
