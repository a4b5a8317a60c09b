"""Geometry of embedding spaces on real data (issue 6): diagnostics, fixes, seed comparison, clustering.

Three parts, each measured on shared data and reported in plain language:

- ``words``: embspace word2vec (CBOW, dim 100, window 5, negative 5, sample 1e-3, 5 epochs, min_count 5,
  2 workers) trained twice on the "wiki17" corpus (``benchmarks/word_embeddings.py`` prepares it) with
  seeds 1 and 2. On the seed-1 space: norms, anisotropy, intrinsic dimension and hubness; every fix of
  ``embspace.analysis`` with ``evaluate=`` WordSim-353 Spearman (isotropy, mean cosine and WordSim
  before/after, hubness and Google-analogy accuracy after); CSLS / mutual proximity when the library
  has them. The two seeds are compared with ``analysis.compare_spaces(a, b, k=10, top=5000)`` (Procrustes
  top-1 translation accuracy, neighbour overlap@10, linear CKA); when CBOW's accuracy is below 90%,
  two skip-gram spaces are trained and compared as well (``--skipgram auto``).
- ``scifact``: all-MiniLM-L6-v2 vectors of the SciFact corpus (5,183 abstracts) and its 300 test
  queries. Diagnostics of the corpus space, then nDCG@10 of exact cosine retrieval for the raw space
  and after each fix, learnt on the corpus vectors and applied to the queries with
  ``fixed.transform(query_vectors)``; CSLS / mutual-proximity re-scored search when available.
- ``movies``: MiniLM vectors of the 2,000 movie reviews (pos/neg) of NLTK's movie_reviews corpus:
  ``evaluate.clustering`` (k-means NMI/ARI against the labels), ``analysis.kmeans(space, 2,
  true_labels=...)``, a 5-fold ``evaluate.linear_probe``, and the c-TF-IDF terms of a k=10 clustering.

Trained spaces and encoded vectors are cached under ``benchmarks/.cache/geometry/`` (git-ignored):
vectors are reused when the hash of their texts matches, trained spaces only with ``--reuse``.
Results go to ``benchmarks/results/geometry.json`` (the parts not run keep their earlier results)
and to the "Geometry of spaces (issue 6)" section of BENCHMARKS.md.

Usage::

    python benchmarks/geometry.py                          # all parts (~10 minutes the first time)
    python benchmarks/geometry.py --parts words --reuse    # reuse the trained word2vec spaces
    python benchmarks/geometry.py --render-only            # refresh the Markdown from the JSON
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import hashlib
import json
import os
import platform
import shlex
import sys
import time
import traceback
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _report import busy_sentence, cpu_snapshot, other_cpu, say, set_threads, version, write_json, write_markdown

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = ROOT.parent / "shared" / "data"
DEFAULT_CACHE = ROOT / "benchmarks" / ".cache"
DEFAULT_JSON = ROOT / "benchmarks" / "results" / "geometry.json"
DEFAULT_MARKDOWN = ROOT / "BENCHMARKS.md"
SECTION = "## Geometry of spaces (issue 6)"

WORDSIM_FILE = Path("word_eval") / "wordsim353.tsv"
ANALOGY_FILE = Path("word_eval") / "questions-words.txt"
SCIFACT_DIR = Path("retrieval") / "scifact"
MOVIES_ZIP = Path("corpus") / "movie_reviews.zip"
W2V = {"dim": 100, "window": 5, "min_count": 5, "negative": 5, "sample": 1e-3, "epochs": 5}
SEEDS = (1, 2)
HUB_K = 10
DIAG_SAMPLE = 10_000  # rows the diagnostics sample by default
COMPARE_TOP = 5_000
ANALOGY_VOCAB = 30_000
ANALOGY_BUDGET_S = 30.0  # analogy accuracy after every fix only when one evaluation costs less than this
ACCEPT_PROCRUSTES = 0.90
ARCH_LABEL = {"cbow": "CBOW", "skipgram": "skip-gram"}


# ---------------------------------------------------------------------------------------------- helpers
def _plain(obj: Any) -> Any:
    """A JSON-ready copy of a result object (dataclasses, numpy scalars; arrays left out)."""
    import numpy as np

    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {
            f.name: _plain(getattr(obj, f.name))
            for f in dataclasses.fields(obj)
            if not isinstance(getattr(obj, f.name), np.ndarray)
        }
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items() if not isinstance(v, np.ndarray)}
    if isinstance(obj, list | tuple):
        return [_plain(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return None
    return obj


def _error(e: BaseException) -> dict[str, str]:
    return {"error": f"{type(e).__name__}: {e}", "traceback": traceback.format_exc()}


def _timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def _machine() -> dict[str, Any]:
    return {
        "cpu_count": os.cpu_count(),
        "cpu_affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "processor": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "versions": {d: version(d) for d in ("embspace", "numpy", "scipy", "faiss-cpu", "scikit-learn", "torch")},
    }


def text_digest(texts: list[str], model: str) -> str:
    h = hashlib.sha256(model.encode())
    for t in texts:
        h.update(b"\x1e")
        h.update(t.encode("utf-8"))
    return h.hexdigest()[:20]


def encode_cached(texts: list[str], name: str, args: argparse.Namespace) -> tuple[Any, dict[str, Any], float | None]:
    """(float32 unit MiniLM vectors of ``texts``, the encoder's provenance dict, encode seconds or None
    when cached); cached as ``.npy`` with the texts' hash beside it."""
    import numpy as np

    folder = args.cache_dir / "geometry"
    path, meta_path = folder / f"{name}.npy", folder / f"{name}.json"
    digest = text_digest(texts, args.model)
    if path.is_file() and meta_path.is_file():
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        if meta.get("sha") == digest:
            vecs = np.load(path)
            if vecs.shape[0] == len(texts):
                say(f"  {name}: reusing cached vectors {path.relative_to(ROOT)} {vecs.shape}")
                return vecs, meta["provenance"], None
        say(f"  {name}: cached vectors are stale (texts changed); encoding again")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from embspace.encoders import get_encoder

    enc = get_encoder(args.model, device="cpu", threads=args.threads)
    say(f"  {name}: encoding {len(texts):,} texts with {enc.name} ...")
    t0 = time.perf_counter()
    vecs = np.ascontiguousarray(enc.encode(texts, progress=False), np.float32)
    seconds = time.perf_counter() - t0
    say(f"  {name}: encoded in {seconds:.1f}s ({len(texts) / seconds:.1f} texts/s)")
    folder.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.npy")
    np.save(tmp, vecs)
    os.replace(tmp, path)
    meta = {
        "sha": digest,
        "model": enc.name,
        "provenance": enc.provenance.to_dict(),
        "shape": list(vecs.shape),
        "encode_s": seconds,
    }
    meta_path.write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    return vecs, meta["provenance"], seconds


# ------------------------------------------------------------------------------------------ diagnostics
def diagnose(space: Any) -> dict[str, Any]:
    """The four diagnostics of ``analysis``, their figures, explanations and timings."""
    from embspace import analysis

    out: dict[str, Any] = {"n": len(space), "dim": space.dim, "metric": space.metric, "seconds": {}}
    n, out["seconds"]["norms"] = _timed(lambda: analysis.norms(space))
    out["norms"] = {
        "mean": n.mean,
        "std": n.std,
        "min": n.min,
        "max": n.max,
        "quantiles": n.quantiles,
        "frequency_correlation": n.frequency_correlation,
        "explanation": n.explanation,
    }
    a, out["seconds"]["anisotropy"] = _timed(lambda: analysis.anisotropy(space))
    out["anisotropy"] = {
        "mean_cosine": a.mean_cosine,
        "isotropy": a.isotropy,
        "top1_variance": a.top1_variance,
        "top10_variance": a.top10_variance,
        "rogue_dimensions": a.rogue_dimensions[:5],
        "is_anisotropic": a.is_anisotropic,
        "explanation": a.explanation,
    }
    d, out["seconds"]["intrinsic_dimension"] = _timed(lambda: analysis.intrinsic_dimension(space))
    out["intrinsic_dimension"] = {
        "pca90": d.pca90,
        "pca95": d.pca95,
        "twonn": d.twonn,
        "mle": d.mle,
        "sample": d.n,
        "k": d.k,
        "explanation": d.explanation,
    }
    h, out["seconds"]["hubness"] = _timed(lambda: analysis.hubness(space, k=HUB_K))
    out["hubness"] = {
        "k": h.k,
        "skewness": h.skewness,
        "antihub_share": h.antihub_share,
        "hub_share": h.hub_share,
        "top_hubs": h.top_hubs[:10],
        "explanation": h.explanation,
    }
    return _plain(out)


