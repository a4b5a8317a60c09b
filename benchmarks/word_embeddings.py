"""Word embeddings: embspace Word2Vec and GloVe vs gensim 4.x Word2Vec on the "wiki17" corpus.

One script, the same prepared corpus file, the same hyperparameters and the same thread count for
every system:

- gensim: ``Word2Vec(LineSentence(path), vector_size=100, window=5, min_count=5, sg=1|0, negative=5,
  sample=1e-3, epochs=5, workers=2, seed=1)`` (skip-gram and CBOW);
- embspace: ``embspace.train.Word2Vec(dim=100, window=5, min_count=5, architecture="skipgram"|"cbow",
  negative=5, sample=1e-3, epochs=5, workers=2, seed=1, progress=False, device="cpu")
  .fit(TextCorpus(path))``;
- FastText (issue 28): ``gensim.models.FastText(...)`` with the word2vec settings plus ``min_n=3, max_n=6,
  bucket=2000000`` against ``embspace.train.FastText(...)`` with ``minn=3, maxn=6, buckets=2000000``
  (systems ``embspace-ft-sg``, ``gensim-ft-sg``, ``embspace-ft-cbow``, ``gensim-ft-cbow``); their vectors are
  also evaluated with the evaluation words removed from the vocabulary (rebuilt from their n-grams alone);
- embspace GloVe: ``embspace.train.GloVe(dim=100, window=10, min_count=5, x_max=10.0, epochs=15,
  workers=2, seed=1, progress=False).fit(TextCorpus(path))`` when ``embspace.train`` has it;
- Stanford GloVe, side by side when ``--stanford-glove DIR`` names a folder holding its four built
  tools (``vocab_count``, ``cooccur``, ``shuffle``, ``glove``, compiled from github.com/stanfordnlp/GloVe;
  not part of embspace): its demo.sh pipeline with ``-min-count 5``, ``-window-size 10``, ``-memory 4.0``,
  ``-x-max 10 -iter 15 -vector-size 100 -threads 2 -seed 1``, timed end to end (its peak memory: the
  largest of the four processes). Without it, its row is the reference figure of
  ``shared/design/REFERENCE_FIGURES.md`` (495 s end to end, analogy 35.9%, WordSim-353 0.362).

The corpus ("wiki17") is the first 598,351 lines of ``corpus/wiki/wiki.txt.xz``, lower-cased, runs
of a-z as tokens, one paragraph per line, empty lines dropped: 16,844,183 tokens, 86,964 words at
min_count 5. It is written once to a cache file and reused; preparing it is not timed.

Each fit runs in a fresh child process (this script with ``--child``), so its peak memory (the
child's RSS high-water mark, ``VmHWM``, read right after the fit) is measured cleanly; the timed
section is the constructor plus ``fit``, vocabulary building included, reading the prepared file.
Runs are interleaved across systems (sg, sg, cbow, cbow, glove, then again). After the fit the child
evaluates the vectors twice, with embspace (``embspace.evaluate.analogy`` / ``word_similarity``)
and with gensim (``KeyedVectors.evaluate_word_analogies`` / ``evaluate_word_pairs``; embspace's
vectors are loaded into a ``KeyedVectors`` with ``add_vectors``): Google analogies, 3CosAdd,
restrict_vocab 30,000, case-insensitive; WordSim-353 Spearman. Disagreements are reported.

Usage::

    python benchmarks/word_embeddings.py                  # full: wiki17, 3 interleaved runs, 2 threads (~30 min)
    python benchmarks/word_embeddings.py --quick          # smoke test: first 20,000 lines, 1 run
    python benchmarks/word_embeddings.py --systems embspace-sg,gensim-sg
    python benchmarks/word_embeddings.py --systems embspace-ft-sg,gensim-ft-sg,embspace-ft-cbow,gensim-ft-cbow --update
    python benchmarks/word_embeddings.py --systems embspace-glove,stanford-glove --stanford-glove DIR
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
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
DEFAULT_JSON = ROOT / "benchmarks" / "results" / "word_embeddings.json"
DEFAULT_MARKDOWN = ROOT / "BENCHMARKS.md"
DEFAULT_DATA = ROOT.parent / "shared" / "data"
DEFAULT_CACHE_DIR = ROOT / "benchmarks" / ".cache"
SECTION = "## Word embeddings (issue 3)"


FULL_LINES = 598_351
QUICK_LINES = 20_000
# Lines -> (tokens, vocabulary at min_count 5), from shared/design/REFERENCE_FIGURES.md.
EXPECTED = {FULL_LINES: (16_844_183, 86_964)}
TOKEN_RE = re.compile(r"[a-z]+")
TOKENIZER = 're.findall(r"[a-z]+", line.lower())'
ANALOGY_FILE = Path("word_eval") / "questions-words.txt"
WORDSIM_FILE = Path("word_eval") / "wordsim353.tsv"
CORPUS_FILE = Path("corpus") / "wiki" / "wiki.txt.xz"
RESTRICT_VOCAB = 30_000

W2V = {"dim": 100, "window": 5, "min_count": 5, "negative": 5, "sample": 1e-3, "epochs": 5}
GLOVE = {"dim": 100, "window": 10, "min_count": 5, "x_max": 10.0, "epochs": 15}

# name -> (family, architecture, peer, label)
SYSTEMS: dict[str, dict[str, str]] = {
    "embspace-sg": {"family": "embspace", "arch": "skipgram", "peer": "gensim-sg", "label": "embspace skip-gram"},
    "gensim-sg": {"family": "gensim", "arch": "skipgram", "peer": "", "label": "gensim skip-gram"},
    "embspace-cbow": {"family": "embspace", "arch": "cbow", "peer": "gensim-cbow", "label": "embspace CBOW"},
    "gensim-cbow": {"family": "gensim", "arch": "cbow", "peer": "", "label": "gensim CBOW"},
    "embspace-ft-sg": {"family": "embspace", "arch": "skipgram", "model": "fasttext", "peer": "gensim-ft-sg",
                       "label": "embspace FastText skip-gram"},
    "gensim-ft-sg": {"family": "gensim", "arch": "skipgram", "model": "fasttext", "peer": "",
                     "label": "gensim FastText skip-gram"},
    "embspace-ft-cbow": {"family": "embspace", "arch": "cbow", "model": "fasttext", "peer": "gensim-ft-cbow",
                         "label": "embspace FastText CBOW"},
    "gensim-ft-cbow": {"family": "gensim", "arch": "cbow", "model": "fasttext", "peer": "",
                       "label": "gensim FastText CBOW"},
    "embspace-glove": {"family": "embspace", "arch": "glove", "peer": "stanford-glove", "label": "embspace GloVe"},
    "stanford-glove": {"family": "stanford", "arch": "glove", "peer": "", "label": "Stanford GloVe"},
}
STANFORD_TOOLS = ("vocab_count", "cooccur", "shuffle", "glove")
STANFORD = {
    "label": "Stanford GloVe",
    "wall_s": 495.0, "analogy": 0.359, "wordsim": 0.362,
    "settings": "dim 100, window 10, x_max 10, 15 iterations, 2 threads",
    "note": "reference figure, not run here (shared/design/REFERENCE_FIGURES.md: 495 s end to end, "
            "co-occurrence 44.1M non-zeros; Stanford GloVe cannot be built in this environment)",
}
TARGETS = {"throughput": (1.0, 1.5), "analogy_points": 1.0, "wordsim": 0.02, "glove_time": (1.0, 0.5),
           "fasttext_throughput": 1.5}
# fastText's character n-grams (issue 28): the word2vec settings plus these, for both libraries.
FASTTEXT = {"minn": 3, "maxn": 6, "buckets": 2_000_000}


def is_fasttext(name: str) -> bool:
    return SYSTEMS[name].get("model") == "fasttext"


def stanford_commands(tools: Path, corpus: str, threads: int, seed: int) -> list[tuple[str, list[str], str, str]]:
    """Stanford GloVe's demo.sh pipeline: (phase, argv, stdin file, stdout file) per tool."""
    t = {name: str(tools / name) for name in STANFORD_TOOLS}
    return [
        ("vocabulary", [t["vocab_count"], "-min-count", str(GLOVE["min_count"]), "-verbose", "2"], corpus, "vocab.txt"),
        ("cooccurrence", [t["cooccur"], "-memory", "4.0", "-vocab-file", "vocab.txt", "-verbose", "2",
                          "-window-size", str(GLOVE["window"])], corpus, "cooccurrence.bin"),
        ("shuffle", [t["shuffle"], "-memory", "4.0", "-verbose", "2", "-seed", str(seed)], "cooccurrence.bin",
         "cooccurrence.shuf.bin"),
        ("training", [t["glove"], "-save-file", "vectors", "-threads", str(threads), "-input-file",
                      "cooccurrence.shuf.bin", "-x-max", str(GLOVE["x_max"]), "-iter", str(GLOVE["epochs"]),
                      "-vector-size", str(GLOVE["dim"]), "-binary", "0", "-vocab-file", "vocab.txt", "-verbose", "2",
                      "-seed", str(seed)], "", ""),
    ]


