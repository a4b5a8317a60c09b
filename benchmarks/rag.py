"""RAG retrieval on BEIR SciFact: embspace's vector, BM25 and hybrid passage retrieval, nDCG@10 and recall@100.

The product's own path end to end: every SciFact abstract is written as a ``.txt`` document
(``# title`` first line, then the abstract) into a scratch folder, ``embspace.apps.ingest`` cuts it
into token chunks (defaults: 200 all-MiniLM-L6-v2 tokens, 40 overlap), encodes and stores them and
builds the BM25 index; ``embspace.apps.Retriever.retrieve`` answers each query in ``vector``,
``bm25`` and ``hybrid`` mode. Passages become a document ranking (a document's rank is its best
chunk's; passages are asked for until 100 distinct documents are in, ``candidates`` = the passages
asked), scored by ``embspace.evaluate.ranking_metrics`` (pytrec_eval's definitions, as BEIR).

References, same run: bm25s's own retriever over the whole abstracts (title + abstract, the same
stopwords and Snowball stemmer; bm25s's default k1 1.5, b 0.75, and our k1 1.2), and BEIR's published
BM25 (Elasticsearch) 0.665. The whole-abstract MiniLM vector figure (0.6451) is issue 4's.

Both splits are run: ``test`` (300 queries) is the reported figure; ``train`` (809 queries) is the
development split — any choice made after looking at numbers was made on it, never on test.

Usage::

    python benchmarks/rag.py                # full: ingest 5,183 abstracts (~6 min on 2 cores), 1,109 queries x 3 modes
    python benchmarks/rag.py --reuse        # keep the collection ingested by the last run (benchmarks/.cache/rag)
    python benchmarks/rag.py --render-only  # rewrite the BENCHMARKS.md section from benchmarks/results/rag.json
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
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
    version,
    write_json,
)

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "retrieval" / "scifact"
DEFAULT_JSON = ROOT / "benchmarks" / "results" / "rag.json"
DEFAULT_MARKDOWN = ROOT / "BENCHMARKS.md"
CACHE = ROOT / "benchmarks" / ".cache" / "rag"
SECTION = "## RAG retrieval (issue 9)"
BEIR_BM25 = 0.665
WHOLE_DOC_VECTOR = 0.6451  # issue 4: all-MiniLM-L6-v2 on the whole abstracts, exact cosine (BENCHMARKS.md)
MODES = ("vector", "bm25", "hybrid")
DOCS = 100
FIRST_K = 200
K_VALUES = (10, 100)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--data", type=Path, default=DEFAULT_DATA, help="BEIR SciFact directory")
    p.add_argument("--threads", type=int, default=2, help="PyTorch and BLAS threads")
    p.add_argument("--splits", default="test,train", help="query splits to run (test is the reported one)")
    p.add_argument("--reuse", action="store_true", help="reuse the collection ingested by the last run")
    p.add_argument("--json", type=Path, default=DEFAULT_JSON, help="results file")
    p.add_argument("--markdown", type=Path, default=DEFAULT_MARKDOWN, help="Markdown file to refresh")
    p.add_argument("--no-markdown", action="store_true", help="do not write the Markdown section")
    p.add_argument("--render-only", action="store_true", help="only rewrite the Markdown section from the JSON")
    return p.parse_args(argv)


def command_line(args: argparse.Namespace) -> str:
    parts = ["python", "benchmarks/rag.py"]
    if args.splits != "test,train":
        parts += ["--splits", args.splits]
    if args.reuse:
        parts.append("--reuse")
    return shlex.join(parts)


# ---------------------------------------------------------------------------------------------- ingest
def write_documents(data: Path, folder: Path) -> None:
    """One ``ID.txt`` per abstract: ``# title``, a blank line, the abstract (as BEIR's corpus.jsonl has them)."""
    import gzip
    import json

    folder.mkdir(parents=True, exist_ok=True)
    gz = data / "corpus.jsonl.gz"
    path, opener = (gz, gzip.open) if gz.exists() else (data / "corpus.jsonl", open)
    with opener(path, "rt", encoding="utf-8") as fh:
        for line in fh:
            d = json.loads(line)
            title = " ".join(str(d.get("title") or "").split())
            body = str(d.get("text") or "")
            (folder / f"{d['_id']}.txt").write_text((f"# {title}\n\n" if title else "") + body + "\n",
                                                     encoding="utf-8")