def fix_specs(dim: int, white_dim: int, abtt_d: int) -> list[tuple[str, Callable[..., Any]]]:
    """(label, fix(space, evaluate=...)) of every fix measured."""
    from embspace import analysis

    default_d = max(1, round(dim / 100))
    return [
        ("center", lambda s, ev: analysis.center(s, evaluate=ev)),
        (f"all_but_the_top (d={default_d}, default)", lambda s, ev: analysis.all_but_the_top(s, evaluate=ev)),
        (f"all_but_the_top (d={abtt_d})", lambda s, ev: analysis.all_but_the_top(s, abtt_d, evaluate=ev)),
        (f"whiten pca ({dim} dims)", lambda s, ev: analysis.whiten(s, evaluate=ev)),
        (f"whiten pca (dim={white_dim})", lambda s, ev: analysis.whiten(s, white_dim, evaluate=ev)),
        ("whiten zca", lambda s, ev: analysis.whiten(s, kind="zca", evaluate=ev)),
        ("standardize", lambda s, ev: analysis.standardize(s, evaluate=ev)),
    ]


def run_fix(
    label: str,
    fn: Callable[..., Any],
    space: Any,
    evaluate: Callable[[Any], float],
    extra: Callable[[Any], dict[str, Any]] | None = None,
) -> tuple[dict[str, Any], Any]:
    """One fix with its FixReport, the hubness after it and ``extra(fixed)``; (result, fixed space or None)."""
    from embspace import analysis

    say(f"  fix: {label} ...")
    try:
        fixed, seconds = _timed(lambda: fn(space, evaluate))
    except Exception as e:
        say(f"  fix: {label} FAILED: {type(e).__name__}: {e}")
        return {"fix": label, **_error(e)}, None
    r = fixed.report
    out: dict[str, Any] = {
        "fix": label,
        "kind": fixed.transform.kind,
        "params": fixed.transform.params,
        "out_dim": fixed.dim,
        "seconds_with_evaluation": seconds,
        "report": _plain(r),
    }
    for name in (
        "isotropy_before",
        "isotropy_after",
        "mean_cosine_before",
        "mean_cosine_after",
        "evaluation_before",
        "evaluation_after",
        "hubness_before",
        "hubness_after",
    ):
        out[name] = getattr(r, name, None)
    try:
        h = analysis.hubness(fixed, k=HUB_K)
        out["hubness_skewness_after"] = h.skewness
        out["antihub_share_after"] = h.antihub_share
    except Exception as e:
        out["hubness_error"] = _error(e)
    if extra is not None:
        out.update(extra(fixed))
    say(f"  fix: {label}: {r.explanation} hubness skewness after {out.get('hubness_skewness_after', float('nan')):.2f}")
    return _plain(out), fixed


def rescorers() -> dict[str, Callable[..., Any]]:
    """The re-scoring hubness fixes the library has (``analysis.csls``, ``analysis.mutual_proximity``)."""
    from embspace import analysis

    out: dict[str, Callable[..., Any]] = {}
    if hasattr(analysis, "csls"):
        out["csls"] = lambda s: analysis.csls(s, k=HUB_K)
    if hasattr(analysis, "mutual_proximity"):
        out["mutual_proximity"] = analysis.mutual_proximity
    return out


def rescored_search(r: Any, queries: Any, k: int) -> Any:
    """A re-scored space's batch search: ``.search(vectors, k)`` where it has one, else ``.neighbors``."""
    search = getattr(r, "search", None)
    return search(queries, k) if callable(search) else r.neighbors(queries, k=k)


def run_rescoring(space: Any, score: Callable[[Any], dict[str, Any]] | None = None) -> dict[str, Any]:
    fns = rescorers()
    if not fns:
        say("  rescoring: embspace.analysis has neither csls nor mutual_proximity here; skipped")
        return {"status": "not available", "reason": "embspace.analysis had no csls / mutual_proximity when this ran"}
    out: dict[str, Any] = {"status": "ok"}
    for name, fn in fns.items():
        say(f"  rescoring: {name} ...")
        try:
            r, seconds = _timed(lambda fn=fn: fn(space))
            res: dict[str, Any] = {"seconds": seconds, "report": _plain(getattr(r, "report", None))}
            if score is not None:
                res.update(score(r))
            out[name] = res
            say(f"  rescoring: {name}: {getattr(getattr(r, 'report', None), 'explanation', '')}")
        except Exception as e:
            say(f"  rescoring: {name} FAILED: {type(e).__name__}: {e}")
            out[name] = _error(e)
    return _plain(out)


def _hub_figures(report: dict[str, Any] | None) -> dict[str, Any]:
    """The hubness figures of a re-scoring report, whatever their names (keys with 'hub' or 'skew')."""
    if not isinstance(report, dict):
        return {}
    return {k: v for k, v in report.items() if ("hub" in k or "skew" in k) and isinstance(v, int | float)}