def call_string(name: str, threads: int, seed: int, device: str) -> str:
    s = SYSTEMS[name]
    if s["family"] == "stanford":
        return " && ".join(shlex.join([Path(argv[0]).name, *argv[1:]]) + (f" < {i}" if i else "") +
                           (f" > {o}" if o else "")
                           for _, argv, i, o in stanford_commands(Path("."), "corpus.txt", threads, seed))
    if is_fasttext(name):
        if s["family"] == "gensim":
            sg = 1 if s["arch"] == "skipgram" else 0
            return (f"gensim.models.FastText(LineSentence(path), vector_size=100, window=5, min_count=5, sg={sg}, "
                    f"negative=5, sample=1e-3, epochs=5, min_n=3, max_n=6, bucket=2000000, workers={threads}, "
                    f"seed={seed})")
        return (f"embspace.train.FastText(dim=100, window=5, min_count=5, architecture={s['arch']!r}, negative=5, "
                f"sample=1e-3, epochs=5, minn=3, maxn=6, buckets=2000000, workers={threads}, seed={seed}, "
                "progress=False, device='cpu').fit(TextCorpus(path))")
    if s["family"] == "gensim":
        sg = 1 if s["arch"] == "skipgram" else 0
        return (f"gensim.models.Word2Vec(LineSentence(path), vector_size=100, window=5, min_count=5, sg={sg}, "
                f"negative=5, sample=1e-3, epochs=5, workers={threads}, seed={seed})")
    if s["arch"] == "glove":
        return (f"embspace.train.GloVe(dim=100, window=10, min_count=5, x_max=10.0, epochs=15, "
                f"workers={threads}, seed={seed}, progress=False).fit(TextCorpus(path))")
    return (f"embspace.train.Word2Vec(dim=100, window=5, min_count=5, architecture={s['arch']!r}, negative=5, "
            f"sample=1e-3, epochs=5, workers={threads}, seed={seed}, progress=False, device={device!r})"
            ".fit(TextCorpus(path))")


# ---------------------------------------------------------------------------------------------- arguments
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--lines", type=int, default=None,
                   help=f"leading lines of wiki.txt.xz to use (default {FULL_LINES}; --quick {QUICK_LINES})")
    p.add_argument("--runs", type=int, default=None, help="timed runs per system, interleaved (default 3; --quick 1)")
    p.add_argument("--threads", type=int, default=2, help="workers and BLAS/OpenMP/numba threads for every system")
    p.add_argument("--systems", default=",".join(SYSTEMS),
                   help="comma-separated subset of: " + ", ".join(SYSTEMS))
    p.add_argument("--seed", type=int, default=1, help="seed of every learner")
    p.add_argument("--device", default="cpu",
                   help="device of embspace's Word2Vec ('cpu': its compiled CPU kernels, like gensim; 'auto': "
                        "the library default, which imports torch to look for CUDA)")
    p.add_argument("--data-dir", type=Path, default=DEFAULT_DATA,
                   help="the shared data folder (holds corpus/wiki/wiki.txt.xz and word_eval/)")
    env_tools = os.environ.get("STANFORD_GLOVE")
    p.add_argument("--stanford-glove", type=Path, default=Path(env_tools) if env_tools else None,
                   help="folder holding Stanford GloVe's built vocab_count, cooccur, shuffle and glove "
                        "(github.com/stanfordnlp/GloVe; not part of embspace), to run it side by side; default "
                        "$STANFORD_GLOVE; without it the stanford-glove system is skipped and its row is the "
                        "reference figure")
    p.add_argument("--cache", type=Path, default=None,
                   help="prepared corpus file (default benchmarks/.cache/wiki17.txt; other --lines: "
                        "wiki17-LINES.txt)")
    p.add_argument("--quick", action="store_true", help=f"smoke test: first {QUICK_LINES:,} lines, 1 run")
    p.add_argument("--json", type=Path, default=None,
                   help=f"results file (default {DEFAULT_JSON.relative_to(ROOT)}; "
                        "--quick: word_embeddings-quick.json beside it)")
    p.add_argument("--markdown", type=Path, default=None,
                   help=f"Markdown file whose section is refreshed (default {DEFAULT_MARKDOWN.name} for a "
                        "full run; --quick writes none unless given)")
    p.add_argument("--no-markdown", action="store_true", help="do not write the Markdown section")
    p.add_argument("--update", action="store_true",
                   help="keep the results of the systems not in --systems from the existing --json file (same "
                        "corpus), so that rerunning some systems refreshes their rows and leaves the others")
    p.add_argument("--render-only", action="store_true",
                   help="measure nothing: print the table of the --json results and refresh the Markdown")
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child is not None:
        return args
    quick = args.quick
    args.lines = args.lines if args.lines is not None else (QUICK_LINES if quick else FULL_LINES)
    args.runs = args.runs if args.runs is not None else (1 if quick else 3)
    if args.json is None:
        args.json = DEFAULT_JSON.with_name("word_embeddings-quick.json") if quick else DEFAULT_JSON
    if args.no_markdown:
        args.markdown = None
    elif args.markdown is None and not quick:
        args.markdown = DEFAULT_MARKDOWN
    if args.cache is None:
        name = "wiki17.txt" if args.lines == FULL_LINES else f"wiki17-{args.lines}.txt"
        args.cache = DEFAULT_CACHE_DIR / name
    for name in ("lines", "runs", "threads"):
        if getattr(args, name) < 1:
            p.error(f"--{name} must be a positive integer")
    chosen = [s.strip() for s in args.systems.split(",") if s.strip()]
    unknown = [s for s in chosen if s not in SYSTEMS]
    if unknown or not chosen:
        p.error(f"--systems: unknown {unknown or 'empty list'}; choose from {', '.join(SYSTEMS)}")
    args.system_list = [s for s in SYSTEMS if s in chosen]  # canonical (interleaving) order
    return args


# ---------------------------------------------------------------------------------------------- corpus
def tokenize(line: str) -> list[str]:
    return TOKEN_RE.findall(line.lower())


def count_corpus(path: Path) -> tuple[int, int, Counter[str]]:
    """(tokens, paragraphs, word counts) of a prepared corpus file."""
    counts: Counter[str] = Counter()
    tokens = paragraphs = 0
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            words = line.split()
            if words:
                counts.update(words)
                tokens += len(words)
                paragraphs += 1
    return tokens, paragraphs, counts


def prepare_corpus(source: Path, cache: Path, lines: int) -> dict[str, Any]:
    """Write the first ``lines`` lines of ``source`` tokenised to ``cache`` (once); describe the corpus."""
    meta_path = cache.with_name(cache.name + ".meta.json")
    expected = EXPECTED.get(lines)
    src_size = source.stat().st_size
    meta: dict[str, Any] | None = None
    if cache.exists() and meta_path.exists():
        old = json.loads(meta_path.read_text(encoding="utf-8"))
        if old.get("lines") == lines and old.get("source_size") == src_size and old.get("tokenizer") == TOKENIZER:
            t0 = time.perf_counter()
            tokens, paragraphs, counts = count_corpus(cache)
            want = expected[0] if expected else old.get("tokens")
            if tokens == want == old.get("tokens"):
                meta = old
                say(f"corpus: reusing {cache} ({tokens:,} tokens, checked in {time.perf_counter() - t0:.1f}s)")
            else:
                say(f"corpus: cache {cache} has {tokens:,} tokens, expected {want:,}; preparing it again")
    if meta is None:
        import lzma

        say(f"corpus: preparing {cache} from the first {lines:,} lines of {source} (not timed) ...")
        t0 = time.perf_counter()
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_name(cache.name + ".tmp")
        read = 0
        with lzma.open(source, "rt", encoding="utf-8", errors="replace") as src, \
                tmp.open("w", encoding="utf-8") as out:
            for line in src:
                if read >= lines:
                    break
                read += 1
                words = tokenize(line)
                if words:
                    out.write(" ".join(words))
                    out.write("\n")
        if read < lines:
            say(f"warning: {source} has only {read:,} lines, fewer than the {lines:,} asked for")
        os.replace(tmp, cache)
        tokens, paragraphs, counts = count_corpus(cache)
        meta = {"source": str(source), "source_size": src_size, "lines": lines, "lines_read": read,
                "tokenizer": TOKENIZER, "tokens": tokens, "paragraphs": paragraphs,
                "prepare_s": round(time.perf_counter() - t0, 1)}
        tmp_meta = meta_path.with_name(meta_path.name + ".tmp")
        tmp_meta.write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
        os.replace(tmp_meta, meta_path)
        say(f"corpus: prepared in {meta['prepare_s']}s")
    vocab = sum(1 for c in counts.values() if c >= W2V["min_count"])
    info = {"name": "wiki17" if lines == FULL_LINES else f"wiki17 (first {lines:,} lines)",
            "path": str(cache), "source": str(source), "lines": lines, "tokenizer": TOKENIZER,
            "tokens": tokens, "paragraphs": paragraphs, "distinct_words": len(counts),
            f"vocab_min_count_{W2V['min_count']}": vocab,
            "expected_tokens": expected[0] if expected else None, "expected_vocab": expected[1] if expected else None,
            "is_wiki17": (lines, tokens, vocab) == (FULL_LINES, *EXPECTED[FULL_LINES])}
    say(f"corpus: {tokens:,} tokens, {paragraphs:,} paragraphs, vocabulary {vocab:,} at min_count "
        f"{W2V['min_count']} ({len(counts):,} distinct words)")
    if expected and (tokens, vocab) != expected:
        say(f"WARNING: expected {expected[0]:,} tokens and vocabulary {expected[1]:,} "
            "(REFERENCE_FIGURES.md); this corpus differs")
    return info