def ingest_corpus(args: argparse.Namespace, data: Path) -> dict[str, Any]:
    from embspace.apps import ingest

    docs, coll = CACHE / "docs", CACHE / "collection"
    if args.reuse and (coll / "collection.sqlite").exists():
        say(f"reusing {coll}")
        ingest(docs, coll, progress=False)  # imports torch & co. (a fresh run has them loaded by its ingest)
        t0 = time.perf_counter()
        report = ingest(docs, coll, progress=False)  # every document unchanged: the re-ingest skip path
        info: dict[str, Any] = {}
        if args.json.exists():  # the ingest figures of the run that built the collection
            import json

            last = json.loads(args.json.read_text(encoding="utf-8")).get("ingest", {})
            if "ingest_s" in last:
                info = {**last, "measured": last.get("measured") or "an earlier run"}
        info.update({"reused": True, "reingest_unchanged_s": time.perf_counter() - t0, "unchanged": report.unchanged})
        return info
    shutil.rmtree(CACHE, ignore_errors=True)
    t0 = time.perf_counter()
    write_documents(data, docs)
    write_s = time.perf_counter() - t0
    say(f"wrote {len(list(docs.iterdir())):,} documents in {write_s:.1f} s; ingesting")
    report = ingest(docs, coll, encoder="minilm", progress=True)
    t1 = time.perf_counter()
    again = ingest(docs, coll, progress=False)
    reingest_s = time.perf_counter() - t1
    return {"reused": False, "measured": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "documents": report.documents, "chunks": report.chunks, "skipped": report.skipped,
            "ingest_s": report.seconds, "docs_per_s": report.documents / report.seconds,
            "reingest_unchanged_s": reingest_s, "unchanged": again.unchanged}


# ---------------------------------------------------------------------------------------------- retrieval
def doc_ranking(retriever: Any, query: str, mode: str) -> tuple[list[str], int]:
    """Document ids by their best passage, at least DOCS of them when the collection has that many;
    and the passages asked for."""
    from embspace.apps.schemas import MAX_K

    k = FIRST_K
    while True:
        passages = retriever.retrieve(query, k=k, mode=mode, candidates=k)
        ranking: list[str] = []
        seen: set[str] = set()
        for p in passages:
            doc = p.source.removesuffix(".txt")
            if doc not in seen:
                seen.add(doc)
                ranking.append(doc)
        if len(ranking) >= DOCS or len(passages) < k or k >= MAX_K:
            return ranking[:DOCS], k
        k = min(MAX_K, k * 2)


def run_split(retriever: Any, ds: Any) -> dict[str, Any]:
    from embspace.evaluate._retrieval import ranking_metrics

    runs: dict[str, dict[str, list[str]]] = {m: {} for m in MODES}
    times: dict[str, list[float]] = {m: [] for m in MODES}
    asked: dict[str, list[int]] = {m: [] for m in MODES}
    for i, (qid, text) in enumerate(zip(ds.query_ids, ds.query_texts, strict=True)):
        for mode in MODES if i % 2 == 0 else MODES[::-1]:  # interleaved, alternating order
            t0 = time.perf_counter()
            ranking, k = doc_ranking(retriever, text, mode)
            times[mode].append(time.perf_counter() - t0)
            runs[mode][qid] = ranking
            asked[mode].append(k)
        if (i + 1) % 100 == 0:
            say(f"  {ds.split}: {i + 1}/{len(ds.query_ids)} queries")
    out: dict[str, Any] = {"queries": len(ds.query_ids), "modes": {}}
    per_query: dict[str, dict[str, dict[str, float]]] = {}
    for mode in MODES:
        means, per = ranking_metrics(ds.qrels, runs[mode], K_VALUES)
        per_query[mode] = per
        out["modes"][mode] = {"ndcg@10": means["ndcg@10"], "recall@100": means["recall@100"],
                              "mrr@10": means["mrr@10"],
                              "ms_per_query_median": 1000 * statistics.median(times[mode]),
                              "ms_per_query_mean": 1000 * statistics.fmean(times[mode]),
                              "passages_asked_max": max(asked[mode])}
    best = max(("vector", "bm25"), key=lambda m: out["modes"][m]["ndcg@10"])
    diffs = [per_query["hybrid"][q]["ndcg@10"] - per_query[best][q]["ndcg@10"] for q in ds.qrels]
    se = statistics.stdev(diffs) / math.sqrt(len(diffs)) if len(diffs) > 1 else float("nan")
    out["hybrid_vs_best"] = {"best_single": best, "mean_diff": statistics.fmean(diffs), "se": se,
                             "wins": sum(d > 0 for d in diffs), "losses": sum(d < 0 for d in diffs)}
    return out