# ------------------------------------------------------------------------------------------------ words
def word_corpus(args: argparse.Namespace) -> dict[str, Any] | None:
    """The prepared wiki17 corpus (made by word_embeddings.prepare_corpus when absent), or None."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from word_embeddings import CORPUS_FILE, FULL_LINES, prepare_corpus

    cache = args.cache_dir / "wiki17.txt"
    source = args.data_dir / CORPUS_FILE
    if not source.is_file():
        if not cache.is_file():
            return None
        return {"name": "wiki17", "path": str(cache), "note": f"{source} absent; prepared file used as it is"}
    return prepare_corpus(source, cache, FULL_LINES)


def trained_space(arch: str, seed: int, corpus: dict[str, Any], args: argparse.Namespace) -> tuple[Any, dict[str, Any]]:
    """The word2vec space of ``arch`` and ``seed``: loaded from the cache with ``--reuse``, else trained."""
    from embspace import EmbeddingSpace

    folder = args.cache_dir / "geometry"
    path, meta_path = folder / f"w2v-{arch}-seed{seed}", folder / f"w2v-{arch}-seed{seed}.json"
    want = {
        "arch": arch,
        "seed": seed,
        **W2V,
        "workers": args.threads,
        "corpus_tokens": corpus.get("tokens"),
        "corpus_path": corpus["path"],
    }
    if args.reuse and path.is_dir() and meta_path.is_file():
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        if all(meta.get(k) == v for k, v in want.items()):
            say(f"  {arch} seed {seed}: reusing {path.relative_to(ROOT)} (trained in {meta['fit_s']:.1f}s)")
            return EmbeddingSpace.load(path), {**meta, "reused": True}
        say(f"  {arch} seed {seed}: cached space has other settings; training again")
    import embspace.train as est
    from embspace.data.corpus import TextCorpus

    say(f"  {arch} seed {seed}: training word2vec on {corpus['path']} ...")
    t0 = time.perf_counter()
    model = est.Word2Vec(
        dim=W2V["dim"],
        window=W2V["window"],
        min_count=W2V["min_count"],
        architecture=arch,
        negative=W2V["negative"],
        sample=W2V["sample"],
        epochs=W2V["epochs"],
        workers=args.threads,
        seed=seed,
        progress=False,
        device="cpu",
    ).fit(TextCorpus(corpus["path"]))
    fit_s = time.perf_counter() - t0
    space = model.space_
    say(f"  {arch} seed {seed}: trained in {fit_s:.1f}s, {len(space):,} words")
    folder.mkdir(parents=True, exist_ok=True)
    space.save(path)
    meta = {**want, "fit_s": fit_s, "vocab": len(space)}
    meta_path.write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    return space, {**meta, "reused": False}


def compare_seeds(a: Any, b: Any) -> dict[str, Any]:
    """analysis.compare_spaces over the 5,000 most frequent shared words, plus a held-out Procrustes figure."""
    from embspace import analysis

    c, seconds = _timed(lambda: analysis.compare_spaces(a, b, k=HUB_K, top=COMPARE_TOP))
    out = {
        "shared_keys_compared": c.shared,
        "procrustes_accuracy": c.procrustes_accuracy,
        "cka": c.cka,
        "neighbor_overlap": c.neighbor_overlap,
        "k": c.k,
        "most_moved": c.most_moved[:10],
        "explanation": c.explanation,
        "seconds": seconds,
    }
    # compare_spaces() fits and scores the rotation on the same 5,000 words; score it on the next 5,000 too.
    keys = analysis.shared_keys(a, b, None, 2 * COMPARE_TOP)
    held = analysis.procrustes(a, b, keys=keys[:COMPARE_TOP], eval_keys=keys[COMPARE_TOP:])
    out["procrustes_heldout_accuracy"] = held.accuracy
    out["procrustes_heldout_keys"] = f"frequency ranks {COMPARE_TOP + 1:,}-{len(keys):,}"
    return _plain(out)


def part_words(args: argparse.Namespace) -> dict[str, Any]:
    from embspace import evaluate as ev

    data = args.data_dir
    ws, qw = data / WORDSIM_FILE, data / ANALOGY_FILE
    missing = [str(p) for p in (ws, qw) if not p.is_file()]
    corpus = word_corpus(args)
    if corpus is None:
        missing.append(str(data / "corpus" / "wiki" / "wiki.txt.xz"))
    if missing:
        return {"status": "skipped", "reason": "data not here: " + ", ".join(missing)}

    def wordsim(space: Any) -> float:
        return float(ev.word_similarity(space, ws, case_insensitive=True).spearman)

    def analogy(space: Any) -> float:
        return float(ev.analogy(space, qw, restrict_vocab=ANALOGY_VOCAB, case_insensitive=True).accuracy)

    out: dict[str, Any] = {"status": "ok", "corpus": corpus, "word2vec": W2V, "seeds": list(SEEDS), "spaces": {}}
    spaces = {}
    for seed in SEEDS:
        spaces[seed], out["spaces"][f"cbow-seed{seed}"] = trained_space("cbow", seed, corpus, args)
    space = spaces[1]
    say("  diagnostics of the CBOW seed-1 space ...")
    out["diagnostics"] = diagnose(space)
    out["raw"] = {"wordsim": wordsim(space)}
    an, an_s = _timed(lambda: analogy(space))
    out["raw"].update(analogy=an, analogy_seconds=an_s)
    with_analogy = an_s < ANALOGY_BUDGET_S
    out["analogy_per_fix"] = with_analogy
    if not with_analogy:
        out["analogy_per_fix_reason"] = f"one analogy evaluation took {an_s:.1f}s (> {ANALOGY_BUDGET_S:.0f}s)"
    say(f"  raw: WordSim {out['raw']['wordsim']:.4f}, analogy {an:.4f} ({an_s:.1f}s)")
    extra = (lambda f: {"analogy_after": analogy(f)}) if with_analogy else None
    out["fixes"] = [run_fix(label, fn, space, wordsim, extra)[0] for label, fn in fix_specs(space.dim, 50, 3)]
    out["rescoring"] = run_rescoring(space)

    say("  comparing the seeds ...")
    out["compare"] = {"cbow": compare_seeds(spaces[1], spaces[2])}
    acc = out["compare"]["cbow"]["procrustes_accuracy"]
    say(f"  CBOW seeds: {out['compare']['cbow']['explanation']}")
    if args.skipgram == "yes" or (args.skipgram == "auto" and (acc is None or acc < ACCEPT_PROCRUSTES)):
        sg = {}
        for seed in SEEDS:
            sg[seed], out["spaces"][f"skipgram-seed{seed}"] = trained_space("skipgram", seed, corpus, args)
        out["compare"]["skipgram"] = compare_seeds(sg[1], sg[2])
        out["compare"]["skipgram"]["wordsim_seed1"] = wordsim(sg[1])
        say(f"  skip-gram seeds: {out['compare']['skipgram']['explanation']}")
    return out


# ---------------------------------------------------------------------------------------------- scifact
def scifact_task(args: argparse.Namespace) -> dict[str, Any] | None:
    """The SciFact corpus space, query vectors and scorers (shared by the scifact and report parts), or None."""
    from embspace import EmbeddingSpace
    from embspace.evaluate import load_beir, retrieval
    from embspace.space.provenance import Provenance

    folder = args.data_dir / SCIFACT_DIR
    if not (folder / "qrels" / "test.tsv").is_file():
        return None
    ds = load_beir(folder, split="test")
    say(f"  {ds!r}")
    cv, prov, enc_c = encode_cached(list(ds.corpus_texts), "scifact-corpus", args)
    qv, _, enc_q = encode_cached(list(ds.query_texts), "scifact-test-queries", args)
    corpus = EmbeddingSpace(list(ds.corpus_ids), cv, metric="cosine", provenance=Provenance.from_dict(prov))

    def metrics(space: Any, queries: Any) -> dict[str, float]:
        qspace = EmbeddingSpace(list(ds.query_ids), queries, metric=space.metric, provenance=space.provenance)
        res = retrieval(ds, corpus_space=space, query_space=qspace, k_values=(10, 100), progress=False)
        return {"ndcg@10": res.metrics["ndcg@10"], "recall@100": res.metrics["recall@100"]}

    def ndcg(space: Any) -> float:  # the queries go through the space's transform, when it has one
        t = getattr(space, "transform", None)
        return metrics(space, t(qv) if t is not None else qv)["ndcg@10"]

    return {"ds": ds, "corpus": corpus, "qv": qv, "prov": prov, "encode_s": {"corpus": enc_c, "queries": enc_q},
            "metrics": metrics, "ndcg": ndcg}


def part_scifact(args: argparse.Namespace) -> dict[str, Any]:
    import numpy as np

    from embspace.evaluate import ranking_metrics

    task = scifact_task(args)
    if task is None:
        return {"status": "skipped", "reason": f"data not here: {args.data_dir / SCIFACT_DIR}"}
    ds, corpus, qv, prov, metrics, ndcg = (task[k] for k in ("ds", "corpus", "qv", "prov", "metrics", "ndcg"))
    out: dict[str, Any] = {
        "status": "ok",
        "dataset": repr(ds),
        "docs": ds.n_docs,
        "queries": ds.n_queries,
        "model": prov["model"],
        "encode_s": task["encode_s"],
    }
    say("  diagnostics of the corpus space ...")
    out["diagnostics"] = diagnose(corpus)

    def own_run_metrics(hits: Any) -> dict[str, float]:
        """Metrics of a batch SearchResult (k+1 hits per query), a hit equal to the query id skipped as BEIR does."""
        run = {q: [d for d in row if d != q][:100] for q, row in zip(ds.query_ids, hits.keys, strict=True)}
        means, _ = ranking_metrics({q: ds.qrels[q] for q in ds.query_ids}, run, (10, 100))
        return {"ndcg@10": means["ndcg@10"], "recall@100": means["recall@100"]}

    out["raw"] = metrics(corpus, qv)
    # the same figure through our own search + ranking_metrics, the path the re-scored spaces take
    out["raw_own_search"] = own_run_metrics(corpus.neighbors(np.asarray(qv), k=101))
    say(f"  raw: nDCG@10 {out['raw']['ndcg@10']:.4f} (own search: {out['raw_own_search']['ndcg@10']:.4f})")

    def after(fixed: Any) -> dict[str, Any]:
        m = metrics(fixed, fixed.transform(qv))
        return {"ndcg@10_after": m["ndcg@10"], "recall@100_after": m["recall@100"]}

    out["fixes"] = [run_fix(label, fn, corpus, ndcg, after)[0] for label, fn in fix_specs(corpus.dim, 128, 10)]
    out["rescoring"] = run_rescoring(corpus, lambda r: own_run_metrics(rescored_search(r, np.asarray(qv), 101)))
    return out


# ----------------------------------------------------------------------------------------------- movies
def movie_reviews(path: Path) -> tuple[list[str], list[str], list[str]]:
    """(keys, texts, labels 'pos'/'neg') of the movie_reviews zip, in archive order."""
    keys, texts, labels = [], [], []
    with zipfile.ZipFile(path) as z:
        for info in z.infolist():
            parts = info.filename.split("/")
            if len(parts) == 3 and parts[1] in ("pos", "neg") and parts[2].endswith(".txt"):
                keys.append(f"{parts[1]}/{parts[2]}")
                texts.append(z.read(info).decode("utf-8", errors="replace"))
                labels.append(parts[1])
    return keys, texts, labels


def part_movies(args: argparse.Namespace) -> dict[str, Any]:
    import numpy as np

    from embspace import EmbeddingSpace, analysis
    from embspace import evaluate as ev
    from embspace.space.provenance import Provenance

    path = args.data_dir / MOVIES_ZIP
    if not path.is_file():
        return {"status": "skipped", "reason": f"data not here: {path}"}
    keys, texts, labels = movie_reviews(path)
    vecs, prov, enc_s = encode_cached(texts, "movie-reviews", args)
    space = EmbeddingSpace(keys, vecs, metric="cosine", provenance=Provenance.from_dict(prov))
    y = np.asarray(labels)
    words = [len(t.split()) for t in texts]
    out: dict[str, Any] = {
        "status": "ok",
        "reviews": len(texts),
        "labels": {c: labels.count(c) for c in ("pos", "neg")},
        "words_median": float(np.median(words)),
        "model": prov["model"],
        "encode_s": enc_s,
    }
    a = analysis.anisotropy(space)
    out["anisotropy"] = {"mean_cosine": a.mean_cosine, "isotropy": a.isotropy}
    c, s = _timed(lambda: ev.clustering(vecs, y))
    out["evaluate_clustering"] = {**_plain(c), "seconds": s}
    say(f"  evaluate.clustering: NMI {c.nmi:.4f}, ARI {c.ari:.4f}")
    km, s = _timed(lambda: analysis.kmeans(space, 2, true_labels=y))
    out["kmeans2"] = {
        "nmi": km.nmi,
        "ari": km.ari,
        "silhouette": km.silhouette,
        "sizes": km.sizes,
        "explanation": km.explanation,
        "seconds": s,
    }
    say(f"  analysis.kmeans(k=2): {km.explanation}")
    centred = analysis.center(space)
    cc = ev.clustering(centred.vectors, y)
    out["evaluate_clustering_centred"] = _plain(cc)
    p, s = _timed(lambda: ev.linear_probe(vecs, y, cv=5))
    out["linear_probe"] = {"accuracy": p.accuracy, "folds": p.folds, "seconds": s}
    say(f"  linear probe (5-fold): accuracy {p.accuracy:.4f}")
    k10 = analysis.kmeans(space, 10)
    terms = analysis.distinctive_terms(texts, k10.labels, top=10)
    clusters = []
    for cl in range(k10.n_clusters):
        rows = np.nonzero(k10.labels == cl)[0]
        clusters.append(
            {
                "cluster": cl,
                "size": len(rows),
                "pos_share": float((y[rows] == "pos").mean()),
                "terms": terms.get(cl, []),
            }
        )
    clusters.sort(key=lambda r: -r["size"])
    out["kmeans10"] = {
        "nmi_vs_pos_neg": _plain(ev.clustering(vecs, y, k=10)).get("nmi"),
        "silhouette": k10.silhouette,
        "clusters": clusters,
    }
    return _plain(out)


# ------------------------------------------------------------------------------------------------ parts
# name -> (measure, render). A part returns a dict ("status": "ok" | "skipped" with "reason").
# ----------------------------------------------------------------------------------------------- report
REPORT_BOUND_S = 300.0  # issue 6: the full report of 100k x 384 in <= 5 minutes on 2 cores


def wiki_report_spaces(args: argparse.Namespace) -> dict[str, Path]:
    """100k MiniLM Wikipedia paragraph vectors as a space, and a 1M x 384 one made of ten noisy copies of them
    (Gaussian noise sigma 0.02 per coordinate, renormalised): written once under the cache."""
    import numpy as np

    from _wiki_vectors import wiki_minilm
    from embspace import EmbeddingSpace

    folder = args.cache_dir / "geometry"
    p100, p1m = folder / "wiki-minilm-100k", folder / "wiki-minilm-1m"
    if not (p100 / "vectors.npy").is_file() or not (p1m / "vectors.npy").is_file():
        _, x = wiki_minilm(100_000, progress=False)
        if not (p100 / "vectors.npy").is_file():
            EmbeddingSpace([f"p{i}" for i in range(len(x))], x).save(p100)
        if not (p1m / "vectors.npy").is_file():
            say("  writing the 1M x 384 space (ten noisy copies of the 100k) ...")
            rng = np.random.default_rng(0)
            big = np.empty((10 * len(x), x.shape[1]), np.float32)
            for i in range(10):
                b = x + rng.standard_normal(x.shape, dtype=np.float32) * np.float32(0.02)
                b /= np.linalg.norm(b, axis=1, keepdims=True)
                big[i * len(x) : (i + 1) * len(x)] = b
            EmbeddingSpace([f"p{i}" for i in range(len(big))], big).save(p1m)
    return {"100k": p100, "1M": p1m}


def _cli(argv: list[str]) -> tuple[dict[str, Any], float]:
    """Run ``embspace ARGV --json`` in a fresh process; (its JSON, wall seconds including start-up)."""
    import subprocess

    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "embspace.cli.app", *argv, "--json"], capture_output=True,
                          text=True, check=False)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"embspace {' '.join(argv)} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return json.loads(proc.stdout), wall


def _read_seconds(path: Path) -> float:
    """Seconds a fresh process takes to open a space and read every vector once (page cache as it is)."""
    import subprocess

    code = (f"import time, numpy as np; from embspace import load; t = time.perf_counter(); s = load({str(path)!r}); "
            "float(np.asarray(s.vectors).sum(dtype=np.float64)); print(time.perf_counter() - t)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(proc.stdout.strip().splitlines()[-1])


def _report_summary(rep: Any, path: Path) -> dict[str, Any]:
    d = rep.to_dict()
    return _plain({"html": str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path),
                   "seconds": d["seconds"], "steps": d["steps"], "recommendations": d["recommendations"],
                   "evaluation_name": d["evaluation_name"], "sample": d["sample"], "n": d["n"], "dim": d["dim"],
                   "anisotropy": {k: d["anisotropy"][k] for k in ("mean_cosine", "isotropy", "rogue_dimensions")},
                   "intrinsic_dimension": {k: d["intrinsic_dimension"][k] for k in ("pca90", "pca95", "twonn",
                                                                                    "mle")},
                   "hubness": {k: d["hubness"][k] for k in ("skewness", "antihub_share")},
                   "stability": d["stability"]["mean_overlap"],
                   "fixes": [{k: f[k] for k in ("fix", "isotropy_before", "isotropy_after", "hubness_before",
                                                 "hubness_after", "evaluation_before", "evaluation_after")}
                             for f in d["fixes"]]})


def part_report(args: argparse.Namespace) -> dict[str, Any]:
    """The HTML report itself: on the word2vec space (evaluated by WordSim-353) and the SciFact corpus
    (nDCG@10), and its time on 100k x 384 and 1M x 384 (``--sample 100000``) through the CLI."""
    import statistics

    from embspace import analysis
    from embspace import evaluate as ev

    out: dict[str, Any] = {"status": "ok", "bound_s": REPORT_BOUND_S}
    folder = args.cache_dir / "geometry" / "reports"
    folder.mkdir(parents=True, exist_ok=True)
    ws = args.data_dir / WORDSIM_FILE
    corpus = word_corpus(args)
    if corpus is not None and ws.is_file():
        space, _ = trained_space("cbow", 1, corpus, args)
        say("  report of the CBOW seed-1 space, evaluated by WordSim-353 ...")
        rep = analysis.report(space, evaluate=lambda s: float(ev.word_similarity(s, ws).spearman),
                              evaluation_name="WordSim-353 Spearman", progress=False)
        out["words"] = _report_summary(rep, rep.save(folder / "words.html"))
    task = scifact_task(args)
    if task is not None:
        say("  report of the SciFact corpus space, evaluated by nDCG@10 ...")
        rep = analysis.report(task["corpus"], evaluate=task["ndcg"], evaluation_name="SciFact nDCG@10",
                              progress=False)
        out["scifact"] = _report_summary(rep, rep.save(folder / "scifact.html"))
    if args.report_runs == 0:  # reports only: keep the timings of the last run that measured them
        old = json.loads(args.json.read_text(encoding="utf-8")).get("parts", {}).get("report", {}) \
            if args.json.is_file() else {}
        kept = {k: v for k, v in old.items() if k in ("timing", "read_1M_s", "spaces", "wiki_100k_last",
                                                      "wiki_1M_last", "timing_measured")}
        if "timing" not in kept:
            raise RuntimeError("--report-runs 0 needs the timings of an earlier run in the results file")
        return _plain({**out, **kept})
    spaces = wiki_report_spaces(args)
    runs: dict[str, list[float]] = {"100k": [], "1M": []}
    inner: dict[str, list[float]] = {"100k": [], "1M": []}
    for r in range(args.report_runs):
        for name, path in spaces.items():
            argv = ["analyze", str(path), "--report", str(folder / f"wiki-{name}.html")]
            if name == "1M":
                argv += ["--sample", "100000"]
            say(f"  timing: embspace {' '.join(argv)} (run {r + 1}) ...")
            d, wall = _cli(argv)
            runs[name].append(wall)
            inner[name].append(d["seconds"])
            out[f"wiki_{name}_last"] = {k: d[k] for k in ("n", "dim", "sample", "steps", "recommendations")}
            say(f"  timing: {name}: {wall:.1f}s wall ({d['seconds']:.1f}s in the report)")
    out["read_1M_s"] = _read_seconds(spaces["1M"])
    sampled = {"100k": "", "1M": " --sample 100000"}
    out["timing"] = {name: {"wall_s": w, "median_wall_s": statistics.median(w), "report_s": inner[name],
                            "command": f"embspace analyze SPACE --report OUT{sampled[name]}"}
                     for name, w in runs.items()}
    out["timing_measured"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    out["spaces"] = {"100k": "100,000 Wikipedia paragraphs (benchmarks/_wiki_vectors.py), MiniLM 384-d unit vectors",
                     "1M": "the 100k vectors ten times, each copy plus N(0, 0.02^2) noise per coordinate, renormalised"}
    return _plain(out)


def render_report(r: dict[str, Any]) -> list[str]:
    lines = [f"### {PART_TITLES['report']}", ""]
    t = r["timing"]
    lines += ["| space | command | wall s per run (fresh process, load included) | median | bound | holds |",
              "|---|---|---|---|---|---|"]
    for name, bound in (("100k", r["bound_s"]), ("1M", r["bound_s"] + r["read_1M_s"])):
        m = t[name]
        lines.append(f"| {name} x 384 | `{m['command']}` | {', '.join(f'{w:.1f}' for w in m['wall_s'])} | "
                     f"{m['median_wall_s']:.1f} | {bound:.1f}"
                     + (f" (300 + {r['read_1M_s']:.1f} s to read the file)" if name == "1M" else "")
                     + f" | {'yes' if m['median_wall_s'] <= bound else 'NO'} |")
    when = f" (timed {r['timing_measured']})" if r.get("timing_measured") else ""
    lines += ["", f"Spaces{when}: 100k = {r['spaces']['100k']}; 1M = {r['spaces']['1M']}. "
              "Steps of the last 100k run (s): "
              + ", ".join(f"{k} {v:.1f}" for k, v in r["wiki_100k_last"]["steps"].items()) + ".", ""]
    for key, title in (("words", "word2vec CBOW seed 1 on wiki17"), ("scifact", "SciFact corpus, MiniLM")):
        rep = r.get(key)
        if rep is None:
            continue
        a, d, h = rep["anisotropy"], rep["intrinsic_dimension"], rep["hubness"]
        lines += [f"Report of the {title} ({rep['n']:,} x {rep['dim']}, {rep['seconds']:.0f} s, "
                  f"`{rep['html']}` — not committed): mean cosine {a['mean_cosine']:.3f}, "
                  f"isotropy {a['isotropy']:.2f}, "
                  f"PCA 90/95% {d['pca90']}/{d['pca95']}, TwoNN {d['twonn']:.1f}, MLE {d['mle']:.1f}, hubness "
                  f"skewness {h['skewness']:.2f}, stability under random half-subspaces {rep['stability']:.0%}. "
                  "Its recommendations: " + " ".join(rep["recommendations"]), "",
                  f"| fix (in the report) | isotropy | hubness (5k rows) | {rep['evaluation_name']} |",
                  "|---|---|---|---|"]
        for f in rep["fixes"]:
            lines.append(f"| {f['fix']} | {_f(f['isotropy_before'], '.2f')} -> {_f(f['isotropy_after'], '.2f')} | "
                         f"{_f(f['hubness_before'], '.2f')} -> {_f(f['hubness_after'], '.2f')} | "
                         f"{_f(f['evaluation_before'], '.4f')} -> {_f(f['evaluation_after'], '.4f')} |")
        lines.append("")
    return lines


PART_TITLES = {"words": "Word2vec on wiki17", "scifact": "SciFact with MiniLM", "movies": "Movie reviews with MiniLM",
               "report": "The analysis report (embspace analyze --report)"}


def run_part(name: str, fn: Callable[[argparse.Namespace], dict[str, Any]], args: argparse.Namespace) -> dict[str, Any]:
    say(f"part {name}: ...")
    load_before = os.getloadavg()
    cpu0 = cpu_snapshot()
    t0 = time.perf_counter()
    try:
        res = fn(args)
    except Exception as e:
        say(f"part {name}: FAILED: {type(e).__name__}: {e}")
        res = {"status": "failed", **_error(e)}
    wall = time.perf_counter() - t0
    cpu = other_cpu(cpu0, cpu_snapshot())
    res["measured"] = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "wall_s": wall,
        "cpu_s_this_process": cpu["own_cpu_s"],
        "cpu_s_other_processes": cpu["other_cpu_s"],
        "loadavg_before": list(load_before),
        "loadavg_after": list(os.getloadavg()),
        "threads": args.threads,
        "command": command_line(args),
        **_machine(),
    }
    if res["status"] == "skipped":
        say(f"part {name}: SKIPPED: {res['reason']}")
    else:
        say(f"part {name}: {res['status']} in {wall:.0f}s")
    return res


# ---------------------------------------------------------------------------------------------- output
def _f(x: Any, fmt: str = ".3f") -> str:
    return "—" if x is None else format(x, fmt)


def _verb(before: float | None, after: float | None, tol: float) -> str:
    if before is None or after is None:
        return "gives"
    if after > before + tol:
        return "raises"
    if after < before - tol:
        return "lowers"
    return "leaves about unchanged"


def diag_table(d: dict[str, Any]) -> list[str]:
    n, a, i, h = d["norms"], d["anisotropy"], d["intrinsic_dimension"], d["hubness"]
    rogue = ", ".join(f"{dim} ({share:.0%})" for dim, share in a["rogue_dimensions"]) or "none"
    corr = "" if n["frequency_correlation"] is None else f"; Spearman with frequency {n['frequency_correlation']:+.2f}"
    hubs = ", ".join(f"{k} ({c})" for k, c in h["top_hubs"][:5])
    return [
        "| diagnostic | measured |",
        "|---|---|",
        f"| norms | mean {n['mean']:.3g}, std {n['std']:.3g}, range {n['min']:.3g}-{n['max']:.3g}{corr} |",
        f"| anisotropy | mean cosine {a['mean_cosine']:.3f}, isotropy I(W) {a['isotropy']:.3f}, top-1 / top-10 PC "
        f"variance {a['top1_variance']:.1%} / {a['top10_variance']:.1%}, rogue dimensions: {rogue} |",
        f"| intrinsic dimension (of {d['dim']}) | PCA 90% {i['pca90']}, PCA 95% {i['pca95']}, TwoNN {i['twonn']:.1f}, "
        f"MLE (k={i['k']}) {i['mle']:.1f} (on {i['sample']:,} rows) |",
        f"| hubness (k={h['k']}) | skewness {h['skewness']:.2f}, anti-hubs {h['antihub_share']:.1%}, hubs (N_k > 2k) "
        f"{h['hub_share']:.1%}; top hubs: {hubs} |",
    ]


def _arrow(a: Any, b: Any, fmt: str) -> str:
    return "—" if a is None and b is None else f"{_f(a, fmt)} → {_f(b, fmt)}"


def fix_table(fixes: list[dict[str, Any]], ev_name: str, extra: list[tuple[str, str, str]], n: int) -> list[str]:
    heads = [
        "fix",
        "isotropy",
        "mean cosine",
        ev_name,
        "hubness skew (FixReport, 5,000 rows)",
        f"hubness skew after ({min(n, DIAG_SAMPLE):,} rows)",
    ] + [h for h, _, _ in extra]
    lines = ["| " + " | ".join(heads) + " |", "|" + "|".join(["---"] * len(heads)) + "|"]
    for f in fixes:
        if "error" in f:
            lines.append(f"| {f['fix']} | FAILED: {f['error']} |" + " |" * (len(heads) - 2))
            continue
        cells = [
            f["fix"],
            _arrow(f["isotropy_before"], f["isotropy_after"], ".3f"),
            _arrow(f["mean_cosine_before"], f["mean_cosine_after"], ".3f"),
            _arrow(f["evaluation_before"], f["evaluation_after"], ".4f"),
            _arrow(f.get("hubness_before"), f.get("hubness_after"), ".2f"),
            _f(f.get("hubness_skewness_after"), ".2f"),
        ]
        cells += [_f(f.get(key), fmt) for _, key, fmt in extra]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def fix_notes(fixes: list[dict[str, Any]], before: float, what: str, key: str) -> str:
    """Plain-language summary of the fixes' effect on the task score ``key`` (``before``: the raw score)."""
    ok = [f for f in fixes if "error" not in f and f.get(key) is not None]
    if not ok:
        return ""
    best = max(ok, key=lambda f: f[key])
    worst = min(ok, key=lambda f: f[key])
    if best[key] > before + 0.002:
        text = f" The best fix for {what} is {best['fix']} ({before:.4f} → {best[key]:.4f})."
    else:
        text = (
            f" No fix improves {what} here: the least harmful is {best['fix']} ({before:.4f} → {best[key]:.4f}), "
            f"the most harmful {worst['fix']} ({before:.4f} → {worst[key]:.4f})."
        )
    pca = next((f for f in ok if f["fix"].startswith("whiten pca (") and "dim=" not in f["fix"]), None)
    zca = next((f for f in ok if f["fix"] == "whiten zca"), None)
    if pca and zca and abs(pca[key] - zca[key]) < 1e-9 and abs(pca["isotropy_after"] - zca["isotropy_after"]) < 1e-6:
        text += (
            " Full PCA whitening and ZCA whitening give identical figures, as they must: ZCA is PCA whitening "
            "followed by a rotation, which leaves every cosine unchanged."
        )
    return text