# ---------------------------------------------------------------------------------------------- child
def _status_kib(field: str) -> int | None:
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def peak_rss_mib() -> float:
    """The RSS high-water mark of this process (MiB)."""
    hwm = _status_kib("VmHWM")
    if hwm is not None:
        return hwm / 1024
    import resource

    ru = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return ru / (1024 * 1024) if sys.platform == "darwin" else ru / 1024


def rss_mib() -> float | None:
    rss = _status_kib("VmRSS")
    return None if rss is None else rss / 1024


def run_child(spec: dict[str, Any]) -> dict[str, Any]:
    """Fit one system in this (fresh) process, then evaluate it; called with ``--child``."""
    set_threads(spec["threads"])
    name, path, threads, seed = spec["system"], spec["corpus"], spec["threads"], spec["seed"]
    family, arch = SYSTEMS[name]["family"], SYSTEMS[name]["arch"]
    out: dict[str, Any] = {"system": name, "pid": os.getpid(), "loadavg_start": list(os.getloadavg())}

    import numpy as np

    import embspace
    from embspace import EmbeddingSpace

    if family == "stanford":
        return run_stanford(spec, out)
    fasttext = is_fasttext(name)
    if family == "gensim":
        from gensim.models import FastText as GensimFastText
        from gensim.models import Word2Vec as GensimWord2Vec
        from gensim.models.word2vec import LineSentence
    else:
        import inspect

        import embspace.train as est
        from embspace.data.corpus import TextCorpus

    out["rss_before_fit_mib"] = rss_mib()
    t0 = time.perf_counter()
    if family == "gensim" and fasttext:
        model: Any = GensimFastText(LineSentence(path), vector_size=W2V["dim"], window=W2V["window"],
                                    min_count=W2V["min_count"], sg=1 if arch == "skipgram" else 0,
                                    negative=W2V["negative"], sample=W2V["sample"], epochs=W2V["epochs"],
                                    min_n=FASTTEXT["minn"], max_n=FASTTEXT["maxn"], bucket=FASTTEXT["buckets"],
                                    workers=threads, seed=seed)
    elif fasttext:
        model = est.FastText(dim=W2V["dim"], window=W2V["window"], min_count=W2V["min_count"], architecture=arch,
                             negative=W2V["negative"], sample=W2V["sample"], epochs=W2V["epochs"],
                             minn=FASTTEXT["minn"], maxn=FASTTEXT["maxn"], buckets=FASTTEXT["buckets"],
                             workers=threads, seed=seed, progress=False, device="cpu").fit(TextCorpus(path))
    elif family == "gensim":
        model = GensimWord2Vec(LineSentence(path), vector_size=W2V["dim"], window=W2V["window"],
                                    min_count=W2V["min_count"], sg=1 if arch == "skipgram" else 0,
                                    negative=W2V["negative"], sample=W2V["sample"], epochs=W2V["epochs"],
                                    workers=threads, seed=seed)
    elif arch == "glove":
        kwargs: dict[str, Any] = dict(GLOVE, workers=threads, seed=seed, progress=False)
        if "device" in inspect.signature(est.GloVe).parameters:
            kwargs["device"] = spec["device"]
        model = est.GloVe(**kwargs).fit(TextCorpus(path))
    else:
        model = est.Word2Vec(dim=W2V["dim"], window=W2V["window"], min_count=W2V["min_count"], architecture=arch,
                             negative=W2V["negative"], sample=W2V["sample"], epochs=W2V["epochs"],
                             workers=threads, seed=seed, progress=False,
                             device=spec["device"]).fit(TextCorpus(path))
    wall = time.perf_counter() - t0
    out["wall_s"] = wall
    out["peak_rss_mib"] = peak_rss_mib()  # before any evaluation allocates
    out["loadavg_end"] = list(os.getloadavg())

    # Both views of the same vectors: an EmbeddingSpace and a gensim KeyedVectors.
    if family == "gensim":
        kv = model.wv
        keys = list(kv.index_to_key)
        counts = np.array([kv.get_vecattr(k, "count") for k in keys], dtype=np.int64)
        space = EmbeddingSpace(keys, kv.vectors, metric="cosine", counts=counts)
        out["corpus_words"] = int(model.corpus_total_words)
        out["train_only_s"] = float(model.total_train_time)
        out["versions"] = {"gensim": version("gensim")}
    else:
        space = model.space_
        kv = keyed_vectors(space)
        vocab = getattr(model, "vocab_", None)
        out["corpus_words"] = int(vocab.raw_token_count) if vocab is not None else None
        for attr in ("words_per_second_", "loss_history_", "timings_", "cooccurrence_nnz_", "memory_"):
            try:
                value = getattr(model, attr)
            except Exception:  # optional diagnostics a learner may lack
                continue
            out[attr.rstrip("_")] = value if isinstance(value, int | float | str | list | dict) else repr(value)
        if hasattr(model, "get_params"):
            out["params"] = {k: v if isinstance(v, int | float | str | bool | None) else repr(v)
                             for k, v in model.get_params().items()}
        out["versions"] = {"embspace": embspace.__version__}
    out["vocab_size"] = len(space)
    evaluate_into(out, space, kv, spec)
    if fasttext:
        t = time.perf_counter()
        ngram_only = gensim_ngram_vectors(model.wv) if family == "gensim" else space.oov_vector
        out["oov"] = evaluate_oov(space, ngram_only, spec)
        out["oov"]["seconds"] = time.perf_counter() - t
    return out


def eval_words(space: Any, spec: dict[str, Any]) -> list[str]:
    """The vocabulary words the analogy questions and WordSim-353 pairs use (lower-cased, as evaluated)."""
    words: set[str] = set()
    with open(spec["analogy_file"], encoding="utf-8") as fh:
        for line in fh:
            if not line.startswith(":"):
                words.update(w.lower() for w in line.split())
    with open(spec["wordsim_file"], encoding="utf-8") as fh:
        for line in fh:
            parts = line.rstrip("\n").split("\t")
            if len(parts) >= 3 and not line.startswith("#"):
                words.update(w.lower() for w in parts[:2])
    return sorted(w for w in words if w in space)


def gensim_ngram_vectors(wv: Any) -> Any:
    """gensim's vector of a word from its n-grams alone (what ``wv[word]`` gives a word it never saw)."""
    import numpy as np
    from gensim.models.fasttext import ft_ngram_hashes

    def rows(words: list[str]) -> Any:
        out = np.zeros((len(words), wv.vector_size), np.float32)
        for i, w in enumerate(words):
            h = ft_ngram_hashes(w, wv.min_n, wv.max_n, wv.bucket)
            if h:
                out[i] = wv.vectors_ngrams[h].mean(axis=0)
        return out

    return rows


def evaluate_oov(space: Any, ngram_only: Any, spec: dict[str, Any]) -> dict[str, Any]:
    """The evaluation words removed from the vocabulary: their vectors rebuilt from their n-grams alone.

    Reported: how many get a non-zero vector (coverage; a word2vec space covers none of them), the mean
    cosine of the rebuilt vectors with the trained ones, and the analogy and WordSim-353 figures of the space
    whose evaluation-word rows are replaced by the rebuilt ones (the other words, the analogy answers'
    competitors, keep their vectors).
    """
    import numpy as np

    import embspace.evaluate as ev
    from embspace import EmbeddingSpace

    words = eval_words(space, spec)
    rebuilt = np.asarray(ngram_only(words), np.float32)
    trained = np.asarray(space[words], np.float32)
    norms = np.linalg.norm(rebuilt, axis=1) * np.linalg.norm(trained, axis=1)
    covered = np.linalg.norm(rebuilt, axis=1) > 0
    cos = np.einsum("ij,ij->i", rebuilt, trained) / np.maximum(norms, 1e-30)
    vectors = np.array(space.vectors, np.float32)
    vectors[[space.index_of(w) for w in words]] = rebuilt
    replaced = EmbeddingSpace(space.keys, vectors, metric="cosine", counts=space.counts)
    an = ev.analogy(replaced, spec["analogy_file"], restrict_vocab=RESTRICT_VOCAB, case_insensitive=True,
                    method="3cosadd")
    sim = ev.word_similarity(replaced, spec["wordsim_file"], case_insensitive=True)
    return {"words": len(words), "covered": int(covered.sum()), "coverage": float(covered.mean()) if words else None,
            "mean_cosine": float(cos[covered].mean()) if covered.any() else None,
            "analogy": an.accuracy, "semantic": an.semantic_accuracy, "syntactic": an.syntactic_accuracy,
            "analogy_evaluated": an.evaluated, "wordsim_spearman": sim.spearman, "wordsim_pairs": sim.pairs}


