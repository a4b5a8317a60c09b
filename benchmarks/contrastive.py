"""Contrastive learning benchmark (issue 8): SimCLR on MNIST (probe, k-NN) and CLIP-style digits (zero-shot).

SimCLR: a SmallConvNet (3 conv blocks, width 32, 128-d features + a 64-d projection head) trained
with NTXentLoss(0.5) on two ImageAugment views of the first 9,000 digits of MNIST's test split
(the only split in ../shared/data), labels unused; the other 1,000 digits are held out. Read-outs on
the frozen 128-d backbone features: a logistic-regression probe (standardised features, trained
on the 9,000 with labels, scored on the 1,000) and a 10-NN cosine vote. The same read-outs of the
same network at its random initialisation are the baseline.

CLIP-style digits: TwoTowerClip (SmallConvNet image tower; frozen all-MiniLM-L6-v2 text tower with a
trained projection; symmetric InfoNCE, learned temperature) on the same 9,000 digits, each paired with a
caption in one of six training phrasings (embspace.data.DIGIT_PHRASINGS); zero-shot classification of the
1,000 held-out digits with caption templates never used in training, and text->image retrieval
(precision@10/@100 of each class description among the held-out digits).

    python benchmarks/contrastive.py                 # both parts (~7 min on 2 cores)
    python benchmarks/contrastive.py --parts clip    # one part; the other's last figures are kept
    python benchmarks/contrastive.py --epochs 1      # quick check
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import shlex
import sys
import time
from pathlib import Path
from typing import Any

from _report import publish_section, say, write_json

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = ROOT.parent / "shared" / "data"
DEFAULT_JSON = ROOT / "benchmarks" / "results" / "contrastive.json"
SECTION = "## Contrastive learning (issue 8)"
PROBE_TARGET = 0.95
ZERO_SHOT_TARGET = 0.90
# Zero-shot caption templates: none of them is a training phrasing (embspace.data.DIGIT_PHRASINGS).
UNSEEN_TEMPLATES = ("an image of a {}", "this digit is a {}", "a photo of the number {}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--data-dir", type=Path, default=DEFAULT_DATA, help="the shared data folder (holds images/mnist)")
    p.add_argument("--parts", default="simclr,clip,finetune", help="comma-separated: simclr, clip, finetune")
    p.add_argument("--ft-epochs", type=int, default=1, help="fine-tuning epochs (SciFact train pairs)")
    p.add_argument("--epochs", type=int, default=8, help="SimCLR epochs")
    p.add_argument("--clip-epochs", type=int, default=3, help="CLIP-style digits epochs")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--width", type=int, default=32, help="SmallConvNet width")
    p.add_argument("--threads", type=int, default=2, help="torch threads")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", type=Path, default=DEFAULT_JSON)
    p.add_argument("--markdown", type=Path, default=ROOT / "BENCHMARKS.md")
    p.add_argument("--no-markdown", action="store_true")
    return p.parse_args(argv)


def features(net: Any, x: Any) -> Any:
    """The frozen backbone features (SimCLR probes what comes before the projection head)."""
    import torch

    from embspace.train.contrastive_trainer import embed_with

    net.eval()
    return embed_with(net.backbone, x, torch.device("cpu"), batch_size=1000)


def readouts(net: Any, train: tuple[Any, Any], test: tuple[Any, Any]) -> dict[str, float]:
    from embspace.evaluate import knn_accuracy, linear_probe

    ftr, fte = features(net, train[0]), features(net, test[0])
    probe = linear_probe(ftr, train[1], test=(fte, test[1]), standardize=True, max_iter=3000)
    return {"probe": probe.accuracy, "knn": knn_accuracy(ftr, train[1], fte, test[1], k=10)}


def train_simclr(args: argparse.Namespace, images: Any, net: Any = None) -> tuple[Any, Any, float]:
    """SimCLR as this benchmark trains it (also used by layers.py): ``(net, trainer, seconds)`` after training
    ``net`` (default: a new SmallConvNet of ``args.width``, seeded) on ``images`` (float (n, 1, 28, 28)), labels
    unused."""
    from embspace.losses import NTXentLoss
    from embspace.train import ContrastiveTrainer, ImageAugment, SmallConvNet

    if net is None:
        net = SmallConvNet(width=args.width, dim=128, head_dim=64, seed=args.seed)
    trainer = ContrastiveTrainer(net, NTXentLoss(0.5), augment=ImageAugment(), epochs=args.epochs,
                                 batch_size=args.batch_size, learning_rate=2e-3, device="cpu", seed=args.seed,
                                 progress=sys.stderr.isatty())
    t0 = time.perf_counter()
    trainer.fit(images)
    return net, trainer, time.perf_counter() - t0


def simclr(args: argparse.Namespace) -> dict[str, Any]:
    import numpy as np

    from embspace.data import load_mnist
    from embspace.train import ImageAugment, SmallConvNet

    images, labels = load_mnist(args.data_dir / "images" / "mnist", "test")
    x = (images.astype(np.float32) / 255.0)[:, None]
    train, test = (x[:9000], labels[:9000]), (x[9000:], labels[9000:])
    net = SmallConvNet(width=args.width, dim=128, head_dim=64, seed=args.seed)
    base = readouts(net, train, test)
    say(f"random init: probe {base['probe']:.4f}, 10-NN {base['knn']:.4f}")
    augment = ImageAugment()
    net, trainer, wall = train_simclr(args, train[0], net)
    learned = readouts(net, train, test)
    say(f"SimCLR {args.epochs} epochs ({wall:.0f} s): probe {learned['probe']:.4f}, 10-NN {learned['knn']:.4f}")
    return {"random_init": base, "simclr": learned, "train_s": wall, "loss_history": trainer.loss_history_,
            "config": {"epochs": args.epochs, "batch_size": args.batch_size, "width": args.width,
                       "temperature": 0.5, "learning_rate": 2e-3, "augment": repr(augment),
                       "split": "MNIST test split: first 9,000 train (no labels for SimCLR), last 1,000 held out"}}


def clip_digits(args: argparse.Namespace) -> dict[str, Any]:
    import numpy as np

    from embspace.data import DIGIT_PHRASINGS, DIGIT_WORDS, digit_captions, load_mnist
    from embspace.train import TwoTowerClip

    images, labels = load_mnist(args.data_dir / "images" / "mnist", "test")
    model = TwoTowerClip(dim=64, epochs=args.clip_epochs, device="cpu", seed=args.seed, progress=sys.stderr.isatty())
    t0 = time.perf_counter()
    model.fit(images[:9000], digit_captions(labels[:9000], seed=args.seed))
    wall = time.perf_counter() - t0
    held, truth = images[9000:], [DIGIT_WORDS[d] for d in labels[9000:]]
    zero_shot = {}
    for template in UNSEEN_TEMPLATES:
        zero_shot[template] = model.zero_shot(held, list(DIGIT_WORDS), template).accuracy(truth)
        say(f"CLIP digits zero-shot {template!r}: {zero_shot[template]:.4f}")
    img = model.encode(held)
    txt = model.encode_text([UNSEEN_TEMPLATES[0].format(w) for w in DIGIT_WORDS])
    order = np.argsort(-(txt @ img.T), axis=1)
    p10 = float(np.mean([(labels[9000:][order[d, :10]] == d).mean() for d in range(10)]))
    p100 = float(np.mean([(labels[9000:][order[d, :100]] == d).mean() for d in range(10)]))
    say(f"CLIP digits: text->image precision@10 {p10:.4f}, @100 {p100:.4f} ({wall:.0f} s)")
    return {"zero_shot": zero_shot, "zero_shot_mean": float(np.mean(list(zero_shot.values()))),
            "retrieval": {"precision@10": p10, "precision@100": p100, "query_template": UNSEEN_TEMPLATES[0]},
            "train_s": wall, "logit_scale": model.logit_scale, "loss_history": model.loss_history_,
            "config": {"epochs": args.clip_epochs, "dim": 64, "batch_size": 256, "learning_rate": 2e-3,
                       "text_tower": "all-MiniLM-L6-v2 frozen + Linear(384,256)-ReLU-Linear(256,64)",
                       "training_phrasings": list(DIGIT_PHRASINGS)}}


def finetune_scifact(args: argparse.Namespace) -> dict[str, Any]:
    import tempfile

    from embspace import evaluate
    from embspace.train import finetune

    folder = args.data_dir / "retrieval" / "scifact"
    train = evaluate.load_beir(folder, "train")
    test = evaluate.load_beir(folder, "test")
    pairs = train.pairs()  # (query, relevant abstract)
    assert not set(train.query_ids) & set(test.query_ids), "train and test queries overlap"
    say(f"fine-tuning on {len(pairs)} SciFact train pairs ({len(train.query_ids)} queries)")
    base = evaluate.retrieval(test, model="minilm", progress=False)
    say(f"base MiniLM: test nDCG@10 {base.metrics['ndcg@10']:.4f}")
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        out = finetune(pairs, Path(tmp) / "minilm-scifact", epochs=args.ft_epochs, batch_size=32, learning_rate=2e-5,
                       device="cpu", seed=args.seed, progress=sys.stderr.isatty())
        wall = time.perf_counter() - t0
        tuned = evaluate.retrieval(test, model=str(out), progress=False)
        meta = json.loads((out / "embspace_finetune.json").read_text("utf-8"))
    say(f"fine-tuned: test nDCG@10 {tuned.metrics['ndcg@10']:.4f} ({wall:.0f} s)")
    return {"pairs": len(pairs), "train_queries": len(train.query_ids), "test_queries": len(test.query_ids),
            "base": dict(base.metrics), "tuned": dict(tuned.metrics), "train_s": wall,
            "loss_history": meta["loss_history"],
            "config": {"epochs": args.ft_epochs, "batch_size": 32, "learning_rate": 2e-5, "scale": 20.0,
                       "max_length": 256, "loss": "MultipleNegativesRankingLoss"}}


def finetune_markdown(f: dict[str, Any] | None) -> list[str]:
    if f is None:
        return []
    keys = ("ndcg@10", "recall@100", "mrr@10")
    head = "| model | " + " | ".join(keys) + " |"
    rows = [f"| {name} | " + " | ".join(f"{m.get(k, float('nan')):.4f}" for k in keys) + " |"
            for name, m in (("all-MiniLM-L6-v2 (base)", f["base"]), ("fine-tuned on SciFact train", f["tuned"]))]
    ok = f["tuned"]["ndcg@10"] > f["base"]["ndcg@10"]
    return [
        "### Fine-tuning MiniLM on SciFact",
        "",
        f"`embspace.train.finetune`: all-MiniLM-L6-v2, MultipleNegativesRankingLoss (scale 20, in-batch "
        f"negatives), {f['pairs']} (query, relevant abstract) pairs of the {f['train_queries']} SciFact TRAIN "
        f"queries, {f['config']['epochs']} epoch(s), batch 32, AdamW 2e-5 with warm-up, 256 tokens "
        f"({f['train_s']:.0f} s on the CPU). Evaluated on the {f['test_queries']} TEST queries (never trained on; "
        "the two query sets are disjoint, checked) by exact cosine search over the 5,183 abstracts.",
        "",
        head, "|---|" + "---|" * len(keys),
        *rows,
        "",
        f"Acceptance: fine-tuned test nDCG@10 above the base model's: {f['tuned']['ndcg@10']:.4f} vs "
        f"{f['base']['ndcg@10']:.4f}: {'holds' if ok else 'DOES NOT HOLD'}.",
        "",
    ]


def markdown_section(r: dict[str, Any]) -> str:
    s = r["simclr"]
    rows = [("random init (same net)", s["random_init"]), (f"SimCLR, {s['config']['epochs']} epochs", s["simclr"])]
    table = ["| features | linear probe | 10-NN |", "|---|---|---|"]
    table += [f"| {name} | {v['probe']:.4f} | {v['knn']:.4f} |" for name, v in rows]
    holds = s["simclr"]["probe"] >= PROBE_TARGET and s["simclr"]["probe"] > s["random_init"]["probe"]
    return "\n".join([
        SECTION, "",
        f"Measured {r['date']} on {r['machine']}, torch {r['torch']}, {r['threads']} threads. Rerun: "
        f"`python benchmarks/contrastive.py` (both parts at their defaults; last refresh: `{r['command']}`).",
        "",
        "### SimCLR on MNIST",
        "",
        "SmallConvNet (width 32, 128-d features, 64-d projection head), NTXentLoss(0.5), batch 256, AdamW 2e-3 "
        "with warm-up and cosine decay, two ImageAugment views (affine crop/zoom/rotation, contrast/brightness, "
        "random erasing, noise) per digit. Trained on the first 9,000 digits of MNIST's test split without labels; "
        "read-outs on the frozen backbone features, trained on those 9,000 with labels and scored on the last 1,000. "
        f"Training took {s['train_s']:.0f} s on the CPU.",
        "",
        *table,
        "",
        f"Acceptance: linear probe >= {PROBE_TARGET:.0%} and above the random-init probe: "
        f"{s['simclr']['probe']:.4f} vs {s['random_init']['probe']:.4f}: {'holds' if holds else 'DOES NOT HOLD'}.",
        "",
        *clip_markdown(r.get("clip")),
        *finetune_markdown(r.get("finetune")),
    ])


def clip_markdown(c: dict[str, Any] | None) -> list[str]:
    if c is None:
        return []
    rows = [f"| `{t}` | {a:.4f} |" for t, a in c["zero_shot"].items()]
    ok = c["zero_shot_mean"] >= ZERO_SHOT_TARGET and min(c["zero_shot"].values()) >= ZERO_SHOT_TARGET
    phr = ", ".join(f"`{p}`" for p in c["config"]["training_phrasings"])
    return [
        "### CLIP-style digits (zero-shot)",
        "",
        "TwoTowerClip: SmallConvNet image tower (64-d) and a frozen all-MiniLM-L6-v2 text tower with a trained "
        "projection (LiT-style locked text: 9,000 captions cannot teach language, MiniLM already knows that "
        "'an image of a seven' means 'a handwritten seven'), symmetric InfoNCE with a learned temperature "
        f"(ended at logit scale {c['logit_scale']:.1f}), {c['config']['epochs']} epochs ({c['train_s']:.0f} s on "
        f"the CPU). Trained on the first 9,000 digits, each with a caption in one of the phrasings {phr}; "
        "evaluated on the last 1,000 digits with templates never used in training (labels: the digit words).",
        "",
        "| zero-shot template (unseen) | accuracy (chance 0.10) |",
        "|---|---|",
        *rows,
        "",
        f"Text->image retrieval among the 1,000 held-out digits (query `{c['retrieval']['query_template']}`): "
        f"precision@10 {c['retrieval']['precision@10']:.4f}, precision@100 {c['retrieval']['precision@100']:.4f}.",
        "",
        f"Acceptance: zero-shot >= {ZERO_SHOT_TARGET:.0%} on held-out images with unseen phrasings: "
        f"{min(c['zero_shot'].values()):.4f} (worst template), {c['zero_shot_mean']:.4f} (mean): "
        f"{'holds' if ok else 'DOES NOT HOLD'}.",
        "",
    ]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import torch

    torch.set_num_threads(args.threads)
    if not (args.data_dir / "images" / "mnist").is_dir():
        say(f"skipped: MNIST not found under {args.data_dir / 'images' / 'mnist'}")
        return 0
    report: dict[str, Any] = {
        "date": dt.date.today().isoformat(), "machine": f"{platform.machine()}, {platform.processor() or 'cpu'}",
        "torch": torch.__version__, "threads": args.threads,
        "command": "python benchmarks/contrastive.py " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:])),
    }
    parts = {p.strip() for p in args.parts.split(",") if p.strip()}
    unknown = parts - {"simclr", "clip", "finetune"}
    if unknown:
        raise SystemExit(f"unknown parts: {sorted(unknown)} (use simclr, clip, finetune)")
    previous = json.loads(args.json.read_text("utf-8")) if args.json.exists() else {}
    for part in ("simclr", "clip", "finetune"):
        if part not in parts and part in previous:
            report[part] = previous[part]  # kept from the last run of that part
    if "simclr" in parts:
        report["simclr"] = simclr(args)
    if "clip" in parts:
        report["clip"] = clip_digits(args)
    if "finetune" in parts:
        report["finetune"] = finetune_scifact(args)
    if "simclr" in report:
        s = report["simclr"]
        print(f"{'features':<28}{'probe':>8}{'10-NN':>8}")
        for name, v in (("random init", s["random_init"]), ("SimCLR", s["simclr"])):
            print(f"{name:<28}{v['probe']:>8.4f}{v['knn']:>8.4f}")
    if "clip" in report:
        for t, a in report["clip"]["zero_shot"].items():
            print(f"zero-shot {t!r:<30}{a:>8.4f}")
    if "finetune" in report:
        f = report["finetune"]
        print(f"SciFact test nDCG@10: base {f['base']['ndcg@10']:.4f}, fine-tuned {f['tuned']['ndcg@10']:.4f}")
    write_json(args.json, report)
    say(f"results: {args.json}")
    publish_section(None if args.no_markdown else args.markdown, SECTION, markdown_section(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