def failed_fixes(fixes: list[dict[str, Any]]) -> list[str]:
    out = []
    for f in fixes:
        if "error" in f:
            out.append(f"Fix {f['fix']} FAILED: `{f['error']}` (traceback in the JSON results).")
        elif "hubness_error" in f:
            out.append(f"Hubness after {f['fix']} FAILED: `{f['hubness_error']['error']}`.")
    return out


def rescoring_lines(r: dict[str, Any] | None, metric: str | None = None) -> list[str]:
    if not r:
        return []
    if r.get("status") != "ok":
        return [f"CSLS / mutual proximity: not measured ({r.get('reason', r.get('status'))})."]
    parts = []
    for name in ("csls", "mutual_proximity"):
        x = r.get(name)
        if x is None:
            continue
        if "error" in x:
            parts.append(f"`analysis.{name}` FAILED: {x['error']}")
            continue
        rep = x.get("report") or {}
        if isinstance(rep.get("hubness_before"), int | float) and isinstance(rep.get("hubness_after"), int | float):
            hub = f"hubness skew {rep['hubness_before']:.2f} → {rep['hubness_after']:.2f} (its FixReport, 5,000 rows)"
        else:
            hub = ", ".join(f"{k} {v:.3g}" for k, v in _hub_figures(rep).items())
        score = f"nDCG@10 {x[metric]:.4f}, recall@100 {x['recall@100']:.4f}" if metric and metric in x else ""
        parts.append(f"`analysis.{name}`: " + "; ".join(p for p in (hub, score) if p) + f" ({x['seconds']:.0f} s)")
    return ["Re-scoring hubness fixes (the vectors stay, searches are re-ranked): " + "; ".join(parts) + "."]