def bm25s_baselines(ds: Any) -> dict[str, Any]:
    """bm25s's own retriever on whole documents (title + abstract), our analysis (stopwords, stemmer)."""
    import bm25s
    import Stemmer

    from embspace.evaluate._retrieval import ranking_metrics

    stemmer = Stemmer.Stemmer("english")
    t0 = time.perf_counter()
    corpus = bm25s.tokenize(list(ds.corpus_texts), stopwords="en", stemmer=stemmer, show_progress=False)
    queries = bm25s.tokenize(list(ds.query_texts), stopwords="en", stemmer=stemmer, show_progress=False)
    tokenize_s = time.perf_counter() - t0
    out: dict[str, Any] = {}
    for name, params in (("bm25s defaults (k1 1.5, b 0.75)", {}), ("bm25s k1 1.2, b 0.75", {"k1": 1.2, "b": 0.75})):
        t0 = time.perf_counter()
        model = bm25s.BM25(**params)
        model.index(corpus, show_progress=False)
        docs, _scores = model.retrieve(queries, k=DOCS, show_progress=False)
        seconds = time.perf_counter() - t0
        run = {qid: [ds.corpus_ids[int(j)] for j in row] for qid, row in zip(ds.query_ids, docs, strict=True)}
        means, _ = ranking_metrics(ds.qrels, run, K_VALUES)
        out[name] = {"ndcg@10": means["ndcg@10"], "recall@100": means["recall@100"], "mrr@10": means["mrr@10"],
                     "index_and_search_s": seconds + tokenize_s}
    return out


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.render_only:
        import json

        report = json.loads(args.json.read_text(encoding="utf-8"))
        publish_section(None if args.no_markdown else args.markdown, SECTION, render_markdown(report))
        return 0
    set_threads(args.threads)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    torch.set_num_threads(args.threads)
    from embspace.apps import Retriever
    from embspace.evaluate import load_beir

    data = args.data.resolve()
    if not (data / "queries.jsonl").exists():
        say(f"SKIPPED: no SciFact at {data}")
        return 0
    t_start = time.perf_counter()
    load_before = os.getloadavg()
    cpu_start = cpu_snapshot()
    ingest_info = ingest_corpus(args, data)
    coll = CACHE / "collection"
    report: dict[str, Any] = {"benchmark": "RAG retrieval (issue 9)", "command": command_line(args),
                              "ingest": ingest_info, "splits": {}}
    with Retriever(coll) as retriever:
        shutil.rmtree(coll / "bm25", ignore_errors=True)
        t0 = time.perf_counter()
        retriever.refresh()
        build_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        Retriever(retriever.collection).refresh()  # a fresh retriever loads the saved index
        load_s = time.perf_counter() - t0
        report["bm25_index"] = {"chunks": retriever.collection.count(), "build_s": build_s, "load_s": load_s}
        say(f"BM25 index over {report['bm25_index']['chunks']:,} chunks: built in {build_s:.2f} s, loaded in "
            f"{load_s:.2f} s")
        for split in args.splits.split(","):
            ds = load_beir(data, split=split)
            say(f"{split}: {len(ds.query_ids)} queries x {len(MODES)} modes")
            entry = run_split(retriever, ds)
            entry["bm25s_whole_docs"] = bm25s_baselines(ds)
            report["splits"][split] = entry
    load_after = os.getloadavg()
    contention = other_cpu(cpu_start, cpu_snapshot())
    versions = {"python": platform.python_version(), "torch": version("torch"), "bm25s": version("bm25s"),
                "PyStemmer": version("PyStemmer"), "sentence-transformers": version("sentence-transformers"),
                "faiss-cpu": version("faiss-cpu"), "embspace": version("embspace")}
    report["config"] = {
        "encoder": "minilm (sentence-transformers/all-MiniLM-L6-v2)", "chunk_tokens": 200, "overlap": 40,
        "rrf_k": 60, "bm25": {"k1": 1.2, "b": 0.75, "method": "lucene", "stopwords": "lucene english (33)",
                              "stemmer": "snowball english"},
        "docs_per_query": DOCS, "first_k": FIRST_K, "threads": args.threads, "versions": versions,
        "cpu_count": os.cpu_count(), "processor": platform.processor() or platform.machine(),
        "platform": platform.platform(), "loadavg_before": list(load_before), "loadavg_after": list(load_after),
        "other_processes": contention,
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "total_s": time.perf_counter() - t_start,
    }
    write_json(args.json, report)
    say(f"json: {args.json}")
    print(render_markdown(report))
    publish_section(None if args.no_markdown else args.markdown, SECTION, render_markdown(report))
    return 0


# ---------------------------------------------------------------------------------------------- output
def _table(heads: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(heads) + " |", "|" + "|".join(["---"] * len(heads)) + "|"]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])


