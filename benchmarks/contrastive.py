"""Contrastive learning benchmark (issue 8): SimCLR on MNIST, read out by a linear probe and k-NN.

SimCLR: a SmallConvNet (3 conv blocks, width 32, 128-d features + a 64-d projection head) trained
with NTXentLoss(0.5) on two ImageAugment views of the first 9,000 digits of MNIST's test split
(the only split in ../shared/data), labels unused; the other 1,000 digits are held out. Read-outs on
the frozen 128-d backbone features: a logistic-regression probe (standardised features, trained
on the 9,000 with labels, scored on the 1,000) and a 10-NN cosine vote. The same read-outs of the
same network at its random initialisation are the baseline.

    python benchmarks/contrastive.py                 # SimCLR, 8 epochs (~6 min on 2 cores)
    python benchmarks/contrastive.py --epochs 1      # quick check
"""

from __future__ import annotations

import argparse
import datetime as dt
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


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--data-dir", type=Path, default=DEFAULT_DATA, help="the shared data folder (holds images/mnist)")
    p.add_argument("--epochs", type=int, default=8, help="SimCLR epochs")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--width", type=int, default=32, help="SmallConvNet width")
    p.add_argument("--threads", type=int, default=2, help="torch threads")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", type=Path, default=DEFAULT_JSON)
    p.add_argument("--markdown", type=Path, default=ROOT / "BENCHMARKS.md")
    p.add_argument("--no-markdown", action="store_true")
    return p.parse_args(argv)


def features(net: Any, x: Any) -> Any:
    import numpy as np
    import torch

    net.eval()
    with torch.no_grad():
        return np.concatenate([net.backbone(torch.from_numpy(x[i : i + 1000])).numpy() for i in range(0, len(x), 1000)])


def readouts(net: Any, train: tuple[Any, Any], test: tuple[Any, Any]) -> dict[str, float]:
    from embspace.evaluate import knn_accuracy, linear_probe

    ftr, fte = features(net, train[0]), features(net, test[0])
    probe = linear_probe(ftr, train[1], test=(fte, test[1]), standardize=True, max_iter=3000)
    return {"probe": probe.accuracy, "knn": knn_accuracy(ftr, train[1], fte, test[1], k=10)}


def simclr(args: argparse.Namespace) -> dict[str, Any]:
    import numpy as np

    from embspace.data import load_mnist
    from embspace.losses import NTXentLoss
    from embspace.train import ContrastiveTrainer, ImageAugment, SmallConvNet

    images, labels = load_mnist(args.data_dir / "images" / "mnist", "test")
    x = (images.astype(np.float32) / 255.0)[:, None]
    train, test = (x[:9000], labels[:9000]), (x[9000:], labels[9000:])
    net = SmallConvNet(width=args.width, dim=128, head_dim=64, seed=args.seed)
    base = readouts(net, train, test)
    say(f"random init: probe {base['probe']:.4f}, 10-NN {base['knn']:.4f}")
    augment = ImageAugment()
    trainer = ContrastiveTrainer(net, NTXentLoss(0.5), augment=augment, epochs=args.epochs,
                                 batch_size=args.batch_size, learning_rate=2e-3, device="cpu", seed=args.seed,
                                 progress=sys.stderr.isatty())
    t0 = time.perf_counter()
    trainer.fit(train[0])
    wall = time.perf_counter() - t0
    learned = readouts(net, train, test)
    say(f"SimCLR {args.epochs} epochs ({wall:.0f} s): probe {learned['probe']:.4f}, 10-NN {learned['knn']:.4f}")
    return {"random_init": base, "simclr": learned, "train_s": wall, "loss_history": trainer.loss_history_,
            "config": {"epochs": args.epochs, "batch_size": args.batch_size, "width": args.width,
                       "temperature": 0.5, "learning_rate": 2e-3, "augment": repr(augment),
                       "split": "MNIST test split: first 9,000 train (no labels for SimCLR), last 1,000 held out"}}


def markdown_section(r: dict[str, Any]) -> str:
    s = r["simclr"]
    rows = [("random init (same net)", s["random_init"]), (f"SimCLR, {s['config']['epochs']} epochs", s["simclr"])]
    table = ["| features | linear probe | 10-NN |", "|---|---|---|"]
    table += [f"| {name} | {v['probe']:.4f} | {v['knn']:.4f} |" for name, v in rows]
    holds = s["simclr"]["probe"] >= PROBE_TARGET and s["simclr"]["probe"] > s["random_init"]["probe"]
    return "\n".join([
        SECTION, "",
        f"Measured {r['date']} on {r['machine']}, torch {r['torch']}, {r['threads']} threads. Rerun: `{r['command']}`.",
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
    ])


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
    report["simclr"] = simclr(args)
    s = report["simclr"]
    print(f"{'features':<28}{'probe':>8}{'10-NN':>8}")
    for name, v in (("random init", s["random_init"]), ("SimCLR", s["simclr"])):
        print(f"{name:<28}{v['probe']:>8.4f}{v['knn']:>8.4f}")
    write_json(args.json, report)
    say(f"results: {args.json}")
    publish_section(None if args.no_markdown else args.markdown, SECTION, markdown_section(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