def measured_line(m: dict[str, Any]) -> str:
    lb, la = m["loadavg_before"][0], m["loadavg_after"][0]
    others, ncpu = m.get("cpu_s_other_processes"), m["cpu_count"] or 1
    if others is not None:
        share = others / (m["wall_s"] * ncpu) if m["wall_s"] > 0 else 0.0
        busy = busy_sentence({"other_cpu_s": others, "other_share": share})
    else:
        busy = "" if lb < 0.5 * ncpu else " Other work was running before this part, so its timings may be noisy."
    return (
        f"Measured {m['date']} on {m['cpu_count']} CPU(s) ({m['processor']}), {m['threads']} threads, load "
        f"average {lb:.2f} before / {la:.2f} after; part wall time {m['wall_s']:.0f} s; embspace "
        f"{m['versions'].get('embspace')}, numpy {m['versions'].get('numpy')}, Python {m['python']}.{busy}"
    )


def _rescoring_summary(r: dict[str, Any] | None) -> str:
    """One sentence on the re-scoring fixes' hubness, from their FixReports."""
    if not r or r.get("status") != "ok":
        return ""
    parts, before = [], None
    for name, label in (("csls", "CSLS"), ("mutual_proximity", "mutual proximity")):
        rep = (r.get(name) or {}).get("report") or {}
        if isinstance(rep.get("hubness_after"), int | float):
            parts.append(f"{label} to {rep['hubness_after']:.2f}")
            before = rep.get("hubness_before")
    if not parts:
        return ""
    raw = f", {before:.2f} raw" if isinstance(before, int | float) else ""
    return (
        f" Re-scoring without moving the vectors cuts the hubness skew (5,000 rows{raw}): " + " and ".join(parts) + "."
    )