def run_stanford(spec: dict[str, Any], out: dict[str, Any]) -> dict[str, Any]:
    """Stanford GloVe's four tools in a scratch folder, timed end to end; then the same evaluation."""
    from embspace import EmbeddingSpace

    tools = Path(spec["stanford_glove"])
    work = Path(tempfile.mkdtemp(prefix="stanford-glove-", dir=spec.get("scratch")))
    timings: dict[str, float] = {}
    peak_kib = 0
    t0 = time.perf_counter()
    try:
        for phase, argv, stdin, stdout in stanford_commands(tools, spec["corpus"], spec["threads"], spec["seed"]):
            t = time.perf_counter()
            with open(work / f"{phase}.log", "wb") as err, \
                    open(work / stdin if stdin else os.devnull, "rb") as fin, \
                    open(work / stdout if stdout else os.devnull, "wb") as fout:
                proc = subprocess.Popen(argv, cwd=work, stdin=fin, stdout=fout, stderr=err)
                _, status, usage = os.wait4(proc.pid, 0)
            if os.waitstatus_to_exitcode(status) != 0:
                tail = (work / f"{phase}.log").read_bytes()[-500:].decode(errors="replace")
                raise RuntimeError(f"Stanford GloVe {Path(argv[0]).name} exited with status "
                                   f"{os.waitstatus_to_exitcode(status)}: {tail}")
            timings[phase] = time.perf_counter() - t
            peak_kib = max(peak_kib, usage.ru_maxrss)
        wall = time.perf_counter() - t0
        nnz = (work / "cooccurrence.bin").stat().st_size // 16  # CREC: int, int, double
        space = EmbeddingSpace.load(work / "vectors.txt", format="glove")
        # glove.c appends the mean of the 100 rarest words as <unk>
        space = space.subset([k for k in space.keys if k != "<unk>"])
    finally:
        shutil.rmtree(work, ignore_errors=True)
    out.update({"wall_s": wall, "peak_rss_mib": peak_kib / 1024, "loadavg_end": list(os.getloadavg()),
                "timings": {**timings, "total": wall}, "cooccurrence_nnz": int(nnz), "corpus_words": None,
                "versions": {"stanford-glove": str(tools)}})
    out["vocab_size"] = len(space)
    return evaluate_into(out, space, keyed_vectors(space), spec)


def keyed_vectors(space: Any) -> Any:
    """The same vectors as a gensim ``KeyedVectors``, for gensim's own evaluation."""
    import numpy as np
    from gensim.models import KeyedVectors

    kv = KeyedVectors(space.dim, count=0, dtype=np.float32)
    kv.add_vectors(list(space.keys), np.asarray(space.vectors, dtype=np.float32))
    return kv


def evaluate_into(out: dict[str, Any], space: Any, kv: Any, spec: dict[str, Any]) -> dict[str, Any]:
    """Evaluate the vectors with embspace and with gensim (the same files and settings); fill ``out``."""
    import embspace.evaluate as ev

    t1 = time.perf_counter()
    qw, ws = spec["analogy_file"], spec["wordsim_file"]
    an = ev.analogy(space, qw, restrict_vocab=RESTRICT_VOCAB, case_insensitive=True, method="3cosadd")
    sim = ev.word_similarity(space, ws, case_insensitive=True)
    g_acc, g_sections = kv.evaluate_word_analogies(qw, restrict_vocab=RESTRICT_VOCAB, case_insensitive=True)
    total = g_sections[-1]
    (g_pearson, _), (g_spearman, _), g_oov = kv.evaluate_word_pairs(ws, restrict_vocab=300_000, case_insensitive=True)
    out["eval"] = {
        "embspace": {"analogy": an.accuracy, "analogy_correct": an.correct, "analogy_evaluated": an.evaluated,
                     "analogy_coverage": an.coverage, "semantic": an.semantic_accuracy,
                     "syntactic": an.syntactic_accuracy, "wordsim_spearman": sim.spearman,
                     "wordsim_pearson": sim.pearson, "wordsim_pairs": sim.pairs, "wordsim_coverage": sim.coverage},
        "gensim": {"analogy": float(g_acc), "analogy_correct": len(total["correct"]),
                   "analogy_evaluated": len(total["correct"]) + len(total["incorrect"]),
                   "wordsim_spearman": float(g_spearman), "wordsim_pearson": float(g_pearson),
                   "wordsim_oov_percent": float(g_oov)},
    }
    try:
        out["king_man_woman"] = str(space.analogy("man", "king", "woman").top)
    except Exception as e:  # a small corpus may lack a word
        out["king_man_woman"] = None
        out["king_man_woman_error"] = f"{type(e).__name__}: {e}"
    try:
        out["king_man_woman_gensim"] = kv.most_similar(positive=["king", "woman"], negative=["man"], topn=1)[0][0]
    except KeyError:
        out["king_man_woman_gensim"] = None
    out["eval_s"] = time.perf_counter() - t1
    return out


def spawn(spec: dict[str, Any], tmpdir: Path) -> dict[str, Any]:
    """Run one fit in a fresh process; its result plus the child's whole-life maxrss (wait4)."""
    out_path = tmpdir / f"{spec['system']}-{spec['run']}.json"
    spec = {**spec, "out": str(out_path)}
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", json.dumps(spec)]
    proc = subprocess.Popen(cmd, cwd=ROOT)
    try:
        _, status, usage = os.wait4(proc.pid, 0)
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0 or not out_path.exists():
        return {"system": spec["system"], "error": f"child exited with status {proc.returncode}"}
    res: dict[str, Any] = json.loads(out_path.read_text(encoding="utf-8"))
    res["child_maxrss_mib"] = usage.ru_maxrss / 1024  # KiB on Linux; includes the evaluation
    return res


def child_main(spec_json: str) -> int:
    spec = json.loads(spec_json)
    res = run_child(spec)
    Path(spec["out"]).write_text(json.dumps(res, indent=2) + "\n", encoding="utf-8")
    return 0