def split_table(entry: dict[str, Any]) -> str:
    rows = []
    for mode in MODES:
        m = entry["modes"][mode]
        rows.append([f"embspace `{mode}` (chunks)", f"{m['ndcg@10']:.4f}", f"{m['recall@100']:.4f}",
                     f"{m['mrr@10']:.4f}", f"{m['ms_per_query_median']:.1f}"])
    for name, m in entry["bm25s_whole_docs"].items():
        rows.append([f"{name}, whole abstracts", f"{m['ndcg@10']:.4f}", f"{m['recall@100']:.4f}",
                     f"{m['mrr@10']:.4f}", "—"])
    return _table(["retrieval", "nDCG@10", "recall@100", "MRR@10", "ms/query (median)"], rows)


def render_markdown(report: dict[str, Any]) -> str:
    c = report["config"]
    ing = report["ingest"]
    busy = busy_sentence(c.get("other_processes"))
    sentence = measured_sentence(c["date"][:10], c["cpu_count"], (c["loadavg_before"][0], c["loadavg_after"][0]),
                                 busy, c["versions"], extra=f", {c['threads']} threads")
    lines = [SECTION, "", f"{sentence} `{report['command']}`", ""]
    lines.append(
        "The product's own path: each of SciFact's 5,183 abstracts written as a `.txt` document (`# title`, then the "
        "abstract), `embspace ingest` (chunks of 200 all-MiniLM-L6-v2 tokens overlapping by 40, each embedded and "
        "BM25-indexed with its title in front), then `Retriever.retrieve(query, k, mode=...)`. A document ranks at "
        "its best passage; passages are asked for until 100 distinct documents are in (candidates per ranking = "
        "passages asked, 200 or more). BM25: Lucene BM25 (k1 1.2, b 0.75) via bm25s, Lucene's 33 English stopwords, "
        "Snowball English stemmer. Hybrid: reciprocal rank fusion, k = 60 (Cormack et al. 2009). Nothing was tuned: "
        "these are the library's defaults, fixed before the first measurement. ms/query: one `retrieve` call (the "
        "query embedded, both rankings, fusion, the passages' metadata read), median over the queries.")
    lines.append("")
    if "ingest_s" in ing:
        when = f"; measured {ing['measured'][:16].replace('T', ' ')} UTC by the run that built the collection" \
            if ing.get("reused") else ""
        lines.append(f"Ingest: {ing['documents']:,} documents -> {ing['chunks']:,} chunks in {ing['ingest_s']:.1f} s "
                     f"({ing['docs_per_s']:.1f} docs/s: reading, chunking, encoding, storing, BM25{when}); ingesting "
                     f"the unchanged folder again: {ing['reingest_unchanged_s']:.1f} s (all {ing['unchanged']:,} "
                     "skipped).")
    bm = report["bm25_index"]
    lines.append(f"BM25 index over {bm['chunks']:,} chunks: built in {bm['build_s']:.2f} s, loaded from disk in "
                 f"{bm['load_s']:.2f} s.")
    lines.append("")
    for split, entry in report["splits"].items():
        what = "reported" if split == "test" else "development split: any tuning would be done here, not on test"
        lines.append(f"### SciFact {split} ({entry['queries']} queries; {what})")
        lines.append("")
        lines.append(split_table(entry))
        lines.append("")
        h = entry["hybrid_vs_best"]
        lines.append(f"Hybrid minus the best single mode ({h['best_single']}), per query: {h['mean_diff']:+.4f} "
                     f"(± {h['se']:.4f} SE); hybrid better on {h['wins']} queries, worse on {h['losses']}.")
        lines.append("")
    test = report["splits"].get("test")
    if test is not None:
        m = test["modes"]
        best = max(m["vector"]["ndcg@10"], m["bm25"]["ndcg@10"])
        holds = m["hybrid"]["ndcg@10"] >= best
        lines.append(f"References: BEIR's published BM25 (Elasticsearch) on SciFact {BEIR_BM25:.3f}; MiniLM vectors "
                     f"of the whole abstracts {WHOLE_DOC_VECTOR:.4f} (issue 4).")
        lines.append("")
        lines.append(_table(["acceptance", "required", "measured", "holds"], [
            ["SciFact nDCG@10 reported for vector, BM25, hybrid", "all three",
             f"{m['vector']['ndcg@10']:.4f} / {m['bm25']['ndcg@10']:.4f} / {m['hybrid']['ndcg@10']:.4f}", "yes"],
            ["hybrid >= max(vector, BM25)", f">= {best:.4f}", f"{m['hybrid']['ndcg@10']:.4f}",
             "yes" if holds else "NO"]]))
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