def render_words(r: dict[str, Any]) -> list[str]:
    d = r["diagnostics"]
    a, h, i, n = d["anisotropy"], d["hubness"], d["intrinsic_dimension"], d["norms"]
    c = r["corpus"]
    ok = [f for f in r["fixes"] if "error" not in f]
    cen = next((f for f in ok if f["fix"] == "center"), None)
    fit = ", ".join(
        f"{k} {v['fit_s']:.0f} s" + (" (cached)" if v.get("reused") else "") for k, v in r["spaces"].items()
    )
    shape = "anisotropic" if a["is_anisotropic"] else "close to isotropic"
    reading = (
        f"The CBOW space (seed 1, {d['n']:,} words x {d['dim']}) is {shape}: mean cosine of random pairs "
        f"{a['mean_cosine']:.3f}, isotropy I(W) {a['isotropy']:.3f}, the first principal component holds "
        f"{a['top1_variance']:.1%} of the variance."
    )
    if cen is not None:
        reading += (
            f" Centring {_verb(cen['isotropy_before'], cen['isotropy_after'], 0.005)} isotropy "
            f"{cen['isotropy_before']:.3f} → {cen['isotropy_after']:.3f} (mean cosine {cen['mean_cosine_after']:.3f}) "
            f"and {_verb(cen['evaluation_before'], cen['evaluation_after'], 0.002)} WordSim-353 "
            f"{cen['evaluation_before']:.3f} → {cen['evaluation_after']:.3f}."
        )
    reading += fix_notes(ok, r["raw"]["wordsim"], "WordSim-353", "evaluation_after")
    an = [f["analogy_after"] for f in ok if f.get("analogy_after") is not None]
    if an:
        reading += (
            f" Google-analogy accuracy is {r['raw']['analogy']:.1%} raw and {min(an):.1%}-{max(an):.1%} after the "
            "fixes."
        )
    fc = n["frequency_correlation"]
    if fc is not None:
        reading += (
            f" Norms grow with frequency (Spearman {fc:+.2f})."
            if fc > 0.3
            else f" Norm and frequency correlate at {fc:+.2f} (Spearman)."
        )
    reading += (
        f" The points use about {min(i['twonn'], i['mle']):.0f}-{max(i['twonn'], i['mle']):.0f} dimensions "
        f"locally (TwoNN / MLE) and {i['pca95']} principal components hold 95% of the variance. Hubness "
        f"(k={h['k']}) is high: skewness {h['skewness']:.2f}, {h['antihub_share']:.0%} of the words are nobody's "
        "neighbour."
        if h["skewness"] > 1
        else f" Hubness (k={h['k']}) is low: skewness {h['skewness']:.2f}."
    )
    reading += _rescoring_summary(r.get("rescoring"))
    lines = [
        f"### {PART_TITLES['words']}",
        "",
        f'Corpus "{c.get("name", "wiki17")}" ({c.get("tokens", 0):,} tokens; see the word-embeddings section); '
        f'`embspace.train.Word2Vec(dim=100, window=5, min_count=5, architecture="cbow", negative=5, sample=1e-3, '
        f'epochs=5, workers=2, seed=S, progress=False, device="cpu").fit(TextCorpus(path))`, seeds 1 and 2 '
        f"(fit: {fit}). Diagnostics on the seed-1 space, with the library's defaults (anisotropy, intrinsic "
        f"dimension and hubness on a seeded {DIAG_SAMPLE:,}-word sample).",
        "",
        reading,
        "",
        *diag_table(d),
        "",
        f"Fixes, each learnt on the seed-1 space with `evaluate=` WordSim-353 Spearman (`word_similarity(space, "
        f"wordsim353.tsv).spearman`). Hubness is the k={HUB_K} k-occurrence skewness: the FixReport's own figure "
        f"(before → after, on 5,000 rows) and `analysis.hubness(fixed)` on {DIAG_SAMPLE:,} rows (raw: "
        f"{h['skewness']:.2f}); the samples differ, so compare within a column. Raw Google-analogy "
        f"accuracy {r['raw']['analogy']:.1%}. Word2vec on 2 worker threads is not repeatable bit for bit, so "
        "WordSim-353 differences of a few thousandths between fixes are within run-to-run noise.",
        "",
    ]
    extra = [("Google analogy after", "analogy_after", ".1%")] if r.get("analogy_per_fix") else []
    lines += fix_table(r["fixes"], "WordSim-353", extra, d["n"])
    lines.append("")
    if r.get("analogy_per_fix"):
        lines.append(
            f"Google analogies: 3CosAdd, restrict_vocab {ANALOGY_VOCAB:,}, case-insensitive (one evaluation: "
            f"{r['raw']['analogy_seconds']:.1f} s)."
        )
    else:
        lines.append(f"Analogy accuracy after each fix not measured: {r.get('analogy_per_fix_reason')}.")
    lines += [*failed_fixes(r["fixes"]), "", *rescoring_lines(r.get("rescoring")), ""]
    rows = [
        "| architecture | shared words | Procrustes top-1 (fit words) | Procrustes top-1 (held out) | "
        f"neighbour overlap@{HUB_K} | linear CKA |",
        "|---|---|---|---|---|---|",
    ]
    for arch, cmp in r["compare"].items():
        rows.append(
            f"| {ARCH_LABEL.get(arch, arch)} | {cmp['shared_keys_compared']:,} | "
            f"{_f(cmp['procrustes_accuracy'], '.1%')} | {_f(cmp['procrustes_heldout_accuracy'], '.1%')} | "
            f"{cmp['neighbor_overlap']:.1%} | {cmp['cka']:.3f} |"
        )
    cb = r["compare"]["cbow"]
    met = (cb["procrustes_accuracy"] or 0) >= ACCEPT_PROCRUSTES
    verdict = (
        f"Seed 1 vs seed 2 (`analysis.compare_spaces(a, b, k=10, top=5000)`, the 5,000 most frequent shared words): "
        f"CBOW's top-1 translation accuracy is {cb['procrustes_accuracy']:.1%}, so the acceptance target "
        f"(≥ {ACCEPT_PROCRUSTES:.0%}) {'holds' if met else 'is MISSED'}."
    )
    if "skipgram" in r["compare"]:
        sg = r["compare"]["skipgram"]
        sg_ok = (sg["procrustes_accuracy"] or 0) >= ACCEPT_PROCRUSTES
        verdict += (
            f" Skip-gram (trained because CBOW missed it, or with `--skipgram yes`): {sg['procrustes_accuracy']:.1%} "
            f"({'meets' if sg_ok else 'misses'} the target; its seed-1 WordSim-353 is {sg['wordsim_seed1']:.3f})."
        )
    else:
        verdict += " (Skip-gram, the fallback when CBOW misses, was not needed.)"
    verdict += (
        f" A rotation maps one run onto the other (linear CKA {cb['cka']:.3f}), yet only "
        f"{cb['neighbor_overlap']:.0%} of each word's 10 nearest neighbours are the same in both: the fine "
        "neighbourhoods are seed noise. `compare_spaces` fits and scores the rotation on the same words; the held-out "
        "column fits on those 5,000 and scores on the next 5,000 (frequency ranks 5,001-10,000), each word's "
        "translation chosen among those 5,000. Moved most: "
        + ", ".join(f"{k} ({v:.0%})" for k, v in cb["most_moved"][:5])
        + "."
    )
    lines += [verdict, "", *rows, ""]
    return lines