# ---------------------------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child is not None:
        return child_main(args.child)
    if args.render_only:
        report = json.loads(args.json.read_text(encoding="utf-8"))
        fill_summaries(report["systems"], report.get("runs", {}), report["config"]["corpus"]["tokens"])
        add_ratios(report["systems"], report["config"]["corpus"]["is_wiki17"])
        report["acceptance"] = acceptance(report["systems"], report["config"]["quick"],
                                          report["config"]["corpus"]["is_wiki17"])
        publish(report, args.json, args.markdown)
        return 0
    # Thread control BEFORE numpy (and its BLAS) is loaded, here and (inherited) in every child.
    set_threads(args.threads)

    data = args.data_dir.resolve()
    source, qw, ws = data / CORPUS_FILE, data / ANALOGY_FILE, data / WORDSIM_FILE
    missing = [str(p) for p in (source, qw, ws) if not p.is_file()]
    if missing:
        say("SKIPPED: the word-embedding benchmark needs data that is not here: " + ", ".join(missing) +
            " (pass --data-dir to the folder holding corpus/wiki/wiki.txt.xz and word_eval/)")
        return 0

    import embspace.train

    glove_available = hasattr(embspace.train, "GloVe")
    systems = [s for s in args.system_list if s != "embspace-glove" or glove_available]
    if "embspace-glove" in args.system_list and not glove_available:
        say("embspace-glove: not available (embspace.train has no GloVe yet); reported as such")
    tools = args.stanford_glove.resolve() if args.stanford_glove else None
    lacking = [t for t in STANFORD_TOOLS if tools is None or not os.access(tools / t, os.X_OK)]
    if "stanford-glove" in systems and lacking:
        systems.remove("stanford-glove")
        say("stanford-glove: skipped, its row is the reference figure (" +
            ("no --stanford-glove folder given" if tools is None else f"{tools} lacks {', '.join(lacking)}") + ")")

    corpus = prepare_corpus(source, args.cache.resolve(), args.lines)
    words = corpus["tokens"]
    say(f"systems: {', '.join(systems) or '(none)'}; runs={args.runs} threads={args.threads} seed={args.seed} "
        f"device={args.device}")

    load_before = os.getloadavg()
    cpu_before = cpu_snapshot()
    runs: dict[str, list[dict[str, Any]]] = {s: [] for s in systems}
    with tempfile.TemporaryDirectory(prefix="embspace-bench-") as tmp:
        for r in range(args.runs):
            for name in systems:
                spec = {"system": name, "run": r + 1, "corpus": corpus["path"], "threads": args.threads,
                        "seed": args.seed, "device": args.device, "analogy_file": str(qw), "wordsim_file": str(ws),
                        "stanford_glove": str(tools) if tools else None, "scratch": tmp}
                say(f"run {r + 1}/{args.runs}: {name} ...")
                res = spawn(spec, Path(tmp))
                runs[name].append(res)
                if "error" in res:
                    say(f"run {r + 1}/{args.runs}: {name} FAILED ({res['error']})")
                    continue
                e = res["eval"]["embspace"]
                say(f"run {r + 1}/{args.runs}: {name} {res['wall_s']:.1f}s, "
                    f"{words * epochs_of(name) / res['wall_s']:,.0f} words x epochs/s, peak "
                    f"{res['peak_rss_mib']:,.0f} MiB, analogy {100 * e['analogy']:.1f}%, WordSim "
                    f"{e['wordsim_spearman']:.3f}, king-man+woman={res['king_man_woman']} "
                    f"(eval {res['eval_s']:.1f}s)")
    load_after = os.getloadavg()
    contention = other_cpu(cpu_before, cpu_snapshot())  # the fits are waited-for children: they count as ours

    summary = {name: summarize(name, rs, words) for name, rs in runs.items()}
    if "embspace-glove" in args.system_list and not glove_available:
        summary["embspace-glove"] = {"status": "not available",
                                     "reason": "embspace.train has no GloVe (hasattr(embspace.train, 'GloVe') "
                                               "was False when the benchmark ran)"}
    for name in summary:
        summary[name]["call"] = call_string(name, args.threads, args.seed, args.device)
        summary[name]["label"] = SYSTEMS[name]["label"]
    if "stanford-glove" in summary:
        summary["stanford-glove"]["tools"] = str(tools)
    carried = carry_over(args, corpus, summary, runs) if args.update else {}
    add_ratios(summary, corpus["is_wiki17"])

    versions = {"python": platform.python_version(), "numpy": version("numpy"), "scipy": version("scipy"),
                "gensim": version("gensim"), "numba": version("numba"), "embspace": version("embspace")}
    report: dict[str, Any] = {
        "benchmark": "word embeddings (issue 3)",
        "command": command_line(args),
        "config": {
            "corpus": corpus, "word2vec": W2V, "glove": GLOVE, "threads": args.threads, "runs": args.runs,
            "seed": args.seed, "device": args.device, "quick": args.quick, "systems": args.system_list,
            "analogy": {"file": str(ANALOGY_FILE), "method": "3cosadd", "restrict_vocab": RESTRICT_VOCAB,
                        "case_insensitive": True},
            "wordsim": {"file": str(WORDSIM_FILE), "statistic": "spearman", "case_insensitive": True},
            "timing": "constructor + fit, vocabulary building included, reading the prepared file; each fit in a "
                      "fresh child process; peak memory = the child's VmHWM right after the fit",
            "versions": versions,
            "cpu_count": os.cpu_count(),
            "cpu_affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
            "processor": platform.processor() or platform.machine(),
            "loadavg_before": list(load_before), "loadavg_after": list(load_after),
            "other_processes": contention,
            "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "carried_over": carried,
        },
        "systems": summary,
        "reference": {"stanford-glove": STANFORD},
        "eval_agreement": agreement(runs),
        "acceptance": acceptance(summary, args.quick, corpus["is_wiki17"]),
        "runs": runs,
    }
    write_json(args.json, report)
    publish(report, args.json, args.markdown)
    return 0