def render_scifact(r: dict[str, Any]) -> list[str]:
    d = r["diagnostics"]
    a, h, i = d["anisotropy"], d["hubness"], d["intrinsic_dimension"]
    ok = [f for f in r["fixes"] if "error" not in f]
    raw = r["raw"]["ndcg@10"]
    cen = next((f for f in ok if f["fix"] == "center"), None)
    reading = (
        f"MiniLM's SciFact corpus space ({d['n']:,} abstracts x {d['dim']}) is "
        f"{'anisotropic' if a['is_anisotropic'] else 'close to isotropic'}: mean cosine {a['mean_cosine']:.3f}, "
        f"isotropy {a['isotropy']:.3f}; it uses about {min(i['twonn'], i['mle']):.0f}-"
        f"{max(i['twonn'], i['mle']):.0f} dimensions locally, and its hubness skewness is {h['skewness']:.2f}. "
        f"Exact cosine retrieval of the {r['queries']} test queries gives nDCG@10 {raw:.4f}."
    )
    if cen is not None:
        reading += (
            f" Centring (learnt on the corpus, applied to the queries) "
            f"{_verb(cen['isotropy_before'], cen['isotropy_after'], 0.005)} isotropy "
            f"{cen['isotropy_before']:.3f} → {cen['isotropy_after']:.3f} and "
            f"{_verb(raw, cen['ndcg@10_after'], 0.002)} nDCG@10 {raw:.4f} → {cen['ndcg@10_after']:.4f}."
        )
    reading += fix_notes(ok, raw, "nDCG@10", "ndcg@10_after")
    reading += _rescoring_summary(r.get("rescoring"))
    own = r["raw_own_search"]["ndcg@10"]
    lines = [
        f"### {PART_TITLES['scifact']}",
        "",
        f'`embspace.encoders.get_encoder("minilm")` ({r["model"]}; texts truncated at 256 word pieces) vectors of the '
        f"{r['docs']:,} SciFact abstracts and the {r['queries']} test queries (`evaluate.load_beir`, split test), "
        "encoded once and cached. Retrieval: `evaluate.retrieval(ds, corpus_space=..., query_space=...)`, exact "
        "cosine search. For a fix, the corpus space is the `FixedSpace` learnt on the corpus vectors and the "
        "query space holds `fixed.transform(query_vectors)` with the fixed space's provenance (`retrieval` "
        "requires equal `space_id`); `evaluate=` is this nDCG@10.",
        "",
        reading,
        "",
        *diag_table(d),
        "",
    ]
    lines += fix_table(r["fixes"], "nDCG@10", [("recall@100 after", "recall@100_after", ".4f")], d["n"])
    lines += [
        "",
        f"Raw recall@100 {r['raw']['recall@100']:.4f}. The raw nDCG@10 through `space.neighbors` + "
        f"`evaluate.ranking_metrics` (the path the re-scored spaces take): {own:.4f}"
        + (" (identical)." if abs(own - raw) < 1e-9 else f" (DIFFERS from retrieval()'s {raw:.4f})."),
        *failed_fixes(r["fixes"]),
        "",
        *rescoring_lines(r.get("rescoring"), "ndcg@10"),
        "",
    ]
    return lines


def render_movies(r: dict[str, Any]) -> list[str]:
    c, km, p = r["evaluate_clustering"], r["kmeans2"], r["linear_probe"]
    cc = r["evaluate_clustering_centred"]
    clusters = r["kmeans10"]["clusters"]
    follows = "does not follow" if c["nmi"] < 0.05 else "partly follows" if c["nmi"] < 0.3 else "follows"
    reading = (
        f"A two-way k-means clustering of the reviews {follows} sentiment: NMI {c['nmi']:.3f} (ARI {c['ari']:.3f}) "
        f"against pos/neg, while a linear probe on the same frozen vectors reaches {p['accuracy']:.1%} accuracy "
        "(5-fold, chance 50%): some sentiment is in the vectors, but it is not the direction the clusters "
        "follow. End to end the pipeline works: encode, cluster, score against labels, describe."
    )
    lists = [set(cl["terms"]) for cl in clusters if cl["terms"]]
    common = sorted(set.intersection(*lists)) if lists else []

    def own_terms(cl: dict[str, Any]) -> int:
        return sum(all(t not in o["terms"] for o in clusters if o is not cl) for t in cl["terms"])

    shown = sorted(clusters, key=lambda cl: (-own_terms(cl), -cl["size"]))[:3]
    lines = [
        f"### {PART_TITLES['movies']}",
        "",
        f"NLTK movie_reviews ({r['reviews']:,} reviews, {r['labels']['pos']:,} pos / {r['labels']['neg']:,} neg, "
        f"median {r['words_median']:.0f} words; MiniLM reads the first 256 word pieces of each), encoded once and "
        f"cached. Space: mean cosine {r['anisotropy']['mean_cosine']:.3f}, isotropy {r['anisotropy']['isotropy']:.3f}.",
        "",
        reading,
        "",
        "| measure | figure |",
        "|---|---|",
        f"| `evaluate.clustering(vectors, labels)` (k-means, k=2) | NMI {c['nmi']:.4f}, ARI {c['ari']:.4f}, "
        f"V-measure {c['v_measure']:.4f} |",
        f"| `analysis.kmeans(space, 2, true_labels=labels)` | NMI {km['nmi']:.4f}, ARI {km['ari']:.4f}, silhouette "
        f"{_f(km['silhouette'], '.3f')}, sizes {km['sizes']} |",
        f"| `evaluate.clustering` after `analysis.center` | NMI {cc['nmi']:.4f}, ARI {cc['ari']:.4f} |",
        f"| `evaluate.linear_probe(vectors, labels, cv=5)` | accuracy {p['accuracy']:.4f} (folds "
        + ", ".join(f"{x:.3f}" for x in p["folds"])
        + ") |",
        f"| `analysis.kmeans(space, 10)` | NMI vs pos/neg {_f(r['kmeans10']['nmi_vs_pos_neg'], '.4f')} "
        f"(`evaluate.clustering(..., k=10)`), silhouette {_f(r['kmeans10']['silhouette'], '.3f')}, sizes "
        f"{min(cl['size'] for cl in clusters)}-{max(cl['size'] for cl in clusters)} |",
        "",
        "`analysis.distinctive_terms(texts, labels)` (c-TF-IDF, top 10) of the k=10 clusters"
        + (
            f": {', '.join(common)} head every cluster's list (words frequent in all clusters outscore rarer "
            "specific ones), so shown are the three clusters with the most terms of their own:"
            if common
            else "; the three clusters with the most terms of their own:"
        ),
        "",
    ]
    for cl in shown:
        lines.append(
            f"- cluster {cl['cluster']} ({cl['size']} reviews, {cl['pos_share']:.0%} positive): "
            + ", ".join(cl["terms"])
        )
    lines.append("")
    return lines


RENDER = {"words": render_words, "scifact": render_scifact, "movies": render_movies, "report": render_report}
PARTS: dict[str, Callable[[argparse.Namespace], dict[str, Any]]] = {
    "words": part_words,
    "scifact": part_scifact,
    "movies": part_movies,
    "report": part_report,
}


def markdown_section(report: dict[str, Any]) -> str:
    lines = [
        SECTION,
        "",
        "`benchmarks/geometry.py` measures the shape of three real spaces with `embspace.analysis` and what its "
        "fixes do to a task score. The figures are statements about these spaces, not targets (except the "
        "seed-to-seed Procrustes accuracy of issue 6, ≥ 90%). Timings are informational.",
        "",
    ]
    for name in PARTS:
        r = report["parts"].get(name)
        if r is None:
            continue
        if r["status"] == "ok":
            try:
                lines += RENDER[name](r)
            except Exception as e:  # a result from an older script version
                lines += [f"### {PART_TITLES[name]}", "", f"(could not render: {type(e).__name__}: {e})", ""]
        else:
            why = r.get("reason") or r.get("error")
            lines += [f"### {PART_TITLES[name]}", "", f"Not measured: {r['status']} ({why}).", ""]
        lines += [measured_line(r["measured"]), ""]
    lines += [
        "Rerun with (add `--reuse` to load the trained word2vec spaces from `benchmarks/.cache/geometry/`; "
        "`--parts words,scifact,movies` picks parts, the others keep their results):",
        "",
        "```",
        "python benchmarks/geometry.py",
        "```",
        "",
    ]
    return "\n".join(lines)


def print_tables(report: dict[str, Any], names: list[str]) -> None:
    """The part tables on stdout (the Markdown text, which is the readable form here)."""
    for name in names:
        r = report["parts"].get(name)
        if r is None:
            continue
        print(f"== {name}: {r['status']} ==")
        if r["status"] == "ok":
            print("\n".join(RENDER[name](r)))
        else:
            print(r.get("reason") or r.get("traceback") or r.get("error"))


def command_line(args: argparse.Namespace) -> str:
    parts = ["python", "benchmarks/geometry.py"]
    if args.part_list != list(PARTS):
        parts += ["--parts", ",".join(args.part_list)]
    if args.reuse:
        parts.append("--reuse")
    if args.skipgram != "auto":
        parts += ["--skipgram", args.skipgram]
    if args.threads != 2:
        parts += ["--threads", str(args.threads)]
    if args.data_dir.resolve() != DEFAULT_DATA.resolve():
        parts += ["--data-dir", str(args.data_dir)]
    return shlex.join(parts)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    p.add_argument("--parts", default=",".join(PARTS), help="comma-separated subset of: " + ", ".join(PARTS))
    p.add_argument(
        "--reuse",
        action="store_true",
        help="load the trained word2vec spaces from the cache instead of training them again",
    )
    p.add_argument(
        "--skipgram",
        choices=("auto", "yes", "no"),
        default="auto",
        help="also train and compare two skip-gram spaces: 'auto' when CBOW misses 90%% Procrustes",
    )
    p.add_argument("--report-runs", type=int, default=2, help="timed report runs per space (report part)")
    p.add_argument("--threads", type=int, default=2, help="word2vec workers and BLAS/OpenMP/torch threads")
    p.add_argument("--model", default="minilm", help=argparse.SUPPRESS)
    p.add_argument("--data-dir", type=Path, default=DEFAULT_DATA, help="the shared data folder")
    p.add_argument(
        "--cache-dir",
        type=Path,
        default=DEFAULT_CACHE,
        help="prepared corpus (wiki17.txt) and the geometry/ cache of spaces and vectors",
    )
    p.add_argument("--json", type=Path, default=DEFAULT_JSON, help="results file (other parts' results are kept)")
    p.add_argument("--markdown", type=Path, default=DEFAULT_MARKDOWN, help="Markdown file whose section is refreshed")
    p.add_argument("--no-markdown", action="store_true", help="do not write the Markdown section")
    p.add_argument("--render-only", action="store_true", help="measure nothing: print and render the --json results")
    args = p.parse_args(argv)
    chosen = [s.strip() for s in args.parts.split(",") if s.strip()]
    unknown = [s for s in chosen if s not in PARTS]
    if unknown or not chosen:
        p.error(f"--parts: unknown {unknown or 'empty list'}; choose from {', '.join(PARTS)}")
    args.part_list = [s for s in PARTS if s in chosen]
    if args.threads < 1:
        p.error("--threads must be positive")
    args.data_dir = args.data_dir.resolve()
    args.cache_dir = args.cache_dir.resolve()
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    report: dict[str, Any] = {"benchmark": "geometry of spaces (issue 6)", "parts": {}}
    if args.json.is_file():
        old = json.loads(args.json.read_text(encoding="utf-8"))
        report["parts"] = dict(old.get("parts", {}))
    if not args.render_only:
        set_threads(args.threads)  # before numpy / torch load
        t0 = time.perf_counter()
        for name in args.part_list:
            res = run_part(name, PARTS[name], args)
            old = report["parts"].get(name)
            if res["status"] == "skipped" and old is not None and old.get("status") == "ok":
                say(f"part {name}: keeping the earlier results of {old['measured']['date']} (skipped now)")
            else:
                report["parts"][name] = res
            report["command"] = command_line(args)
            write_json(args.json, report)  # after every part: a later failure keeps the earlier ones
        say(f"all parts: {time.perf_counter() - t0:.0f}s; results: {args.json}")
    print_tables(report, args.part_list)
    if not args.no_markdown:
        write_markdown(args.markdown, SECTION, markdown_section(report))
        say(f"markdown: {args.markdown} ({SECTION[3:]})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