def carry_over(args: argparse.Namespace, corpus: dict[str, Any], summary: dict[str, dict[str, Any]],
               runs: dict[str, list[dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """Copy the systems this run did not measure from the previous results file (``--update``)."""
    if not args.json.exists():
        say(f"--update: {args.json} does not exist; nothing carried over")
        return {}
    old = json.loads(args.json.read_text(encoding="utf-8"))
    old_corpus = old.get("config", {}).get("corpus", {})
    if (old_corpus.get("tokens"), old_corpus.get("lines")) != (corpus["tokens"], corpus["lines"]):
        say(f"--update: {args.json} is for another corpus; nothing carried over")
        return {}
    carried: dict[str, dict[str, Any]] = {}
    for name, s in old.get("systems", {}).items():
        if name in summary or name not in SYSTEMS or not _measured(s):
            continue
        summary[name] = {k: v for k, v in s.items() if k not in ("peer", "ratio_vs_peer", "ratio_note")}
        runs[name] = old.get("runs", {}).get(name, [])
        fill_summaries({name: summary[name]}, runs, corpus["tokens"])
        # a system the previous file had carried over itself keeps the date of the run that measured it
        carried[name] = old["config"].get("carried_over", {}).get(name) or {
            "date": old["config"]["date"], "command": old.get("command", "")}
        say(f"--update: {name} carried over from the run of {carried[name]['date']}")
    order = list(SYSTEMS)
    for d in (summary, runs):
        items = sorted(d.items(), key=lambda kv: order.index(kv[0]))
        d.clear()
        d.update(items)
    return carried


def fill_summaries(systems: dict[str, dict[str, Any]], runs: dict[str, list[dict[str, Any]]], words: int) -> None:
    """Add to each measured system's summary the figures a newer :func:`summarize` derives from its stored runs
    (e.g. the analogy sections of rows carried over from a run summarised before they were reported)."""
    for name, s in systems.items():
        if name in SYSTEMS and _measured(s) and runs.get(name):
            for k, v in summarize(name, runs[name], words).items():
                if s.get(k) is None and v is not None:
                    s[k] = v


def epochs_of(name: str) -> int:
    return GLOVE["epochs"] if SYSTEMS[name]["arch"] == "glove" else W2V["epochs"]


def _median(values: list[float | None]) -> float | None:
    vals = [v for v in values if v is not None]
    return statistics.median(vals) if vals else None


def summarize(name: str, rs: list[dict[str, Any]], words: int) -> dict[str, Any]:
    ok = [r for r in rs if "error" not in r]
    if not ok:
        return {"status": "failed", "errors": [r.get("error") for r in rs]}
    wall = statistics.median(r["wall_s"] for r in ok)
    epochs = epochs_of(name)
    emb = [r["eval"]["embspace"] for r in ok]
    gen = [r["eval"]["gensim"] for r in ok]
    kings = [r["king_man_woman"] for r in ok]
    return {
        "status": "ok" if len(ok) == len(rs) else "partly failed",
        "runs_s": [r["wall_s"] for r in ok],
        "median_s": wall,
        "epochs": epochs,
        "corpus_words": words,
        "corpus_words_seen": sorted({r.get("corpus_words") for r in ok}, key=str),
        "vocab_size": sorted({r.get("vocab_size") for r in ok}, key=str),
        "words_epochs_per_s": words * epochs / wall,
        "peak_rss_mib": _median([r["peak_rss_mib"] for r in ok]),
        "peak_rss_mib_runs": [r["peak_rss_mib"] for r in ok],
        "rss_before_fit_mib": _median([r.get("rss_before_fit_mib") for r in ok]),
        "analogy": _median([e["analogy"] for e in emb]),
        "analogy_gensim_eval": _median([g["analogy"] for g in gen]),
        "analogy_runs": [e["analogy"] for e in emb],
        "analogy_evaluated": emb[0]["analogy_evaluated"],
        "wordsim": _median([e["wordsim_spearman"] for e in emb]),
        "wordsim_gensim_eval": _median([g["wordsim_spearman"] for g in gen]),
        "wordsim_runs": [e["wordsim_spearman"] for e in emb],
        "semantic": _median([e.get("semantic") for e in emb]),
        "syntactic": _median([e.get("syntactic") for e in emb]),
        **oov_summary(ok),
        "king_man_woman": max(set(kings), key=kings.count),
        "king_man_woman_runs": kings,
        "errors": [r["error"] for r in rs if "error" in r],
        **phases(ok),
    }


def oov_summary(ok: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians of the evaluation with the evaluation words out of the vocabulary (FastText systems)."""
    oov = [r["oov"] for r in ok if isinstance(r.get("oov"), dict)]
    if not oov:
        return {}
    keys = ("coverage", "mean_cosine", "analogy", "semantic", "syntactic", "wordsim_spearman")
    out: dict[str, Any] = {"oov": {k: _median([o.get(k) for o in oov]) for k in keys}}
    out["oov"]["words"] = oov[0]["words"]
    mem = [r["memory"] for r in ok if isinstance(r.get("memory"), dict)]
    if mem:
        out["memory"] = mem[0]
    return out


def phases(ok: list[dict[str, Any]]) -> dict[str, Any]:
    """Median per-phase times and co-occurrence size, when the learner reports them (GloVe)."""
    out: dict[str, Any] = {}
    timings = [r["timings"] for r in ok if isinstance(r.get("timings"), dict)]
    if timings:
        out["phases_s"] = {k: _median([t.get(k) for t in timings]) for k in timings[0]
                           if isinstance(timings[0][k], int | float)}
    nnz = [r["cooccurrence_nnz"] for r in ok if isinstance(r.get("cooccurrence_nnz"), int)]
    if nnz:
        out["cooccurrence_nnz"] = int(statistics.median(nnz))
    return out


def phase_notes(report: dict[str, Any]) -> list[str]:
    notes = []
    for s in report["systems"].values():
        if "phases_s" in s:
            text = ", ".join(f"{k} {v:.1f}" for k, v in s["phases_s"].items() if v is not None)
            nnz = f"; {s['cooccurrence_nnz']:,} co-occurrence non-zeros" if "cooccurrence_nnz" in s else ""
            notes.append(f"{s.get('label')} phases (median s): {text}{nnz}")
    return notes


def add_ratios(summary: dict[str, dict[str, Any]], is_wiki17: bool) -> None:
    """Throughput ratio vs the peer (peer time / our time; above 1: embspace is faster).

    Stanford GloVe's figure is for the full wiki17 corpus: on any other corpus there is no ratio."""
    for name, s in summary.items():
        peer = SYSTEMS[name]["peer"]
        if not _measured(s) or not peer:
            continue
        if peer == "stanford-glove" and _measured(summary.get(peer, {})):
            s["peer"] = peer
            s["ratio_vs_peer"] = summary[peer]["median_s"] / s["median_s"]
            s["ratio_note"] = "Stanford GloVe run side by side in this benchmark"
        elif peer == "stanford-glove":
            if not is_wiki17:
                s["ratio_note"] = "no ratio: Stanford's reference figure is for the full wiki17 corpus"
                continue
            s["peer"] = peer
            s["ratio_vs_peer"] = STANFORD["wall_s"] / s["median_s"]
            s["ratio_note"] = "Stanford's 495 s is a reference figure from another run, not measured here"
        elif _measured(summary.get(peer, {})):
            s["peer"] = peer
            s["ratio_vs_peer"] = summary[peer]["median_s"] / s["median_s"]


def _measured(s: dict[str, Any]) -> bool:
    return s.get("status") in ("ok", "partly failed")


def agreement(runs: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """Whether embspace.evaluate and gensim's evaluate_* give the same figures on every run."""
    diffs: list[dict[str, Any]] = []
    checked = 0
    for name, rs in runs.items():
        for i, r in enumerate(rs):
            if "error" in r:
                continue
            checked += 1
            e, g = r["eval"]["embspace"], r["eval"]["gensim"]
            same_an = (e["analogy_correct"], e["analogy_evaluated"]) == (g["analogy_correct"], g["analogy_evaluated"])
            ws_diff = abs(e["wordsim_spearman"] - g["wordsim_spearman"])
            if not same_an or not ws_diff <= 1e-4:
                diffs.append({"system": name, "run": i + 1,
                              "analogy_correct_evaluated": {"embspace": [e["analogy_correct"], e["analogy_evaluated"]],
                                                            "gensim": [g["analogy_correct"], g["analogy_evaluated"]]},
                              "wordsim": {"embspace": e["wordsim_spearman"], "gensim": g["wordsim_spearman"]}})
    return {"runs_checked": checked, "agree": not diffs, "wordsim_tolerance": 1e-4, "disagreements": diffs}


def acceptance(summary: dict[str, dict[str, Any]], quick: bool, is_wiki17: bool) -> list[dict[str, Any]]:
    checks: list[dict[str, Any]] = []
    lo, goal = TARGETS["throughput"]
    for arch, ours, peer in (("skip-gram", "embspace-sg", "gensim-sg"), ("CBOW", "embspace-cbow", "gensim-cbow")):
        s, p = summary.get(ours, {}), summary.get(peer, {})
        measured = "ratio_vs_peer" in s
        ratio = s.get("ratio_vs_peer")
        checks.append({"check": f"{arch} throughput vs gensim", "target": f">= {lo:.1f}x", "goal": f">= {goal:.1f}x",
                       "measured": f"{ratio:.2f}x" if measured else "not measured",
                       "holds": (ratio >= lo) if measured else None,
                       "goal_met": (ratio >= goal) if measured else None})
        both = s.get("analogy") is not None and p.get("analogy") is not None
        pts = TARGETS["analogy_points"]
        checks.append({"check": f"{arch} analogy vs gensim", "target": f">= gensim - {pts:.1f} point",
                       "goal": "", "holds": (100 * s["analogy"] >= 100 * p["analogy"] - pts) if both else None,
                       "measured": (f"{100 * s['analogy']:.1f}% vs {100 * p['analogy']:.1f}%" if both
                                    else "not measured")})
        both = s.get("wordsim") is not None and p.get("wordsim") is not None
        tol = TARGETS["wordsim"]
        checks.append({"check": f"{arch} WordSim-353 vs gensim", "target": f">= gensim - {tol:.2f}", "goal": "",
                       "holds": (s["wordsim"] >= p["wordsim"] - tol) if both else None,
                       "measured": f"{s['wordsim']:.3f} vs {p['wordsim']:.3f}" if both else "not measured"})
    checks += fasttext_acceptance(summary)
    g = summary.get("embspace-glove", {})
    st = summary.get("stanford-glove", {})
    fitted = _measured(g)
    lo, goal = TARGETS["glove_time"]
    side = fitted and _measured(st)  # Stanford run side by side: its time decides the ratio
    ok = fitted and is_wiki17
    why = "" if ok else "n/a: the Stanford figures are for the full wiki17 corpus" if fitted else \
        g.get("status", "not selected")
    peer_s = st["median_s"] if side else STANFORD["wall_s"]
    timed = side or ok
    what = "Stanford, this run" if side else "Stanford's reference figure"
    checks.append({"check": f"GloVe end-to-end time vs {what}",
                   "target": f"<= {lo:.1f}x ({lo * peer_s:.0f} s)", "goal": f"<= {goal:.1f}x ({goal * peer_s:.0f} s)",
                   "measured": f"{g['median_s']:.1f} s vs {peer_s:.1f} s = {g['median_s'] / peer_s:.2f}x" if timed
                   else why,
                   "holds": (g["median_s"] <= lo * peer_s) if timed else None,
                   "goal_met": (g["median_s"] <= goal * peer_s) if timed else None})
    # The quality targets are the reference figures (shared/design/REFERENCE_FIGURES.md).
    checks.append({"check": "GloVe analogy vs Stanford's reference figure", "goal": "",
                   "target": f">= {100 * STANFORD['analogy']:.1f}%",
                   "measured": f"{100 * g['analogy']:.2f}%" if ok else why,
                   "holds": (g["analogy"] >= STANFORD["analogy"]) if ok else None})
    checks.append({"check": "GloVe WordSim-353 vs Stanford's reference figure", "goal": "",
                   "target": f">= {STANFORD['wordsim']:.3f}",
                   "measured": f"{g['wordsim']:.3f}" if ok else why,
                   "holds": (g["wordsim"] >= STANFORD["wordsim"]) if ok else None})
    if side:
        def runs_of(x: dict[str, Any], key: str, scale: float, fmt: str) -> str:
            return "/".join(format(scale * v, fmt) for v in x[f"{key}_runs"])

        checks.append({"check": "GloVe analogy vs Stanford, this run (medians)", "goal": "",
                       "target": f">= {100 * st['analogy']:.2f}%",
                       "measured": f"{100 * g['analogy']:.2f}% (runs {runs_of(g, 'analogy', 100, '.2f')}; Stanford's "
                                   f"{runs_of(st, 'analogy', 100, '.2f')})",
                       "holds": g["analogy"] >= st["analogy"]})
        checks.append({"check": "GloVe WordSim-353 vs Stanford, this run (medians)", "goal": "",
                       "target": f">= {st['wordsim']:.3f}",
                       "measured": f"{g['wordsim']:.3f} (runs {runs_of(g, 'wordsim', 1, '.3f')}; Stanford's "
                                   f"{runs_of(st, 'wordsim', 1, '.3f')})",
                       "holds": g["wordsim"] >= st["wordsim"]})
    for c in checks:
        c["note"] = "quick mode: the targets are for the full wiki17 corpus" if quick else ""
    return checks


def fasttext_acceptance(summary: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Issue 28's targets: embspace FastText vs gensim FastText, and the syntactic sections vs word2vec."""
    checks: list[dict[str, Any]] = []
    for arch, ours, peer, w2v in (("skip-gram", "embspace-ft-sg", "gensim-ft-sg", "embspace-sg"),
                                  ("CBOW", "embspace-ft-cbow", "gensim-ft-cbow", "embspace-cbow")):
        s, p, w = summary.get(ours, {}), summary.get(peer, {}), summary.get(w2v, {})
        if not _measured(s):
            continue
        goal = TARGETS["fasttext_throughput"]
        ratio = s.get("ratio_vs_peer")
        checks.append({"check": f"FastText {arch} throughput vs gensim FastText", "target": f">= {goal:.1f}x",
                       "goal": "", "measured": f"{ratio:.2f}x" if ratio is not None else "not measured",
                       "holds": (ratio >= goal) if ratio is not None else None})
        both = _measured(p)
        pts, tol = TARGETS["analogy_points"], TARGETS["wordsim"]
        checks.append({"check": f"FastText {arch} analogy vs gensim FastText", "target": f">= gensim - {pts:.1f} point",
                       "goal": "", "holds": (100 * s["analogy"] >= 100 * p["analogy"] - pts) if both else None,
                       "measured": f"{100 * s['analogy']:.1f}% vs {100 * p['analogy']:.1f}%" if both
                       else "not measured"})
        checks.append({"check": f"FastText {arch} WordSim-353 vs gensim FastText", "target": f">= gensim - {tol:.2f}",
                       "goal": "", "holds": (s["wordsim"] >= p["wordsim"] - tol) if both else None,
                       "measured": f"{s['wordsim']:.3f} vs {p['wordsim']:.3f}" if both else "not measured"})
        checks.append({"check": f"FastText {arch} peak memory vs gensim FastText", "target": "<= gensim's", "goal": "",
                       "holds": (s["peak_rss_mib"] <= p["peak_rss_mib"]) if both else None,
                       "measured": f"{s['peak_rss_mib']:,.0f} vs {p['peak_rss_mib']:,.0f} MiB" if both
                       else "not measured"})
        has_w = _measured(w) and w.get("syntactic") is not None and s.get("syntactic") is not None
        checks.append({"check": f"FastText {arch} syntactic analogies vs embspace word2vec {arch}",
                       "target": "> word2vec's", "goal": "",
                       "holds": (s["syntactic"] > w["syntactic"]) if has_w else None,
                       "measured": f"{100 * s['syntactic']:.1f}% vs {100 * w['syntactic']:.1f}%" if has_w
                       else "not measured"})
    return checks


def fasttext_table(report: dict[str, Any]) -> str:
    """The FastText rows with the analogy sections and the out-of-vocabulary evaluation."""
    heads = ["system", "semantic", "syntactic", "eval words covered (OOV)", "cosine n-grams vs trained",
             "analogy (OOV)", "syntactic (OOV)", "WordSim-353 (OOV)", "n-gram rows"]
    lines = ["| " + " | ".join(heads) + " |", "|" + "|".join(["---"] * len(heads)) + "|"]

    def pct(v: float | None) -> str:
        return "—" if v is None else f"{100 * v:.1f}%"

    for name, s in report["systems"].items():
        if name not in SYSTEMS or not _measured(s) or SYSTEMS[name]["arch"] == "glove":
            continue
        o = s.get("oov", {})
        mem = s.get("memory", {})
        rows = f"{mem['ngram_rows']:,} of {mem['buckets']:,}" if mem else ("2,000,000 (all)" if is_fasttext(name)
                                                                           else "—")
        lines.append("| " + " | ".join([
            s.get("label", name), pct(s.get("semantic")), pct(s.get("syntactic")),
            pct(o.get("coverage")) if o else "0% (no n-grams)",
            "—" if o.get("mean_cosine") is None else f"{o['mean_cosine']:.3f}",
            pct(o.get("analogy")), pct(o.get("syntactic")),
            "—" if o.get("wordsim_spearman") is None else f"{o['wordsim_spearman']:.3f}", rows]) + " |")
    return "\n".join(lines)


def command_line(args: argparse.Namespace) -> str:
    parts = ["python", "benchmarks/word_embeddings.py"]
    if args.quick:
        parts.append("--quick")
        if args.lines != QUICK_LINES:
            parts += ["--lines", str(args.lines)]
    elif args.lines != FULL_LINES:
        parts += ["--lines", str(args.lines)]
    parts += ["--runs", str(args.runs), "--threads", str(args.threads)]
    if args.system_list != list(SYSTEMS):
        parts += ["--systems", ",".join(args.system_list)]
    if args.stanford_glove is not None and "stanford-glove" in args.system_list:
        parts += ["--stanford-glove", "DIR"]
    if args.update:
        parts.append("--update")
    if args.seed != 1:
        parts += ["--seed", str(args.seed)]
    if args.device != "cpu":
        parts += ["--device", args.device]
    if args.data_dir.resolve() != DEFAULT_DATA.resolve():
        parts += ["--data-dir", str(args.data_dir)]
    return shlex.join(parts)


# ---------------------------------------------------------------------------------------------- output
HEADERS = ["system", "median wall s", "corpus words x epochs / s", "throughput vs peer", "peak MiB", "analogy",
           "WordSim-353", "king - man + woman"]


def _pair(a: float | None, b: float | None, fmt: str, scale: float = 1.0) -> str:
    """One figure when embspace's and gensim's evaluations agree, both ('a / gensim b') otherwise."""
    if a is None:
        return "—"
    sa = format(scale * a, fmt)
    if b is None or format(scale * b, fmt) == sa:
        return sa
    return f"{sa} / gensim {format(scale * b, fmt)}"


def _rows(report: dict[str, Any]) -> list[list[str]]:
    rows: list[list[str]] = []
    measured_stanford = _measured(report["systems"].get("stanford-glove", {}))
    for name, s in report["systems"].items():
        label = s.get("label", name)
        if not _measured(s):
            reason = "not available (embspace.train has no GloVe)" if s.get("status") == "not available" else \
                f"{s.get('status')}: {'; '.join(str(e) for e in s.get('errors', []))}"
            rows.append([label, reason, "", "", "", "", "", ""])
            continue
        peer = s.get("peer")
        if "ratio_vs_peer" in s:
            ratio = f"{s['ratio_vs_peer']:.2f}x vs " + (("Stanford" if measured_stanford else "Stanford (ref.)")
                                                       if peer == "stanford-glove" else peer)
        else:
            ratio = "1.00x (peer)" if SYSTEMS[name]["family"] in ("gensim", "stanford") else "—"
        extra = "" if s["status"] == "ok" else " (some runs failed)"
        label += " (built from its source, run here)" if SYSTEMS[name]["family"] == "stanford" else ""
        rows.append([label + extra, f"{s['median_s']:.1f}", f"{s['words_epochs_per_s']:,.0f}", ratio,
                     f"{s['peak_rss_mib']:,.0f}", _pair(s["analogy"], s["analogy_gensim_eval"], ".1f", 100) + "%",
                     _pair(s["wordsim"], s["wordsim_gensim_eval"], ".3f"), str(s["king_man_woman"])])
    if any(SYSTEMS[n]["arch"] == "glove" for n in report["systems"] if n in SYSTEMS):
        ref = STANFORD
        full = EXPECTED[FULL_LINES][0]
        rows.append([f"{ref['label']} — reference figure (REFERENCE_FIGURES.md; full wiki17)",
                     f"{ref['wall_s']:.0f} (end to end)", f"{full * GLOVE['epochs'] / ref['wall_s']:,.0f} (derived)",
                     "—", "—",
                     f"{100 * ref['analogy']:.1f}%", f"{ref['wordsim']:.3f}", "—"])
    return rows


def _holds(c: dict[str, Any]) -> str:
    if c["holds"] is None:
        return "n/a" if str(c["measured"]).startswith("n/a") else "not measured"
    text = "yes" if c["holds"] else "NO"
    if c.get("goal_met") is not None:
        text += "; goal met" if c["goal_met"] else "; goal not met"
    return text


def markdown_table(report: dict[str, Any]) -> str:
    lines = ["| " + " | ".join(HEADERS) + " |", "|" + "|".join(["---"] * len(HEADERS)) + "|"]
    for row in _rows(report):
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def acceptance_table(report: dict[str, Any]) -> str:
    heads = ["target", "required", "goal", "measured", "holds"]
    lines = ["| " + " | ".join(heads) + " |", "|" + "|".join(["---"] * len(heads)) + "|"]
    for c in report["acceptance"]:
        lines.append(f"| {c['check']} | {c['target']} | {c['goal'] or '—'} | {c['measured']} | {_holds(c)} |")
    return "\n".join(lines)


def _title(report: dict[str, Any]) -> str:
    cfg = report["config"]
    c = cfg["corpus"]
    return (f"Word embeddings: {c['name']}, {c['tokens']:,} tokens, vocabulary {c['vocab_min_count_5']:,}; "
            f"threads={cfg['threads']} runs={cfg['runs']}" + (" [QUICK smoke test]" if cfg["quick"] else ""))


def print_table(report: dict[str, Any]) -> None:
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:  # pragma: no cover - rich is a dependency of embspace
        print(_title(report))
        print(markdown_table(report))
        print(acceptance_table(report))
    else:
        console = Console(width=max(150, shutil.get_terminal_size().columns))
        table = Table(title=_title(report))
        for i, h in enumerate(HEADERS):
            table.add_column(h, justify="left" if i in (0, 7) else "right")
        for row in _rows(report):
            table.add_row(*row)
        console.print(table)
        acc = Table(title="Acceptance" + (" (quick mode: targets are for the full corpus)"
                                          if report["config"]["quick"] else ""))
        for h in ("target", "required", "goal", "measured", "holds"):
            acc.add_column(h)
        for c in report["acceptance"]:
            acc.add_row(c["check"], c["target"], c["goal"] or "—", c["measured"], _holds(c))
        console.print(acc)
    if any(n in SYSTEMS and is_fasttext(n) for n in report["systems"]):
        print(fasttext_table(report))
    for name, s in report["systems"].items():
        if "runs_s" in s:
            print(f"  {name}: runs " + ", ".join(f"{t:.1f}" for t in s["runs_s"]) + " s; vocabulary "
                  f"{s['vocab_size']}, corpus words seen {s['corpus_words_seen']}")
    for note in phase_notes(report):
        print(f"  {note}")
    agr = report["eval_agreement"]
    if agr["agree"]:
        print(f"  embspace.evaluate and gensim's evaluate_* agree on all {agr['runs_checked']} run(s)")
    for d in agr["disagreements"]:
        print("  EVALUATION DISAGREEMENT: " + json.dumps(d))


def publish(report: dict[str, Any], json_path: Path, markdown: Path | None) -> None:
    print_table(report)
    say(f"results: {json_path}")
    publish_section(markdown, SECTION, markdown_section(report))


def carried_note(carried: dict[str, dict[str, Any]], report: dict[str, Any]) -> str:
    by_date: dict[str, list[str]] = {}
    for name, c in carried.items():
        by_date.setdefault(c["date"], []).append(report["systems"][name].get("label", name))
    rerun = [s.get("label", n) for n, s in report["systems"].items() if n not in carried]
    return ("Rerun with `--update` for " + ", ".join(rerun) + "; carried over from earlier runs of this "
            "benchmark (same corpus, same settings): " +
            "; ".join(f"{', '.join(names)} (measured {date})" for date, names in by_date.items()) +
            ". Ratios between rows of different runs compare different moments of a noisy machine.")


FASTTEXT_NOTE = (
    "FastText (issue 28): the word2vec settings plus character n-grams of 3-6 characters hashed into 2,000,000 "
    "buckets, in both libraries (each library's default learning rate, as for word2vec). Below, the analogy "
    "sections, then the evaluation words removed from the vocabulary: each word of the analogy questions and "
    "WordSim-353 pairs gets the vector of its n-grams alone (what an unknown word gets); coverage = the share "
    "that gets a non-zero vector (word2vec: none), cosine = the mean cosine of that vector with the word's "
    "trained vector, and the analogy and WordSim-353 figures are those of the space with these rows replaced "
    "(the n-gram rows were trained with the words present: the figures measure how much of a word its n-grams "
    "carry). embspace allocates rows only for the buckets its vocabulary's n-grams use (n-gram rows); gensim "
    "allocates all of them.")


def _runs_phrase(report: dict[str, Any]) -> str:
    """"3 runs", or, when rows carried over by --update had another number, "3 runs (1: embspace FastText ...)"."""
    counts = {name: len(times) for name, times in report.get("runs", {}).items() if times}
    if not counts:
        n = report["config"]["runs"]
        return f"{n} run{'s' if n > 1 else ''}"
    common = max(set(counts.values()), key=lambda n: sum(1 for v in counts.values() if v == n))
    others = sorted({n for n in counts.values() if n != common})
    tail = "; ".join(f"{n} run{'s' if n > 1 else ''}: "
                     + ", ".join(SYSTEMS[k]["label"] if k in SYSTEMS else k for k, v in counts.items() if v == n)
                     for n in others)
    return f"{common} run{'s' if common > 1 else ''}" + (f" ({tail})" if tail else "")


def markdown_section(report: dict[str, Any]) -> str:
    cfg = report["config"]
    c = cfg["corpus"]
    v = cfg["versions"]
    agr = report["eval_agreement"]
    vocab = c["vocab_min_count_5"]
    runs = "; ".join(f"{name} " + ", ".join(f"{t:.1f}" for t in s["runs_s"])
                     for name, s in report["systems"].items() if "runs_s" in s)
    if agr["agree"]:
        agree = (f"embspace's `evaluate.analogy` / `evaluate.word_similarity` and gensim's "
                 f"`evaluate_word_analogies` / `evaluate_word_pairs` give the same figures on all "
                 f"{agr['runs_checked']} fitted models (embspace vectors loaded into a gensim `KeyedVectors` with "
                 "`add_vectors`; gensim vectors into an `EmbeddingSpace`), both called with `restrict_vocab` "
                 f"{RESTRICT_VOCAB:,} for the analogies (embspace's default; gensim's `evaluate_word_analogies` "
                 "defaults to 300,000) and 300,000 for the word pairs (both libraries' default).")
    else:
        agree = (f"embspace's and gensim's evaluation functions DISAGREE on {len(agr['disagreements'])} of "
                 f"{agr['runs_checked']} fitted models (both figures are shown in the table as "
                 "'embspace / gensim'; details in the JSON results).")
    load = cfg["loadavg_before"][0], cfg["loadavg_after"][0]
    busy = busy_sentence(cfg.get("other_processes"))  # load averages alone would count the benchmark itself
    glove = report["systems"].get("embspace-glove", {})
    glove_note = ""
    if glove.get("status") == "not available":
        glove_note = (" embspace's GloVe was not available when this ran (`embspace.train` had no `GloVe`), so its "
                      "row and targets are reported as not measured.")
    if _measured(report["systems"].get("stanford-glove", {})):
        stanford_note = ("Stanford GloVe was compiled from its source (github.com/stanfordnlp/GloVe, the current "
                         "glove.c: AdaGrad, gradient clipping, `-seed`) outside this project, with its Makefile's "
                         "flags (`-O3 -march=native -funroll-loops`), and run side by side on the same file: its "
                         "demo.sh pipeline (the call above), timed end to end; its peak memory is the largest of "
                         "its four processes. The last row is the reference figure from "
                         "`shared/design/REFERENCE_FIGURES.md` (another machine of this kind). Below, the time "
                         "target is the side-by-side ratio (both timed on this machine in one run); the quality "
                         "targets are the issue's reference figures, followed by the side-by-side medians.")
    else:
        stanford_note = ("The Stanford GloVe row is the reference figure from `shared/design/REFERENCE_FIGURES.md` "
                         "(a 2-core machine of the kind the project runs on; 44.1M co-occurrence non-zeros), not a "
                         "measurement of this run, so the GloVe time ratio is only indicative (pass "
                         "`--stanford-glove DIR` to run it side by side).")
    paragraphs = [
        SECTION,
        f"Training on corpus \"{c['name']}\": the first {c['lines']:,} lines of `data/corpus/wiki/wiki.txt.xz`, "
        f"lower-cased, runs of a-z as tokens (`{c['tokenizer']}`), one paragraph per line, empty lines dropped: "
        f"{c['tokens']:,} tokens, {c['paragraphs']:,} paragraphs, vocabulary {vocab:,} at min_count 5, written "
        "once to a plain-text file that every system reads (preparing it is not timed). Word2vec: dim 100, "
        "window 5, negative 5, sample 1e-3, 5 epochs, min_count 5; GloVe: dim 100, window 10, x_max 10, 15 "
        f"epochs; {cfg['threads']} worker threads (and BLAS/OpenMP/numba threads) for every system, seed "
        f"{cfg['seed']}. Wall time = constructor + `fit`, vocabulary building included, each fit in a fresh "
        f"process; median of {_runs_phrase(report)} interleaved across systems. "
        "Throughput = corpus words "
        f"({c['tokens']:,}) x epochs / wall time; throughput vs peer = the peer's median time / ours (above 1: "
        "embspace is faster). Peak MiB = the fitting process's RSS high-water mark (VmHWM) right after the fit, "
        "imports included. Analogy: Google `questions-words.txt`, 3CosAdd, restrict_vocab 30,000, "
        "case-insensitive; WordSim-353: Spearman.",
        markdown_table(report),
        *([FASTTEXT_NOTE, fasttext_table(report)] if any(n in SYSTEMS and is_fasttext(n) for n in report["systems"])
          else []),
        "Calls:\n\n" + "\n".join(f"- {s.get('label', n)}: `{s['call']}`" for n, s in report["systems"].items()),
        *([". ".join(phase_notes(report)) + "."] if phase_notes(report) else []),
        f"{agree} {stanford_note}{glove_note}",
        "Acceptance targets (issue 3):",
        acceptance_table(report),
        f"All runs (s): {runs}.",
        *([carried_note(cfg["carried_over"], report)] if cfg.get("carried_over") else []),
        measured_sentence(cfg["date"], cfg["cpu_count"], load, busy, v),
        f"```\n{report['command']}\n```",
    ]
    return "\n\n".join(paragraphs) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
